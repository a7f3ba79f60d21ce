"""tools.check_exercises: the mutants of a known answer, their fate under known tests, and the course's bars."""

from __future__ import annotations

import nbformat
import pytest

from tools.check_exercises import check_course, check_notebook, format_report, format_summary
from tools.mutants import mutants, select

ANSWER = '''def half_square_sum(x, temperature=1.0):
    """E = sum_i x_i^2 / (2 T) over the last axis."""
    ### BEGIN SOLUTION
    return (x ** 2).sum(dim=-1) / (2 * temperature)
    ### END SOLUTION'''

# The mutants of ANSWER's one line, as the report prints them (worked out by hand from tools.mutants).
EXPECTED_LINES = {
    ("sign", "return -((x ** 2).sum(dim=-1) / (2 * temperature))"),
    ("reduction", "return (x ** 2).mean(dim=-1) / (2 * temperature)"),
    ("power", "return (x).sum(dim=-1) / (2 * temperature)"),
    ("axis", "return (x ** 2).sum(dim=0) / (2 * temperature)"),
    ("factor", "return (x ** 2).sum(dim=-1) / (temperature)"),
    ("temperature", "return (x ** 2).sum(dim=-1) / (2)"),
}

# Visible: 1-D input at T = 1 (kills the sign, the sum, the square and the 1/2, but a 1-D input
# cannot tell dim=0 from dim=-1, and T = 1 cannot see the temperature). Hidden: T = 3.
TESTS = '''x = torch.tensor([1.0, 2.0], dtype=torch.float64)
assert abs(float(half_square_sum(x)) - 2.5) < 1e-12, "expected 2.5"
### BEGIN HIDDEN TESTS
# equivalent mutant: return (x ** 2).sum(dim=0) / (2 * temperature) -- the inputs here are 1-D
assert abs(float(half_square_sum(x, temperature=3.0)) - 2.5 / 3) < 1e-12, "the result does not change with T"
### END HIDDEN TESTS'''


def _notebook(tmp_path, answer=ANSWER, tests=TESTS):
    nb = nbformat.v4.new_notebook()
    grade = lambda **kw: {"nbgrader": {"schema_version": 3, "locked": False, "task": False, **kw}}
    nb.cells = [
        nbformat.v4.new_code_cell("import torch"),
        nbformat.v4.new_code_cell(answer, metadata=grade(grade=False, solution=True, grade_id="half_answer")),
        nbformat.v4.new_code_cell(tests, metadata=grade(grade=True, solution=False, points=1, grade_id="half_test")),
        nbformat.v4.new_code_cell("after = half_square_sum(torch.ones(3))"),
    ]
    path = tmp_path / "toy.ipynb"
    nbformat.write(nb, path)
    return path


def test_mutants_of_a_known_answer_are_the_slips_listed_by_hand():
    found = mutants(ANSWER)
    assert {(m.operator, m.line) for m in found} == EXPECTED_LINES
    assert all(m.lineno == 4 for m in found)
    assert len({m.source for m in found}) == len(found)


def test_mutants_that_give_the_same_program_are_kept_once():
    # Dropping either factor 2 of x * 2 * 2 leaves x * 2: one mutant, the first in source order.
    cell = "def f(x):\n    ### BEGIN SOLUTION\n    return x * 2 * 2\n    ### END SOLUTION"
    assert [m.line for m in mutants(cell) if m.operator == "factor"] == ["return (x * 2)"]
    assert len({m.source for m in mutants(cell)}) == len(mutants(cell))


def test_mutants_cover_range_comparisons_calls_and_log_mean_exp():
    cell = (
        "def f(log_w, n):\n    ### BEGIN SOLUTION\n    total = 0.0\n    for i in range(n):\n"
        "        if log_w[i] < 0:\n            total = total + torch.sqrt(log_w[i] ** 2)\n"
        "    return torch.logsumexp(log_w, dim=0) - math.log(n)\n    ### END SOLUTION"
    )
    lines = {(m.operator, m.line) for m in mutants(cell)}
    assert ("off_by_one", "for i in range((n) + 1):") in lines
    assert ("off_by_one", "for i in range((n) - 1):") in lines
    assert ("compare", "if log_w[i] <= 0:") in lines
    assert ("compare", "if log_w[i] > 0:") in lines
    assert ("call", "total = total + (log_w[i] ** 2)") in lines
    assert ("log_mean", "return (log_w).mean(dim=0)") in lines


