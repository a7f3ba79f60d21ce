"""Feedback without the hidden tests: the visible part as nbgrader releases it, and a scrubber that misses no copy."""

from __future__ import annotations

import html
import json
import re

import nbformat
import pytest

from tests.conftest import ASSIGNMENTS, nbgrader_meta, read_notebook, solution_path, student_path
from tools.feedback import REMOVED, Scrubber, render_feedback
from tools.instructor import hidden_lines, reference, visible_part
from tools.submission import SubmissionResult


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_visible_part_is_what_nbgrader_releases(name):
    """Each test cell's visible part equals the released cell, which nbgrader's ClearHiddenTests made."""
    released = {nbgrader_meta(c).get("grade_id"): "".join(c["source"]) for c in read_notebook(student_path(name))["cells"]}
    tests = [c for c in read_notebook(solution_path(name))["cells"] if nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution")]
    assert tests, f"{name} has no test cells"
    for cell in tests:
        grade_id = nbgrader_meta(cell)["grade_id"]
        assert visible_part("".join(cell["source"])).strip() == released[grade_id].strip(), grade_id


def _hidden_of(name: str) -> list[str]:
    return [line for c in read_notebook(solution_path(name))["cells"] for line in hidden_lines("".join(c["source"]))]


def test_scrubber_removes_verbatim_reindented_and_repr_copies_of_a_hidden_line():
    hidden = _hidden_of("01_energy_and_partition")
    line = next(line for line in hidden if "assert" in line and len(line) > 40)
    scrub = Scrubber(hidden)
    for leaked in (line, "   " + line.strip(), line.replace(" ", "  "), repr("\n".join(hidden)), json.dumps(hidden)):
        assert scrub(f"before\n{leaked}\nafter") == f"before\n{REMOVED}\nafter", leaked
    assert scrub("expected 0.5, got 0.5") == "expected 0.5, got 0.5", "ordinary output is kept"


def test_scrubber_keeps_short_lines_that_say_nothing():
    scrub = Scrubber(["    )", "else:", "### BEGIN HIDDEN TESTS"])
    assert scrub(")\nelse:") == ")\nelse:"
    assert scrub("### BEGIN HIDDEN TESTS") == REMOVED, "the markers always go"


def test_feedback_page_shows_visible_tests_verdicts_and_messages_but_no_hidden_line():
    name = "01_energy_and_partition"
    source = solution_path(name).read_bytes()
    ref = reference(source)
    notebook = nbformat.reads(source.decode(), as_version=4)
    hidden = [line.strip() for line in _hidden_of(name) if len(line.strip()) >= 8]
    first = next(c for c in notebook.cells if nbgrader_meta(c).get("grade_id") == "quadratic_energy_test")
    first.execution_count = 5
    # A failure in the hidden tests, whose traceback quotes the failing hidden line, and stdout that prints it.
    failing_line = next(i for i, line in enumerate(first.source.splitlines(), 1) if line.startswith("assert got.shape == (50,)"))
    first.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=hidden[0] + "\nexpected [0.0, 0.5, 2.0] got [0.0, 0.5, 2.0]\n"),
        nbformat.v4.new_output(
            "error", ename="AssertionError", evalue="expected shape (50,), got (49,)",
            traceback=[f"Cell In[5], line {failing_line}", first.source.splitlines()[failing_line - 1], "AssertionError: expected shape (50,), got (49,)"],
        ),
    ]  # fmt: skip
    first.metadata["execution"] = {"iopub.execute_input": "x"}
    result = SubmissionResult("ada", name, score=9.0, max_score=10.0, cell_scores={"quadratic_energy_test": (0.0, 1.0)})
    page = html.unescape(re.sub(r"<[^>]+>", "", render_feedback(notebook, ref, result)))
    assert "quadratic_energy_test: 0 / 1 points, failed in the hidden tests" in page
    assert "AssertionError: expected shape (50,), got (49,)" in page
    assert "expected [0.0, 0.5, 2.0] got" in page, "the student's visible output stays"
    assert "### BEGIN HIDDEN TESTS" not in page
    leaked = [line for line in hidden if line in page]
    assert not leaked, leaked[:3]
    assert ref.visible["quadratic_energy_test"].strip().splitlines()[1] in page, "the visible checks are shown"
