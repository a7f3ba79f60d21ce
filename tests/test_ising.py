"""Tests of ebmlib.ising: Onsager's exact solution, enumeration of small lattices, checkerboard
Metropolis against enumeration and against Onsager, simulated annealing."""

import itertools
import math

import numpy as np
import pytest
import torch

from ebmlib import ising
from ebmlib.ising import (
    TC,
    all_configurations,
    all_energies,
    checkerboard_metropolis,
    enumerate_log_z,
    geometric_schedule,
    lattice_energy,
    magnetization,
    metropolis_half_sweep,
    onsager_energy,
    onsager_log_z,
    onsager_magnetization,
    random_spins,
    simulated_annealing,
)

SQRT2 = math.sqrt(2.0)
CATALAN = 0.915965594177219015054603514932  # G = Σ (-1)^k / (2k + 1)^2


def energy_by_loops(spins: torch.Tensor) -> torch.Tensor:
    """E = -Σ_sites s (right + down), periodic, one site at a time: independent of the library."""
    n, L, _ = spins.shape
    out = torch.zeros(n, dtype=torch.float64)
    for c in range(n):
        for a in range(L):
            for b in range(L):
                out[c] -= float(spins[c, a, b]) * float(spins[c, a, (b + 1) % L] + spins[c, (a + 1) % L, b])
    return out


# --- Onsager --------------------------------------------------------------------------------------


def test_tc_is_the_self_dual_point_sinh_2_over_tc_equals_one():
    assert TC == pytest.approx(2.269185314213022, rel=1e-15)
    assert math.sinh(2.0 / TC) == pytest.approx(1.0, rel=1e-15)


def test_onsager_energy_at_tc_is_minus_sqrt2():
    assert onsager_energy(TC).item() == pytest.approx(-SQRT2, abs=1e-12)
    sweep = onsager_energy(torch.tensor([1.0, TC, 3.0], dtype=torch.float64))
    assert sweep[1].item() == pytest.approx(-SQRT2, abs=1e-12)
    assert torch.isfinite(sweep).all()


@pytest.mark.parametrize("offset", [1e-6, -1e-6, 1e-9, -1e-9, 1e-11, -1e-11])
def test_onsager_energy_is_continuous_at_tc(offset):
    # u - u(T_c) ~ (T - T_c) log|T - T_c| (the energy is continuous, its slope diverges):
    # about 2e-5 at |T - T_c| = 1e-6, so 1e-4 leaves room but would catch a jump or a NaN.
    assert onsager_energy(TC + offset).item() == pytest.approx(-SQRT2, abs=1e-4)


def test_onsager_log_z_at_tc_is_half_log_2_plus_2_catalan_over_pi():
    # The closed form at the critical point: log Z / N = (log 2) / 2 + 2 G / π, G Catalan's constant.
    assert onsager_log_z(TC).item() == pytest.approx(math.log(2) / 2 + 2 * CATALAN / math.pi, abs=1e-12)


def _double_integral(t: float, n: int = 400) -> float:
    """Onsager's double integral by the trapezoid rule on [0, 2π)², exponentially accurate for a
    periodic analytic integrand (away from T_c, where the argument of the log stays > 0)."""
    beta = 1.0 / t
    cos = np.cos(np.arange(n) * 2 * np.pi / n)
    arg = np.cosh(2 * beta) ** 2 - np.sinh(2 * beta) * (cos[:, None] + cos[None, :])
    return math.log(2) + 0.5 * float(np.log(arg).mean())


@pytest.mark.parametrize("t", [0.8, 1.5, 2.0, 2.6, 3.5, 10.0])
def test_onsager_log_z_matches_the_double_integral(t):
    assert _double_integral(t) == pytest.approx(_double_integral(t, 600), abs=1e-14)  # converged
    assert onsager_log_z(t).item() == pytest.approx(_double_integral(t), abs=1e-12)


