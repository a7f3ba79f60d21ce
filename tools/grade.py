"""Grade a folder of submissions end to end: autograde, feedback, a grades CSV and a report.

    python -m tools.grade SUBMISSIONS OUT [--timeout SECONDS] [--assignment NAME ...]
    python -m tools.grade DOWNLOAD.zip OUT --assignment NAME [--regex REGEX]

``SUBMISSIONS`` is laid out as nbgrader's ``submitted/`` folder (what ``nbgrader collect``
makes): ``SUBMISSIONS/<student_id>/<assignment>/<assignment>.ipynb``. Or it is a zip file
downloaded from a learning-management system, whose entries are named as nbgrader's
``zip_collect`` expects, by default ``<anything>_<student_id>_attempt_<timestamp>_<file>``
(Blackboard's naming; ``--regex`` sets another, with the groups ``student_id`` and
``file_id`` and optionally ``timestamp``): the latest attempt of each student is graded.
``OUT`` receives

- ``grades.csv``: one row per student and assignment: score, max_score and status;
- ``feedback/<student_id>/<assignment>/<assignment>.html``: nbgrader's feedback for each student;
- ``report.txt``: the same table for a human, with what went wrong where something did.

Each submission is autograded on its own (one ``nbgrader autograde --student`` call each), in a
scratch course directory built from ``solutions/`` (``--jobs N`` grades N at once, each job in
a course directory of its own): a broken submission is reported and scored
zero while every other student is still graded, and the submissions folder is only read.
Graded test cells are restored from the instructor's version before grading, so editing the
visible tests gains nothing; a cell running longer than the per-cell timeout is interrupted
and costs only its own points.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tools.course import assignments as course_assignments
from tools.course import make_course_directory, nbgrader

COURSE_ID_DB = "gradebook.db"
ZIP_REGEX = r"^(?:.*/)?.*?_(?P<student_id>[^_/]+)_attempt_(?P<timestamp>[0-9-]+)_(?P<file_id>[^/]+)$"


def unpack_zip(archive: Path, destination: Path, assignment: str, regex: str = ZIP_REGEX) -> list[str]:
    """Lay out an LMS download as ``destination/<student_id>/<assignment>/<files>``.

    Each entry whose name matches ``regex`` goes to its student; of several attempts, the
    latest ``timestamp`` wins. A notebook among a student's files is saved as
    ``<assignment>.ipynb`` whatever the student called it (if there are several, the one
    named after the assignment, else the first). Returns the entries that matched nothing.
    """
    pattern = re.compile(regex)
    latest: dict[str, str] = {}
    files: dict[tuple[str, str], list[tuple[str, str]]] = {}
    unmatched = []
    with zipfile.ZipFile(archive) as zf:
        for entry in zf.namelist():
            if entry.endswith("/"):
                continue
            match = pattern.match(entry)
            if not match:
                unmatched.append(entry)
                continue
            student, stamp = match["student_id"], match.groupdict().get("timestamp") or ""
            files.setdefault((student, stamp), []).append((match["file_id"], entry))
            latest[student] = max(latest.get(student, ""), stamp)
        for (student, stamp), entries in files.items():
            if stamp != latest[student]:
                continue
            folder = destination / student / assignment
            folder.mkdir(parents=True, exist_ok=True)
            notebooks = sorted((f for f in entries if f[0].endswith(".ipynb")), key=lambda f: f[0] != f"{assignment}.ipynb")
            for file_id, entry in entries:
                name = f"{assignment}.ipynb" if notebooks and (file_id, entry) == notebooks[0] else Path(file_id).name
                (folder / name).write_bytes(zf.read(entry))
    return unmatched


@dataclass
class Outcome:
    """What happened to one student's submission of one assignment."""

    student: str
    assignment: str
    status: str = "graded"  # graded | missing | not a notebook | kernel died | autograde failed
    score: float = 0.0
    max_score: float = 0.0
    notes: list[str] = field(default_factory=list)


def _find_students(submissions: Path) -> list[str]:
    return sorted(p.name for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))


