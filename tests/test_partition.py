"""Tests of ebmlib.partition: log Z by log-sum-exp and by quadrature, and thermodynamic identities."""

import math

import pytest
import torch
from scipy import integrate

from ebmlib.energies import DoubleWell, Gaussian
from ebmlib.nets import MLPEnergy
from ebmlib.partition import (
    boltzmann,
    entropy,
    free_energy,
    grid,
    heat_capacity,
    log_partition_exact,
    log_partition_grid,
    log_partition_importance,
    mean_energy,
)

THERMO = [log_partition_exact, boltzmann, free_energy, mean_energy, entropy, heat_capacity]


@pytest.fixture
def energies():
    """Twelve random energies on [-3, 3], float64."""
    g = torch.Generator().manual_seed(0)
    return 6 * torch.rand(12, generator=g, dtype=torch.float64) - 3


# --- log Z by enumeration -------------------------------------------------------------------


def test_log_partition_exact_matches_direct_sum(energies):
    for t in (0.3, 1.0, 4.0):
        direct = math.log(sum(math.exp(-e / t) for e in energies.tolist()))
        assert log_partition_exact(energies, t).item() == pytest.approx(direct, rel=1e-13)


def test_log_partition_exact_of_two_states_by_hand():
    # Z = e^0 + e^{-1} at T = 1, and e^0 + e^{-1/2} at T = 2.
    assert log_partition_exact(torch.tensor([0.0, 1.0])).item() == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-15)
    assert log_partition_exact(torch.tensor([0.0, 1.0]), 2.0).item() == pytest.approx(math.log(1 + math.exp(-0.5)))


def test_log_partition_exact_is_stable_for_energies_in_the_thousands():
    e = torch.tensor([1000.0, 1001.0, 5000.0], dtype=torch.float64)
    naive = torch.log(torch.exp(-e).sum())
    assert naive.item() == -math.inf  # exp(-1000) underflows in float64
    log_z = log_partition_exact(e)
    assert torch.isfinite(log_z)
    assert log_z.item() == pytest.approx(-1000 + math.log1p(math.exp(-1)), rel=1e-15)
    for f in (free_energy, mean_energy, entropy, heat_capacity):
        assert torch.isfinite(f(e)).all(), f.__name__
    assert boltzmann(e).sum().item() == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize("shift", [-2500.0, 1000.0, 4000.0])
@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0])
def test_shifting_energies_by_c_shifts_log_z_by_minus_c_over_t(energies, shift, temperature):
    lhs = log_partition_exact(energies + shift, temperature)
    rhs = log_partition_exact(energies, temperature) - shift / temperature
    assert lhs.item() == pytest.approx(rhs.item(), rel=1e-12, abs=1e-9)
    # shifting changes nothing in the Boltzmann distribution
    torch.testing.assert_close(boltzmann(energies + shift, temperature), boltzmann(energies, temperature))


@pytest.mark.parametrize("f", THERMO, ids=lambda f: f.__name__)
def test_temperature_sweep_matches_one_temperature_at_a_time(energies, f):
    temps = torch.tensor([0.2, 1.0, 7.5], dtype=torch.float64)
    swept = f(energies, temps)
    assert swept.shape[0] == 3
    for i, t in enumerate(temps.tolist()):
        torch.testing.assert_close(swept[i], f(energies, t), rtol=1e-13, atol=1e-13)


def test_outputs_are_float64_for_float32_energies(energies):
    for f in THERMO:
        assert f(energies.float()).dtype == torch.float64, f.__name__


# --- thermodynamic identities ---------------------------------------------------------------


@pytest.mark.parametrize("temperature", [0.25, 1.0, 5.0])
def test_free_energy_equals_mean_energy_minus_t_times_entropy(energies, temperature):
    t = temperature
    f = free_energy(energies, t)
    assert f.item() == pytest.approx((mean_energy(energies, t) - t * entropy(energies, t)).item(), rel=1e-12)


def test_boltzmann_matches_exp_minus_e_over_t_over_z(energies):
    t = 0.8
    expected = torch.exp(-energies / t) / torch.exp(-energies / t).sum()
    torch.testing.assert_close(boltzmann(energies, t), expected, rtol=1e-13, atol=0)


