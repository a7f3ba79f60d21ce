"""Grade a class end to end: every submission sandboxed, a grades CSV, feedback and a report.

    python -m tools.grade SUBMISSIONS OUT [--assignment NAME ...] [--jobs N] [--roster students.csv]
    python -m tools.grade DOWNLOAD.zip OUT --assignment NAME [--lms blackboard|canvas|moodle] [--title TITLE]
    python -m tools.grade SUBMISSIONS OUT --resume

``SUBMISSIONS`` is laid out as nbgrader's ``submitted/`` folder:
``SUBMISSIONS/<student_id>/<assignment>/<assignment>.ipynb``. Or it is a zip downloaded from a
learning-management system (``--lms``; ``tools.lms`` describes each one's naming). ``OUT`` must be
new or empty; it receives

- ``grades.csv``: one row per student and assignment, whatever happened: score, max_score, status
  (graded, missing, too large, not a notebook, timed out, kernel died, ...), notes, the integrity
  scan's ``flags`` for a person to review, the notebook's sha256 and the grading's wall time.
  It is replaced atomically (a temporary file and a rename), so a reader never sees half a file:
  after every submission while the class is small, then whenever a twentieth of the table is new or
  two seconds have passed, and at the end. Each result is first appended, flushed to disk, to
  ``grades.journal.jsonl``, so a run killed outright loses nothing: ``--resume`` reads the table,
  then the journal. A finished or interrupted run folds the journal into the table and removes it;
- ``feedback/<student_id>/<assignment>/<assignment>.html``: for each submission that ran, its
  tests' visible parts, verdicts and failure messages, never a hidden test (``tools.feedback``);
- ``report.txt``: the same table for a human, with the problems met (LMS entries, ids refused,
  students off the roster, tests changed since the release) and the slowest cells.

Each submission is graded by ``tools.submission.grade_submission`` in a kernel of its own inside a
bubblewrap sandbox (``tools.sandbox``): it reads only the system, the Python installation and a
scratch copy of its notebook, writes only that copy, has no network and bounded memory, CPU time,
wall time, output and processes. Without a working sandbox the command stops and says how to
get one, unless ``--no-sandbox`` (trusted code only). The tasks run on Dask (``tools.cluster``):
``--jobs N`` local worker processes, or ``--scheduler tcp://HOST:8786``; this process alone writes
``OUT``. ``--resume`` grades again only the submissions that are new, changed (by their sha256)
or ended with a grading fault, and keeps every other row and feedback page.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import tempfile
import time
import zipfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

from tools.course import ROOT, cell_timeout, solution_notebook
from tools.course import assignments as course_assignments
from tools.sandbox import Limits, sandbox_problem
from tools.submission import MAX_BYTES, SubmissionResult, SubmissionTask, grade_submission

COLUMNS = ["student_id", "assignment", "score", "max_score", "status", "notes", "flags", "digest", "wall_s"]
RETRIED_ON_RESUME = {"grader error", "worker died", "sandbox failed", "unreadable"}
JOURNAL = "grades.journal.jsonl"
REWRITE_SHARE, REWRITE_SECONDS = 20, 2.0  # rewrite grades.csv when 1/20 of it is new, or after 2 s


class SandboxUnavailable(RuntimeError):
    """No working sandbox, and ``--no-sandbox`` not given: the message names the fix."""


def _read_roster(path: Path) -> list[str]:
    """Student ids of a roster CSV: its ``id`` or ``student_id`` column (nbgrader's format), else its first."""
    with Path(path).open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise ValueError(f"roster: {path} is empty")
    header = [h.strip().lower() for h in rows[0]]
    column = next((header.index(n) for n in ("id", "student_id") if n in header), None)
    body = rows[1:] if column is not None else rows
    return [row[column or 0].strip() for row in body if row and row[column or 0].strip()]


def _check_out(out: Path, submissions: Path, resume: bool) -> None:
    if out == submissions or submissions in out.parents or out in submissions.parents:
        raise ValueError(f"out must lie outside the submissions, got {out}")
    if out.exists() and not out.is_dir():
        raise ValueError(f"out must be a folder, got the file {out}")
    if out.is_dir() and any(out.iterdir()) and not resume:
        raise ValueError(
            f"out {out} is not empty: grading never overwrites an earlier run's results. "
            "Choose a new folder, or pass --resume to finish or update the run in it"
        )
    if resume and out.is_dir() and any(out.iterdir()) and not (out / "grades.csv").is_file():
        raise ValueError(f"out {out} holds no grades.csv to resume from")


class Results:
    """OUT as the client writes it: one row per submission, feedback pages, all written atomically.

    ``record`` appends the row to the journal (flushed and fsynced) and rewrites ``grades.csv``
    only when ``REWRITE_SHARE`` times the pending rows reach the table's size or ``REWRITE_SECONDS``
    have passed, so a class of n submissions costs O(n) rows written, not O(n²).
    """

    def __init__(self, out: Path, kept: dict[tuple[str, str], dict]):
        self.out, self.rows = out, dict(kept)
        self.results: dict[tuple[str, str], SubmissionResult] = {}
        self.pending, self.written_at = 0, 0.0

    def record(self, result: SubmissionResult) -> None:
        key = (result.student, result.assignment)
        if result.feedback_html:
            _atomic_write(self.out / "feedback" / result.student / result.assignment / f"{result.assignment}.html", result.feedback_html)
        self.results[key] = result
        self.rows[key] = _row(result)
        with (self.out / JOURNAL).open("a", encoding="utf-8") as journal:
            journal.write(json.dumps(self.rows[key]) + "\n")
            journal.flush()
            os.fsync(journal.fileno())
        self.pending += 1
        if self.pending * REWRITE_SHARE >= len(self.rows) or time.monotonic() - self.written_at >= REWRITE_SECONDS:
            self.write()

    def write(self) -> None:
        """Replace grades.csv with every row so far (the journal stays until ``close``)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows[key] for key in sorted(self.rows))
        _atomic_write(self.out / "grades.csv", buffer.getvalue())
        self.pending, self.written_at = 0, time.monotonic()

    def close(self) -> None:
        """Fold the journal into grades.csv and remove it."""
        self.write()
        (self.out / JOURNAL).unlink(missing_ok=True)


def _row(result: SubmissionResult) -> dict:
    return {
        "student_id": result.student,
        "assignment": result.assignment,
        "score": f"{result.score:g}",
        "max_score": f"{result.max_score:g}",
        "status": result.status,
        "notes": "; ".join(result.notes),
        "flags": "; ".join(result.flags),
        "digest": result.digest,
        "wall_s": f"{result.wall_s:.1f}",
    }


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read_kept(out: Path) -> dict[tuple[str, str], dict]:
    """The rows of grades.csv, then of the journal a killed run left (later rows win; a torn last line is dropped)."""
    rows: dict[tuple[str, str], dict] = {}
    path = out / "grades.csv"
    if path.is_file():
        with path.open(newline="", encoding="utf-8") as handle:
            rows = {(row["student_id"], row["assignment"]): row for row in csv.DictReader(handle)}
    journal = out / JOURNAL
    if journal.is_file():
        for line in journal.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and set(COLUMNS) <= set(row):
                rows[(row["student_id"], row["assignment"])] = {column: row[column] for column in COLUMNS}
    return rows


def _student_folders(submissions: Path, problems: list[str]) -> dict[str, Path]:
    from tools.lms import check_student_id

    folders = {}
    for path in sorted(submissions.iterdir()):
        if not path.is_dir() or path.name.startswith("."):
            continue
        try:
            folders[check_student_id(path.name)] = path
        except ValueError as err:
            problems.append(f"folder {path.name!r} not graded: {err}")
    return folders


def _read_capped(path: Path, limit: int) -> bytes:
    with path.open("rb") as handle:
        return handle.read(limit + 1)  # one byte past the limit is enough to call it too large


def _tasks(folders: dict[str, Path], names: list[str], base: SubmissionTask) -> tuple[list[SubmissionTask], list[SubmissionResult]]:
    """One task per student and assignment, and the results of those that cannot be read at all."""
    from tools.cluster import failed_submission

    sources = {name: solution_notebook(name) for name in names}
    tasks, unreadable = [], []
    for student, folder in sorted(folders.items()):
        for name in names:
            notebook = folder / name / f"{name}.ipynb"
            task = replace(base, student=student, assignment=name, source=sources[name])
            try:
                if notebook.is_symlink():
                    raise OSError("it is a symbolic link, which the grader does not follow")
                data = _read_capped(notebook, base.max_bytes) if notebook.is_file() else None
                extra = tuple(sorted(str(p.relative_to(folder / name)) for p in (folder / name).rglob("*") if p != notebook and not p.is_dir()))
            except OSError as err:
                unreadable.append(failed_submission(task, "unreadable", f"{notebook.name} could not be read: {err}"))
                continue
            tasks.append(replace(task, notebook=data, extra_files=extra))
    return tasks, unreadable


def _run(tasks: list[SubmissionTask], record, jobs: int, scheduler: str | None, sandbox: bool) -> None:
    """Each task to a Dask worker (``tools.cluster``); each result to ``record``, here, once.

    When grading sandboxed, every worker checks on joining that it can sandbox too
    (``sandbox_problem``), so a cluster node without bubblewrap fails before it grades anyone.
    """
    try:
        import distributed  # noqa: F401
    except ImportError:
        print("dask.distributed is not installed (pip install -e '.[course]'): grading one at a time in this process", file=sys.stderr)
        for task in tasks:
            record(grade_submission(task))
        return
    from tools.cluster import run_tasks

    run_tasks(tasks, jobs=jobs, scheduler=scheduler, on_result=record, worker_check=sandbox_problem if sandbox else None)


def grade(
    submissions: Path,
    out: Path,
    *,
    names: list[str] | None = None,
    limits: Limits | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    sandbox: bool = True,
    resume: bool = False,
    roster: Path | None = None,
    lms: str = "blackboard",
    title: str | None = None,
    max_bytes: int = MAX_BYTES,
) -> list[SubmissionResult]:
    """Grade every submission in ``submissions`` (a folder or an LMS zip) into ``out``.

    Returns the results graded in this run (with ``resume``, the kept rows are not among them).
    Raises ``ValueError`` naming the argument for bad arguments and ``SandboxUnavailable`` when
    students' code would have to run unconfined.
    """
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    limits = limits or Limits(cell_timeout_s=cell_timeout())
    if not submissions.exists():
        raise ValueError(f"submissions: {submissions} does not exist")
    _check_out(out, submissions, resume)
    if sandbox:
        problem = sandbox_problem()
        if problem:
            raise SandboxUnavailable(f"refusing to run students' code without a sandbox: {problem}")
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ebm-unpack-") as unpacked:
        if submissions.is_file():
            if not zipfile.is_zipfile(submissions):
                raise ValueError(f"submissions must be a folder or a zip file, got {submissions}")
            if not names or len(names) != 1:
                raise ValueError("names: grading a zip needs exactly one --assignment NAME")
            from tools.lms import unpack_download

            unpack = unpack_download(submissions, Path(unpacked), names[0], lms=lms, title=title)
            problems += unpack.problems
            folders = {student: folder.parent for student, folder in unpack.students.items()}
        elif submissions.is_dir():
            folders = _student_folders(submissions, problems)
        else:
            raise ValueError(f"submissions must be a folder or a zip file, got {submissions}")
        known = course_assignments()
        unknown = [n for n in names or [] if n not in known]
        if unknown:
            raise ValueError(f"names: {', '.join(unknown)} not among the course's assignments ({', '.join(known)})")
        names = names or [a for a in known if any((f / a).is_dir() for f in folders.values())]
        if not names:
            raise ValueError(f"submissions: no folder {submissions}/<student>/<assignment>/ is named after an assignment of the course")
        if roster is not None:
            listed = _read_roster(roster)
            problems += [f"{s} has a submission but is not on the roster" for s in sorted(set(folders) - set(listed))]
            from tools.lms import check_student_id

            for student in listed:
                try:
                    folders.setdefault(check_student_id(student), Path(unpacked) / "absent" / student)
                except ValueError as err:
                    problems.append(f"roster entry {student!r} skipped: {err}")
        if not folders:
            raise ValueError(f"submissions: {submissions} holds no student folders")
        for name in names:
            try:
                from tools.release import check_release

                warning = check_release(name)
            except Exception as err:
                warning = f"{name}: could not check against the release ({err.__class__.__name__}: {err})"
            if warning:
                problems.append(warning)
                print(f"warning: {warning}", file=sys.stderr)
        base = SubmissionTask("", "", None, b"", limits=limits, sandbox=sandbox, max_bytes=max_bytes, hide=(str(ROOT), str(submissions), str(out), unpacked))
        tasks, unreadable = _tasks(folders, names, base)
        kept = _read_kept(out) if resume else {}
        todo = [t for t in tasks if not _keep(kept.get((t.student, t.assignment)), t)]
        out.mkdir(parents=True, exist_ok=True)
        results = Results(out, kept)
        results.write()
        try:
            for result in unreadable:
                results.record(result)
            _run(todo, results.record, jobs, scheduler, sandbox)
        finally:  # also after a Ctrl-C: OUT holds every result so far, and says so
            results.close()
            done = len(results.results) - len(unreadable)
            if done < len(todo):
                problems.append(f"interrupted: {len(todo) - done} of {len(todo)} submissions not graded; run again with --resume")
            kept_count = len(tasks) - len(todo)
            _atomic_write(out / "report.txt", report(results.rows, results.results, problems, resumed=kept_count, sandbox=sandbox))
    return sorted(results.results.values(), key=lambda r: (r.student, names.index(r.assignment)))


def _keep(row: dict | None, task: SubmissionTask) -> bool:
    """Whether ``--resume`` keeps an earlier row: same notebook bytes, and not a grading fault."""
    return row is not None and row.get("digest", "") == task.digest and row.get("status") not in RETRIED_ON_RESUME


def report(rows: dict, results: dict, problems: list[str], *, resumed: int = 0, sandbox: bool = True) -> str:
    """A plain-text table of every row of grades.csv, then the problems and the slowest cells."""
    table = [("student", "assignment", "score", "status", "wall s", "notes and flags")]
    for key in sorted(rows):
        row = rows[key]
        remarks = "; ".join(x for x in (row["notes"], ("FLAGS: " + row["flags"]) if row["flags"] else "") if x)
        table.append((row["student_id"], row["assignment"], f"{row['score']}/{row['max_score']}", row["status"], row["wall_s"], remarks))
    widths = [max(len(r[i]) for r in table) for i in range(5)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(5)) + "  " + r[5] for r in table]
    counts = Counter(row["status"] for row in rows.values())
    lines += ["", f"{len(rows)} submissions: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))]
    if resumed:
        lines.append(f"{resumed} kept from the earlier run (--resume: unchanged notebooks)")
    if not sandbox:
        lines.append("WARNING: graded with --no-sandbox: students' code ran unconfined")
    flagged = sum(1 for row in rows.values() if row["flags"])
    if flagged:
        lines.append(f"{flagged} submissions flagged by the integrity scan: review them (scores are not changed by it)")
    if problems:
        lines += ["", "Problems:"] + [f"- {p}" for p in problems]
    times: dict[str, list[float]] = {}
    for result in results.values():
        for cell, seconds in result.cell_times.items():
            times.setdefault(f"{result.assignment} {cell}", []).append(seconds)
    if times:
        slowest = sorted(times.items(), key=lambda kv: -max(kv[1]))[:5]
        lines += ["", "Slowest cells (max / median seconds over the class):"]
        lines += [f"- {cell}: {max(s):.1f} / {sorted(s)[len(s) // 2]:.1f}" for cell, s in slowest]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from tools.lms import LMS_NAMINGS

    defaults = Limits()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", type=Path, help="folder laid out as <student>/<assignment>/<assignment>.ipynb, or an LMS zip")
    parser.add_argument("out", type=Path, help="a new or empty folder for grades.csv, report.txt and feedback/ (or one to --resume)")
    parser.add_argument("--assignment", action="append", dest="names", help="grade only this assignment (repeatable)")
    parser.add_argument("--lms", choices=sorted(LMS_NAMINGS), default="blackboard", help="for a zip: whose download it is (default blackboard)")
    parser.add_argument("--title", help="Blackboard zip without metadata files: the assignment's title as it opens each entry's name (default: guessed from the entries)")
    parser.add_argument("--roster", type=Path, help="CSV of the class (column id or student_id): each listed student without a submission gets a 'missing' row")
    parser.add_argument("--resume", action="store_true", help="in an OUT of an earlier run: grade only new or changed submissions, keep the rest")
    parser.add_argument("--jobs", type=int, default=1, help="local Dask worker processes (default 1; up to the number of cores)")
    parser.add_argument("--scheduler", help="address of an existing Dask scheduler, tcp://HOST:8786 (then --jobs is ignored)")
    parser.add_argument("--no-sandbox", action="store_true", help="run students' code unconfined: only for code you trust (tests, your own solutions)")
    parser.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds (default: nbgrader_config.py's, %(default)s)")
    parser.add_argument("--notebook-timeout", type=int, default=defaults.notebook_timeout_s, help="wall seconds for a whole notebook (default %(default)s)")
    parser.add_argument("--memory", type=int, default=defaults.memory_mb, help="MiB of address space per kernel process (default %(default)s)")
    parser.add_argument("--cpu-time", type=int, default=defaults.cpu_s, help="CPU seconds per kernel process (default %(default)s)")
    parser.add_argument("--processes", type=int, default=defaults.processes, help="processes and threads per kernel (default %(default)s)")
    parser.add_argument("--file-size", type=int, default=defaults.file_mb, help="MiB: largest file a kernel writes, and its /tmp (default %(default)s)")
    parser.add_argument("--output", type=int, default=defaults.output_kb, help="KiB of output kept per notebook (default %(default)s)")
    parser.add_argument("--max-size", type=int, default=MAX_BYTES // 2**20, help="MiB: a larger notebook is not run (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        limits = Limits(
            memory_mb=args.memory,
            cpu_s=args.cpu_time,
            processes=args.processes,
            file_mb=args.file_size,
            cell_timeout_s=args.timeout if args.timeout is not None else cell_timeout(),
            notebook_timeout_s=args.notebook_timeout,
            output_kb=args.output,
        )
        results = grade(
            args.submissions,
            args.out,
            names=args.names,
            limits=limits,
            jobs=args.jobs,
            scheduler=args.scheduler,
            sandbox=not args.no_sandbox,
            resume=args.resume,
            roster=args.roster,
            lms=args.lms,
            title=args.title,
            max_bytes=args.max_size * 2**20,
        )
    except (ValueError, SandboxUnavailable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: {args.out / 'grades.csv'} holds every submission graded so far; run again with --resume", file=sys.stderr)
        return 130
    print((args.out / "report.txt").read_text(), end="")
    print(f"graded {len(results)} submissions\ngrades: {args.out / 'grades.csv'}\nfeedback: {args.out / 'feedback'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
