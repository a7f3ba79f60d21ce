"""Tests of ebmlib.samplers: invariance, detailed balance, ULA's closed-form bias, leapfrog, tempering.

Monte Carlo tolerances come from standard errors: many independent chains are started from
the target itself, so that (for a sampler that leaves the target invariant) the draws at any
one step are iid draws from it, and 5 standard errors bound a fluctuation.
"""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from ebmlib.samplers import (
    adapt_step_size,
    hmc,
    hmc_log_acceptance,
    init_state,
    langevin,
    leapfrog,
    mala,
    mala_log_acceptance,
    metropolis,
    parallel_tempering,
)

F64 = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# Tiny energies, written out here so the tests do not depend on ebmlib.energies.


def standard_normal(x):
    """E = ½‖x‖², the standard normal at T = 1."""
    return 0.5 * x.square().flatten(1).sum(1)


def diagonal_gaussian(variances):
    """E = ½ Σ x_i² / σ_i²."""

    def energy(x):
        return 0.5 * (x.square() / variances).sum(1)

    return energy


def double_well(height):
    """E = h (x² − 1)² summed over coordinates: modes at ±1, barrier h at 0."""

    def energy(x):
        return height * (x.square() - 1).square().sum(1)

    return energy


def tilted_well(x):
    """E = Σ (x² − 1)² + 0.3 x₀: non-Gaussian and asymmetric. Its gradient is written below."""
    return (x.square() - 1).square().sum(1) + 0.3 * x[:, 0]


def tilted_well_grad(x):
    g = 4 * x * (x.square() - 1)
    g[:, 0] += 0.3
    return g


# ----------------------------------------------------------------------------------------------
# Invariance: a table of (sampler, parameters) over known Gaussian targets.

INVARIANT_CASES = [
    # id, sampler, step_size, keyword arguments, variances of the target (at temperature T)
    ("mala", mala, 1.0, {}, [1.0]),
    ("mala_at_T2", mala, 1.5, {"temperature": 2.0}, [2.0]),
    ("hmc", hmc, 1.2, {"n_leapfrog": 3}, [1.0]),
    ("hmc_at_T0.5", hmc, 0.8, {"n_leapfrog": 3, "temperature": 0.5}, [0.5]),
    ("hmc_diagonal_mass", hmc, 0.9, {"n_leapfrog": 3, "mass": [100.0, 1.0]}, [0.01, 1.0]),
    ("metropolis", metropolis, 1.5, {}, [1.0]),
    ("metropolis_at_T0.5", metropolis, 1.0, {"temperature": 0.5}, [0.5]),
]


@pytest.mark.parametrize(
    "sampler, step_size, kwargs, variances", [c[1:] for c in INVARIANT_CASES], ids=[c[0] for c in INVARIANT_CASES]
)
def test_corrected_samplers_leave_gaussian_invariant(sampler, step_size, kwargs, variances):
    # Target exp(-E/T) with E = ½ Σ x²/(σ²/T), i.e. N(0, diag(variances)) whatever T is.
    variances = torch.tensor(variances, dtype=F64)
    temperature = kwargs.get("temperature", 1.0)
    kwargs = {k: torch.tensor(v, dtype=F64) if k == "mass" else v for k, v in kwargs.items()}
    energy = diagonal_gaussian(variances / temperature)
    n = 20_000
    g = gen(1)
    x0 = torch.randn(n, len(variances), generator=g, dtype=F64) * variances.sqrt()
    samples, info = sampler(energy, x0, 15, step_size, generator=g, **kwargs)
    assert 0.2 < info["acceptance_rate"].mean() < 0.99  # the correction is at work
    last = samples[:, -1]  # (n, d): iid draws of the target if it is invariant
    se_mean = (variances / n).sqrt()
    se_var = variances * math.sqrt(2 / (n - 1))
    assert ((last.mean(0)).abs() < 5 * se_mean).all(), (last.mean(0), se_mean)
    assert ((last.var(0) - variances).abs() < 5 * se_var).all(), (last.var(0), variances)