@pytest.mark.parametrize("t", [0.8, 1.5, 2.0, 2.6, 3.5])
def test_onsager_energy_is_minus_beta_derivative_of_log_z(t):
    # Central difference in β = 1/T: truncation error h²/6 |∂³_β log Z/N| (≤ ~2e-7 at these T, the
    # third derivative being below ~100 away from T_c), plus quadrature noise ~1e-13 / h = 1e-9.
    beta, h = 1.0 / t, 1e-4
    derivative = (onsager_log_z(1 / (beta + h)).item() - onsager_log_z(1 / (beta - h)).item()) / (2 * h)
    assert onsager_energy(t).item() == pytest.approx(-derivative, abs=1e-6)


def test_onsager_limits_high_and_low_temperature():
    # T -> ∞: log Z/N = log 2 + 2 log cosh β + O(tanh⁴ β), u = -2 tanh β + O(β³).
    beta = 1e-4
    assert onsager_log_z(1 / beta).item() == pytest.approx(math.log(2) + 2 * math.log(math.cosh(beta)), abs=1e-15)
    assert onsager_energy(1 / beta).item() == pytest.approx(-2 * math.tanh(beta), abs=1e-11)
    # T -> 0: the two ground states, energy -2 per site, log Z/N = 2β + O(e^{-8β}) (one flipped spin
    # costs 8), and e^{-8β} = 4e-18 at T = 0.2.
    beta = 5.0
    assert onsager_log_z(1 / beta).item() == pytest.approx(2 * beta, rel=1e-15)
    assert onsager_energy(1 / beta).item() == pytest.approx(-2.0, abs=1e-15)


def test_onsager_magnetization_known_values():
    # Yang's formula by hand at T = 2: β = 1/2, sinh(2β) = sinh(1).
    assert onsager_magnetization(2.0).item() == pytest.approx((1 - math.sinh(1.0) ** -4) ** 0.125, rel=1e-15)
    above = onsager_magnetization(torch.tensor([TC, 2.3, 3.0, 100.0], dtype=torch.float64))
    assert torch.equal(above, torch.zeros(4, dtype=torch.float64))
    assert onsager_magnetization(0.1).item() == 1.0  # 1 - sinh(20)^-4 / 8 rounds to 1
    assert onsager_magnetization(0.5).item() == pytest.approx(1 - math.sinh(4.0) ** -4 / 8, rel=1e-12)
    below = onsager_magnetization(torch.linspace(0.5, 2.26, 50, dtype=torch.float64))
    assert (below.diff() < 0).all() and (below > 0).all()


def test_onsager_functions_keep_the_shape_of_t_and_return_float64():
    t = torch.tensor([[1.0, 2.0, 3.0], [1.5, 2.5, 3.5]], dtype=torch.float32)
    for f in (onsager_energy, onsager_log_z, onsager_magnetization):
        out = f(t)
        assert out.shape == (2, 3) and out.dtype == torch.float64, f.__name__
        assert f(2.0).shape == () and f(2.0).dtype == torch.float64, f.__name__
        assert out[0, 1].item() == f(2.0).item(), f.__name__


@pytest.mark.parametrize("f", [onsager_energy, onsager_log_z, onsager_magnetization])
@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf, torch.tensor([1.0, 0.0])])
def test_onsager_functions_reject_nonpositive_or_nonfinite_t(f, bad):
    with pytest.raises(ValueError, match="temperature"):
        f(bad)


# --- configurations and enumeration ---------------------------------------------------------------


def test_all_energies_of_the_2x2_lattice_by_hand():
    # On the periodic 2 x 2 lattice a site's right and left neighbour are the same site, so with two
    # bonds per site (right, down) each neighbouring pair is joined twice: E = -2 (sum over the 4-cycle).
    # All aligned (2 states): -8. One spin against three (8 states): 2 of the 4 pairs broken, 0.
    # Two against two: adjacent (4 states) 0; diagonal (2 states) all 4 pairs broken, +8.
    values, counts = torch.unique(all_energies(2), return_counts=True)
    assert values.tolist() == [-8.0, 0.0, 8.0]
    assert counts.tolist() == [2, 12, 2]
    # Row k is the binary expansion of k (bit j -> site (j // L, j % L), 1 -> +1): 0b1001 is the diagonal.
    assert all_configurations(2)[0b1001].tolist() == [[1.0, -1.0], [-1.0, 1.0]]
    assert all_energies(2)[0b1001].item() == 8.0


