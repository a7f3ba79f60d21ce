"""Run every benchmark in one go, print their tables, and draw the headline numbers as one figure.

    python benchmarks/run_all.py [--skip NAME ...]

Runs ``notebook_times.py`` (each solution notebook's run time against its 60 s budget), then
every ``bench_*.py`` (ebmlib against its peers on the same work: samplers against the bare
PyTorch loop and TorchEBM, diagnostics against ArviZ, the RBM against scikit-learn, the
training methods by exact likelihood, autograding throughput, ...), each in its own process.
The tables go to the terminal and to ``benchmarks/results/benchmarks.txt``; the figure to
``benchmarks/results/benchmarks.png``. Benchmarks measure; they are not tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def scripts(skip: list[str]) -> list[Path]:
    found = [HERE / "notebook_times.py"] + sorted(HERE.glob("bench_*.py"))
    return [p for p in found if p.stem not in skip and p.stem.removeprefix("bench_") not in skip]


def figure(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["benchmark"], []).append(row)
    if not groups:
        return
    fig, axes = plt.subplots(len(groups), 1, figsize=(9, 2.2 + 0.35 * sum(len(g) for g in groups.values())), squeeze=False)
    for ax, (benchmark, group) in zip(axes[:, 0], groups.items()):
        labels = [r["case"] for r in group]
        values = [r["value"] for r in group]
        ax.barh(range(len(group)), values, color="tab:blue")
        ax.set_yticks(range(len(group)), labels, fontsize=8)
        ax.invert_yaxis()
        bars = {r["bar"] for r in group if r["bar"] is not None}
        for bar in bars:
            ax.axvline(bar, color="tab:red", ls="--", lw=1, label=f"bar: {bar:g}")
        if bars:
            ax.legend(fontsize=8, loc="lower right")
        ax.set_title(benchmark, fontsize=10)
        ax.set_xlabel(group[0]["unit"], fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", nargs="*", default=[], help="benchmarks to leave out, e.g. grading")
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    failed = []
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as rows_file, (RESULTS / "benchmarks.txt").open("w") as log:
        env = dict(os.environ, EBM_BENCH_ROWS=rows_file.name, PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
        for script in scripts(args.skip):
            banner = f"\n=== {script.name} ===\n"
            print(banner, end="", flush=True)
            log.write(banner)
            start = time.perf_counter()
            proc = subprocess.Popen([sys.executable, str(script)], cwd=HERE.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for line in proc.stdout:
                print(line, end="", flush=True)
                log.write(line)
            if proc.wait() != 0:
                failed.append(script.name)
            took = f"({script.name}: {time.perf_counter() - start:.0f} s, exit {proc.returncode})\n"
            print(took, end="")
            log.write(took)
        rows = [json.loads(line) for line in rows_file.read().splitlines() if line.strip()]
    figure(rows, RESULTS / "benchmarks.png")
    print(f"\ntables: {RESULTS / 'benchmarks.txt'}\nfigure: {RESULTS / 'benchmarks.png'}")
    if failed:
        print("failed or missed a bar: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
