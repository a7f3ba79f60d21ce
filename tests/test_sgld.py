"""Tests of ebmlib.samplers.sgld: the implied temperature, the Langevin special case, the stationary law."""

from __future__ import annotations

import math

import pytest
import torch

from ebmlib.samplers import langevin
from ebmlib.training import NonFiniteError
from ebmlib.samplers import implied_temperature, sgld, sgld_step, sgld_to_langevin


def quartic(x):
    """A non-Gaussian energy, E(x) = ½‖x‖² + x₁⁴/4 + x₁x₂, shape (n,)."""
    return 0.5 * x.square().sum(1) + 0.25 * x[:, 0] ** 4 + x[:, 0] * x[:, 1]


@pytest.mark.parametrize(
    "drift, noise_scale, expected",
    [(1.0, 0.01, 5e-5), (0.05, math.sqrt(0.1), 1.0), (0.5, 1.0, 1.0), (2.0, 4.0, 4.0), (0.1, 0.0, 0.0)],
)
def test_implied_temperature_is_noise_variance_over_twice_the_drift(drift, noise_scale, expected):
    assert implied_temperature(drift, noise_scale) == pytest.approx(expected, rel=1e-12, abs=0.0)


def test_implied_temperature_broadcasts_over_tensors():
    a = torch.tensor([1.0, 0.5, 0.01])
    sigma = torch.tensor([[0.01], [1.0]])
    torch.testing.assert_close(implied_temperature(a, sigma), sigma.double() ** 2 / (2 * a.double()))


