"""An integrity scan of a submission: code that tampers with the grading, flagged for a person.

(Interface; the body follows.)
"""

from __future__ import annotations


def test_names(solution_notebook: dict) -> set[str]:
    """The names the instructor's graded test cells use (load or call), visible and hidden."""
    raise NotImplementedError


def scan_notebook(notebook: dict, test_names: set[str]) -> list[str]:
    """Flags for the student's code cells, each a short line naming the cell and what it does.

    The cells are read with :mod:`ast`, never executed. ``test_names`` are the names the test
    cells use (see :func:`test_names`); rebinding one of them is flagged.
    """
    raise NotImplementedError
