"""A hostile class graded by the real command in the real sandbox: nobody gets out, nobody else is hurt.

``python -m tools.grade`` grades, in one run, an honest student and students who vandalise the
share, call home, leave processes behind, exceed the limits, print the hidden tests, switch
``forbid`` off, capture the library's answer and claim points of their own; a second run grades a
cell that ignores the interrupt. Each test asserts the outcome on the host: files untouched,
no process left, no connection made, every row present, the flag raised, no hidden-test line in
any feedback. Skipped, with the reason, where bubblewrap cannot start a sandbox (``.ci/run``
installs it).
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests import hostile_class as hostile
from tests.conftest import nbgrader_meta, read_notebook, solution_path, student_path
from tests.test_grading import _digest
from tools.course import ROOT
from tools.sandbox import sandbox_problem
from tools.instructor import hidden_lines

NAME = hostile.NAME
PROBLEM = sandbox_problem()
pytestmark = [pytest.mark.notebooks, pytest.mark.skipif(PROBLEM is not None, reason=f"no sandbox here: {PROBLEM}")]
MEMORY_MB, PROCESSES, OUTPUT_KB = 3072, 64, 256


def _left_behind() -> list[str]:
    """Command lines of the processes on this machine that a hostile submission started."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(arg.startswith(hostile.MARKER.encode()) for arg in argv[1:]) and argv[0].endswith(b"sleep"):
            found.append(b" ".join(argv).decode(errors="replace"))
    return found