@pytest.mark.parametrize("L", [2, 3, 4])
def test_all_configurations_lists_each_of_the_2_to_the_n_states_once(L):
    configurations = all_configurations(L)
    assert configurations.shape == (2 ** (L * L), L, L)
    assert ((configurations == 1) | (configurations == -1)).all()
    assert len(torch.unique(configurations.reshape(len(configurations), -1), dim=0)) == 2 ** (L * L)
    assert (configurations[0] == -1).all() and (configurations[-1] == 1).all()
    assert configurations[1, 0, 0] == 1 and (configurations[1].sum() == 2 - L * L)
    energies = all_energies(L)
    assert energies.shape == (2 ** (L * L),) and energies.dtype == torch.float64
    assert torch.equal(energies, lattice_energy(configurations.double()))


@pytest.mark.parametrize("L", [2, 3, 4])
def test_energy_is_invariant_under_flipping_every_spin(L):
    # -s of row k is row 2^N - 1 - k (all bits complemented), so E(s) = E(-s) reads e == e reversed.
    energies = all_energies(L)
    assert torch.equal(energies, energies.flip(0))
    assert torch.equal(lattice_energy(-all_configurations(L)).double(), energies)


@pytest.mark.parametrize("L", [2, 3, 4])
def test_ground_state_energy_is_minus_two_per_site_held_by_the_two_uniform_states(L):
    energies = all_energies(L)
    assert energies.min().item() == -2.0 * L * L
    assert (energies == -2.0 * L * L).nonzero().flatten().tolist() == [0, 2 ** (L * L) - 1]


def test_lattice_energy_of_hand_made_4x4_configurations():
    up = torch.ones(4, 4)
    one_flipped = up.clone()
    one_flipped[1, 2] = -1  # breaks its 4 bonds: -32 + 8
    i = torch.arange(4)
    checkerboard = 1.0 - 2.0 * ((i[:, None] + i[None, :]) % 2)  # every bond broken
    stripes = up.clone()
    stripes[:, 2:] = -1  # two straight domain walls of 4 broken bonds each
    got = lattice_energy(torch.stack([up, one_flipped, checkerboard, stripes]))
    assert got.tolist() == [-32.0, -24.0, 32.0, -16.0]
    assert magnetization(torch.stack([up, one_flipped, checkerboard, stripes])).tolist() == [1.0, 0.875, 0.0, 0.0]


@pytest.mark.parametrize("L", [3, 5, 6])
def test_lattice_energy_matches_site_by_site_loops(L):
    spins = random_spins(5, L, generator=torch.Generator().manual_seed(L), dtype=torch.float64)
    assert torch.equal(lattice_energy(spins), energy_by_loops(spins))
    assert lattice_energy(spins).dtype == torch.float64


def test_enumerate_log_z_matches_a_brute_force_sum_for_L2():
    temperatures = [0.7, 2.0, 5.0]
    expected = []
    for t in temperatures:
        z = 0.0
        for values in itertools.product((-1.0, 1.0), repeat=4):
            s = torch.tensor(values).reshape(1, 2, 2)
            z += math.exp(-energy_by_loops(s).item() / t)
        expected.append(math.log(z))
        assert enumerate_log_z(2, t).item() == pytest.approx(expected[-1], rel=1e-14)
    # The same with the hand count of the energies: Z = 2 e^{8β} + 12 + 2 e^{-8β}.
    assert expected[1] == pytest.approx(math.log(2 * math.exp(4) + 12 + 2 * math.exp(-4)), rel=1e-14)
    sweep = enumerate_log_z(2, torch.tensor(temperatures, dtype=torch.float64))
    assert sweep.shape == (3,) and sweep.dtype == torch.float64
    assert sweep.tolist() == pytest.approx(expected, rel=1e-14)