@pytest.mark.parametrize("step_size", [0.5, 1.0])
def test_ula_variance_on_standard_normal_is_one_over_one_minus_quarter_step(step_size):
    # x' = (1 - ε/2) x + √ε z has stationary variance ε / (1 - (1 - ε/2)²) = 1 / (1 - ε/4).
    # From x0 ~ N(0, 1), the variance after t steps is within (1 - ε/2)^(2t) < 1e-7 of it at t = 40.
    n = 20_000
    g = gen(2)
    x0 = torch.randn(n, 1, generator=g, dtype=F64)
    samples, info = langevin(standard_normal, x0, 40, step_size, generator=g)
    expected = 1 / (1 - step_size / 4)
    got = samples[:, -1, 0].var().item()
    assert abs(got - expected) < 5 * expected * math.sqrt(2 / (n - 1)), (got, expected)
    assert abs(got - 1.0) > 5 * expected * math.sqrt(2 / (n - 1)), "ULA's bias should be visible"
    assert int(info["divergences"].sum()) == 0


def test_ula_step_is_exactly_the_langevin_update():
    # x1 = x0 - (ε / 2T) ∇E(x0) + √ε z, z the first normal draw of the generator.
    eps, temperature = 0.3, 2.0
    x0 = torch.randn(7, 3, generator=gen(3), dtype=F64)
    samples, _ = langevin(tilted_well, x0, 1, eps, temperature=temperature, generator=gen(4))
    z = torch.randn(7, 3, generator=gen(4), dtype=F64)
    expected = x0 - eps / (2 * temperature) * tilted_well_grad(x0) + math.sqrt(eps) * z
    torch.testing.assert_close(samples[:, 0], expected, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# Detailed balance.


def test_mala_acceptance_satisfies_detailed_balance_pair_by_pair():
    # π(x) q(x'|x) α(x→x') = π(x') q(x|x') α(x'→x), with π ∝ exp(-E/T) and the Langevin proposal
    # density q(y|x) = N(y; x - (ε/2T)∇E(x), ε I) written here independently of the module.
    eps, temperature = 0.4, 0.7
    g = gen(5)
    x = torch.randn(500, 3, generator=g, dtype=F64)
    x_new = x + 0.6 * torch.randn(500, 3, generator=g, dtype=F64)

    def log_q(y, x):
        mean = x - eps / (2 * temperature) * tilted_well_grad(x)
        return torch.distributions.Normal(mean, math.sqrt(eps)).log_prob(y).sum(1)

    def log_pi(x):
        return -tilted_well(x) / temperature

    state, proposal = init_state(tilted_well, x, temperature), init_state(tilted_well, x_new, temperature)
    log_alpha_forward = mala_log_acceptance(state, proposal, eps).clamp(max=0)
    log_alpha_backward = mala_log_acceptance(proposal, state, eps).clamp(max=0)
    lhs = log_pi(x) + log_q(x_new, x) + log_alpha_forward
    rhs = log_pi(x_new) + log_q(x, x_new) + log_alpha_backward
    assert (lhs - rhs).abs().max() < 1e-10
    assert 0.1 < (log_alpha_forward < 0).double().mean() < 0.9  # both branches of min(1, r) exercised


def test_hmc_acceptance_satisfies_detailed_balance_on_the_flipped_leapfrog():
    # The HMC proposal z = (x, p) -> z' = (x', -p') is an involution preserving volume; detailed
    # balance reads exp(-H(z)) α(z→z') = exp(-H(z')) α(z'→z), H = E/T + ½ Σ p²/m written here.
    eps, temperature, n_leapfrog = 0.05, 0.8, 20
    mass = torch.tensor([1.0, 2.0, 0.5], dtype=F64)
    g = gen(6)
    x = torch.randn(300, 3, generator=g, dtype=F64)
    p = torch.randn(300, 3, generator=g, dtype=F64) * mass.sqrt()

    def log_joint(x, p):
        return -tilted_well(x) / temperature - 0.5 * (p.square() / mass).sum(1)

    state = init_state(tilted_well, x, temperature)
    end, p_end = leapfrog(tilted_well, state, p, eps, n_leapfrog, inverse_mass=1 / mass)
    back, p_back = leapfrog(tilted_well, end, -p_end, eps, n_leapfrog, inverse_mass=1 / mass)
    torch.testing.assert_close(back.position, x, rtol=0, atol=1e-10)  # involution: z'' = z
    torch.testing.assert_close(-p_back, p, rtol=0, atol=1e-10)
    log_alpha_forward = hmc_log_acceptance(state, p, end, p_end, inverse_mass=1 / mass).clamp(max=0)
    log_alpha_backward = hmc_log_acceptance(end, -p_end, back, p_back, inverse_mass=1 / mass).clamp(max=0)
    lhs = log_joint(x, p) + log_alpha_forward
    rhs = log_joint(end.position, -p_end) + log_alpha_backward
    assert (lhs - rhs).abs().max() < 1e-10
    assert 0.1 < (log_alpha_forward < 0).double().mean() < 0.9


# An asymmetric 1-D target that can be sampled exactly: 0.3 N(-1.5, 0.5²) + 0.7 N(1, 1).
MIX_W, MIX_MEAN, MIX_STD = (torch.tensor(v, dtype=F64) for v in ([0.3, 0.7], [-1.5, 1.0], [0.5, 1.0]))


def mixture_energy(x):
    components = torch.distributions.Normal(MIX_MEAN, MIX_STD).log_prob(x)  # (n, 1) against (2,) -> (n, 2)
    return -torch.logsumexp(components + MIX_W.log(), dim=1)


def mixture_sample(n, generator):
    k = torch.multinomial(MIX_W, n, replacement=True, generator=generator)
    return (MIX_MEAN[k] + MIX_STD[k] * torch.randn(n, generator=generator, dtype=F64)).unsqueeze(1)


def transition_asymmetry(sampler, step_size, kwargs, n=100_000, seed=7):
    """χ² statistic of C_ij = C_ji over the binned pairs (x_0, x_1), and its degrees of freedom.

    With x_0 from the target, the pairs are iid; under detailed balance C_ij - C_ji has mean 0 and
    variance n(p_ij + p_ji), the differences are uncorrelated, so Σ (C_ij - C_ji)² / (C_ij + C_ji)
    is χ² with one degree of freedom per pair of bins.
    """
    g = gen(seed)
    x0 = mixture_sample(n, g)
    samples, _ = sampler(mixture_energy, x0, 1, step_size, generator=g, **kwargs)
    edges = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0], dtype=F64)
    i, j = torch.bucketize(x0[:, 0], edges), torch.bucketize(samples[:, 0, 0], edges)
    counts = torch.zeros(8, 8, dtype=F64).index_put_((i, j), torch.ones(n, dtype=F64), accumulate=True)
    upper = torch.triu(torch.ones(8, 8, dtype=torch.bool), diagonal=1)
    total = (counts + counts.T)[upper]
    diff = (counts - counts.T)[upper]
    keep = total > 0
    return float((diff[keep].square() / total[keep]).sum()), int(keep.sum())