@pytest.mark.parametrize("temperature", [0.3, 1.0, 4.0])
def test_mean_energy_is_minus_d_log_z_d_beta(energies, temperature):
    beta = torch.tensor(1.0 / temperature, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(log_partition_exact(energies, 1.0 / beta), beta)
    assert -grad.item() == pytest.approx(mean_energy(energies, temperature).item(), rel=1e-12)


@pytest.mark.parametrize("temperature", [0.3, 1.0, 4.0])
def test_heat_capacity_is_variance_over_t_squared_and_d_mean_energy_d_t(energies, temperature):
    t = temperature
    p = boltzmann(energies, t)
    var = (p * energies**2).sum() - (p * energies).sum() ** 2
    assert heat_capacity(energies, t).item() == pytest.approx((var / t**2).item(), rel=1e-10)
    # d<E>/dT by autograd
    tt = torch.tensor(t, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(mean_energy(energies, tt), tt)
    assert grad.item() == pytest.approx(heat_capacity(energies, t).item(), rel=1e-10)
    # and by a central finite difference
    h = 1e-5 * t
    fd = (mean_energy(energies, t + h) - mean_energy(energies, t - h)) / (2 * h)
    assert fd.item() == pytest.approx(heat_capacity(energies, t).item(), rel=1e-6)


def test_entropy_of_equal_energies_is_log_n():
    for n in (1, 2, 7, 1000):
        e = torch.full((n,), 3.7, dtype=torch.float64)
        for t in (0.01, 1.0, 100.0):
            assert entropy(e, t).item() == pytest.approx(math.log(n), abs=1e-12)
            assert heat_capacity(e, t).item() == pytest.approx(0.0, abs=1e-12)


def test_low_temperature_limit_is_the_ground_state(energies):
    t = 1e-4
    p = boltzmann(energies, t)
    i_min = int(energies.argmin())
    gap = (energies.sort().values[1] - energies.min()).item()
    assert gap / t > 100  # the fixture's first excited state is far above T
    assert p[i_min].item() == pytest.approx(1.0, abs=1e-15)
    assert mean_energy(energies, t).item() == pytest.approx(energies.min().item(), abs=1e-12)
    # F = E_min - T log(1 + sum e^{-(E_i - E_min)/T}), within T log n of E_min
    assert abs(free_energy(energies, t).item() - energies.min().item()) < t * math.log(len(energies))
    assert entropy(energies, t).item() == pytest.approx(0.0, abs=1e-12)


def test_high_temperature_limit_is_uniform(energies):
    t = 1e9
    n = len(energies)
    torch.testing.assert_close(boltzmann(energies, t), torch.full((n,), 1 / n, dtype=torch.float64), rtol=1e-8, atol=0)
    assert entropy(energies, t).item() == pytest.approx(math.log(n), rel=1e-12)
    assert mean_energy(energies, t).item() == pytest.approx(energies.mean().item(), abs=1e-7)


# --- log Z by quadrature --------------------------------------------------------------------


def test_grid_points_weights_and_axes():
    points, weights, axes = grid(((-1.0, 2.0), (0.0, 0.5)), 4)
    assert points.shape == (16, 2) and weights.shape == (16,) and len(axes) == 2
    assert weights.sum().item() == pytest.approx(3.0 * 0.5, rel=1e-15)  # trapezoid is exact for 1
    torch.testing.assert_close(axes[0], torch.tensor([-1.0, 0.0, 1.0, 2.0], dtype=torch.float64))
    # "ij" order: the second coordinate varies fastest
    torch.testing.assert_close(points[:4, 1], axes[1])
    assert (points[:4, 0] == -1.0).all()
    # corner weight h_x h_y / 4, interior weight h_x h_y
    assert weights[0].item() == pytest.approx(1.0 * (0.5 / 3) / 4)
    assert weights[5].item() == pytest.approx(1.0 * (0.5 / 3))


@pytest.mark.parametrize("sigma", [0.3, 1.0, 2.5])
def test_log_partition_grid_of_1d_gaussian_matches_sqrt_two_pi_sigma_squared(sigma):
    energy = Gaussian(torch.zeros(1, dtype=torch.float64), torch.tensor([[sigma**2]], dtype=torch.float64))
    log_z = log_partition_grid(energy, (-12 * sigma, 12 * sigma), 401)
    z = log_z.exp().item()
    assert log_z.dtype == torch.float64
    assert z == pytest.approx(math.sqrt(2 * math.pi * sigma**2), rel=1e-8)


def test_log_partition_grid_is_inaccurate_with_too_few_points():
    # With 5 points on [-12, 12] the grid cannot resolve a unit Gaussian: the check has teeth.
    energy = Gaussian(torch.zeros(1, dtype=torch.float64), torch.eye(1, dtype=torch.float64))
    z = log_partition_grid(energy, (-12.0, 12.0), 5).exp().item()
    assert abs(z / math.sqrt(2 * math.pi) - 1) > 1e-2


def test_log_partition_grid_of_correlated_2d_gaussian_matches_closed_form():
    cov = torch.tensor([[1.0, 0.6], [0.6, 0.5]], dtype=torch.float64)
    energy = Gaussian(torch.tensor([0.5, -0.3], dtype=torch.float64), cov)
    temps = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    numeric = log_partition_grid(energy, ((-9.0, 10.0), (-7.0, 7.0)), 201, temps)
    closed = 0.5 * 2 * torch.log(2 * math.pi * temps) + 0.5 * torch.logdet(cov)
    torch.testing.assert_close(numeric, closed, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("barrier", [0.5, 3.0])
@pytest.mark.parametrize("temperature", [0.4, 1.0])
def test_log_partition_grid_of_double_well_matches_scipy_quad(barrier, temperature):
    well = DoubleWell(barrier=barrier)
    # the integrand is below e^{-140} beyond |x| = 5 for these parameters
    integrand = lambda x: math.exp(-barrier * (x * x - 1) ** 2 / temperature)  # noqa: E731
    reference, err = integrate.quad(integrand, -5.0, 5.0, epsabs=0, epsrel=1e-13, limit=200)
    assert err < 1e-11 * reference
    numeric = log_partition_grid(well, (-4.0, 4.0), 801, temperature)
    assert numeric.item() == pytest.approx(math.log(reference), rel=1e-10, abs=1e-10)


def test_log_partition_grid_of_2d_double_well_adds_the_gaussian_factor():
    # E = b (x1^2 - 1)^2 + x2^2 / 2 separates: Z_2d = Z_1d * sqrt(2 pi)
    z1 = log_partition_grid(DoubleWell(2.0, dim=1), (-4.0, 4.0), 401)
    z2 = log_partition_grid(DoubleWell(2.0, dim=2), ((-4.0, 4.0), (-10.0, 10.0)), 401)
    assert z2.item() == pytest.approx(z1.item() + 0.5 * math.log(2 * math.pi), rel=1e-9)


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("f", THERMO, ids=lambda f: f.__name__)
@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan, torch.tensor([1.0, 0.0]), torch.ones(2, 2)])
def test_non_positive_temperature_raises_naming_temperature(f, bad):
    with pytest.raises(ValueError, match="temperature"):
        f(torch.tensor([0.0, 1.0]), bad)


@pytest.mark.parametrize("f", THERMO, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "bad",
    [torch.tensor([0.0, math.nan]), torch.tensor([math.inf, 1.0]), torch.tensor([]), torch.zeros(2, 2), torch.tensor(1.0)],
)
def test_bad_energies_raise_naming_energies(f, bad):
    with pytest.raises(ValueError, match="energies"):
        f(bad, 1.0)


@pytest.mark.parametrize("bad", [(1.0,), (2.0, 1.0), (0.0, math.inf), ((0.0, 1.0), (0.0,)), ((0.0, 1.0, 2.0),), "ab"])
def test_bad_bounds_raise_naming_bounds(bad):
    with pytest.raises(ValueError, match="bounds"):
        log_partition_grid(DoubleWell(), bad, 10)


def test_too_few_grid_points_raise_naming_n():
    with pytest.raises(ValueError, match="n must"):
        log_partition_grid(DoubleWell(), (-3.0, 3.0), 1)
    with pytest.raises(TypeError, match="n must"):
        grid((-3.0, 3.0), 10.5)


def test_energy_of_wrong_shape_raises_naming_energy():
    with pytest.raises(ValueError, match="energy"):
        log_partition_grid(lambda x: x, ((-1.0, 1.0), (-1.0, 1.0)), 5)


# --- importance sampling -------------------------------------------------------------------------


def _rho_gaussian(mean, sigma, std):
    """E_q[w^2] / Z^2 for the target N(mean, sigma^2) and the proposal N(0, std^2) in one coordinate (closed form)."""
    return std**2 / (sigma * math.sqrt(2 * std**2 - sigma**2)) * math.exp(mean**2 / (2 * std**2 - sigma**2))


@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_log_partition_importance_of_a_gaussian_is_within_five_standard_errors(temperature):
    # E = |x - mu|^2 / (2 sigma^2) at T: the target is N(mu, T sigma^2 I), log Z = (d/2) log(2 pi T sigma^2).
    mu, sigma, std, n = torch.tensor([0.4, -0.2, 0.1]), 0.7, 1.6, 40000
    energy = lambda x: ((x - mu) ** 2).sum(dim=1) / (2 * sigma**2)
    log_z, se = log_partition_importance(energy, 3, n, std, temperature, generator=torch.Generator().manual_seed(0))
    s_t = sigma * math.sqrt(temperature)
    exact = 1.5 * math.log(2 * math.pi * s_t**2)
    rho = math.prod(_rho_gaussian(float(m), s_t, std) for m in mu)
    true_se = math.sqrt((rho - 1) / n)
    assert log_z.dtype == torch.float64 and log_z.shape == () and se.shape == ()
    assert abs(float(log_z) - exact) < 5 * true_se
    # The delta-method error estimate has a relative spread of a few percent here (bounded weights).
    assert abs(float(se) / true_se - 1) < 0.15


def test_log_partition_importance_is_exact_when_the_proposal_is_the_target():
    # E = |x|^2 / 2 with std = 1: every weight is Z = (2 pi)^(d/2), so the estimate is exact and the error 0.
    log_z, se = log_partition_importance(lambda x: (x**2).sum(dim=1) / 2, 4, 100, 1.0, generator=torch.Generator().manual_seed(1))
    assert abs(float(log_z) - 2 * math.log(2 * math.pi)) < 1e-12
    assert float(se) < 1e-12


def test_log_partition_importance_stays_finite_for_energies_in_the_thousands():
    log_z, se = log_partition_importance(lambda x: (x**2).sum(dim=1) / 2 + 5000.0, 2, 1000, 1.3,
                                         generator=torch.Generator().manual_seed(2))
    reference, reference_se = log_partition_importance(lambda x: (x**2).sum(dim=1) / 2, 2, 1000, 1.3,
                                                       generator=torch.Generator().manual_seed(2))
    assert abs(float(log_z) - (float(reference) - 5000.0)) < 1e-9
    assert abs(float(se) - float(reference_se)) < 1e-12


def test_log_partition_importance_same_seed_same_result_and_float32_network():
    # A float32 network gets the float64 proposals in its own dtype; the results are float64.
    energy = MLPEnergy(dim=2, hidden=8, depth=1, generator=torch.Generator().manual_seed(4)).float()
    a = log_partition_importance(energy, 2, 500, 1.0, generator=torch.Generator().manual_seed(3))
    b = log_partition_importance(energy, 2, 500, 1.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert a[0].dtype == torch.float64 and torch.isfinite(a[0]) and torch.isfinite(a[1])


@pytest.mark.parametrize("name, kwargs", [("dim", {"dim": 0}), ("n", {"n": 1}), ("std", {"std": -1.0}),
                                          ("temperature", {"temperature": 0.0})])
def test_log_partition_importance_bad_arguments_raise_naming_them(name, kwargs):
    args = {"dim": 2, "n": 10, "std": 1.0, "temperature": 1.0} | kwargs
    with pytest.raises(ValueError, match=name):
        log_partition_importance(lambda x: (x**2).sum(dim=1), args["dim"], args["n"], args["std"], args["temperature"])


def test_log_partition_importance_raises_on_nan_energies():
    with pytest.raises(ValueError, match="NaN"):
        log_partition_importance(lambda x: torch.full((x.shape[0],), math.nan), 2, 10, 1.0)