def test_enumerate_log_z_of_4x4_matches_the_low_temperature_expansion():
    # Z = 2 e^{32β} (1 + 16 e^{-8β} + 32 e^{-12β} + O(200 e^{-16β})): one flipped spin (16 ways, cost 8),
    # two neighbours flipped (32 bonds, cost 12). At T = 1/2 the next terms are ~200 e^{-32} = 3e-12.
    beta = 2.0
    expected = 32 * beta + math.log(2) + math.log1p(16 * math.exp(-8 * beta) + 32 * math.exp(-12 * beta))
    assert enumerate_log_z(4, 1 / beta).item() == pytest.approx(expected, abs=1e-11)


def test_enumerate_log_z_of_4x4_matches_the_high_temperature_expansion():
    # Z = 2^N cosh(β)^{2N} (1 + N tanh⁴ β + ...): the shortest closed loops are the N plaquettes.
    # At T = 1e4, N tanh⁴ β = 1.6e-15; per site, log 2 + β² + O(β⁴) with β² = 1e-8.
    beta, n = 1e-4, 16
    expected = n * math.log(2) + 2 * n * math.log(math.cosh(beta))
    assert enumerate_log_z(4, 1 / beta).item() == pytest.approx(expected, abs=1e-13)
    assert enumerate_log_z(4, 1 / beta).item() / n == pytest.approx(math.log(2) + beta**2, abs=1e-15)


def test_mean_energy_of_4x4_is_minus_beta_derivative_of_enumerate_log_z():
    energies = all_energies(4)
    for t in (1.0, 2.3, 4.0):
        beta, h = 1.0 / t, 1e-5
        derivative = (enumerate_log_z(4, 1 / (beta + h)) - enumerate_log_z(4, 1 / (beta - h))).item() / (2 * h)
        p = torch.softmax(-energies / t, dim=0)
        assert (p * energies).sum().item() == pytest.approx(-derivative, abs=1e-6)


def test_4x4_energy_per_site_approaches_onsager_at_low_temperature():
    # Low-lying excitations (single flips, pairs) are local, so a 4 x 4 torus already gets them right;
    # what differs are larger clusters and loops around the torus. Measured: the gap is 1.5e-13 at
    # T = 0.5 and 1.8e-6 at T = 1; near T_c it is large (0.27 at T = 2.5).
    energies = all_energies(4)
    for t, tol in ((0.5, 1e-12), (1.0, 1e-5)):
        p = torch.softmax(-energies / t, dim=0)
        assert (p * energies).sum().item() / 16 == pytest.approx(onsager_energy(t).item(), abs=tol)


@pytest.mark.parametrize("L", [1, 5, 2.0])
def test_enumeration_rejects_bad_sizes(L):
    error = TypeError if isinstance(L, float) else ValueError
    for f in (all_configurations, all_energies, lambda L: enumerate_log_z(L, 1.0)):
        with pytest.raises(error, match="L"):
            f(L)


@pytest.mark.parametrize("bad", [0.0, -2.0, math.nan, torch.tensor([1.0, -1.0]), torch.ones(2, 2)])
def test_enumerate_log_z_rejects_bad_temperatures(bad):
    with pytest.raises(ValueError, match="temperature"):
        enumerate_log_z(2, bad)


# --- random spins and checkerboard Metropolis --------------------------------------------------------


def test_random_spins_are_fair_coins_and_reproducible():
    spins = random_spins(64, 16, generator=torch.Generator().manual_seed(0))
    assert spins.shape == (64, 16, 16) and spins.dtype == torch.get_default_dtype()
    assert ((spins == 1) | (spins == -1)).all()
    assert abs(spins.mean().item()) < 5 / math.sqrt(spins.numel())  # 5 standard errors of a ±1 mean
    assert torch.equal(spins, random_spins(64, 16, generator=torch.Generator().manual_seed(0)))


