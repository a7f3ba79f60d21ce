"""An untouched student notebook fails only in its graded test cells: a stuck student sees everything else."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ASSIGNMENTS, nbgrader_meta, student_path

pytestmark = pytest.mark.notebooks


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_untouched_student_notebook_fails_only_in_test_cells(name):
    path = student_path(name)
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=120, allow_errors=True, resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = {}
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                errors[index] = (nbgrader_meta(cell).get("grade_id", f"cell {index}"), output.ename)
    graded = {i for i, c in enumerate(notebook.cells) if nbgrader_meta(c).get("grade")}
    outside = {i: e for i, e in errors.items() if i not in graded}
    assert not outside, f"{name}: an untouched notebook fails outside its test cells: {outside}"
    failed = {errors[i][0] for i in graded if i in errors}
    passed = {nbgrader_meta(notebook.cells[i])["grade_id"] for i in graded} - failed
    assert not passed, f"{name}: these test cells pass without any answer, so they test nothing: {sorted(passed)}"