def _grade(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.grade", *args], cwd=ROOT, capture_output=True, text=True, timeout=1200)


def _rows(out: Path) -> dict[str, dict]:
    with (out / "grades.csv").open() as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


def _feedback(out: Path, student: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", (out / "feedback" / student / NAME / f"{NAME}.html").read_text()))


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    solution, student = read_notebook(solution_path(NAME)), read_notebook(student_path(NAME))
    perfect = hostile.with_answers(student, solution)
    share = tmp_path_factory.mktemp("share")
    submissions, out = share / "submitted", share / "out"
    (share / "gradebook.db").write_bytes(b"SQLite format 3\0 the TA's gradebook")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    host_tmp = Path(f"/tmp/ebm-vandal-{uuid.uuid4().hex}.txt")
    paths = {
        "ebmlib_init": str(ROOT / "ebmlib" / "__init__.py"),
        "solutions": str(ROOT / "solutions" / NAME / f"{NAME}.ipynb"),
        "honest_notebook": str(submissions / "honest" / NAME / f"{NAME}.ipynb"),
        "grades": str(out / "grades.csv"),
        "gradebook": str(share / "gradebook.db"),
        "repo_file": str(ROOT / "vandalised.txt"),
        "host_tmp": str(host_tmp),
    }
    class_ = {
        "honest": json.dumps(perfect),
        "vandal": json.dumps(hostile.vandal(perfect, paths, listener.getsockname()[1])),
        "limits": json.dumps(hostile.limits_tester(perfect, MEMORY_MB, PROCESSES, OUTPUT_KB)),
        "leaker": json.dumps(hostile.leaker(perfect)),
        "forbid_rebinder": json.dumps(hostile.forbid_rebinder(perfect)),
        "default_capturer": json.dumps(hostile.default_capturer(perfect)),
        "null_cells": hostile.null_cells(student),
    }
    for student_id, text in class_.items():
        (submissions / student_id / NAME).mkdir(parents=True)
        (submissions / student_id / NAME / f"{NAME}.ipynb").write_text(text)
    roster = share / "roster.csv"
    roster.write_text("id\n" + "\n".join([*class_, "absent_student"]) + "\n")
    before = {"submissions": _digest(submissions), "gradebook": (share / "gradebook.db").read_bytes()}
    proc = _grade(
        str(submissions), str(out), "--assignment", NAME, "--jobs", "2", "--roster", str(roster), "--timeout", "60",
        "--memory", str(MEMORY_MB), "--processes", str(PROCESSES), "--output", str(OUTPUT_KB),
    )  # fmt: skip
    left = _left_behind()
    try:
        connection = listener.accept()[0]
        connection.close()
        called = True
    except BlockingIOError:
        called = False
    listener.close()
    yield {
        "proc": proc, "out": out, "rows": _rows(out) if (out / "grades.csv").is_file() else {}, "before": before,
        "submissions": submissions, "share": share, "left": left, "called": called, "host_tmp": host_tmp,
        "solution": solution,
    }  # fmt: skip
    host_tmp.unlink(missing_ok=True)


def _hidden(solution: dict) -> list[str]:
    lines = [line for cell in solution["cells"] for line in hidden_lines("".join(cell["source"]))]
    return [line.strip() for line in lines if len(re.sub(r"\s", "", line)) >= 8]


def test_the_command_grades_every_student_of_the_hostile_class(hostile_run):
    assert hostile_run["proc"].returncode == 0, hostile_run["proc"].stderr[-3000:]
    rows = hostile_run["rows"]
    assert set(rows) == {"honest", "vandal", "limits", "leaker", "forbid_rebinder", "default_capturer", "null_cells", "absent_student"}
    assert rows["null_cells"]["status"] == "not a notebook" and "schema" in rows["null_cells"]["notes"]
    assert rows["absent_student"]["status"] == "missing"


def _total_points() -> str:
    """The assignment's points from the solution's metadata, as grades.csv writes them."""
    cells = read_notebook(solution_path(NAME))["cells"]
    return f"{sum(float(nbgrader_meta(c)['points']) for c in cells if nbgrader_meta(c).get('grade')):g}"


def test_the_honest_students_grade_is_unmoved(hostile_run):
    row = hostile_run["rows"]["honest"]
    assert (row["status"], row["score"], row["max_score"]) == ("graded", _total_points(), _total_points()), row


def test_nothing_outside_the_scratch_copy_is_seen_or_written(hostile_run):
    touched = [p.name for p in (ROOT / "ebmlib").rglob("*.py") if "# vandalised" in p.read_text()]
    assert touched == [], f"the repository's ebmlib was modified: {touched}"
    assert _digest(hostile_run["submissions"]) == hostile_run["before"]["submissions"], "a submission was modified"
    assert (hostile_run["share"] / "gradebook.db").read_bytes() == hostile_run["before"]["gradebook"]
    assert not (ROOT / "vandalised.txt").exists() and not hostile_run["host_tmp"].exists()
    assert "vandalised" not in (hostile_run["out"] / "grades.csv").read_text()
    seen = json.loads(re.search(r"^VANDAL (\{.*\})$", _feedback(hostile_run["out"], "vandal"), re.M)[1])
    assert not any(seen["seen"][name] for name in ("ebmlib_init", "solutions", "honest_notebook", "grades", "gradebook")), seen
    assert not any(seen["wrote"][name] for name in seen["wrote"] if name != "host_tmp"), seen  # /tmp inside is a tmpfs
    assert not Path(seen["ebmlib"]).is_relative_to(ROOT), f"the kernel imported the editable checkout: {seen['ebmlib']}"
    assert hostile_run["rows"]["vandal"]["score"] == "3", "the vandal's own two exercises are still graded"


def test_no_network_and_nothing_left_running(hostile_run):
    assert not hostile_run["called"], "a submission connected to the host's 127.0.0.1"
    assert hostile_run["left"] == [], f"processes left running after grading: {hostile_run['left']}"


def test_memory_processes_and_output_are_bounded(hostile_run):
    feedback = _feedback(hostile_run["out"], "limits")
    assert "LIMITS memory refused" in feedback
    assert "LIMITS threads refused after" in feedback
    row = hostile_run["rows"]["limits"]
    assert row["status"] == "graded" and row["score"] == "3", row
    assert f"output past {OUTPUT_KB} KiB dropped" in row["notes"], row
    assert len(feedback) < 3 * OUTPUT_KB * 1024


def test_no_feedback_shows_a_hidden_test_line(hostile_run):
    hidden = _hidden(hostile_run["solution"])
    assert len(hidden) > 50
    for folder in (hostile_run["out"] / "feedback").iterdir():
        feedback = _feedback(hostile_run["out"], folder.name)
        leaked = [line for line in hidden if line in feedback]
        assert not leaked, f"{folder.name}'s feedback shows hidden tests: {leaked[:3]}"
    assert "line removed: it repeats the hidden tests" in _feedback(hostile_run["out"], "leaker"), "the leak was tried"


def test_switching_forbid_off_or_capturing_the_answer_earns_nothing_and_is_flagged(hostile_run):
    rows = hostile_run["rows"]
    for student in ("forbid_rebinder", "default_capturer"):
        assert rows[student]["status"] == "graded" and rows[student]["score"] == "1", rows[student]  # quadratic_energy only
    assert rows["forbid_rebinder"]["flags"], "rebinding forbid must be flagged"
    assert rows["leaker"]["flags"], "reading frames and In, and patching torch.allclose, must be flagged"
    assert rows["honest"]["flags"] == ""


def test_points_a_student_claims_are_not_counted(hostile_run):
    row = hostile_run["rows"]["default_capturer"]
    assert row["max_score"] == _total_points() and "bonus_points" in row["notes"], row


@pytest.fixture(scope="module")
def stubborn_run(tmp_path_factory):
    share = tmp_path_factory.mktemp("stubborn")
    submissions, out = share / "submitted", share / "out"
    class_ = {
        "stubborn": json.dumps(hostile.sigint_ignorer(busy=False)),
        "spinner": json.dumps(hostile.sigint_ignorer(busy=True)),
        "huge": json.dumps({"padding": "x" * 2**21}),
    }
    for student_id, text in class_.items():
        (submissions / student_id / NAME).mkdir(parents=True)
        (submissions / student_id / NAME / f"{NAME}.ipynb").write_text(text)
    (submissions / "-rf").mkdir()
    proc = _grade(
        str(submissions), str(out), "--assignment", NAME, "--jobs", "2",
        "--timeout", "3", "--notebook-timeout", "60", "--cpu-time", "5", "--max-size", "1",
    )  # fmt: skip
    return {"proc": proc, "out": out, "left": _left_behind()}


def test_a_cell_that_ignores_the_interrupt_is_stopped_with_the_whole_notebook(stubborn_run):
    assert stubborn_run["proc"].returncode == 0, stubborn_run["proc"].stderr[-3000:]
    rows = _rows(stubborn_run["out"])
    assert rows["stubborn"]["status"] == "timed out" and rows["stubborn"]["score"] == "0", rows["stubborn"]
    assert stubborn_run["left"] == [], stubborn_run["left"]


def test_a_cell_that_spins_past_its_cpu_time_is_stopped_and_says_why(stubborn_run):
    row = _rows(stubborn_run["out"])["spinner"]
    assert row["status"] == "kernel died" and "used up its 5 s of CPU time" in row["notes"], row


def test_a_too_large_notebook_and_an_unsafe_id_are_reported(stubborn_run):
    rows = _rows(stubborn_run["out"])
    assert rows["huge"]["status"] == "too large"
    assert "-rf" not in rows
    assert "'-rf' not graded" in (stubborn_run["out"] / "report.txt").read_text()


def test_without_a_sandbox_the_command_refuses_and_names_the_fix(tmp_path):
    (tmp_path / "sub" / "ada" / NAME).mkdir(parents=True)
    (tmp_path / "sub" / "ada" / NAME / f"{NAME}.ipynb").write_text("{}")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent))  # no bwrap on PATH
    proc = subprocess.run(
        [sys.executable, "-m", "tools.grade", str(tmp_path / "sub"), str(tmp_path / "out")], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "apt-get install bubblewrap" in proc.stderr and "--no-sandbox" in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists()
