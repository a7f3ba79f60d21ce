"""The digest of each released assignment, and the check that grading uses what was released.

    python -m tools.regenerate          # regenerates notebooks/ and records the digests
    python -m tools.release             # prints, per assignment, whether solutions/ still matches

``python -m tools.regenerate`` writes ``solutions/RELEASES.json``: for each assignment it
regenerated, the SHA-256 of every graded cell of ``solutions/<name>/<name>.ipynb`` (its source and
its points, keyed by ``grade_id``) and of the student notebook it wrote to ``notebooks/``. A
graded cell is one nbgrader scores: a test cell, or a task or answer graded by hand.

:func:`check_release` compares ``solutions/`` with that record before grading: a test changed,
added or removed, points changed, or ``notebooks/`` no longer the file released, and the
grader says so. After merging a branch that edits ``solutions/``, run ``python -m
tools.regenerate`` to release the merged version and refresh the record.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from tools.course import NOTEBOOKS, SOLUTIONS, assignments

RECORD = SOLUTIONS / "RELEASES.json"
REFRESH = "python -m tools.regenerate"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def graded_cells(solution_notebook: dict) -> dict[str, str]:
    """``grade_id`` -> SHA-256 of the graded cell's source and points, for every cell nbgrader scores."""
    digests = {}
    for cell in solution_notebook.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("grade"):
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        points = float(meta.get("points", 0))
        digests[meta["grade_id"]] = _sha256(json.dumps([source, points]).encode())
    return digests


def digest(name: str, *, solutions: Path = SOLUTIONS, notebooks: Path = NOTEBOOKS) -> dict:
    """The release digest of assignment ``name``: its graded cells and its student notebook."""
    solution = json.loads((Path(solutions) / name / f"{name}.ipynb").read_text(encoding="utf-8"))
    student = Path(notebooks) / name / f"{name}.ipynb"
    return {
        "graded_cells": graded_cells(solution),
        "student_notebook": _sha256(student.read_bytes()) if student.exists() else None,
    }


def record(names: list[str], *, solutions: Path = SOLUTIONS, notebooks: Path = NOTEBOOKS, path: Path = RECORD) -> Path:
    """Record the digests of ``names`` in ``path`` (keeping the others' entries) and return it."""
    path = Path(path)
    recorded = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    for name in names:
        recorded[name] = digest(name, solutions=solutions, notebooks=notebooks)
    path.write_text(json.dumps(dict(sorted(recorded.items())), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def check_release(
    assignment: str, *, solutions: Path = SOLUTIONS, notebooks: Path = NOTEBOOKS, path: Path = RECORD
) -> str | None:
    """A warning when ``solutions/<assignment>``'s graded cells differ from the recorded release, else None.

    Also warns when no release is recorded for the assignment, or when the committed student
    notebook is not the one recorded. The warning names the cells that changed and how to
    refresh the record.
    """
    path = Path(path)
    recorded = json.loads(path.read_text(encoding="utf-8")).get(assignment) if path.exists() else None
    if recorded is None:
        return f"{assignment}: no release digest is recorded in {path.name}; run {REFRESH} {assignment} to release it"
    if not (Path(solutions) / assignment / f"{assignment}.ipynb").exists():
        return f"{assignment}: released, but solutions/{assignment}/{assignment}.ipynb is gone"
    now = digest(assignment, solutions=solutions, notebooks=notebooks)
    then_cells, now_cells = recorded["graded_cells"], now["graded_cells"]
    changes = [f"{g} changed" for g in sorted(set(then_cells) & set(now_cells)) if then_cells[g] != now_cells[g]]
    changes += [f"{g} added" for g in sorted(set(now_cells) - set(then_cells))]
    changes += [f"{g} removed" for g in sorted(set(then_cells) - set(now_cells))]
    if now["student_notebook"] != recorded["student_notebook"]:
        changes.append(f"notebooks/{assignment} is not the notebook released")
    if not changes:
        return None
    return (
        f"{assignment}: solutions/ differs from what was released ({'; '.join(changes)}): students are graded by "
        f"tests they did not receive. Re-release with {REFRESH} {assignment}, or grade with the released version."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignments", nargs="*", help="assignment names (default: all in solutions/)")
    args = parser.parse_args(argv)
    warnings = [w for w in (check_release(name) for name in args.assignments or assignments()) if w]
    for warning in warnings:
        print(warning)
    if not warnings:
        print("every assignment matches its recorded release")
    return 1 if warnings else 0


if __name__ == "__main__":
    raise SystemExit(main())