def _half_sweep_by_loops(s, temperatures, color, u):
    out = s.clone()
    n, L, _ = s.shape
    for c in range(n):
        for a in range(L):
            for b in range(L):
                if (a + b) % 2 == color:
                    field = s[c, (a + 1) % L, b] + s[c, (a - 1) % L, b] + s[c, a, (b + 1) % L] + s[c, a, (b - 1) % L]
                    if u[c, a, b].item() < math.exp(-2.0 * (s[c, a, b] * field).item() / temperatures[c]):
                        out[c, a, b] = -s[c, a, b]
    return out


def test_metropolis_half_sweep_matches_site_by_site_loops():
    g = torch.Generator().manual_seed(1)
    spins = random_spins(4, 6, generator=g, dtype=torch.float64)
    before = spins.clone()
    u = torch.rand(4, 6, 6, generator=g, dtype=torch.float64)
    per_chain = torch.tensor([0.8, 1.5, 2.3, 4.0], dtype=torch.float64)
    for color in (0, 1):
        assert torch.equal(metropolis_half_sweep(spins, 2.3, color, u), _half_sweep_by_loops(spins, [2.3] * 4, color, u))
        assert torch.equal(
            metropolis_half_sweep(spins, per_chain, color, u), _half_sweep_by_loops(spins, per_chain.tolist(), color, u)
        )
    assert torch.equal(spins, before)


def test_metropolis_half_sweep_with_zero_uniforms_flips_exactly_one_colour():
    up = torch.ones(2, 4, 4)
    i = torch.arange(4)
    colour_0 = ((i[:, None] + i[None, :]) % 2 == 0).expand(2, 4, 4)
    assert torch.equal(metropolis_half_sweep(up, 1.0, 0, torch.zeros(2, 4, 4)) == -1, colour_0)
    assert torch.equal(metropolis_half_sweep(up, 1.0, 1, torch.zeros(2, 4, 4)) == -1, ~colour_0)


def test_checkerboard_metropolis_matches_enumeration_on_the_4x4_lattice():
    # 128 independent chains at each of three temperatures in one call; after 100 sweeps of burn-in,
    # each chain's time average over 1000 sweeps; the standard error from the spread of the 128
    # chain averages (independent chains); the exact values by enumeration of all 2^16 states.
    temperatures = torch.tensor([1.8, 2.5, 3.5])
    n_chains, n_sweeps, burn_in = 128, 1100, 100
    g = torch.Generator().manual_seed(2)
    spins = random_spins(3 * n_chains, 4, generator=g, dtype=torch.float64)
    _, trace = checkerboard_metropolis(spins, temperatures.repeat_interleave(n_chains), n_sweeps, generator=g)
    energies, abs_m = all_energies(4), magnetization(all_configurations(4).double()).abs()
    for k, t in enumerate(temperatures.tolist()):
        p = torch.softmax(-energies / t, dim=0)
        chains = slice(k * n_chains, (k + 1) * n_chains)
        for name, x, exact in (
            ("energy per site", trace["energy"][burn_in:, chains], (p * energies).sum().item() / 16),
            ("|m|", trace["magnetization"][burn_in:, chains].abs(), (p * abs_m).sum().item()),
        ):
            chain_means = x.mean(0)
            se = chain_means.std().item() / math.sqrt(n_chains)
            assert abs(chain_means.mean().item() - exact) < 5 * se, (t, name, chain_means.mean().item(), exact, se)
            assert se < 0.005, (t, name, se)  # the test has power


