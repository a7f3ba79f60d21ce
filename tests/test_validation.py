"""The shared argument checks name the argument and say what came."""

from __future__ import annotations

import math

import pytest
import torch

from ebmlib._validation import check_energies, check_int, check_positive, check_positive_tensor


@pytest.mark.parametrize("bad", [0, -1.0, math.inf, math.nan])
def test_check_positive_rejects_non_positive_and_non_finite(bad):
    with pytest.raises(ValueError, match="temperature"):
        check_positive(bad, "temperature")


def test_check_positive_rejects_non_numbers_and_accepts_one_element_tensors():
    with pytest.raises(TypeError, match="step_size"):
        check_positive("0.1", "step_size")
    with pytest.raises(TypeError, match="step_size"):
        check_positive(True, "step_size")
    assert check_positive(torch.tensor(0.5), "step_size") == 0.5


def test_check_positive_tensor_rejects_any_bad_entry():
    with pytest.raises(ValueError, match="temperature"):
        check_positive_tensor([1.0, 0.0], "temperature")
    assert check_positive_tensor([1.0, 2.0], "temperature").dtype == torch.float64


def test_check_int_rejects_floats_and_small_values():
    with pytest.raises(TypeError, match="n_steps"):
        check_int(2.0, "n_steps")
    with pytest.raises(ValueError, match="n_steps"):
        check_int(0, "n_steps")
    assert check_int(3, "n_steps") == 3


@pytest.mark.parametrize(
    "energies, message",
    [([], "empty"), ([[0.0, 1.0]], "shape"), ([0.0, math.nan], "finite"), ([math.inf], "finite")],
)
def test_check_energies_names_the_argument(energies, message):
    with pytest.raises(ValueError, match=f"energies.*{message}"):
        check_energies(torch.tensor(energies))
