"""Autograding throughput on a simulated class, and a check that no student is lost.

    python benchmarks/bench_grading.py [--students 30] [--assignment 01_energy_and_partition]

Builds a class of simulated submissions of one notebook (mostly perfect, plus untouched ones,
endless loops, invalid JSON, a kernel that dies, deleted test cells, a missing notebook),
grades it with ``tools.grade`` and prints submissions per minute and the outcome of each kind.
Exits non-zero if any student is missing from grades.csv or the report, or a perfect
submission loses points.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import nbgrader_meta, read_notebook, solution_path, student_path  # noqa: E402
from tests.test_grading import _looping, _prepend_to_first_answer, _with_answers, _without_first_test_cell  # noqa: E402
from tools.grade import grade  # noqa: E402

try:
    from benchmarks._rows import record
except ImportError:  # run as a script from benchmarks/
    from _rows import record


def simulated_class(name: str, n_students: int) -> dict[str, str | None]:
    """Student id -> notebook text (None: no notebook submitted), a mix of every kind of case."""
    solution, student = read_notebook(solution_path(name)), read_notebook(student_path(name))
    perfect = _with_answers(student, solution)
    odd = {
        "untouched": json.dumps(student),
        "endless_loop": json.dumps(_looping(perfect)),
        "not_json": '{"cells": [',
        "kernel_dies": json.dumps(_prepend_to_first_answer(perfect, "import os\nos._exit(1)\n")),
        "deleted_tests": json.dumps(_without_first_test_cell(perfect)),
        "missing": None,
    }
    kinds = list(odd) + ["perfect"] * max(0, n_students - len(odd))
    return {f"s{i:03d}_{kind}": (json.dumps(perfect) if kind == "perfect" else odd[kind]) for i, kind in enumerate(kinds[:n_students])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--assignment", default="01_energy_and_partition")
    parser.add_argument("--timeout", type=int, default=30, help="per-cell timeout in seconds")
    parser.add_argument("--jobs", type=int, default=2, help="submissions graded at once")
    args = parser.parse_args(argv)
    name = args.assignment
    with tempfile.TemporaryDirectory(prefix="ebm-bench-grading-") as tmp:
        submissions, out = Path(tmp) / "submitted", Path(tmp) / "out"
        roster = simulated_class(name, args.students)
        for student_id, text in roster.items():
            folder = submissions / student_id / name
            folder.mkdir(parents=True)
            if text is not None:
                (folder / f"{name}.ipynb").write_text(text)
        start = time.perf_counter()
        outcomes = grade(submissions, out, names=[name], timeout=args.timeout, jobs=args.jobs)
        minutes = (time.perf_counter() - start) / 60
        with (out / "grades.csv").open() as handle:
            in_csv = {row["student_id"] for row in csv.DictReader(handle)}
        report = (out / "report.txt").read_text()
    total = sum(nbgrader_meta(c).get("points", 0) for c in read_notebook(solution_path(name))["cells"] if nbgrader_meta(c).get("grade"))
    lost = sorted(set(roster) - {o.student for o in outcomes} | set(roster) - in_csv | {s for s in roster if s not in report})
    wrong_perfect = [o.student for o in outcomes if o.student.endswith("perfect") and o.score != total]
    print(f"{len(roster)} submissions of {name} graded in {minutes:.1f} min with {args.jobs} jobs: "
          f"{len(roster) / minutes:.1f} submissions per minute")
    print(f"{'kind':<16}{'n':>4}  outcomes")
    by_kind: dict[str, Counter] = {}
    for o in outcomes:
        kind = o.student.split("_", 1)[1]
        by_kind.setdefault(kind, Counter())[f"{o.status} {o.score:g}/{o.max_score:g}"] += 1
    for kind, counts in sorted(by_kind.items()):
        print(f"{kind:<16}{sum(counts.values()):>4}  " + ", ".join(f"{n}x {what}" for what, n in counts.items()))
    print(f"students lost or unreported: {len(lost)} {lost if lost else ''}")
    print(f"perfect submissions short of {total:g} points: {len(wrong_perfect)} {wrong_perfect if wrong_perfect else ''}")
    record("autograding throughput", f"{name}, {len(roster)} submissions", len(roster) / minutes, "submissions per minute")
    return 1 if lost or wrong_perfect else 0


if __name__ == "__main__":
    sys.exit(main())