@pytest.mark.parametrize("t, start", [(1.5, "ordered"), (3.5, "random")])
def test_checkerboard_metropolis_matches_onsager_on_a_32x32_lattice(t, start):
    # Away from T_c the correlation length is a few sites, so finite-size corrections at L = 32 decay
    # like e^{-L/ξ} and are far below the Monte Carlo error (a few 1e-4 here). At T = 1.5 we start
    # ordered: from random spins the chains would coarsen slowly and could keep a domain wall.
    n_chains, n_sweeps, burn_in = 32, 400, 100
    g = torch.Generator().manual_seed(3)
    spins = torch.ones(n_chains, 32, 32) if start == "ordered" else random_spins(n_chains, 32, generator=g)
    _, trace = checkerboard_metropolis(spins, t, n_sweeps, generator=g)
    checks = [("energy per site", trace["energy"], onsager_energy(t).item())]
    if t < TC:
        checks.append(("|m|", trace["magnetization"].abs(), onsager_magnetization(t).item()))
    for name, x, exact in checks:
        chain_means = x[burn_in:].mean(0).double()
        se = chain_means.std().item() / math.sqrt(n_chains)
        assert se < 2e-3, (name, se)
        assert abs(chain_means.mean().item() - exact) < 5 * se, (name, chain_means.mean().item(), exact, se)


def test_checkerboard_metropolis_trace_shapes_and_consistency():
    g = torch.Generator().manual_seed(4)
    spins = random_spins(5, 8, generator=g)
    before = spins.clone()
    final, trace = checkerboard_metropolis(spins, 2.0, 7, generator=g)
    assert torch.equal(spins, before)  # not modified in place
    assert final.shape == (5, 8, 8) and ((final == 1) | (final == -1)).all()
    assert trace["energy"].shape == (7, 5) and trace["magnetization"].shape == (7, 5)
    assert trace["acceptance_rate"].shape == (5,)
    assert ((trace["acceptance_rate"] > 0) & (trace["acceptance_rate"] < 1)).all()
    assert torch.equal(trace["energy"][-1], lattice_energy(final) / 64)
    assert torch.equal(trace["magnetization"][-1], magnetization(final))


def test_checkerboard_metropolis_same_seed_same_result():
    spins = torch.ones(6, 8, 8)
    a = checkerboard_metropolis(spins, 2.5, 20, generator=torch.Generator().manual_seed(5))
    b = checkerboard_metropolis(spins, 2.5, 20, generator=torch.Generator().manual_seed(5))
    c = checkerboard_metropolis(spins, 2.5, 20, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a[0], b[0]) and all(torch.equal(a[1][k], b[1][k]) for k in a[1])
    assert not torch.equal(a[0], c[0])


def test_float_temperature_equals_a_constant_per_chain_tensor():
    spins = torch.ones(6, 8, 8)
    a = checkerboard_metropolis(spins, 2.5, 20, generator=torch.Generator().manual_seed(7))
    b = checkerboard_metropolis(spins, torch.full((6,), 2.5), 20, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1]["energy"], b[1]["energy"])


def test_per_chain_temperatures_order_energies_and_acceptance():
    temperatures = torch.tensor([1.0, 2.0, 3.0, 5.0])
    _, trace = checkerboard_metropolis(torch.ones(4, 16, 16), temperatures, 200, generator=torch.Generator().manual_seed(8))
    mean_energy = trace["energy"][50:].mean(0)
    assert (mean_energy.diff() > 0).all(), mean_energy
    assert (trace["acceptance_rate"].diff() > 0).all(), trace["acceptance_rate"]