@pytest.mark.parametrize(
    "sampler, step_size, kwargs",
    [(metropolis, 1.5, {}), (mala, 0.8, {}), (hmc, 0.6, {"n_leapfrog": 3})],
    ids=["metropolis", "mala", "hmc"],
)
def test_consecutive_states_are_exchangeable_under_the_target(sampler, step_size, kwargs):
    statistic, dof = transition_asymmetry(sampler, step_size, kwargs)
    assert statistic < stats.chi2.ppf(1 - 1e-4, dof), (statistic, dof)


def test_ula_consecutive_states_are_not_exchangeable():
    # The same check fails for ULA, which does not leave the target invariant.
    statistic, dof = transition_asymmetry(langevin, 0.8, {})
    assert statistic > stats.chi2.ppf(1 - 1e-4, dof), (statistic, dof)


# ----------------------------------------------------------------------------------------------
# Acceptance against step size.

ACCEPTANCE_CASES = [
    ("mala", mala, [0.1, 0.3, 0.6, 1.0], {}),
    ("hmc", hmc, [0.2, 0.4, 0.6, 0.8], {"n_leapfrog": 10}),
    ("metropolis", metropolis, [0.2, 0.5, 1.0, 2.0], {}),
]


@pytest.mark.parametrize("sampler, step_sizes, kwargs", [c[1:] for c in ACCEPTANCE_CASES], ids=[c[0] for c in ACCEPTANCE_CASES])
def test_acceptance_falls_as_the_step_grows(sampler, step_sizes, kwargs):
    # A 10-d Gaussian with variances spread over [0.25, 1]: on N(0, I) HMC's acceptance is not
    # monotone in ε, because the leapfrog energy error on a harmonic oscillator oscillates with the
    # trajectory length ε·n_leapfrog (resonances); unequal variances average the resonances out.
    n = 2000
    variances = torch.linspace(0.25, 1.0, 10, dtype=F64)
    x0 = torch.randn(n, 10, generator=gen(8), dtype=F64) * variances.sqrt()
    rates, ses = [], []
    for step_size in step_sizes:
        _, info = sampler(diagonal_gaussian(variances), x0, 10, step_size, generator=gen(9), **kwargs)
        per_chain = info["acceptance_rate"]
        rates.append(per_chain.mean().item())
        ses.append(per_chain.std().item() / math.sqrt(n))  # chains are independent
    for k in range(len(rates) - 1):
        assert rates[k] - rates[k + 1] > 5 * math.hypot(ses[k], ses[k + 1]), rates


