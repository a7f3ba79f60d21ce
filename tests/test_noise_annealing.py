"""NoiseAnnealing and blur_cost: the schedule's closed form, its use as fit's callback, the blur's
width against its Monte Carlo error, and the cost of blurring against exact mixture likelihoods."""

from __future__ import annotations

import math

import pytest
import torch

from ebmlib.datasets import eight_gaussians, eight_gaussians_mixture
from ebmlib.losses import NoiseAnnealing, blur_cost
from ebmlib.nets import MLPEnergy
from ebmlib.training import fit


def test_the_schedule_is_geometric_from_sigma_max_to_sigma_min_then_held():
    annealing = NoiseAnnealing(2.0, 0.02, n_steps=1000, fraction=0.4)  # falls over 400 steps
    assert annealing.sigma == 2.0
    assert annealing.sigma_at(0) == 2.0
    assert annealing.sigma_at(200) == pytest.approx(math.sqrt(2.0 * 0.02), rel=1e-12)  # the geometric mean
    assert annealing.sigma_at(100) == pytest.approx(2.0 * 0.01**0.25, rel=1e-12)
    for step in (400, 401, 1000, 5000):
        assert annealing.sigma_at(step) == pytest.approx(0.02, rel=1e-12)
    values = [annealing.sigma_at(t) for t in range(401)]
    assert all(a > b for a, b in zip(values, values[1:]))


def test_equal_ends_give_a_constant_sigma():
    annealing = NoiseAnnealing(0.1, 0.1, n_steps=10)
    assert {annealing.sigma_at(t) for t in range(12)} == {0.1}


def test_as_fits_callback_the_loss_of_step_t_sees_sigma_of_t_minus_one():
    n_steps = 30
    annealing = NoiseAnnealing(1.0, 0.1, n_steps=n_steps, fraction=0.5)
    seen = []

    def loss_fn(energy, x):
        seen.append(annealing.sigma)
        return energy(annealing.blur(x, generator=g)).mean()

    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    fit(MLPEnergy(hidden=4), loss_fn, torch.randn(50, 2, generator=g), n_steps, 10, 1e-3, generator=g,
        progress=False, callback=annealing)
    assert seen == [annealing.sigma_at(t) for t in range(n_steps)]
    assert annealing.sigma == 0.1


def test_blur_adds_gaussian_noise_of_the_current_width():
    annealing = NoiseAnnealing(0.5, 0.05, n_steps=10)
    annealing(5)  # sigma = sqrt(0.5 * 0.05) = 0.158...
    n = 40_000
    x = torch.full((n, 2), 3.0, dtype=torch.float64)
    blurred = annealing.blur(x, generator=torch.Generator().manual_seed(1))
    noise = blurred - 3.0
    # The sample standard deviation of n normal draws has standard error sigma / sqrt(2n): allow 5 of them.
    tolerance = 5 * annealing.sigma / math.sqrt(2 * n)
    assert noise.std(0).sub(annealing.sigma).abs().max().item() < tolerance
    assert noise.mean(0).abs().max().item() < 5 * annealing.sigma / math.sqrt(n)
    assert torch.equal(x, torch.full((n, 2), 3.0, dtype=torch.float64)), "blur must not modify its input"
    again = annealing.blur(x, generator=torch.Generator().manual_seed(1))
    assert torch.equal(blurred, again)
    assert blurred.dtype == torch.float64


@pytest.mark.parametrize(("sigma", "width", "dim"), [(0.1, 0.2, 2), (0.05, 0.2, 2), (1.0, 0.5, 3), (0.3, 1.0, 1)])
def test_blur_cost_is_the_kl_divergence_to_the_blurred_gaussian(sigma, width, dim):
    p = torch.distributions.Normal(torch.zeros(dim, dtype=torch.float64), width)
    q = torch.distributions.Normal(torch.zeros(dim, dtype=torch.float64), math.sqrt(width**2 + sigma**2))
    expected = torch.distributions.kl_divergence(p, q).sum().item()
    assert blur_cost(sigma, width, dim) == pytest.approx(expected, rel=1e-12)


def test_blur_cost_is_what_the_blurred_eight_gaussians_lose_in_test_log_likelihood():
    # Modes 1.5 apart and 0.2 wide barely overlap, so the mixture loses what one mode loses.
    mixture = eight_gaussians_mixture()
    x = eight_gaussians(200_000, generator=torch.Generator().manual_seed(2)).double()
    for sigma in (0.05, 0.1, 0.2):
        loss = mixture.log_prob(x) - mixture.log_prob(x, sigma)  # (n,), its mean estimates the KL divergence
        standard_error = loss.std().item() / math.sqrt(x.shape[0])
        assert abs(loss.mean().item() - blur_cost(sigma, 0.2, 2)) < 5 * standard_error + 1e-4


@pytest.mark.parametrize(
    ("args", "name"),
    [((0.0, 0.1, 10), "sigma_max"), ((1.0, -0.1, 10), "sigma_min"), ((0.1, 1.0, 10), "sigma_min"),
     ((1.0, 0.1, 0), "n_steps"), ((1.0, float("nan"), 10), "sigma_min")],
)
def test_bad_schedules_are_rejected_naming_the_argument(args, name):
    with pytest.raises(ValueError, match=name):
        NoiseAnnealing(*args)


@pytest.mark.parametrize("fraction", [0.0, -0.5, 1.5])
def test_a_fraction_outside_zero_one_is_rejected(fraction):
    with pytest.raises(ValueError, match="fraction"):
        NoiseAnnealing(1.0, 0.1, 10, fraction=fraction)


def test_blur_rejects_nan_data_naming_x_and_blur_cost_names_its_arguments():
    with pytest.raises(ValueError, match="x"):
        NoiseAnnealing(1.0, 0.1, 10).blur(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(ValueError, match="sigma"):
        blur_cost(0.0, 0.2)
    with pytest.raises(ValueError, match="width"):
        blur_cost(0.1, -0.2)