@pytest.mark.parametrize(
    "spins, temperature, n_sweeps, name",
    [
        (torch.ones(2, 5, 5), 1.0, 1, "spins"),  # odd L
        (torch.full((2, 4, 4), 0.5), 1.0, 1, "spins"),  # not ±1
        (torch.ones(4, 4), 1.0, 1, "spins"),  # wrong ndim
        (torch.ones(2, 4, 6), 1.0, 1, "spins"),  # not square
        (torch.ones(2, 4, 4), 0.0, 1, "temperature"),
        (torch.ones(2, 4, 4), -1.0, 1, "temperature"),
        (torch.ones(2, 4, 4), math.nan, 1, "temperature"),
        (torch.ones(2, 4, 4), torch.tensor([1.0, 0.0]), 1, "temperature"),
        (torch.ones(2, 4, 4), torch.tensor([1.0, 2.0, 3.0]), 1, "temperature"),  # not (n_chains,)
        (torch.ones(2, 4, 4), 1.0, 0, "n_sweeps"),
    ],
)
def test_checkerboard_metropolis_rejects_bad_input(spins, temperature, n_sweeps, name):
    with pytest.raises(ValueError, match=name):
        checkerboard_metropolis(spins, temperature, n_sweeps)


def test_lattice_functions_reject_bad_spins():
    for f in (lattice_energy, magnetization):
        with pytest.raises(ValueError, match="spins"):
            f(torch.zeros(1, 3, 3))
        with pytest.raises(ValueError, match="spins"):
            f(torch.ones(3, 3))
    with pytest.raises(ValueError, match="color"):
        metropolis_half_sweep(torch.ones(1, 4, 4), 1.0, 2, torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match="uniforms"):
        metropolis_half_sweep(torch.ones(1, 4, 4), 1.0, 0, torch.zeros(1, 2, 2))


# --- simulated annealing ---------------------------------------------------------------------------


def test_geometric_schedule_has_exact_endpoints_and_a_constant_ratio():
    schedule = geometric_schedule(4.0, 0.5, 4)
    assert schedule.dtype == torch.float64
    assert schedule.tolist() == pytest.approx([4.0, 2.0, 1.0, 0.5], rel=1e-15)
    long = geometric_schedule(5.0, 0.1, 200)
    assert long[0].item() == 5.0 and long[-1].item() == 0.1
    ratios = long[1:] / long[:-1]
    assert torch.allclose(ratios, torch.full_like(ratios, (0.1 / 5.0) ** (1 / 199)), rtol=1e-12)
    with pytest.raises(ValueError, match="n_steps"):
        geometric_schedule(1.0, 0.5, 1)
    with pytest.raises(ValueError, match="t_end"):
        geometric_schedule(1.0, 0.0, 5)


def test_simulated_annealing_is_metropolis_at_each_temperature_in_turn():
    schedule = [3.0, 2.0, 1.0]
    spins = random_spins(3, 8, generator=torch.Generator().manual_seed(9))
    final, energy = simulated_annealing(spins, schedule, 4, generator=torch.Generator().manual_seed(10))
    assert energy.shape == (12, 3)
    g, s, pieces = torch.Generator().manual_seed(10), spins, []
    for t in schedule:
        s, trace = checkerboard_metropolis(s, t, 4, generator=g)
        pieces.append(trace["energy"])
    assert torch.equal(final, s) and torch.equal(energy, torch.cat(pieces))


def test_simulated_annealing_reaches_the_ground_state_more_often_than_a_quench():
    # 64 lattices of 16 x 16 from random spins, 200 sweeps each: a quench at T = 0.5 freezes domain
    # walls in (about 40 of 64 reach E = -2 per site, over seeds 0-4), annealing from T = 4 along a
    # geometric schedule orders nearly all of them (63-64 of 64 over the same seeds).
    g = torch.Generator().manual_seed(0)
    spins = random_spins(64, 16, generator=g)
    quenched, _ = checkerboard_metropolis(spins, 0.5, 200, generator=g)
    annealed, energy = simulated_annealing(spins, geometric_schedule(4.0, 0.5, 100), 2, generator=g)
    assert energy.shape == (200, 64)
    ground_quenched = int((lattice_energy(quenched) == -512).sum())
    ground_annealed = int((lattice_energy(annealed) == -512).sum())
    assert ground_annealed >= 56 and ground_annealed > ground_quenched + 8, (ground_annealed, ground_quenched)
    assert energy[-1].mean() < energy[0].mean()