# ----------------------------------------------------------------------------------------------
# Reproducibility, dtypes, shapes, inputs untouched, cost per step.

ALL_SAMPLERS = [
    ("langevin", langevin, 0.1, {}),
    ("mala", mala, 0.3, {}),
    ("hmc", hmc, 0.2, {"n_leapfrog": 4}),
    ("metropolis", metropolis, 0.5, {}),
    ("parallel_tempering", parallel_tempering, 0.2, {"temperatures": [1.0, 2.0, 4.0]}),
]
SAMPLER_IDS = [c[0] for c in ALL_SAMPLERS]
SAMPLER_ARGS = [c[1:] for c in ALL_SAMPLERS]


@pytest.mark.parametrize("sampler, step_size, kwargs", SAMPLER_ARGS, ids=SAMPLER_IDS)
def test_same_seed_same_samples_other_seed_other_samples(sampler, step_size, kwargs):
    x0 = torch.randn(50, 2, generator=gen(10))
    a, info_a = sampler(tilted_well, x0, 20, step_size, generator=gen(11), **kwargs)
    b, info_b = sampler(tilted_well, x0, 20, step_size, generator=gen(11), **kwargs)
    c, _ = sampler(tilted_well, x0, 20, step_size, generator=gen(12), **kwargs)
    assert torch.equal(a, b)
    assert torch.equal(info_a["divergences"], info_b["divergences"])
    if "accepted" in info_a:
        assert torch.equal(info_a["accepted"], info_b["accepted"])
    assert not torch.equal(a, c)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("sampler, step_size, kwargs", SAMPLER_ARGS, ids=SAMPLER_IDS)
