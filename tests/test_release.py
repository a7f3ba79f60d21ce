"""The student notebooks are exactly what nbgrader makes of the solutions, and leak nothing."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ASSIGNMENTS, generated, nbgrader_meta, read_notebook, solution_path, student_path  # noqa: F401
from tools.course import NOTEBOOKS

MARKERS = re.compile(r"BEGIN (SOLUTION|HIDDEN TESTS)|END (SOLUTION|HIDDEN TESTS)")


def _cells_by_id(notebook: dict) -> dict[str, dict]:
    return {nbgrader_meta(c)["grade_id"]: c for c in notebook["cells"] if "grade_id" in nbgrader_meta(c)}


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_every_solution_has_a_committed_student_version_and_nothing_else():
    committed = sorted(p.name for p in NOTEBOOKS.iterdir() if p.is_dir())
    assert committed == ASSIGNMENTS, "notebooks/ must hold one folder per solutions/ folder: run python -m tools.regenerate"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_student_notebook_is_what_nbgrader_makes_of_the_solution(name, generated):
    fresh = read_notebook(generated / name / f"{name}.ipynb")
    committed = read_notebook(student_path(name))
    assert committed == fresh, f"notebooks/{name} drifted from solutions/{name}: run python -m tools.regenerate {name}"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_no_solution_code_or_hidden_test_reaches_the_student(name):
    solution, student = read_notebook(solution_path(name)), read_notebook(student_path(name))
    student_text = "\n".join(_source(c) for c in student["cells"])
    assert not MARKERS.search(student_text), f"nbgrader markers left in notebooks/{name}"
    student_cells = _cells_by_id(student)
    for grade_id, cell in _cells_by_id(solution).items():
        hidden = re.findall(r"### BEGIN (?:SOLUTION|HIDDEN TESTS)\n(.*?)### END", _source(cell), flags=re.S)
        secret_lines = {line.strip() for block in hidden for line in block.splitlines() if len(line.strip()) > 12}
        leaked = [line for line in secret_lines if line in _source(student_cells[grade_id])]
        assert not leaked, f"{name}/{grade_id}: solution or hidden-test lines reach the student: {leaked[:3]}"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_notebook_has_five_graded_exercises_with_visible_and_hidden_tests(name):
    cells = read_notebook(solution_path(name))["cells"]
    answers = [c for c in cells if nbgrader_meta(c).get("solution")]
    tests = [c for c in cells if nbgrader_meta(c).get("grade")]
    assert len(answers) >= 5 and len(tests) >= 5, f"{name}: {len(answers)} answer cells, {len(tests)} graded test cells"
    for cell in tests:
        grade_id, text = nbgrader_meta(cell)["grade_id"], _source(cell)
        visible, _, hidden = text.partition("### BEGIN HIDDEN TESTS")
        assert nbgrader_meta(cell).get("points", 0) > 0, f"{name}/{grade_id} carries no points"
        assert "assert" in visible, f"{name}/{grade_id} has no visible check"
        assert "assert" in hidden, f"{name}/{grade_id} has no hidden check"
    ids = [nbgrader_meta(c)["grade_id"] for c in cells if "grade_id" in nbgrader_meta(c)]
    assert len(ids) == len(set(ids)), f"{name}: duplicate grade_ids"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_solution_notebooks_are_committed_without_outputs(name):
    for cell in read_notebook(solution_path(name))["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{name}: clear outputs before committing"