def test_simulated_annealing_rejects_bad_schedules():
    spins = torch.ones(2, 4, 4)
    for bad in ([2.0, 0.0], [1.0, -1.0], [math.inf]):
        with pytest.raises(ValueError, match="temperatures"):
            simulated_annealing(spins, bad, 1)
    with pytest.raises(ValueError, match="n_sweeps_per_T"):
        simulated_annealing(spins, [1.0], 0)


def test_module_exports_the_public_names():
    for name in ising.__all__:
        assert hasattr(ising, name), name


# --- measure_thermodynamics ----------------------------------------------------------------------


def test_measure_thermodynamics_of_4x4_agrees_with_enumeration_within_five_standard_errors():
    temperatures = torch.tensor([1.5, 2.3, 3.5])
    got = ising.measure_thermodynamics(4, temperatures, 400, 50, 100, generator=torch.Generator().manual_seed(0))
    energies = all_energies(4)
    p = torch.softmax(-energies / temperatures[:, None], dim=1)                 # (3, 2^16), by hand
    abs_m = magnetization(all_configurations(4)).abs()
    u = (p * energies).sum(1)
    exact = {"energy": u / 16, "heat_capacity": (p * (energies - u[:, None]) ** 2).sum(1) / temperatures**2 / 16,
             "magnetization": (p * abs_m).sum(1)}
    for name, value in exact.items():
        assert got[name].shape == (3,) and got[name].dtype == torch.float64
        assert (got[name + "_error"] > 0).all()
        assert ((got[name] - value).abs() < 5 * got[name + "_error"]).all(), name


def test_measure_thermodynamics_errors_are_the_spread_of_independent_chains():
    # The stated error of the energy must match the spread of the estimate over independent repetitions.
    t = torch.tensor([3.0])
    g = torch.Generator().manual_seed(1)
    runs = [ising.measure_thermodynamics(4, t, 60, 20, 16, generator=g) for _ in range(60)]
    spread = float(torch.stack([r["energy"][0] for r in runs]).std())
    stated = float(torch.stack([r["energy_error"][0] for r in runs]).mean())
    # 60 repetitions: the spread is known to about 9%, the mean stated error to a few percent.
    assert 0.7 < stated / spread < 1.4


def test_measure_thermodynamics_of_16x16_agrees_with_onsager_and_yang_away_from_tc():
    t = torch.tensor([1.6, 3.2])
    got = ising.measure_thermodynamics(16, t, 400, 100, 12, generator=torch.Generator().manual_seed(2))
    h = 1e-5
    c = (onsager_energy(t + h) - onsager_energy(t - h)) / (2 * h)
    assert ((got["energy"] - onsager_energy(t)).abs() < 5 * got["energy_error"]).all()
    assert ((got["heat_capacity"] - c).abs() < 5 * got["heat_capacity_error"]).all()
    assert abs(float(got["magnetization"][0] - onsager_magnetization(1.6))) < 5 * float(got["magnetization_error"][0])


def test_measure_thermodynamics_same_seed_same_result():
    a = ising.measure_thermodynamics(4, [2.0, 2.5], 20, 5, 3, generator=torch.Generator().manual_seed(3))
    b = ising.measure_thermodynamics(4, [2.0, 2.5], 20, 5, 3, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name, args", [
    ("L", (3, [2.0], 10, 2, 2)), ("L", (0, [2.0], 10, 2, 2)), ("temperatures", (4, [2.0, -1.0], 10, 2, 2)),
    ("temperatures", (4, [[2.0]], 10, 2, 2)), ("n_sweeps", (4, [2.0], 1, 0, 2)), ("burn_in", (4, [2.0], 10, 9, 2)),
    ("burn_in", (4, [2.0], 10, -1, 2)), ("n_chains", (4, [2.0], 10, 2, 1)),
])
def test_measure_thermodynamics_bad_arguments_raise_naming_them(name, args):
    with pytest.raises(ValueError, match=name):
        ising.measure_thermodynamics(*args)
