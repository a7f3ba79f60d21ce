"""Grade a folder of submissions end to end: autograde, feedback, a grades CSV and a report.

    python -m tools.grade SUBMISSIONS OUT [--timeout SECONDS] [--assignment NAME ...]

``SUBMISSIONS`` is laid out as nbgrader's ``submitted/`` folder (what ``nbgrader collect``
makes): ``SUBMISSIONS/<student_id>/<assignment>/<assignment>.ipynb``. ``OUT`` receives

- ``grades.csv``: one row per student and assignment: score, max_score and status;
- ``feedback/<student_id>/<assignment>/<assignment>.html``: nbgrader's feedback for each student;
- ``report.txt``: the same table for a human, with what went wrong where something did.

Each submission is autograded on its own (one ``nbgrader autograde --student`` call each), in a
scratch course directory built from ``solutions/``: a broken submission is reported and scored
zero while every other student is still graded, and the submissions folder is only read.
Graded test cells are restored from the instructor's version before grading, so editing the
visible tests gains nothing; a cell running longer than the per-cell timeout is interrupted
and costs only its own points.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tools.course import assignments as course_assignments
from tools.course import make_course_directory, nbgrader

COURSE_ID_DB = "gradebook.db"


@dataclass
class Outcome:
    """What happened to one student's submission of one assignment."""

    student: str
    assignment: str
    status: str = "graded"  # graded | missing | not a notebook | autograde failed
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
) -> list[Outcome]:
    """Grade every student in ``submissions`` into ``out`` and return one outcome per submission."""
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    if not submissions.is_dir():
        raise ValueError(f"submissions must be a folder, got {submissions}")
    if out == submissions or submissions in out.parents:
        raise ValueError(f"out must lie outside the submissions folder, got {out}")
    students = _find_students(submissions)
    if not students:
        raise ValueError(f"submissions holds no student folders: {submissions}")
    names = names or [a for a in course_assignments() if any((submissions / s / a).is_dir() for s in students)]
    if not names:
        raise ValueError(f"no folder in {submissions}/<student>/ is named after an assignment of the course")

    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="ebm-grade-") as tmp:
        course = make_course_directory(Path(tmp) / "course", names, timeout=timeout)
        for name in names:
            nbgrader(course, "generate_assignment", name, "--force")
        nbgrader(course, "db", "student", "import", _write_roster(Path(tmp), students))
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
                target = course / "submitted" / student / name
                shutil.copytree(submissions / student / name, target)
                proc = nbgrader(course, "autograde", name, "--student", student, "--force", check=False)
                graded = course / "autograded" / student / name / f"{name}.ipynb"
                if proc.returncode != 0 or not graded.is_file():
                    outcome.status = "autograde failed"
                    outcome.notes.append(_last_error(proc.stdout + proc.stderr))
                    continue
                timed_out = _timed_out_cells(graded)
                if timed_out:
                    outcome.notes.append("timed out: " + ", ".join(timed_out))
        _scores(course, outcomes)
        for name in names:
            nbgrader(course, "generate_feedback", name, "--force", check=False)
        out.mkdir(parents=True, exist_ok=True)
        if (course / "feedback").is_dir():
            shutil.copytree(course / "feedback", out / "feedback", dirs_exist_ok=True)
    _write_grades(out / "grades.csv", outcomes)
    (out / "report.txt").write_text(report(outcomes))
    return outcomes


def _write_roster(tmp: Path, students: list[str]) -> str:
    roster = tmp / "students.csv"
    with roster.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id"])
        writer.writerows([s] for s in students)
    return str(roster)


def _last_error(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if "error" in line.lower() or "exception" in line.lower()]
    return (lines[-1] if lines else log.strip().splitlines()[-1] if log.strip() else "no output")[:300]


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
    parser.add_argument("submissions", type=Path, help="folder laid out as <student>/<assignment>/<assignment>.ipynb")
    parser.add_argument("out", type=Path, help="folder for grades.csv, report.txt and feedback/")
    parser.add_argument("--assignment", action="append", dest="names", help="grade only this assignment (repeatable)")
    parser.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds (default: nbgrader_config.py)")
    args = parser.parse_args(argv)
    outcomes = grade(args.submissions, args.out, names=args.names, timeout=args.timeout)
    print(report(outcomes), end="")
    print(f"grades: {args.out / 'grades.csv'}\nfeedback: {args.out / 'feedback'}")


if __name__ == "__main__":
    main()
