"""Shared pieces of the course tools: where things are, and running nbgrader in a scratch copy.

The tools never run nbgrader in the repository itself: they copy what nbgrader needs into a
temporary course directory, run it there, and copy back only the results. The repository's
solutions and the TA's submissions are therefore never modified.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
NOTEBOOKS = ROOT / "notebooks"
CONFIG = ROOT / "nbgrader_config.py"


def assignments() -> list[str]:
    """Names of the course's assignments: the folders of ``solutions/`` holding a notebook."""
    return sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and (p / f"{p.name}.ipynb").exists())


def cell_timeout() -> int:
    """The per-cell timeout of autograding, in seconds: ``c.Execute.timeout`` of ``nbgrader_config.py``."""
    match = re.search(r"^c\.Execute\.timeout\s*=\s*(\d+)", CONFIG.read_text(), re.M)
    if not match:
        raise ValueError(f"{CONFIG} sets no c.Execute.timeout")
    return int(match[1])


def solution_notebook(name: str) -> bytes:
    """The bytes of the instructor's notebook ``solutions/<name>/<name>.ipynb`` (hidden tests included)."""
    path = SOLUTIONS / name / f"{name}.ipynb"
    if not path.is_file():
        raise ValueError(f"assignment {name!r} has no notebook {path}")
    return path.read_bytes()


def make_course_directory(workdir: Path, names: list[str], *, timeout: int | None = None) -> Path:
    """Set up a scratch nbgrader course directory under ``workdir`` holding the given assignments.

    The course's ``nbgrader_config.py`` is copied, with an optional per-cell ``timeout``
    (seconds) appended, and ``solutions/<name>/`` is copied for each assignment.
    """
    course = Path(workdir)
    course.mkdir(parents=True, exist_ok=True)
    config = CONFIG.read_text()
    if timeout is not None:
        config += f"\nc.Execute.timeout = {int(timeout)}\n"
    (course / "nbgrader_config.py").write_text(config)
    for name in names:
        source = SOLUTIONS / name
        if not source.is_dir():
            raise ValueError(f"assignment {name!r} has no folder in {SOLUTIONS}")
        shutil.copytree(source, course / "solutions" / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return course


def nbgrader(course: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in the course directory and return the completed process.

    nbgrader can exit 0 after logging an error, so the caller reads ``stdout``/``stderr``
    too; with ``check`` a non-zero exit raises ``RuntimeError`` carrying nbgrader's output.
    """
    # nbgrader runs helper programs (alembic) by name: put this Python's scripts first on
    # PATH so that an environment used without activating it still works.
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        capture_output=True,
        text=True,
        env=env,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc
