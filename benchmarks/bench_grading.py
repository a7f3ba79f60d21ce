"""What grading a class costs: overhead over the notebooks' own run time, scaling, and where the time goes.

    python benchmarks/bench_grading.py [--students 8] [--assignment 01_energy_and_partition] [--no-sandbox]

A class of ``--students`` perfect submissions of one notebook (the solution, whose answers are
filled in) is graded three ways, one after the other:

1. the floor: each submission's notebook run top to bottom in a fresh kernel, nothing else
   (``notebook_times.run_time``, kernel start included), one at a time;
2. ``tools.cluster.run_tasks`` with ``grade_submission`` on a local cluster of 1 worker process;
3. the same on 2 worker processes.

From these it prints

    overhead ratio      = wall(2 workers) x 2 / sum(floor)          (bar: at most 1.3)
    scaling efficiency  = wall(1 worker) / (2 x wall(2 workers))    (bar: at least 0.85)
    projection          = 1000 students x 8 notebooks x (wall(2 workers) x 2 / students) / 64 cores

where each wall time is the whole ``run_tasks`` call, cluster start included. Then it measures,
on one submission, where a submission's grading time goes: what the nbgrader pipeline paid per
submission (a process, nbgrader's import, its database) and no longer does, and what is still
paid per submission (a fresh kernel in its sandbox, ``import torch``, the notebook's cells, the
integrity scan, the feedback page). Exits non-zero if a student is missing from the results or a
perfect submission loses points. The machine's load average is printed with the numbers: on a
shared machine they are upper bounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.cluster import run_tasks  # noqa: E402
from tools.submission import SubmissionTask, grade_submission  # noqa: E402

try:
    from benchmarks._rows import record
    from benchmarks.notebook_times import run_time
except ImportError:  # run as a script from benchmarks/
    from _rows import record
    from notebook_times import run_time

RATIO_BAR, EFFICIENCY_BAR = 1.3, 0.85
PROJECTED_STUDENTS, PROJECTED_NOTEBOOKS, PROJECTED_CORES, BUDGET_S = 1000, 8, 64, 60.0


def class_tasks(name: str, n_students: int, sandbox: bool, scratch: Path) -> list[SubmissionTask]:
    """``n_students`` perfect submissions of ``name``: the solution notebook, graded against itself."""
    source = (ROOT / "solutions" / name / f"{name}.ipynb").read_bytes()
    return [SubmissionTask(f"s{i:03d}", name, source, source, sandbox=sandbox, hide=(str(ROOT), str(scratch))) for i in range(n_students)]


def graded(tasks: list[SubmissionTask], jobs: int) -> tuple[float, list, float]:
    """(wall seconds of the whole run_tasks call, the results, seconds until the first task began)."""
    results, first = [], []
    start = time.perf_counter()

    def on_result(result):
        if not first:
            first.append(time.perf_counter() - start - result.wall_s)
        results.append(result)

    run_tasks(tasks, jobs=jobs, on_result=on_result, progress=False)
    return time.perf_counter() - start, results, first[0] if first else float("nan")


def floor(tasks: list[SubmissionTask], scratch: Path) -> list[float]:
    """Each submission's notebook in a fresh kernel, one at a time: the notebooks' own run time."""
    times = []
    for task in tasks:
        folder = scratch / "floor" / task.student
        folder.mkdir(parents=True)
        path = folder / f"{task.assignment}.ipynb"
        path.write_bytes(task.notebook)
        times.append(run_time(path))
    return times


def process_seconds(code: str, repeat: int = 3) -> float:
    """Median wall seconds of ``python -c code`` in a fresh process."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS="1"))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def gradebook_seconds(name: str, scratch: Path) -> float:
    """nbgrader's database as the old pipeline used it per submission: create it, add the assignment and a student."""
    from nbgrader.api import Gradebook  # imported first: its import is the row above

    start = time.perf_counter()
    with Gradebook(f"sqlite:///{scratch / 'gradebook.db'}") as gradebook:
        gradebook.update_or_create_assignment(name)
        gradebook.update_or_create_student("s000")
    return time.perf_counter() - start


