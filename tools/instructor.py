"""The instructor's version of an assignment, read once: which cells to restore, score and hide.

    ref = reference(Path("solutions/01_energy_and_partition/01_energy_and_partition.ipynb").read_bytes())
    ref.points     # {"quadratic_energy_test": 1.0, ...}: the graded cells, in notebook order
    ref.visible    # each test cell's source as released (without its hidden tests)
    ref.hidden     # every line of the hidden tests, which no feedback may show

nbgrader's database holds the same (the source of each locked and graded cell, hidden tests
included); here it is read from the notebook's bytes, so that a worker on another machine
needs nothing but the task it is sent. A test cell's hidden part is the lines from
``### BEGIN HIDDEN TESTS`` to ``### END HIDDEN TESTS``, as nbgrader's ``ClearHiddenTests`` cuts it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


def nbgrader_meta(cell: dict) -> dict:
    """A cell's nbgrader metadata ({} when it has none, or when a submission put something odd there)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def cell_source(cell: dict) -> str:
    """A cell's source as one string (notebook files store it as a list of lines or as a string)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def visible_part(source: str) -> str:
    """A test cell's source without its hidden tests (the lines from BEGIN to END HIDDEN TESTS)."""
    kept, hidden = [], False
    for line in source.splitlines(keepends=True):
        if line.strip().startswith(HIDDEN_BEGIN):
            hidden = True
        elif line.strip().startswith(HIDDEN_END):
            hidden = False
        elif not hidden:
            kept.append(line)
    return "".join(kept).rstrip() + "\n"


def hidden_lines(source: str) -> list[str]:
    """The lines of a test cell's hidden tests, markers included."""
    lines, hidden = [], False
    for line in source.splitlines():
        if line.strip().startswith(HIDDEN_BEGIN):
            hidden = True
        if hidden:
            lines.append(line)
        if line.strip().startswith(HIDDEN_END):
            hidden = False
    return lines


@dataclass(frozen=True)
class Reference:
    """The instructor's version of an assignment, read once: what to restore, score and hide."""

    restore: dict  # grade_id -> the instructor's cell (test cells and locked cells)
    points: dict  # grade_id -> points, for the graded cells, in notebook order
    visible: dict  # grade_id -> a test cell's visible source
    hidden: tuple  # every hidden-test line of the notebook
    metadata: dict  # the notebook's kernelspec and language_info
    imports: str = ""  # the instructor's top-level imports, on one line, run again at the top of each test cell


@lru_cache(maxsize=16)
def reference(source: bytes) -> Reference:
    """Parse the instructor's notebook (cached on its bytes, so a worker reads each assignment once)."""
    notebook = json.loads(source)
    restore, points, visible, hidden = {}, {}, {}, []
    for cell in notebook["cells"]:
        meta, text = nbgrader_meta(cell), cell_source(cell)
        grade_id = meta.get("grade_id")
        if not grade_id:
            continue
        if meta.get("grade"):
            points[grade_id] = float(meta.get("points", 0))
        if (meta.get("grade") and not meta.get("solution")) or meta.get("locked"):
            restore[grade_id] = cell
        if meta.get("grade") and not meta.get("solution") and cell["cell_type"] == "code":
            visible[grade_id] = visible_part(text)
            hidden += hidden_lines(text)
    metadata = {k: notebook.get("metadata", {}).get(k) for k in ("kernelspec", "language_info") if k in notebook.get("metadata", {})}
    imports = [
        line.strip()
        for cell in notebook["cells"]
        if cell["cell_type"] == "code" and not nbgrader_meta(cell).get("solution")
        for line in cell_source(cell).splitlines()
        if line.startswith(("import ", "from ")) and not line.rstrip().endswith(("(", "\\"))
    ]
    return Reference(restore, points, visible, tuple(hidden), metadata, "; ".join(dict.fromkeys(imports)))