def test_float32_and_float64_inputs_give_outputs_of_that_dtype(sampler, step_size, kwargs, dtype):
    x0 = torch.randn(30, 2, 3, generator=gen(13), dtype=dtype)  # a 2-D event shape
    x0_copy = x0.clone()
    samples, info = sampler(standard_normal, x0, 6, step_size, generator=gen(14), **kwargs)
    assert samples.dtype == dtype and samples.shape == (30, 6, 2, 3)
    assert torch.isfinite(samples).all()
    assert torch.equal(x0, x0_copy)  # the input is left untouched
    assert info["divergences"].shape == (30,) and info["divergences"].dtype == torch.int64
    assert isinstance(info["n_gradient_evaluations"], int)
    if sampler is not langevin:
        assert info["acceptance_rate"].shape == (30,) and info["acceptance_rate"].dtype == dtype
        assert info["accepted"].dtype == torch.bool and info["accepted"].shape == (30, 6)


class CountingEnergy:
    """Wraps an energy and counts its calls and whether each needed a gradient."""

    def __init__(self, energy):
        self.energy, self.calls, self.grad_calls = energy, 0, 0

    def __call__(self, x):
        self.calls += 1
        self.grad_calls += int(x.requires_grad)
        return self.energy(x)


@pytest.mark.parametrize(
    "sampler, kwargs, expected_grad_calls",
    [
        (langevin, {}, 9 + 1),
        (mala, {}, 9 + 1),
        (hmc, {"n_leapfrog": 4}, 9 * 4 + 1),
        (metropolis, {}, 0),
        (parallel_tempering, {"temperatures": [1.0, 3.0], "n_local_steps": 2}, 9 * 2 + 1),
    ],
    ids=["langevin", "mala", "hmc", "metropolis", "parallel_tempering"],
)
def test_each_step_evaluates_the_energy_only_as_often_as_it_must(sampler, kwargs, expected_grad_calls):
    # Energy and gradient are cached in the state: one call per gradient needed, the start included.
    energy = CountingEnergy(standard_normal)
    _, info = sampler(energy, torch.randn(5, 2, generator=gen(15)), 9, 0.2, generator=gen(16), **kwargs)
    assert energy.grad_calls == expected_grad_calls
    if sampler is metropolis:
        assert energy.calls == info["n_energy_evaluations"] == 10
    else:
        assert energy.calls == expected_grad_calls
    n_replicas = len(kwargs.get("temperatures", [1.0]))  # tempering counts every replica of a chain
    assert info["n_gradient_evaluations"] == n_replicas * expected_grad_calls


# ----------------------------------------------------------------------------------------------
# Leapfrog.


def test_leapfrog_is_reversible_to_round_off():
    energy = double_well(1.0)
    g = gen(17)
    x = torch.randn(64, 5, generator=g, dtype=F64)
    p = torch.randn(64, 5, generator=g, dtype=F64)
    state = init_state(energy, x, 1.5)
    end, p_end = leapfrog(energy, state, p, 0.05, 40)
    assert (end.position - x).abs().max() > 0.1  # it went somewhere
    back, p_back = leapfrog(energy, end, -p_end, 0.05, 40)
    torch.testing.assert_close(back.position, x, rtol=0, atol=1e-10)
    torch.testing.assert_close(p_back, -p, rtol=0, atol=1e-10)


def test_leapfrog_energy_error_is_second_order_in_the_step():
    # Over a fixed time τ = 1 the error in H = E/T + ½ Σ p²/m is O(ε²): halving ε divides it by ≈ 4.
    energy, temperature = double_well(1.0), 0.5
    mass = torch.tensor([1.0, 2.0, 0.5, 1.5], dtype=F64)
    g = gen(18)
    x = torch.randn(256, 4, generator=g, dtype=F64)
    p = torch.randn(256, 4, generator=g, dtype=F64) * mass.sqrt()
    state = init_state(energy, x, temperature)
    h0 = energy(x) / temperature + 0.5 * (p.square() / mass).sum(1)
    errors = []
    for eps in [0.02, 0.01, 0.005]:
        end, p_end = leapfrog(energy, state, p, eps, round(1 / eps), inverse_mass=1 / mass)
        h1 = end.energy / temperature + 0.5 * (p_end.square() / mass).sum(1)
        errors.append((h1 - h0).abs().mean().item())
    for coarse, fine in zip(errors, errors[1:]):
        assert 3.5 < coarse / fine < 4.5, errors


