"""The student notebooks are exactly what nbgrader makes of the solutions, and leak nothing."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from tests.conftest import ASSIGNMENTS, generated, nbgrader_meta, read_notebook, solution_path, student_path  # noqa: F401
from tools import release
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


# --- the release digest (tools.release), recorded by tools.regenerate --------------------------

@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_recorded_release_digest_matches_solutions_and_notebooks(name):
    warning = release.check_release(name)
    assert warning is None, (
        f"{warning}\nsolutions/RELEASES.json is stale (after a merge that edits solutions/, this is expected): "
        f"refresh it with `python -m tools.regenerate {name}` (or `python -m tools.regenerate` for all) and commit it"
    )


@pytest.fixture
def released(tmp_path):
    """A released copy of 01: solutions/ and notebooks/ under tmp_path, and its digest recorded there."""
    name = ASSIGNMENTS[0]
    solutions, notebooks = tmp_path / "solutions", tmp_path / "notebooks"
    (solutions / name).mkdir(parents=True)
    (notebooks / name).mkdir(parents=True)
    shutil.copy(solution_path(name), solutions / name)
    shutil.copy(student_path(name), notebooks / name)
    record = release.record([name], solutions=solutions, notebooks=notebooks, path=tmp_path / "RELEASES.json")
    paths = dict(solutions=solutions, notebooks=notebooks, path=record)
    return name, paths


def _edit(path, change):
    notebook = read_notebook(path)
    change(notebook)
    path.write_text(json.dumps(notebook, indent=1), encoding="utf-8")


def _test_cell(notebook, index=0):
    return [c for c in notebook["cells"] if nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution")][index]


def test_check_release_is_quiet_for_what_was_released_even_with_outputs(released):
    name, paths = released
    assert release.check_release(name, **paths) is None
    _edit(paths["solutions"] / name / f"{name}.ipynb", lambda nb: _test_cell(nb).update(execution_count=7, outputs=[{"output_type": "stream", "name": "stdout", "text": "x"}]))
    assert release.check_release(name, **paths) is None  # outputs are not what is graded


def test_check_release_names_a_test_cell_changed_after_release(released):
    name, paths = released
    solution = paths["solutions"] / name / f"{name}.ipynb"
    grade_id = nbgrader_meta(_test_cell(read_notebook(solution)))["grade_id"]
    _edit(solution, lambda nb: _test_cell(nb).update(source=_source(_test_cell(nb)) + "\nassert True\n"))
    warning = release.check_release(name, **paths)
    assert warning and f"{grade_id} changed" in warning and "python -m tools.regenerate" in warning


def test_check_release_names_changed_points_and_added_and_removed_cells(released):
    name, paths = released
    solution = paths["solutions"] / name / f"{name}.ipynb"
    first, second = (nbgrader_meta(_test_cell(read_notebook(solution), i))["grade_id"] for i in (0, 1))

    def change(nb):
        nbgrader_meta(_test_cell(nb, 0))["points"] += 1
        nbgrader_meta(_test_cell(nb, 1))["grade_id"] = "renamed_test"

    _edit(solution, change)
    warning = release.check_release(name, **paths)
    assert f"{first} changed" in warning and f"{second} removed" in warning and "renamed_test added" in warning


def test_check_release_notices_a_student_notebook_that_is_not_the_one_released(released):
    name, paths = released
    _edit(paths["notebooks"] / name / f"{name}.ipynb", lambda nb: nb["cells"].pop())
    assert "is not the notebook released" in release.check_release(name, **paths)


def test_check_release_says_how_to_release_an_assignment_never_recorded(released, tmp_path):
    name, paths = released
    warning = release.check_release(name, **{**paths, "path": tmp_path / "none.json"})
    assert "no release digest" in warning and f"python -m tools.regenerate {name}" in warning


def test_check_release_says_when_the_released_solution_is_gone(released):
    name, paths = released
    (paths["solutions"] / name / f"{name}.ipynb").unlink()
    assert "is gone" in release.check_release(name, **paths)


def test_recording_one_assignment_keeps_the_others(released):
    name, paths = released
    recorded = json.loads(paths["path"].read_text())
    paths["path"].write_text(json.dumps({**recorded, "other": {"graded_cells": {}, "student_notebook": None}}))
    release.record([name], **paths)
    assert set(json.loads(paths["path"].read_text())) == {name, "other"}
