"""nbgrader's whole workflow through a local exchange directory, as on a JupyterHub.

release -> fetch -> submit -> collect -> autograde -> generate and release feedback -> fetch feedback,
with two students. nbgrader takes a student's name from the operating system (or from
JUPYTERHUB_USER when the OS user is 'jovyan', as in JupyterHub's images); the test runs each
student's commands as 'jovyan' with JUPYTERHUB_USER set, so one machine account plays both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import read_notebook, solution_path
from tests.test_grading import _with_answers
from tools.course import make_course_directory, nbgrader

pytestmark = pytest.mark.notebooks

NAME = "01_energy_and_partition"
COURSE = "ebm-course"
AS_STUDENT = (
    "import sys, nbgrader.utils as u; u.get_osusername = lambda: 'jovyan'; "
    "from nbgrader.apps.nbgraderapp import main; sys.argv = ['nbgrader'] + sys.argv[1:]; main()"
)


def _student(home: Path, user: str, exchange: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, JUPYTERHUB_USER=user, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    proc = subprocess.run(
        # Each student keeps their own submission cache, as separate accounts on a hub would.
        [sys.executable, "-c", AS_STUDENT, *args, f"--Exchange.root={exchange}", f"--Exchange.cache={home / '.cache'}", "--course", COURSE],
        cwd=home, env=env, capture_output=True, text=True,
    )
    assert proc.returncode == 0 and "ERROR" not in proc.stderr, f"{user}: nbgrader {args[0]} failed:\n{proc.stderr}"
    return proc


def test_release_fetch_submit_collect_autograde_and_return_feedback(tmp_path):
    exchange = tmp_path / "exchange"
    course = make_course_directory(tmp_path / "course", [NAME], timeout=60)
    with (course / "nbgrader_config.py").open("a") as config:
        config.write(f"\nc.Exchange.root = {str(exchange)!r}\n")

    nbgrader(course, "generate_assignment", NAME, "--force")
    nbgrader(course, "release_assignment", NAME, "--force")

    homes = {user: tmp_path / "home" / user for user in ("ada", "bo")}
    for user, home in homes.items():
        home.mkdir(parents=True)
        _student(home, user, exchange, "fetch_assignment", NAME)
        fetched = home / NAME / f"{NAME}.ipynb"
        assert fetched.is_file(), f"{user} fetched nothing"
        if user == "ada":  # ada answers every exercise; bo submits the notebook untouched
            fetched.write_text(json.dumps(_with_answers(read_notebook(fetched), read_notebook(solution_path(NAME)))))
        _student(home, user, exchange, "submit", NAME)

    nbgrader(course, "collect", NAME)
    for user in homes:
        assert (course / "submitted" / user / NAME / f"{NAME}.ipynb").is_file(), f"{user}'s submission was not collected"
    proc = nbgrader(course, "autograde", NAME, "--force")
    assert "ERROR" not in proc.stderr, proc.stderr

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {user: gradebook.find_submission(NAME, user).score for user in homes}
        maximum = gradebook.find_assignment(NAME).max_score
    assert scores == {"ada": maximum, "bo": 0.0} and maximum > 0

    nbgrader(course, "generate_feedback", NAME, "--force")
    nbgrader(course, "release_feedback", NAME)
    for user, home in homes.items():
        _student(home, user, exchange, "fetch_feedback", NAME)
        feedback = list((home / NAME / "feedback").rglob(f"{NAME}.html"))
        assert len(feedback) == 1, f"{user} fetched {len(feedback)} feedback files"
        shown = f"Score: {scores[user]:.1f} / {maximum:.1f}"
        assert shown in feedback[0].read_text(), f"{user}'s feedback should show {shown!r}"
