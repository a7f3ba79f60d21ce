"""The grade command on a simulated class: every student graded, broken submissions reported, nothing modified."""

from __future__ import annotations

import copy
import csv
import hashlib
import json
from pathlib import Path

import pytest

from tests.conftest import nbgrader_meta, read_notebook, solution_path, student_path
from tools.grade import grade
from tools.sandbox import Limits

pytestmark = pytest.mark.notebooks

NAME = "01_energy_and_partition"
TIMEOUT = 20  # seconds per cell, short so that the endless loop costs little test time


def _with_answers(student: dict, solution: dict) -> dict:
    """The student version with every answer cell filled in from the solution (a perfect student)."""
    answers = {nbgrader_meta(c)["grade_id"]: c["source"] for c in solution["cells"] if nbgrader_meta(c).get("solution")}
    filled = copy.deepcopy(student)
    for cell in filled["cells"]:
        if nbgrader_meta(cell).get("solution"):
            cell["source"] = answers[nbgrader_meta(cell)["grade_id"]]
    return filled


def _first_answer_cell(notebook: dict) -> dict:
    return next(c for c in notebook["cells"] if nbgrader_meta(c).get("solution") and c["cell_type"] == "code")


def _points(notebook: dict) -> dict[str, float]:
    return {nbgrader_meta(c)["grade_id"]: nbgrader_meta(c)["points"] for c in notebook["cells"] if nbgrader_meta(c).get("grade")}


def _looping(notebook: dict) -> dict:
    """Perfect, except that the first answer's function never returns."""
    looping = copy.deepcopy(notebook)
    cell = _first_answer_cell(looping)
    source = "".join(cell["source"])
    signature = source.split("\n", 1)[0]  # "def name(...):"
    assert signature.startswith("def "), f"first answer cell must define a function, got {signature!r}"
    cell["source"] = f"{signature}\n    while True:\n        pass\n"
    return looping


def _prepend_to_first_answer(notebook: dict, code: str) -> dict:
    changed = copy.deepcopy(notebook)
    cell = _first_answer_cell(changed)
    cell["source"] = code + "".join(cell["source"])
    return changed


def _syntax_error_in_first_answer(notebook: dict) -> dict:
    changed = copy.deepcopy(notebook)
    cell = _first_answer_cell(changed)
    signature = "".join(cell["source"]).split("\n", 1)[0]
    cell["source"] = f"{signature}\n    return (\n"  # unbalanced parenthesis
    return changed


def _first_test_cell(notebook: dict) -> dict:
    return next(c for c in notebook["cells"] if nbgrader_meta(c).get("grade"))


def _without_first_test_cell(notebook: dict) -> dict:
    changed = copy.deepcopy(notebook)
    changed["cells"].remove(_first_test_cell(changed))
    return changed


def _tests_calling_first_answer(solution: dict) -> list[dict]:
    function = "".join(_first_answer_cell(solution)["source"]).split("(", 1)[0].removeprefix("def ")
    return [c for c in solution["cells"] if nbgrader_meta(c).get("grade") and f"{function}(" in "".join(c["source"])]


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    solution, student = read_notebook(solution_path(NAME)), read_notebook(student_path(NAME))
    perfect = _with_answers(student, solution)
    edited = copy.deepcopy(student)
    for cell in edited["cells"]:
        if nbgrader_meta(cell).get("grade"):
            cell["source"] = "assert True  # tests edited away by the student\n"
    submissions = tmp_path_factory.mktemp("submissions")
    class_ = {
        "perfect": json.dumps(perfect),
        "untouched": json.dumps(student),
        "edited_tests": json.dumps(edited),
        "endless_loop": json.dumps(_looping(perfect)),
        "not_json": '{"cells": [',
    }
    for student_id, text in class_.items():
        folder = submissions / student_id / NAME
        folder.mkdir(parents=True)
        (folder / f"{NAME}.ipynb").write_text(text)
    broken = {
        "kernel_dies": _prepend_to_first_answer(perfect, "import os\nos._exit(1)\n"),
        "syntax_error": _syntax_error_in_first_answer(perfect),
        "deleted_tests": _without_first_test_cell(perfect),
    }
    for student_id, notebook in broken.items():
        folder = submissions / student_id / NAME
        folder.mkdir(parents=True)
        (folder / f"{NAME}.ipynb").write_text(json.dumps(notebook))
    extra = submissions / "extra_files" / NAME
    extra.mkdir(parents=True)
    (extra / f"{NAME}.ipynb").write_text(json.dumps(perfect))
    (extra / "scratch.py").write_text("print('not graded')\n")
    (submissions / "no_notebook" / NAME).mkdir(parents=True)
    (submissions / "no_notebook" / NAME / "notes.txt").write_text("forgot to upload")
    before = _digest(submissions)
    out = tmp_path_factory.mktemp("out")
    outcomes = {o.student: o for o in grade(submissions, out, names=[NAME], limits=Limits(cell_timeout_s=TIMEOUT), jobs=2, sandbox=False)}
    return {"outcomes": outcomes, "out": out, "submissions": submissions, "before": before, "solution": solution}


def test_perfect_submission_gets_full_marks(graded_class):
    outcome = graded_class["outcomes"]["perfect"]
    total = sum(_points(graded_class["solution"]).values())
    assert outcome.status == "graded" and outcome.max_score == total
    assert outcome.score == total, f"expected {total}, got {outcome.score}: {outcome.notes}"