async def _kernel_seconds(sandbox: bool, scratch: Path) -> tuple[float, float, float]:
    """(start to ready, ``import torch``, then ``import ebmlib``) in one fresh kernel, sandboxed as grading does."""
    from tools.sandbox import Limits, make_kernel_manager

    workdir = Path(tempfile.mkdtemp(prefix="kernel-", dir=scratch))
    (workdir / "scratch").mkdir()
    km = make_kernel_manager(workdir, workdir / "scratch", Limits(), sandbox=sandbox, hide=[ROOT, scratch])
    start = time.perf_counter()
    await km.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = km.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=120)
        ready = time.perf_counter()
        await client.execute_interactive("import torch", timeout=120)
        torch_done = time.perf_counter()
        await client.execute_interactive("import ebmlib", timeout=120)
        ebmlib_done = time.perf_counter()
    finally:
        client.stop_channels()
        await km.shutdown_kernel(now=True)
        await km.cleanup_resources()
    return ready - start, torch_done - ready, ebmlib_done - torch_done


def kernel_seconds(sandbox: bool, scratch: Path, repeat: int = 3) -> tuple[float, float, float]:
    runs = [asyncio.run(_kernel_seconds(sandbox, scratch)) for _ in range(repeat)]
    return tuple(statistics.median(r[i] for r in runs) for i in range(3))


