"""Shared fixtures: the course's assignments and their student versions, made once per session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tools.course import NOTEBOOKS, SOLUTIONS, assignments
from tools.regenerate import generate

ASSIGNMENTS = assignments()


def read_notebook(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def nbgrader_meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> Path:
    """A folder holding what nbgrader makes of solutions/ now: <name>/<name>.ipynb for each assignment."""
    out = tmp_path_factory.mktemp("generated")
    generate(ASSIGNMENTS, out)
    return out


def solution_path(name: str) -> Path:
    return SOLUTIONS / name / f"{name}.ipynb"


def student_path(name: str) -> Path:
    return NOTEBOOKS / name / f"{name}.ipynb"


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """The library tests use small tensors: one torch thread avoids waiting on a second, busy core.

    Notebooks run in kernels of their own and are not affected.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