# ----------------------------------------------------------------------------------------------
# Parallel tempering on a double well whose barrier plain Langevin never crosses.


def boltzmann_average(energy, temperature, f, lo=-3.0, hi=3.0, n=60_001):
    """∫ f e^{-E/T} / ∫ e^{-E/T} on a 1-D grid by the trapezoid rule (error far below the MC error)."""
    x = torch.linspace(lo, hi, n, dtype=F64).unsqueeze(1)
    e = energy(x)
    weight = torch.exp(-(e - e.min()) / temperature)
    return (torch.trapezoid(weight * f(x), x[:, 0]) / torch.trapezoid(weight, x[:, 0])).item()


@pytest.mark.parametrize("tilt", [0.0, 0.1], ids=["symmetric", "tilted"])
def test_parallel_tempering_recovers_mode_weights_where_langevin_stays_in_one(tilt):
    # E = 4 (x² − 1)² + tilt·x at T0 = 0.1: the barrier 4 is 40 T0, so plain Langevin never crosses
    # it. Symmetric: each mode has weight 1/2 exactly; tilted: the right mode has weight ≈ 0.12, by
    # quadrature. The mean energy at T0 checks the shape within the modes too (a wrong swap rule
    # keeps the weights of the symmetric well at 1/2 but heats the cold chain).
    def energy(x):
        return 4 * (x.square() - 1).square().sum(1) + tilt * x[:, 0]

    def in_right_well(x):
        return (x[:, 0] > 0).double()

    n_chains, n_steps, burn_in = 200, 1500, 500
    x0 = -torch.ones(n_chains, 1, dtype=F64)  # every chain starts in the left well
    temperatures = 0.1 * 100.0 ** torch.linspace(0, 1, 6, dtype=F64)  # 0.1 … 10, geometric
    samples, info = parallel_tempering(energy, x0, n_steps, 0.003, temperatures=temperatures, generator=gen(19))
    kept = samples[:, burn_in:].reshape(-1, 1)  # (n_chains * n_kept, 1)
    for f in (in_right_well, energy):
        per_chain = f(kept).view(n_chains, -1).mean(1)  # (n_chains,), independent chains
        mcse = per_chain.std().item() / math.sqrt(n_chains)
        exact = boltzmann_average(energy, 0.1, f)
        assert abs(per_chain.mean().item() - exact) < 5 * mcse, (f.__name__, per_chain.mean().item(), exact, mcse)
        assert mcse < 0.01  # the checks have teeth: Langevin's fraction 0 in the right well is far off
    assert info["swap_acceptance_rate"].shape == (5,)
    assert (info["swap_acceptance_rate"] > 0.1).all()

    plain, _ = langevin(energy, x0, n_steps, 0.003, temperature=0.1, generator=gen(20))
    assert (plain[..., 0] < 0).all()  # fraction in the starting well: exactly 1


# ----------------------------------------------------------------------------------------------
# Divergences.


def nan_beyond_three(x):
    """E = ½x², but NaN where |x| > 3."""
    return torch.where(x.abs() > 3, torch.nan, 0.5 * x.square()).sum(1)