def one_submission(task: SubmissionTask) -> dict[str, float]:
    """grade_submission in this process, cold then warm, timing its integrity scan and feedback page."""
    import tools.feedback
    import tools.integrity

    spent = {"integrity scan": 0.0, "feedback page": 0.0}

    def timed(label, function):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - start

        return wrapper

    cold = grade_submission(task)
    originals = tools.integrity.scan_notebook, tools.feedback.render_feedback
    tools.integrity.scan_notebook = timed("integrity scan", originals[0])
    tools.feedback.render_feedback = timed("feedback page", originals[1])
    try:
        warm = grade_submission(task)
    finally:
        tools.integrity.scan_notebook, tools.feedback.render_feedback = originals
    if warm.status != "graded":
        raise RuntimeError(f"the benchmark's submission was not graded: {warm.status} {warm.notes}")
    return {"cold": cold.wall_s, "warm": warm.wall_s, "cells": sum(warm.cell_times.values()), **spent}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=8, help="size of the class (default 8)")
    parser.add_argument("--assignment", default="01_energy_and_partition")
    parser.add_argument("--no-sandbox", action="store_true", help="grade without bubblewrap (the sandbox is the default, as in tools.grade)")
    args = parser.parse_args(argv)
    if args.students < 2:
        parser.error(f"--students must be at least 2, got {args.students}")
    sandbox, name = not args.no_sandbox, args.assignment
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="ebm-bench-grading-") as tmp:
        scratch = Path(tmp)
        tasks = class_tasks(name, args.students, sandbox, scratch)
        own = floor(tasks, scratch)
        wall_1, results_1, start_1 = graded(tasks, jobs=1)
        wall_2, results_2, start_2 = graded(tasks, jobs=2)
        parts = one_submission(tasks[0])
        process = process_seconds("pass")
        nbgrader_import = process_seconds("import nbgrader.apps") - process
        stack_import = process_seconds("import tools.submission, tools.feedback, tools.integrity, nbformat, nbclient, nbgrader.utils") - process
        database = gradebook_seconds(name, scratch)
        kernel_start, torch_import, ebmlib_import = kernel_seconds(sandbox, scratch)
    load = max(load, os.getloadavg()[0])

    ratio = wall_2 * 2 / sum(own)
    efficiency = wall_1 / (2 * wall_2)
    per_submission = wall_2 * 2 / args.students  # core-seconds, cluster start included
    n_projected = PROJECTED_STUDENTS * PROJECTED_NOTEBOOKS
    projected_h = n_projected * per_submission / PROJECTED_CORES / 3600
    budget_h = n_projected * BUDGET_S * ratio / PROJECTED_CORES / 3600
    sandbox_words = "in the sandbox" if sandbox else "without the sandbox (--no-sandbox)"
    print(f"{args.students} perfect submissions of {name}, graded {sandbox_words}, on {os.cpu_count()} cores "
          f"(load average up to {load:.1f} while measuring)\n")
    print(f"{'run':<44}{'wall s':>9}{'per submission s':>18}")
    print(f"{'floor: each notebook in a fresh kernel':<44}{sum(own):9.1f}{statistics.median(own):18.1f}")
    for label, wall, results, start in (("1 worker process", wall_1, results_1, start_1), ("2 worker processes", wall_2, results_2, start_2)):
        print(f"{label:<44}{wall:9.1f}{statistics.median(r.wall_s for r in results):18.1f}   "
              f"(first task began after {start:.1f} s: cluster start and warm-up)")
    print()
    print(f"grading overhead ratio  {ratio:6.2f}   wall(2 workers) x 2 / sum of the floor   bar <= {RATIO_BAR}: {'met' if ratio <= RATIO_BAR else 'NOT met'}")
    print(f"one submission, alone   {parts['warm'] / parts['cells']:6.2f}   warm grade_submission / its own cells' time, back to back "
          "(the overhead of grading itself, little moved by the machine's load)")
    print(f"scaling 1 -> 2 workers  {efficiency:6.2f}   wall(1) / (2 x wall(2))                 bar >= {EFFICIENCY_BAR}: {'met' if efficiency >= EFFICIENCY_BAR else 'NOT met'}")
    print(f"projection: {PROJECTED_STUDENTS} students x {PROJECTED_NOTEBOOKS} notebooks on {PROJECTED_CORES} cores: "
          f"{projected_h:.1f} h if each notebook costs what {name} did ({per_submission:.1f} core-s per submission); "
          f"{budget_h:.1f} h if each took its {BUDGET_S:.0f} s budget at this overhead ratio")
    print()
    print("where one submission's grading time goes (seconds; medians of 3 where repeated)")
    rows = [
        ("a Python process start", process, "old pipeline: per submission (nbgrader autograde);  now: once per worker"),
        ("nbgrader's import", nbgrader_import, "old: per submission;  now: not imported per task"),
        ("nbgrader's database (create, assignment, student)", database, "old: per submission;  now: none"),
        ("grading code's import (tools.submission & co.)", stack_import, "once per worker, before its first task (WarmWorker)"),
        ("kernel start to ready" + (" in the sandbox" if sandbox else ""), kernel_start, "per submission: a fresh kernel each"),
        ("import torch in the kernel", torch_import, "per submission, inside the notebook's first cell"),
        ("import ebmlib after torch", ebmlib_import, "per submission, inside the notebook's first cell"),
        ("the notebook's cells (imports included)", parts["cells"], "per submission: the floor"),
        ("integrity scan", parts["integrity scan"], "per submission"),
        ("feedback page", parts["feedback page"], "per submission"),
        ("rest, by difference: read, restore, score, stop", parts["warm"] - parts["cells"] - kernel_start - parts["integrity scan"] - parts["feedback page"], "per submission"),
        ("grade_submission, warm process", parts["warm"], "what a warm worker pays"),
        ("grade_submission, first in this process", parts["cold"], "what a cold process pays"),
    ]
    for label, seconds, when in rows:
        print(f"  {label:<52}{seconds:7.2f}   {when}")

    expected = {t.student for t in tasks}
    problems = []
    for label, results in (("1 worker", results_1), ("2 workers", results_2)):
        got = [r.student for r in results]
        if sorted(got) != sorted(expected):
            problems.append(f"{label}: students missing or twice: {sorted(set(expected) ^ set(got))}, {len(got)} results")
        problems += [f"{label}: {r.student} {r.status} {r.score:g}/{r.max_score:g}" for r in results if r.status != "graded" or r.score != r.max_score]
    for problem in problems:
        print("PROBLEM:", problem)
    case = f"{name}, {args.students} submissions"
    record("grading overhead ratio", case, ratio, "x floor", bar=RATIO_BAR)
    record("grading overhead of one submission", case, parts["warm"] / parts["cells"], "x its cells")
    record("grading scaling efficiency 1 to 2 workers", case, efficiency, "", bar=EFFICIENCY_BAR)
    record("grading projection, 1000 x 8 on 64 cores", case, projected_h, "h")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