def _is_notebook(path: Path) -> str | None:
    """None if ``path`` reads as a Jupyter notebook, else a short reason."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return f"not valid JSON ({err.__class__.__name__})"
    if not isinstance(data, dict) or "cells" not in data or "nbformat" not in data:
        return "JSON but not a Jupyter notebook"
    return None


def _timed_out_cells(notebook: Path) -> list[str]:
    """grade_ids (or cell numbers) of the cells that the autograder interrupted."""
    data = json.loads(notebook.read_text(encoding="utf-8"))
    names = []
    for index, cell in enumerate(data.get("cells", [])):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and output.get("ename") == "CellTimeoutError":
                names.append(cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", f"cell {index}"))
    return names


def _scores(course: Path, outcomes: list[Outcome]) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{course / COURSE_ID_DB}") as gradebook:
        for outcome in outcomes:
            assignment = gradebook.find_assignment(outcome.assignment)
            outcome.max_score = float(assignment.max_score)
            if outcome.status != "graded":
                continue
            try:
                submission = gradebook.find_submission(outcome.assignment, outcome.student)
            except MissingEntry:
                outcome.status = "autograde failed"
                outcome.notes.append("nbgrader recorded no submission")
                continue
            outcome.score = float(submission.score)


def grade(
    submissions: Path,
    out: Path,
    *,
    names: list[str] | None = None,
    timeout: int | None = None,
    regex: str = ZIP_REGEX,
    jobs: int = 1,
) -> list[Outcome]:
    """Grade every student in ``submissions`` (a folder or an LMS zip) into ``out``; one outcome per submission."""
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    if submissions.is_file() and zipfile.is_zipfile(submissions):
        if not names or len(names) != 1:
            raise ValueError("assignment: grading a zip needs exactly one --assignment NAME")
        with tempfile.TemporaryDirectory(prefix="ebm-unzip-") as unpacked:
            unmatched = unpack_zip(submissions, Path(unpacked), names[0], regex)
            outcomes = grade(Path(unpacked), out, names=names, timeout=timeout, jobs=jobs)
        if unmatched:
            with (out / "report.txt").open("a") as handle:
                handle.write("zip entries matching no student (not graded): " + ", ".join(unmatched) + "\n")
        return outcomes
    if not submissions.is_dir():
        raise ValueError(f"submissions must be a folder or a zip file, got {submissions}")
    if out == submissions or submissions in out.parents:
        raise ValueError(f"out must lie outside the submissions folder, got {out}")
    students = _find_students(submissions)
    if not students:
        raise ValueError(f"submissions holds no student folders: {submissions}")
    names = names or [a for a in course_assignments() if any((submissions / s / a).is_dir() for s in students)]
    if not names:
        raise ValueError(f"no folder in {submissions}/<student>/ is named after an assignment of the course")

    jobs = max(1, min(int(jobs), len(students)))
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ebm-grade-") as tmp:
        # Each job grades its share of the class in a course directory of its own (its own
        # gradebook), so that parallel autograde runs never write to one database at once.
        shares = [(students[i::jobs], Path(tmp) / f"course{i}") for i in range(jobs)]
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(lambda share: _grade_share(submissions, out, share[0], names, share[1], timeout), shares))
    outcomes = sorted((o for share in results for o in share), key=lambda o: (o.student, names.index(o.assignment)))
    _write_grades(out / "grades.csv", outcomes)
    (out / "report.txt").write_text(report(outcomes))
    return outcomes


def _grade_share(
    submissions: Path, out: Path, students: list[str], names: list[str], course: Path, timeout: int | None
) -> list[Outcome]:
    """Autograde ``students`` in the scratch course directory ``course``; feedback goes to ``out/feedback``."""
    course = make_course_directory(course, names, timeout=timeout)
    expected_tests = {}
    for name in names:
        nbgrader(course, "generate_assignment", name, "--force")
        expected_tests[name] = _grade_ids(json.loads((course / "solutions" / name / f"{name}.ipynb").read_text()))
    nbgrader(course, "db", "student", "import", _write_roster(course, students))
    outcomes: list[Outcome] = []
    for student in students:
        for name in names:
            outcome = Outcome(student, name)
            outcomes.append(outcome)
            notebook = submissions / student / name / f"{name}.ipynb"
            if not notebook.is_file():
                outcome.status, outcome.notes = "missing", [f"no {name}/{name}.ipynb"]
                continue
            reason = _is_notebook(notebook)
            if reason:
                outcome.status, outcome.notes = "not a notebook", [reason]
                continue
            shutil.copytree(submissions / student / name, course / "submitted" / student / name)
            proc = nbgrader(course, "autograde", name, "--student", student, "--force", check=False)
            graded = course / "autograded" / student / name / f"{name}.ipynb"
            missing_tests = sorted(expected_tests[name] - _grade_ids(json.loads(notebook.read_text(encoding="utf-8"))))
            if missing_tests:
                outcome.notes.append("test cells deleted (scored 0): " + ", ".join(missing_tests))
            extra = sorted(p.name for p in notebook.parent.iterdir() if p != notebook)
            if extra:
                outcome.notes.append("extra files ignored: " + ", ".join(extra))
            if proc.returncode != 0 or not graded.is_file():
                outcome.status, note = _failure(proc.stdout + proc.stderr)
                outcome.notes.append(note)
                continue
            timed_out = _timed_out_cells(graded)
            if timed_out:
                outcome.notes.append("timed out: " + ", ".join(timed_out))
    _scores(course, outcomes)
    for name in names:
        nbgrader(course, "generate_feedback", name, "--force", check=False)
    if (course / "feedback").is_dir():
        shutil.copytree(course / "feedback", out / "feedback", dirs_exist_ok=True)
    return outcomes


def _write_roster(tmp: Path, students: list[str]) -> str:
    roster = tmp / "students.csv"
    with roster.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id"])
        writer.writerows([s] for s in students)
    return str(roster)


def _failure(log: str) -> tuple[str, str]:
    """(status, note) for an autograde run that failed, read from nbgrader's log."""
    if "DeadKernelError" in log or "Kernel died" in log:
        return "kernel died", "the kernel died while running the notebook (os._exit, a crash or out of memory)"
    lines = [line.strip() for line in log.splitlines() if "ERROR" in line or "Error:" in line]
    return "autograde failed", (lines[0] if lines else log.strip()[-300:] or "no output from nbgrader")[:300]