@pytest.mark.parametrize(
    "sampler, step_size, kwargs",
    [(mala, 4.0, {}), (hmc, 1.5, {"n_leapfrog": 3}), (metropolis, 3.0, {})],
    ids=["mala", "hmc", "metropolis"],
)
def test_nan_energies_are_rejected_and_counted_as_divergences(sampler, step_size, kwargs):
    x0 = torch.rand(400, 1, generator=gen(21), dtype=F64) * 2 - 1
    samples, info = sampler(nan_beyond_three, x0, 30, step_size, generator=gen(22), **kwargs)
    assert info["divergences"].sum() > 100
    assert torch.isfinite(samples).all() and (samples.abs() <= 3).all()
    assert (info["divergences"] <= (~info["accepted"]).sum(1)).all()  # each divergence a rejection


def test_ula_divergences_are_counted_and_never_hidden():
    x0 = torch.rand(400, 1, generator=gen(23), dtype=F64) * 2 - 1
    samples, info = langevin(nan_beyond_three, x0, 50, 1.0, generator=gen(24))
    outside = (samples[..., 0].abs() > 3).sum(1)  # steps whose energy was NaN, kept in the output
    assert outside.sum() > 0
    assert torch.equal(info["divergences"], outside)


# ----------------------------------------------------------------------------------------------
# Step-size adaptation.


@pytest.mark.parametrize(
    "sampler, target, kwargs",
    [("mala", 0.574, {}), ("hmc", 0.65, {"n_leapfrog": 5}), (mala, 0.4, {})],
    ids=["mala", "hmc", "mala_function_at_0.4"],
)
def test_adapted_step_size_reaches_the_target_acceptance(sampler, target, kwargs):
    variances = torch.linspace(0.5, 2.0, 10, dtype=F64)
    energy = diagonal_gaussian(variances)
    g = gen(25)
    x0 = torch.randn(500, 10, generator=g, dtype=F64) * variances.sqrt()
    step_size = adapt_step_size(energy, x0, 200, 0.05, sampler=sampler, target_acceptance=target, generator=g, **kwargs)
    function = {"mala": mala, "hmc": hmc}.get(sampler, sampler)
    fresh = torch.randn(1000, 10, generator=g, dtype=F64) * variances.sqrt()
    _, info = function(energy, fresh, 30, step_size, generator=g, **kwargs)
    assert abs(info["acceptance_rate"].mean().item() - target) < 0.05, (step_size, info["acceptance_rate"].mean())


# ----------------------------------------------------------------------------------------------
# Bad input: ValueError naming the argument.

X0 = torch.zeros(4, 2)
BAD_INPUTS = [
    ("step_size_zero", {"step_size": 0.0}, "step_size"),
    ("step_size_negative", {"step_size": -0.1}, "step_size"),
    ("n_steps_zero", {"n_steps": 0}, "n_steps"),
    ("x0_nan", {"x0": torch.tensor([[0.0, float("nan")], [0.0, 0.0]])}, "x0"),
    ("x0_inf", {"x0": torch.tensor([[0.0, float("inf")], [0.0, 0.0]])}, "x0"),
    ("x0_no_batch", {"x0": torch.zeros(2)}, "x0"),
    ("temperature_zero", {"temperature": 0.0}, "temperature"),
    ("temperature_negative", {"temperature": -1.0}, "temperature"),
]


def call(function, energy=standard_normal, x0=X0, n_steps=3, step_size=0.1, **kwargs):
    return function(energy, x0, n_steps, step_size, **kwargs)


