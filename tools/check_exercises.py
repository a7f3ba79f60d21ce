"""Do the tests catch wrong answers? Mutation testing of the course's exercises.

    python -m tools.check_exercises [NAME ...] [--jobs N] [--max-mutants K]

For every exercise of the named solution notebooks (all by default) the answer between the
solution markers is mutated with the slips students make (see :mod:`tools.mutants`). The
notebook runs once, top to bottom, in one kernel; after an exercise's last test cell has run,
each mutant is executed in that kernel state, then the exercise's test cells: first their
visible part (what the student sees, before ``### BEGIN HIDDEN TESTS``), then the whole cells,
then the original answer again.
A mutant is *killed by the visible tests*, *killed only by the hidden tests*, or it *survives*.
A mutant that runs longer than its time limit is interrupted and counted as killed. After the last
mutant the original test cells run again and the notebook goes on.

The report lists, per exercise, the mutants tried and for each the mutated line and the first
failure message a student would read; per notebook, two rates against the course's bars:

* kill rate = killed / non-equivalent mutants, at least 98 %;
* visible share = killed by the visible tests / killed, at least 95 %.

An *equivalent* mutant (the same function written differently: ``dim=0`` for ``dim=-1`` on a
1-D tensor) is marked once in the exercise's test cell, inside the hidden tests so the students
do not see it, by a comment holding the mutated line as the report prints it and the reason::

    # equivalent mutant: neighbours = torch.roll(spins, shifts=1, dims=1) -- the ring's sum is the same either way

and is left out of both rates. Exit status: 0 when every notebook meets both bars, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tools.course import SOLUTIONS, assignments
from tools.kernel import Kernel
from tools.mutants import Mutant, mutants, select

KILL_BAR = 0.98
VISIBLE_BAR = 0.95
HIDDEN = "### BEGIN HIDDEN TESTS"
EQUIVALENT = re.compile(r"#\s*equivalent mutant:\s*(?P<line>.*?)\s+--\s+(?P<reason>.+?)\s*$")


def _squash(line: str) -> str:
    return re.sub(r"\s+", "", line)


@dataclass
class Result:
    """One mutant and what became of it: 'visible', 'hidden', 'survived' or 'equivalent'."""

    mutant: Mutant
    outcome: str
    message: str = ""


@dataclass
class Exercise:
    """An answer cell and the graded test cells that follow it, with the report of its mutants."""

    grade_id: str
    answer: int
    tests: list[int]
    results: list[Result] = field(default_factory=list)
    generated: int = 0
    unused_marks: list[str] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(r.outcome == outcome for r in self.results)


@dataclass
class NotebookReport:
    name: str
    exercises: list[Exercise]
    seconds: float = 0.0
    error: str = ""

    def count(self, outcome: str) -> int:
        return sum(e.count(outcome) for e in self.exercises)

    @property
    def kill_rate(self) -> float:
        killed = self.count("visible") + self.count("hidden")
        total = killed + self.count("survived")
        return killed / total if total else 1.0

    @property
    def visible_share(self) -> float:
        killed = self.count("visible") + self.count("hidden")
        return self.count("visible") / killed if killed else 1.0

    @property
    def meets_bars(self) -> bool:
        return not self.error and self.kill_rate >= KILL_BAR and self.visible_share >= VISIBLE_BAR


def _meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def find_exercises(cells: list[dict]) -> list[Exercise]:
    """Each code cell marked ``solution`` with the graded code cells after it, up to the next answer cell."""
    exercises: list[Exercise] = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        meta = _meta(cell)
        if meta.get("solution"):
            exercises.append(Exercise(meta.get("grade_id", f"cell {index}"), index, []))
        elif meta.get("grade") and exercises:
            exercises[-1].tests.append(index)
    return [e for e in exercises if e.tests]


def _source(cell: dict) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def equivalence_marks(test_sources: list[str]) -> dict[str, str]:
    """The marked equivalent mutants of an exercise: squashed mutated line -> reason."""
    marks = {}
    for text in test_sources:
        for line in text.splitlines():
            match = EQUIVALENT.search(line)
            if match:
                marks[_squash(match["line"])] = match["reason"]
    return marks


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else message


class _Checker:
    """Runs one notebook and its mutants in one kernel."""

    def __init__(self, path: Path, max_mutants: int, min_timeout: float, cell_timeout: float):
        self.path = path
        self.cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        self.max_mutants = max_mutants
        self.min_timeout = min_timeout
        self.cell_timeout = cell_timeout
        self.kernel = None
        self.done: list[int] = []  # code cells run so far, to replay after a crash
        self.seconds: dict[int, float] = {}  # how long each cell took in the notebook's own run

    def run(self, index: int, code: str | None = None, timeout: float | None = None):
        return self.kernel.run(_source(self.cells[index]) if code is None else code, timeout or self.cell_timeout)

    def restart(self) -> None:
        self.kernel.restart()
        for index in self.done:
            self.run(index)

    def check(self) -> NotebookReport:
        exercises = find_exercises(self.cells)
        last_test = {e.tests[-1]: e for e in exercises}
        report = NotebookReport(self.path.stem, exercises)
        start = time.monotonic()
        self.kernel = Kernel(self.path.parent)
        try:
            for index, cell in enumerate(self.cells):
                if cell["cell_type"] != "code":
                    continue
                began = time.monotonic()
                outcome = self.run(index)
                self.seconds[index] = time.monotonic() - began
                if not outcome.ok:
                    report.error = f"cell {index} ({_meta(cell).get('grade_id', 'no grade_id')}) failed: {outcome.message}"
                    return report
                self.done.append(index)
                if index in last_test:
                    error = self.mutate(last_test[index])
                    if error:
                        report.error = error
                        return report
        finally:
            self.kernel.shutdown()
            report.seconds = time.monotonic() - start
        return report

    def mutate(self, exercise: Exercise) -> str:
        answer = _source(self.cells[exercise.answer])
        tests = [_source(self.cells[i]) for i in exercise.tests]
        visible = [t.split(HIDDEN)[0] for t in tests]
        marks = equivalence_marks(tests)
        used = set()
        found = mutants(answer)
        exercise.generated = len(found)
        # A mutant may take 5 times as long as the original answer and tests did, and at least min_timeout.
        limit = max(self.min_timeout, 5 * sum(self.seconds[i] for i in [exercise.answer, *exercise.tests]))
        for mutant in select(found, self.max_mutants):
            key = _squash(mutant.line)
            if key in marks:
                used.add(key)
                exercise.results.append(Result(mutant, "equivalent", marks[key]))
                continue
            exercise.results.append(self.try_mutant(mutant, visible, tests, limit))
            outcome = self.run(exercise.answer)  # the original answer again
            if not outcome.ok:
                return f"{exercise.grade_id}: the original answer fails after a mutant: {outcome.message}"
        for index in exercise.tests:  # and the names the tests leave behind, as the notebook made them
            outcome = self.run(index)
            if not outcome.ok:
                return f"{exercise.grade_id}: the original test cell {index} fails after the mutants: {outcome.message}"
        exercise.unused_marks = [reason for key, reason in marks.items() if key not in used]
        return ""

    def try_mutant(self, mutant: Mutant, visible: list[str], tests: list[str], limit: float) -> Result:
        outcome = self.kernel.run(mutant.source, limit)
        if not outcome.ok:
            return self._killed(mutant, "visible", outcome, "the answer cell itself fails: ")
        for part, parts in (("visible", visible), ("hidden", tests)):
            for code in parts:
                outcome = self.kernel.run(code, limit)
                if not outcome.ok:
                    return self._killed(mutant, part, outcome)
        return Result(mutant, "survived")

    def _killed(self, mutant: Mutant, part: str, outcome, prefix: str = "") -> Result:
        if outcome.status == "died":
            self.restart()
        return Result(mutant, part, prefix + _first_line(outcome.message))


def check_notebook(path: Path, *, max_mutants: int = 30, min_timeout: float = 10.0,
                   cell_timeout: float = 120.0) -> NotebookReport:
    """Mutation-test every exercise of one solution notebook; see the module docstring."""
    if max_mutants < 1:
        raise ValueError(f"max_mutants must be at least 1, got {max_mutants}")
    if min(min_timeout, cell_timeout) <= 0:
        raise ValueError(f"min_timeout and cell_timeout must be > 0, got {min_timeout} and {cell_timeout}")
    return _Checker(Path(path), max_mutants, min_timeout, cell_timeout).check()


def _short(text: str, width: int = 110) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def format_report(report: NotebookReport) -> str:
    """The report an author reads: per exercise the counts, then every mutant with its line and message."""
    lines = [f"== {report.name} ({report.seconds:.0f} s)"]
    if report.error:
        lines.append(f"   ERROR: {report.error}")
    labels = {"visible": "visible ", "hidden": "HIDDEN  ", "survived": "SURVIVED", "equivalent": "equiv.  "}
    for e in report.exercises:
        capped = f", {e.generated - len(e.results)} more not tried" if e.generated > len(e.results) else ""
        lines.append(
            f"-- {e.grade_id}: {len(e.results)} mutants{capped}; killed by visible {e.count('visible')}, "
            f"only by hidden {e.count('hidden')}, survived {e.count('survived')}, equivalent {e.count('equivalent')}"
        )
        for r in e.results:
            lines.append(_short(f"   {labels[r.outcome]} [{r.mutant.operator}] L{r.mutant.lineno}: {r.mutant.line}"))
            if r.message:
                lines.append(_short(f"              -> {r.message}"))
        for reason in e.unused_marks:
            lines.append(f"   note: an equivalence mark matches no mutant tried ({reason})")
    killed = report.count("visible") + report.count("hidden")
    lines.append(
        f"   {report.name}: kill rate {report.kill_rate:.1%} of {killed + report.count('survived')} "
        f"(bar {KILL_BAR:.0%}), visible {report.visible_share:.1%} of {killed} killed (bar {VISIBLE_BAR:.0%}): "
        + ("meets the bars" if report.meets_bars else "BELOW THE BARS")
    )
    return "\n".join(lines)


def format_summary(reports: list[NotebookReport]) -> str:
    lines = ["notebook                         mutants  killed  visible  kill rate  visible share  bars"]
    for r in reports:
        killed = r.count("visible") + r.count("hidden")
        total = killed + r.count("survived")
        lines.append(f"{r.name:32s} {total:7d} {killed:7d} {r.count('visible'):8d}  {r.kill_rate:8.1%}  "
                     f"{r.visible_share:12.1%}   {'ok' if r.meets_bars else 'BELOW' if not r.error else 'ERROR'}")
    return "\n".join(lines)


def check_course(names: list[str] | None = None, *, jobs: int = 1, max_mutants: int = 30,
                 on_report=None) -> list[NotebookReport]:
    """Check the named assignments (all by default), ``jobs`` notebooks at a time.

    ``on_report`` (optional) is called with each notebook's report, in order, as soon as it is ready.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    names = names or assignments()
    paths = [SOLUTIONS / name / f"{name}.ipynb" for name in names]
    for path in paths:
        if not path.exists():
            raise ValueError(f"no solution notebook {path}")
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        reports = []
        for report in pool.map(lambda p: check_notebook(p, max_mutants=max_mutants), paths):
            if on_report is not None:
                on_report(report)
            reports.append(report)
        return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="assignments to check (default: all)")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks checked at once (one kernel each)")
    parser.add_argument("--max-mutants", type=int, default=30, help="mutants tried per exercise at most")
    args = parser.parse_args(argv)
    reports = check_course(args.names, jobs=args.jobs, max_mutants=args.max_mutants,
                           on_report=lambda report: print(format_report(report), flush=True))
    print(format_summary(reports))
    return 0 if all(r.meets_bars for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