def _grade_ids(notebook_json: dict) -> set[str]:
    return {
        cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        for cell in notebook_json.get("cells", [])
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade")
    } - {None}


def _write_grades(path: Path, outcomes: list[Outcome]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", "assignment", "score", "max_score", "status", "notes"])
        for o in outcomes:
            writer.writerow([o.student, o.assignment, f"{o.score:g}", f"{o.max_score:g}", o.status, "; ".join(o.notes)])


def report(outcomes: list[Outcome]) -> str:
    """A plain-text table of every submission's outcome."""
    rows = [("student", "assignment", "score", "status", "notes")]
    rows += [(o.student, o.assignment, f"{o.score:g}/{o.max_score:g}", o.status, "; ".join(o.notes)) for o in outcomes]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows]
    counts = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return "\n".join(lines) + f"\n\n{len(outcomes)} submissions: {summary}\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", type=Path, help="folder laid out as <student>/<assignment>/<assignment>.ipynb, or an LMS zip")
    parser.add_argument("out", type=Path, help="folder for grades.csv, report.txt and feedback/")
    parser.add_argument("--assignment", action="append", dest="names", help="grade only this assignment (repeatable)")
    parser.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds (default: nbgrader_config.py)")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1; up to the number of cores)")
    parser.add_argument("--regex", default=ZIP_REGEX, help="for a zip: entry names, with groups student_id, file_id, timestamp")
    args = parser.parse_args(argv)
    outcomes = grade(args.submissions, args.out, names=args.names, timeout=args.timeout, regex=args.regex, jobs=args.jobs)
    print(report(outcomes), end="")
    print(f"grades: {args.out / 'grades.csv'}\nfeedback: {args.out / 'feedback'}")


if __name__ == "__main__":
    main()