def test_sgld_with_noise_variance_twice_the_step_is_the_langevin_step():
    # ULA at T = 1: x' = x - (ε/2)∇E + √ε z; SGLD with a = ε/2, σ = √ε and the same noise.
    eps = 0.1
    x0 = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    path, _ = langevin(quartic, x0, 25, eps, generator=torch.Generator().manual_seed(1))
    got = sgld(quartic, x0, 25, eps / 2, math.sqrt(eps), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(got, path[:, -1], rtol=0, atol=1e-12)
    # and the pair implies T = 1
    assert implied_temperature(eps / 2, math.sqrt(eps)) == pytest.approx(1.0, rel=1e-12)


def test_sgld_with_another_noise_is_langevin_at_the_implied_temperature():
    # σ² = ε and a = ε/(2T): ULA at temperature T with the same ε and the same noise.
    eps, temperature = 0.04, 0.25
    x0 = torch.randn(8, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    path, _ = langevin(quartic, x0, 10, eps, temperature=temperature, generator=torch.Generator().manual_seed(3))
    a, sigma = eps / (2 * temperature), math.sqrt(eps)
    got = sgld(quartic, x0, 10, a, sigma, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(got, path[:, -1], rtol=0, atol=1e-12)
    assert implied_temperature(a, sigma) == pytest.approx(temperature, rel=1e-12)


def test_sgld_step_is_the_update_written_out():
    # E(x) = ½‖x‖², ∇E(x) = x: x' = x - a x + σ z
    x = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)
    z = torch.tensor([[0.3, 0.1], [-1.0, 2.0]], dtype=torch.float64)
    got = sgld_step(lambda v: 0.5 * v.square().sum(1), x, 0.2, 0.05, z)
    torch.testing.assert_close(got, x - 0.2 * x + 0.05 * z, rtol=0, atol=1e-15)


def test_sgld_to_langevin_maps_drift_and_noise_to_step_size_and_temperature():
    # ε = σ², T = σ²/(2a), so that ε/(2T) = a and √ε = σ
    step_size, temperature = sgld_to_langevin(0.3, 0.2)
    assert step_size == pytest.approx(0.04, rel=1e-15) and temperature == pytest.approx(0.04 / 0.6, rel=1e-15)
    assert step_size / (2 * temperature) == pytest.approx(0.3, rel=1e-15)


def test_sgld_without_noise_is_refused_naming_noise_scale():
    # σ = 0 (gradient descent) is T = 0: no Langevin step at all
    with pytest.raises(ValueError, match="noise_scale"):
        sgld(lambda v: 0.5 * v.square().sum(1), torch.ones(1, 2), 7, 0.3, 0.0)


def test_sgld_reaches_the_stationary_variance_of_its_linear_recursion():
    # On E = x²/2: x' = (1 - a) x + σ z, whose stationary variance is σ² / (a (2 - a)),
    # which tends to the implied temperature σ²/(2a) as a -> 0. 20 000 chains from N(0, v).
    a, sigma, n = 0.2, 0.3, 20_000
    v = sigma**2 / (a * (2 - a))
    g = torch.Generator().manual_seed(4)
    x0 = math.sqrt(v) * torch.randn(n, 1, dtype=torch.float64, generator=g)
    x = sgld(lambda u: 0.5 * u.square().sum(1), x0, 50, a, sigma, generator=g)
    measured = float(x.var())
    assert abs(measured - v) < 5 * v * math.sqrt(2 / (n - 1)), (measured, v)
    assert implied_temperature(a, sigma) == pytest.approx(v * (2 - a) / 2, rel=1e-12)


def test_sgld_is_reproducible_and_leaves_x0_alone_and_keeps_its_dtype():
    x0 = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    before = x0.clone()
    energy = lambda x: x.square().flatten(1).sum(1)  # noqa: E731
    first = sgld(energy, x0, 4, 0.1, 0.01, generator=torch.Generator().manual_seed(6))
    second = sgld(energy, x0, 4, 0.1, 0.01, generator=torch.Generator().manual_seed(6))
    assert torch.equal(first, second) and torch.equal(x0, before)
    assert first.dtype == torch.float32 and first.shape == x0.shape and not first.requires_grad
    assert torch.equal(sgld(energy, x0, 0, 0.1, 0.01), x0)


def test_clamp_keeps_the_chains_in_the_box():
    x0 = torch.zeros(100, 2)
    x = sgld(lambda v: -10 * v.sum(1), x0, 5, 1.0, 1e-3, clamp=(-1.0, 1.0))  # pushes every chain to +inf
    assert torch.equal(x, torch.ones(100, 2))


def test_non_finite_energies_raise_a_non_finite_error_naming_energy():
    with pytest.raises(NonFiniteError, match="energy.*x0"):
        sgld(lambda x: torch.log(x[:, 0]), -torch.ones(3, 2), 5, 0.1, 0.1)
    # E = x⁴ with a huge drift: the chains overflow within a few steps
    with pytest.raises(NonFiniteError, match="diverged"):
        sgld(lambda x: x.pow(4).sum(1), torch.full((3, 1), 2.0), 50, 10.0, 1e-3)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"drift": 0.0}, "drift"),
        ({"drift": float("nan")}, "drift"),
        ({"noise_scale": -0.1}, "noise_scale"),
        ({"noise_scale": 0.0}, "noise_scale"),
        ({"n_steps": -1}, "n_steps"),
        ({"x0": torch.tensor([[float("nan"), 0.0]])}, "x0"),
        ({"x0": torch.zeros(3)}, "x0"),
    ],
)
def test_bad_arguments_raise_a_value_error_naming_them(kwargs, name):
    args = {"x0": torch.zeros(3, 2), "n_steps": 2, "drift": 0.1, "noise_scale": 0.1} | kwargs
    with pytest.raises(ValueError, match=name):
        sgld(lambda x: x.square().sum(1), **args)


def test_implied_temperature_refuses_bad_pairs():
    with pytest.raises(ValueError, match="drift"):
        implied_temperature(0.0, 0.1)
    with pytest.raises(ValueError, match="noise_scale"):
        implied_temperature(0.1, -1.0)
    with pytest.raises(ValueError, match="noise_scale"):
        implied_temperature(torch.tensor([0.1]), torch.tensor([-1.0]))