@pytest.mark.parametrize("change, match", [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
@pytest.mark.parametrize("sampler", [langevin, mala, hmc, metropolis], ids=["langevin", "mala", "hmc", "metropolis"])
def test_bad_arguments_raise_value_error_naming_them(sampler, change, match):
    if sampler is metropolis and "step_size" in change:  # Metropolis has a proposal_scale, not a step size
        change, match = {"proposal_scale": change["step_size"]}, "proposal_scale"
        with pytest.raises(ValueError, match=match):
            metropolis(standard_normal, X0, 3, **change)
        return
    with pytest.raises(ValueError, match=match):
        call(sampler, **change)


@pytest.mark.parametrize(
    "function, change, match",
    [
        (parallel_tempering, {"temperatures": [0.0, 1.0]}, "temperatures"),
        (parallel_tempering, {"temperatures": [1.0, 0.5]}, "temperatures"),
        (parallel_tempering, {"temperatures": [1.0, 2.0], "step_size": 0.0}, "step_size"),
        (parallel_tempering, {"temperatures": [1.0, 2.0], "step_size": torch.tensor([0.1, 0.2, 0.3])}, "step_size"),
        (parallel_tempering, {"temperatures": [1.0, 2.0], "n_steps": 0}, "n_steps"),
        (parallel_tempering, {"temperatures": [1.0, 2.0], "x0": torch.zeros(3)}, "x0"),
        (hmc, {"n_leapfrog": 0}, "n_leapfrog"),
        (hmc, {"mass": torch.ones(3)}, "mass"),
        (hmc, {"mass": torch.tensor([1.0, -1.0])}, "mass"),
        (mala, {"energy": lambda x: x.sum()}, "energy"),
        (mala, {"energy": lambda x: x.sum(1) * float("nan")}, "energy"),
        (adapt_step_size, {"sampler": "langevin"}, "sampler"),
        (adapt_step_size, {"sampler": "metropolis"}, "sampler"),
        (adapt_step_size, {"target_acceptance": 1.5}, "target_acceptance"),
        (adapt_step_size, {"step_size": -1.0}, "step_size"),
    ],
)
def test_sampler_specific_bad_arguments_raise_value_error_naming_them(function, change, match):
    with pytest.raises(ValueError, match=match):
        call(function, **change)


# ----------------------------------------------------------------------------------------------
# The one Langevin core: its options (keep the last state, clamp, raise on divergence).


def test_langevin_keep_last_is_the_last_recorded_step_without_the_last_gradient():
    x0 = torch.randn(16, 2, generator=gen(40), dtype=F64)
    path, info_all = langevin(standard_normal, x0, 7, 0.3, temperature=0.5, generator=gen(41))
    last, info_last = langevin(standard_normal, x0, 7, 0.3, temperature=0.5, keep="last", generator=gen(41))
    torch.testing.assert_close(last, path[:, -1], rtol=0, atol=0)
    assert info_all["n_gradient_evaluations"] == 8 and info_last["n_gradient_evaluations"] == 7
    zero, _ = langevin(standard_normal, x0, 0, 0.3, keep="last")
    assert torch.equal(zero, x0) and zero is not x0


def test_langevin_clamp_keeps_every_step_in_the_box_and_is_the_clipped_update():
    # E = -100 Σx pushes every chain up by 5 a step (noise √0.1): after each step they sit at the upper face
    x0 = torch.zeros(50, 2, dtype=F64)
    path, _ = langevin(lambda x: -100 * x.sum(1), x0, 4, 0.1, clamp=(-1.0, 1.0), generator=gen(42))
    assert path.max() <= 1.0 and path.min() >= -1.0
    assert torch.equal(path[:, -1], torch.ones(50, 2, dtype=F64))


def test_langevin_counts_a_divergence_or_raises_a_non_finite_error_when_asked():
    from ebmlib.training import NonFiniteError

    x0 = torch.full((3, 1), 2.0, dtype=F64)
    _, info = langevin(lambda x: x.pow(4).sum(1), x0, 30, 5.0, generator=gen(43))
    assert (info["divergences"] > 0).all()
    with pytest.raises(NonFiniteError, match="diverged.*step_size"):
        langevin(lambda x: x.pow(4).sum(1), x0, 30, 5.0, keep="last", on_divergence="raise", generator=gen(43))
    with pytest.raises(ValueError, match="keep"):
        langevin(standard_normal, x0, 3, 0.1, keep="first")
    with pytest.raises(ValueError, match="clamp"):
        langevin(standard_normal, x0, 3, 0.1, clamp=(1.0, -1.0))