def test_untouched_submission_gets_zero(graded_class):
    outcome = graded_class["outcomes"]["untouched"]
    assert (outcome.status, outcome.score) == ("graded", 0.0)


def test_editing_the_visible_tests_gains_nothing(graded_class):
    outcome = graded_class["outcomes"]["edited_tests"]
    assert (outcome.status, outcome.score) == ("graded", 0.0)


def test_endless_loop_costs_only_its_own_exercise(graded_class):
    outcome = graded_class["outcomes"]["endless_loop"]
    points = _points(graded_class["solution"])
    total = sum(points.values())
    assert outcome.status == "graded"
    assert any(note.startswith("timed out") for note in outcome.notes), outcome.notes
    # Exactly the test cells that call the looping function lose their points.
    lost = sum(nbgrader_meta(c)["points"] for c in _tests_calling_first_answer(graded_class["solution"]))
    assert 0 < lost < total
    assert outcome.score == total - lost, f"expected {total - lost}, got {outcome.score}: {outcome.notes}"


def test_syntax_error_costs_only_the_exercises_that_use_the_broken_cell(graded_class):
    outcome = graded_class["outcomes"]["syntax_error"]
    total = sum(_points(graded_class["solution"]).values())
    lost = sum(nbgrader_meta(c)["points"] for c in _tests_calling_first_answer(graded_class["solution"]))
    assert outcome.status == "graded"
    assert outcome.score == total - lost, f"expected {total - lost}, got {outcome.score}: {outcome.notes}"


def test_deleted_test_cell_scores_zero_and_is_reported(graded_class):
    outcome = graded_class["outcomes"]["deleted_tests"]
    first = _first_test_cell(graded_class["solution"])
    total = sum(_points(graded_class["solution"]).values())
    assert outcome.status == "graded"
    assert outcome.score == total - nbgrader_meta(first)["points"], outcome.notes
    assert any(nbgrader_meta(first)["grade_id"] in note for note in outcome.notes), outcome.notes


def test_a_kernel_that_dies_is_reported_and_the_others_still_graded(graded_class):
    outcomes = graded_class["outcomes"]
    assert (outcomes["kernel_dies"].status, outcomes["kernel_dies"].score) == ("kernel died", 0.0)
    assert outcomes["perfect"].score == outcomes["perfect"].max_score > 0


def test_extra_files_are_ignored_and_reported(graded_class):
    outcome = graded_class["outcomes"]["extra_files"]
    assert outcome.status == "graded" and outcome.score == outcome.max_score
    assert any("scratch.py" in note for note in outcome.notes), outcome.notes


def test_broken_and_missing_submissions_are_reported_not_dropped(graded_class):
    outcomes = graded_class["outcomes"]
    assert outcomes["not_json"].status == "not a notebook" and outcomes["not_json"].score == 0
    assert outcomes["no_notebook"].status == "missing" and outcomes["no_notebook"].score == 0
    with (graded_class["out"] / "grades.csv").open() as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(outcomes), "every student has a row in grades.csv"
    assert rows["perfect"]["status"] == "graded" and float(rows["perfect"]["score"]) == outcomes["perfect"].score
    report = (graded_class["out"] / "report.txt").read_text()
    assert all(student in report for student in outcomes)


def test_every_graded_student_gets_feedback(graded_class):
    for student, outcome in graded_class["outcomes"].items():
        html = graded_class["out"] / "feedback" / student / NAME / f"{NAME}.html"
        assert html.is_file() == (outcome.status == "graded"), student


def test_no_submission_file_is_modified(graded_class):
    assert _digest(graded_class["submissions"]) == graded_class["before"]


def test_grading_refuses_an_output_folder_inside_the_submissions(tmp_path):
    (tmp_path / "alice" / NAME).mkdir(parents=True)
    with pytest.raises(ValueError, match="out"):
        grade(tmp_path, tmp_path / "grades")


def test_lms_zip_grades_each_students_latest_attempt_the_same_way_twice(tmp_path):
    import zipfile

    solution, student = read_notebook(solution_path(NAME)), read_notebook(student_path(NAME))
    perfect = json.dumps(_with_answers(student, solution))
    archive = tmp_path / "download.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"{NAME}_ada_attempt_2026-11-01-09-00-00_{NAME}.ipynb", json.dumps(student))
        zf.writestr(f"{NAME}_ada_attempt_2026-11-02-09-00-00_my_answers.ipynb", perfect)
        zf.writestr(f"{NAME}_bo_attempt_2026-11-02-10-00-00_{NAME}.ipynb", "not a notebook")
        zf.writestr("instructions.txt", "no student here")
    before = hashlib.sha256(archive.read_bytes()).hexdigest()
    runs = []
    for run in ("first", "second"):
        outcomes = {o.student: o for o in grade(archive, tmp_path / run, names=[NAME], limits=Limits(cell_timeout_s=TIMEOUT), sandbox=False)}
        runs.append((tmp_path / run / "grades.csv").read_text())
    assert outcomes["ada"].score == outcomes["ada"].max_score > 0, "the latest attempt (perfect) is graded"
    assert outcomes["bo"].status == "not a notebook"
    assert "instructions.txt" in (tmp_path / "first" / "report.txt").read_text()
    assert runs[0] == runs[1], "grading twice must give the same grades"
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == before
