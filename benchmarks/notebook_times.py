"""Run each solution notebook top to bottom in a fresh kernel and print a table of run times.

    python benchmarks/notebook_times.py [NAME ...]

The autograder runs a student's whole notebook, so each must finish in at most 60 s on a
two-core CPU. This is a measurement, not a test: it prints the table and exits non-zero
only when a notebook fails to run.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

try:
    from benchmarks._rows import record
except ImportError:  # run as a script from benchmarks/
    from _rows import record

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 60.0


def run_time(path: Path) -> float:
    """Seconds to execute the notebook at ``path`` in a fresh kernel, kernel start-up included."""
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=600, resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def main(names: list[str]) -> int:
    paths = sorted((ROOT / "solutions").glob("*/*.ipynb"))
    if names:
        paths = [p for p in paths if p.parent.name in names]
    print(f"solution notebooks on {os.cpu_count()} CPU cores (budget {BUDGET_S:.0f} s each)\n")
    print(f"{'notebook':<36} {'seconds':>8} {'of budget':>10}")
    failed = 0
    for path in paths:
        try:
            seconds = run_time(path)
        except Exception as err:  # report and go on to the next notebook
            print(f"{path.parent.name:<36} {'failed':>8}   {type(err).__name__}: {str(err).splitlines()[0][:80]}")
            failed += 1
            continue
        flag = "" if seconds <= BUDGET_S else "  over budget"
        print(f"{path.parent.name:<36} {seconds:8.1f} {seconds / BUDGET_S:9.0%}{flag}")
        record("solution notebooks: run time (s)", path.parent.name, seconds, "s", bar=BUDGET_S)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