def test_only_the_code_between_the_markers_is_mutated():
    cell = "def f(x):\n    y = -x\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"
    assert [m.line for m in mutants(cell)] == ["return -(x)"]


def test_select_is_deterministic_and_takes_every_operator_first():
    found = mutants(ANSWER)
    chosen = select(found, 3)
    assert chosen == select(found, 3)
    assert len({m.operator for m in chosen}) == 3
    assert select(found, 100) == found


def test_the_checker_counts_visible_hidden_survived_and_equivalent(tmp_path):
    report = check_notebook(_notebook(tmp_path), min_timeout=30)
    assert not report.error, report.error
    [exercise] = report.exercises
    outcomes = {r.mutant.operator: r.outcome for r in exercise.results}
    assert outcomes == {"sign": "visible", "reduction": "visible", "power": "visible", "factor": "visible",
                        "axis": "equivalent", "temperature": "hidden"}
    assert (report.count("visible"), report.count("hidden"), report.count("survived")) == (4, 1, 0)
    assert report.kill_rate == 1.0 and report.visible_share == 4 / 5 and not report.meets_bars
    messages = {r.mutant.operator: r.message for r in exercise.results}
    assert messages["temperature"] == "AssertionError: the result does not change with T"
    assert messages["axis"] == "the inputs here are 1-D"
    text = format_report(report)
    assert "HIDDEN   [temperature] L4: return (x ** 2).sum(dim=-1) / (2)" in text and "BELOW THE BARS" in text


def test_a_survivor_is_reported_with_its_line(tmp_path):
    tests = TESTS.replace("# equivalent mutant:", "# not a mark:")
    report = check_notebook(_notebook(tmp_path, tests=tests), min_timeout=30)
    [survivor] = [r for r in report.exercises[0].results if r.outcome == "survived"]
    assert survivor.mutant.line == "return (x ** 2).sum(dim=0) / (2 * temperature)"
    assert report.kill_rate == 5 / 6
    assert "SURVIVED [axis] L4: return (x ** 2).sum(dim=0) / (2 * temperature)" in format_report(report)


def test_a_mutant_that_hangs_is_interrupted_and_counted_as_killed(tmp_path):
    answer = (
        "def count_down(n):\n    ### BEGIN SOLUTION\n    while n > 0:\n        n = n - 1\n"
        "    return n\n    ### END SOLUTION"
    )
    tests = "assert count_down(3) == 0\n### BEGIN HIDDEN TESTS\nassert count_down(0) == 0\n### END HIDDEN TESTS"
    path = _notebook(tmp_path, answer=answer, tests=tests)
    nb = nbformat.read(path, as_version=4)
    nb.cells[-1].source = "after = count_down(2)"
    nbformat.write(nb, path)
    report = check_notebook(path, min_timeout=2)
    assert not report.error, report.error
    hung = [r for r in report.exercises[0].results if r.mutant.line == "n = n + 1"]
    assert hung and hung[0].outcome == "visible" and "interrupted" in hung[0].message


def test_a_notebook_whose_own_cell_fails_is_an_error(tmp_path):
    path = _notebook(tmp_path, tests=TESTS.replace("2.5) < 1e-12", "2.6) < 1e-12"))
    report = check_notebook(path, min_timeout=30)
    assert "half_test" in report.error and not report.meets_bars


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="max_mutants"):
        check_notebook(_notebook(tmp_path), max_mutants=0)
    with pytest.raises(ValueError, match="jobs"):
        check_course(["01_energy_and_partition"], jobs=0)
    with pytest.raises(ValueError, match="no solution notebook"):
        check_course(["no_such_notebook"])


@pytest.mark.notebooks
def test_every_notebook_meets_the_bars(capsys):
    """Hidden + visible kill >= 98% of the non-equivalent mutants; visible alone >= 95% of what is killed."""
    reports = check_course(jobs=2)
    with capsys.disabled():
        for report in reports:
            print("\n" + format_report(report))
        print("\n" + format_summary(reports))
    below = [f"{r.name}: {r.error or f'kill {r.kill_rate:.1%}, visible {r.visible_share:.1%}'}"
             for r in reports if not r.meets_bars]
    assert not below, f"below the bars: {below}"
