"""The grade command on a simulated honest class: every student graded, broken submissions reported, nothing modified.

These students are honest, so their notebooks run through ``--no-sandbox`` (``sandbox=False``):
the tests then also run where bubblewrap is missing. The sandbox itself, and a hostile class
graded in it by the real command, are in ``tests/test_sandbox.py``. The last tests here (OUT,
``--resume``, ``--roster``, LMS names) grade notebooks that never reach a kernel.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
from pathlib import Path

import pytest

from tests.conftest import nbgrader_meta, read_notebook, solution_path, student_path
from tests.hostile_class import with_answers as _with_answers
from tools.grade import grade
from tools.sandbox import Limits

pytestmark = pytest.mark.notebooks

NAME = "01_energy_and_partition"
TIMEOUT = 20  # seconds per cell, short so that the endless loop costs little test time


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


def test_every_submission_that_ran_gets_feedback(graded_class):
    for student, outcome in graded_class["outcomes"].items():
        html = graded_class["out"] / "feedback" / student / NAME / f"{NAME}.html"
        assert html.is_file() == (outcome.status in {"graded", "kernel died", "timed out"}), student


def test_no_submission_file_is_modified(graded_class):
    assert _digest(graded_class["submissions"]) == graded_class["before"]


def test_grading_refuses_an_output_folder_inside_the_submissions(tmp_path):
    (tmp_path / "alice" / NAME).mkdir(parents=True)
    with pytest.raises(ValueError, match="out"):
        grade(tmp_path, tmp_path / "grades", sandbox=False)


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
        runs.append([(r["student_id"], r["score"], r["max_score"], r["status"], r["digest"]) for r in _grades(tmp_path / run).values()])
    assert outcomes["ada"].score == outcomes["ada"].max_score > 0, "the latest attempt (perfect) is graded"
    assert outcomes["bo"].status == "not a notebook"
    assert "instructions.txt" in (tmp_path / "first" / "report.txt").read_text()
    assert runs[0] == runs[1], "grading twice must give the same grades"
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == before


def _class_of_files(folder: Path, files: dict[str, str]) -> Path:
    for student_id, text in files.items():
        (folder / student_id / NAME).mkdir(parents=True, exist_ok=True)
        (folder / student_id / NAME / f"{NAME}.ipynb").write_text(text)
    return folder


def _grades(out: Path) -> dict[str, dict]:
    with (out / "grades.csv").open() as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


def test_a_run_never_overwrites_an_earlier_one(tmp_path):
    submissions = _class_of_files(tmp_path / "sub", {"ada": "not json"})
    out = tmp_path / "out"
    out.mkdir()
    (out / "grades.csv").write_text("an earlier run's grades\n")
    with pytest.raises(ValueError, match="not empty.*--resume"):
        grade(submissions, out, names=[NAME], sandbox=False)
    assert (out / "grades.csv").read_text() == "an earlier run's grades\n"


def test_resume_grades_only_new_or_changed_submissions_and_keeps_the_rest(tmp_path):
    submissions = _class_of_files(tmp_path / "sub", {"ada": "not json", "bo": "[1, 2]"})
    out = tmp_path / "out"
    first = grade(submissions, out, names=[NAME], sandbox=False)
    assert {r.student for r in first} == {"ada", "bo"}
    before = _grades(out)
    _class_of_files(submissions, {"bo": '{"nbformat": 4}', "cy": "{"})
    again = grade(submissions, out, names=[NAME], sandbox=False, resume=True)
    assert {r.student for r in again} == {"bo", "cy"}, "only the changed and the new submission are graded again"
    after = _grades(out)
    assert after["ada"] == before["ada"], "an unchanged submission keeps its row as it was"
    assert after["bo"]["digest"] != before["bo"]["digest"] and after["bo"]["notes"] != before["bo"]["notes"]
    assert set(after) == {"ada", "bo", "cy"}
    assert "1 kept from the earlier run" in (out / "report.txt").read_text()


def test_every_student_on_the_roster_gets_a_row(tmp_path):
    submissions = _class_of_files(tmp_path / "sub", {"ada": "not json", "walk_in": "not json"})
    roster = tmp_path / "students.csv"
    roster.write_text("id,first_name\nada,Ada\nbo_b,Bo\n")
    grade(submissions, tmp_path / "out", names=[NAME], sandbox=False, roster=roster)
    rows = _grades(tmp_path / "out")
    assert rows["bo_b"]["status"] == "missing" and rows["bo_b"]["score"] == "0"
    assert rows["ada"]["status"] == "not a notebook" and "walk_in" in rows
    assert "walk_in has a submission but is not on the roster" in (tmp_path / "out" / "report.txt").read_text()


def test_grades_csv_is_written_through_a_rename(tmp_path, monkeypatch):
    """A reader of grades.csv sees the old or the new file: it is replaced by os.replace, never written in place."""
    import os

    import tools.grade

    replaced = []
    monkeypatch.setattr(tools.grade.os, "replace", lambda src, dst: (replaced.append(Path(dst).name), os.rename(src, dst)))
    submissions = _class_of_files(tmp_path / "sub", {"ada": "not json"})
    grade(submissions, tmp_path / "out", names=[NAME], sandbox=False)
    assert replaced.count("grades.csv") >= 2, replaced  # the empty table, then after the result
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["grades.csv", "report.txt"], "no temporary file left"


def test_a_large_class_costs_rows_written_in_proportion_to_its_size(tmp_path, monkeypatch):
    """grades.csv is not rewritten whole after every one of n results (n²/2 rows): a bounded number of rows per result."""
    import tools.grade

    written = []
    original = tools.grade._atomic_write
    monkeypatch.setattr(tools.grade, "_atomic_write", lambda path, text: (written.append(text.count("\n") - 1) if path.name == "grades.csv" else None, original(path, text))[1])
    n = 200
    submissions = _class_of_files(tmp_path / "sub", {f"s{i:03d}": "not json" for i in range(n)})
    grade(submissions, tmp_path / "out", names=[NAME], sandbox=False)
    assert len(_grades(tmp_path / "out")) == n and written[-1] == n  # the last rewrite holds every row
    # Rewriting when a twentieth of the table is new: at most 20 rows per result, plus the small start.
    assert sum(written) <= 25 * n < n * n // 2, (sum(written), len(written))
    assert not (tmp_path / "out" / tools.grade.JOURNAL).exists(), "the journal is folded into grades.csv at the end"


def test_resume_after_a_killed_run_reads_the_journal_and_drops_a_torn_line(tmp_path):
    """A run killed outright (no finally) leaves grades.csv behind the journal; --resume keeps what the journal holds."""
    import json

    from tools.grade import COLUMNS, JOURNAL, _read_kept

    out = tmp_path / "out"
    out.mkdir()
    stale = dict.fromkeys(COLUMNS, "") | {"student_id": "ada", "assignment": NAME, "status": "worker died", "score": "0"}
    fresh = stale | {"status": "graded", "score": "3"}
    other = stale | {"student_id": "bo", "status": "graded", "score": "1"}
    with (out / "grades.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerow(stale)
    (out / JOURNAL).write_text(json.dumps(fresh) + "\n" + json.dumps(other) + "\n" + json.dumps(other | {"student_id": "cy"})[:40])
    kept = _read_kept(out)
    assert kept == {("ada", NAME): fresh, ("bo", NAME): other}  # the journal's later row wins; the torn line is dropped


def test_lms_ids_with_underscores_each_get_their_row(tmp_path):
    import zipfile

    archive = tmp_path / "download.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"{NAME}_anna_smith_attempt_2026-11-02-10-00-00_{NAME}.ipynb", "not json")
        zf.writestr(f"{NAME}_bob_smith_attempt_2026-11-02-10-00-00_{NAME}.ipynb", "not json")
    grade(archive, tmp_path / "out", names=[NAME], sandbox=False, lms="blackboard")
    rows = _grades(tmp_path / "out")
    assert set(rows) == {"anna_smith", "bob_smith"}


def test_a_release_check_warning_reaches_the_report(tmp_path, monkeypatch):
    import tools.release

    monkeypatch.setattr(tools.release, "check_release", lambda name: f"{name}: tests changed since the release")
    submissions = _class_of_files(tmp_path / "sub", {"ada": "not json"})
    grade(submissions, tmp_path / "out", names=[NAME], sandbox=False)
    assert f"{NAME}: tests changed since the release" in (tmp_path / "out" / "report.txt").read_text()
