"""Tests of ebmlib.losses: the likelihood-gradient identity, closed-form values and optima, sign tests, NCE.

Monte Carlo tolerances are 5 standard errors, the standard error estimated in the test from
independent replicas (or written out where it is known in closed form).
"""

from __future__ import annotations

import math

import pytest
import torch

from ebmlib.energies import Gaussian
from ebmlib.losses import (
    PersistentChains,
    contrastive_divergence,
    contrastive_loss,
    denoising_score_matching,
    nce,
    score_matching,
    short_run_langevin,
    sliced_score_matching,
)
from ebmlib.nets import MLPEnergy
from ebmlib.partition import boltzmann, log_partition_exact

F64 = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class ScaleEnergy(torch.nn.Module):
    """E(x) = ‖x‖² / (2 s²): the density N(0, s² I), with s a parameter."""

    def __init__(self, s: float):
        super().__init__()
        self.s = torch.nn.Parameter(torch.tensor(s, dtype=F64))

    def forward(self, x):
        return x.square().sum(1) / (2 * self.s**2)

    def log_partition(self, dim: int = 1):
        return 0.5 * dim * math.log(2 * math.pi) + dim * torch.log(self.s)


class FeatureEnergy(torch.nn.Module):
    """E(x) = θᵀφ(x) with φ(x) = (x₁, x₂, x₁x₂, x₁²): ∇θE = φ, so phases are feature means."""

    def __init__(self, theta):
        super().__init__()
        self.theta = torch.nn.Parameter(torch.as_tensor(theta, dtype=F64))

    @staticmethod
    def features(x):
        return torch.stack([x[:, 0], x[:, 1], x[:, 0] * x[:, 1], x[:, 0] ** 2], dim=1)

    def forward(self, x):
        return self.features(x) @ self.theta


def enumerable_states():
    """All 25 points of {-2, -1, 0, 1, 2}²: a discrete 2-D model small enough to enumerate."""
    values = torch.arange(-2.0, 3.0, dtype=F64)
    return torch.cartesian_prod(values, values)  # (25, 2)


# --- the likelihood gradient: ∇θ log p(x) = -∇θE(x) + E_pθ[∇θE] ---------------------------------


def test_gradient_identity_equals_autograd_of_the_exact_log_likelihood():
    energy = MLPEnergy(hidden=8, generator=torch.Generator().manual_seed(0)).double()
    states = enumerable_states()
    data = states[[0, 3, 7, 7, 12, 18, 24]]
    params = list(energy.parameters())
    # Left: autograd of the exact mean log-likelihood, log Z by enumeration.
    log_lik = (-energy(data)).mean() - log_partition_exact(energy(states))
    left = torch.autograd.grad(log_lik, params)
    # Right: positive phase -∇θ mean E(data) plus the exact negative phase Σ_s p(s) ∇θE(s).
    positive = torch.autograd.grad(-energy(data).mean(), params)
    p = boltzmann(energy(states)).detach()
    negative = torch.autograd.grad((p * energy(states)).sum(), params)
    for l, pos, neg in zip(left, positive, negative):
        torch.testing.assert_close(l, pos + neg, rtol=1e-10, atol=1e-12)


def test_contrastive_loss_with_exact_model_samples_estimates_minus_the_likelihood_gradient():
    energy = FeatureEnergy([0.3, -0.2, 0.25, 0.4])
    states = enumerable_states()
    data = states[[1, 6, 12, 12, 13, 17, 23]]
    log_lik = (-energy(data)).mean() - log_partition_exact(energy(states))
    (exact,) = torch.autograd.grad(log_lik, [energy.theta])
    # Negatives drawn exactly from p_θ by enumeration; -∇θ L = -mean φ(data) + mean φ(x_neg).
    p = boltzmann(energy(states)).detach()
    m = 20_000
    x_neg = states[torch.multinomial(p, m, replacement=True, generator=gen(1))]
    loss = contrastive_loss(energy, data, x_neg)
    (grad,) = torch.autograd.grad(loss, [energy.theta])
    phi = FeatureEnergy.features(states)
    se = ((p[:, None] * (phi - p @ phi) ** 2).sum(0) / m).sqrt()  # exact standard error of mean φ(x_neg)
    assert ((-grad - exact).abs() <= 5 * se).all(), f"{-grad} vs {exact} (se {se})"


def test_contrastive_divergence_with_zero_steps_is_exactly_zero():
    x = torch.randn(50, 2, generator=gen(0))
    assert contrastive_divergence(MLPEnergy(), x, n_steps=0) == 0


# --- score matching --------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 3])
def test_score_matching_at_the_true_standard_normal_is_half_norm_minus_d_and_minus_half_d_in_mean(d):
    x = torch.randn(20_000, d, generator=gen(d), dtype=F64)
    energy = Gaussian(torch.zeros(d, dtype=F64), torch.eye(d, dtype=F64))
    loss = score_matching(energy, x)
    per_point = 0.5 * x.square().sum(1) - d  # ½‖s‖² + tr ∇s with s = -x: exact, point by point
    torch.testing.assert_close(loss, per_point.mean(), rtol=1e-12, atol=1e-12)
    se = math.sqrt(d / 2 / x.shape[0])  # Var(½‖x‖²) = d/2
    assert abs(float(loss.detach()) + d / 2) < 5 * se


@pytest.mark.parametrize(("projection", "variance_reduction"), [("gaussian", False), ("rademacher", False), ("gaussian", True)])
def test_sliced_score_matching_at_the_true_standard_normal_has_expectation_minus_half_d(projection, variance_reduction):
    d, replicas = 3, 20
    g = gen(5)

    def energy(x):
        return 0.5 * x.square().sum(1)  # the standard normal
    values = torch.stack([
        sliced_score_matching(energy, torch.randn(500, d, generator=g, dtype=F64), projection=projection,
                              variance_reduction=variance_reduction, generator=g)
        for _ in range(replicas)
    ]).detach()  # fmt: skip
    se = values.std() / math.sqrt(replicas)
    assert abs(float(values.mean()) + d / 2) < 5 * se, f"{values.mean()} vs {-d / 2} (se {se})"


def test_sliced_score_matching_averages_to_exact_score_matching_on_a_network():
    energy = MLPEnergy(hidden=16, generator=torch.Generator().manual_seed(0)).double()
    x = torch.randn(64, 2, generator=gen(0), dtype=F64)
    exact = float(score_matching(energy, x).detach())
    g = gen(1)
    # Each replica averages 20 independent projections per point (x repeated 20 times).
    values = torch.stack([sliced_score_matching(energy, x.repeat(20, 1), generator=g).detach() for _ in range(20)])
    se = values.std() / math.sqrt(len(values))
    assert abs(float(values.mean()) - exact) < 5 * se, f"{values.mean()} vs {exact} (se {se})"


def test_score_matching_gradient_reaches_the_parameters():
    energy = MLPEnergy(hidden=8, generator=torch.Generator().manual_seed(0))
    score_matching(energy, torch.randn(16, 2, generator=torch.Generator().manual_seed(0))).backward()
    *weights, last_bias = energy.parameters()
    # The score does not see an additive constant: the output bias gets no gradient, all else does.
    assert last_bias.grad is None
    assert all(p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0 for p in weights)


class QuadraticEnergy(torch.nn.Module):
    """E(x) = a x²/2 + b x, score -a x - b: the family holding the noised N(0, 1) score."""

    def __init__(self, a, b):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(a, dtype=F64))
        self.b = torch.nn.Parameter(torch.tensor(b, dtype=F64))

    def forward(self, x):
        return 0.5 * self.a * x[:, 0] ** 2 + self.b * x[:, 0]


@pytest.mark.parametrize("sigma", [0.3, 1.0])
def test_denoising_optimum_for_standard_normal_data_is_minus_x_over_one_plus_sigma_squared(sigma):
    n = 100_000
    x = torch.randn(n, 1, generator=gen(2), dtype=F64)
    energy = QuadraticEnergy(0.0, 0.0)
    params = [energy.a, energy.b]

    def loss():  # the same noise on every call: the loss is then an exact quadratic in (a, b)
        return denoising_score_matching(energy, x, sigma, generator=gen(3))

    (grad,) = [torch.stack(torch.autograd.grad(loss(), params, create_graph=True))]
    hessian = torch.stack([torch.stack(torch.autograd.grad(g, params, retain_graph=True)) for g in grad])
    a_opt, b_opt = (torch.stack([energy.a, energy.b]) - torch.linalg.solve(hessian, grad)).detach()
    # Delta method: a* = mean(z x̃)/(σ mean(x̃²)); its fluctuation is mean(r)/(1+σ²) with
    # r = z x̃/σ - a x̃², whose variance is estimated on an independent sample.
    a_true = 1 / (1 + sigma**2)
    x2, z2 = torch.randn(n, generator=gen(4), dtype=F64), torch.randn(n, generator=gen(5), dtype=F64)
    xt = x2 + sigma * z2
    se_a = ((z2 * xt / sigma - a_true * xt**2).std() / (1 + sigma**2) / math.sqrt(n)).item()
    se_b = ((z2 / sigma - a_true * xt).std() / math.sqrt(n)).item()
    assert abs(a_opt - a_true) < 5 * se_a, f"a* = {a_opt}, expected {a_true} (se {se_a})"
    assert abs(b_opt) < 5 * se_b, f"b* = {b_opt}, expected 0 (se {se_b})"


# --- sign tests: one gradient step on E = x²/(2s²) moves s toward the data's scale ----------------


def _nce_normalised(energy, x, generator):
    return nce(energy, x, Gaussian(torch.zeros(1, dtype=F64), 4 * torch.eye(1, dtype=F64)),
               log_z=energy.log_partition(), generator=generator)  # fmt: skip


LOSSES = {
    "cd": lambda e, x, g: contrastive_divergence(e, x, n_steps=50, step_size=0.01, generator=g),
    "pcd": lambda e, x, g: contrastive_divergence(
        e, x, n_steps=50, step_size=0.01, chains=PersistentChains(torch.randn(x.shape, generator=g, dtype=F64)), generator=g
    ),
    "sm": lambda e, x, g: score_matching(e, x),
    "ssm": lambda e, x, g: sliced_score_matching(e, x, generator=g),
    "dsm": lambda e, x, g: denoising_score_matching(e, x, 0.1, generator=g),
    "nce": _nce_normalised,
}


@pytest.mark.parametrize("s0", [0.5, 2.0])
@pytest.mark.parametrize("method", list(LOSSES))
def test_one_gradient_step_moves_the_scale_toward_the_data(method, s0):
    x = torch.randn(20_000, 1, generator=gen(7), dtype=F64)  # data scale 1
    energy = ScaleEnergy(s0)
    LOSSES[method](energy, x, gen(8)).backward()
    optimizer = torch.optim.SGD(energy.parameters(), lr=1e-3)
    optimizer.step()
    s1 = energy.s.item()
    assert abs(s1 - 1) < abs(s0 - 1), f"{method}: s went from {s0} to {s1}, away from the data's scale 1"


# --- NCE recovers the density and its normaliser ---------------------------------------------------


class LearnedGaussian(torch.nn.Module):
    """E(x) = x²/(2σ²) with σ = exp(log_sigma), and a free log-normaliser c = log Z."""

    def __init__(self):
        super().__init__()
        self.log_sigma = torch.nn.Parameter(torch.tensor(0.5, dtype=F64))
        self.log_z = torch.nn.Parameter(torch.tensor(0.0, dtype=F64))

    def forward(self, x):
        return x[:, 0] ** 2 / (2 * torch.exp(2 * self.log_sigma))


def _fit_nce(seed: int, n: int) -> tuple[float, float]:
    x = torch.randn(n, 1, generator=gen(seed), dtype=F64)
    noise = Gaussian(torch.zeros(1, dtype=F64), 4 * torch.eye(1, dtype=F64))  # N(0, 2²)
    model = LearnedGaussian()
    optimizer = torch.optim.LBFGS(model.parameters(), max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = nce(model, x, noise, log_z=model.log_z, generator=gen(seed + 1000))  # fixed noise sample
        loss.backward()
        return loss

    optimizer.step(closure)
    return math.exp(model.log_sigma.item()), model.log_z.item()


def test_nce_recovers_unit_scale_and_log_normaliser_minus_half_log_two_pi():
    fits = torch.tensor([_fit_nce(seed, 5_000) for seed in range(8)], dtype=F64)  # (replicas, 2)
    mean, se = fits.mean(0), fits.std(0) / math.sqrt(len(fits))
    sigma, log_z = mean.tolist()
    # log p(x) = -x²/(2σ²) - log Z, so the log-normaliser -log Z should be -½ log 2π.
    assert abs(sigma - 1) < 5 * se[0], f"σ = {sigma}, expected 1 (se {se[0]})"
    assert abs(-log_z + 0.5 * math.log(2 * math.pi)) < 5 * se[1], f"-log Z = {-log_z}, expected {-0.5 * math.log(2 * math.pi)}"
    assert se.max() < 0.05  # the replicas agree: the tolerance above is tight


def test_nce_optimum_for_the_log_normaliser_is_log_z_when_the_model_is_right():
    # With σ fixed at the truth, ∂J/∂c = 0 at c = log Z in expectation: checked against 5 se of replicas.
    noise = Gaussian(torch.zeros(1, dtype=F64), 4 * torch.eye(1, dtype=F64))
    energy = ScaleEnergy(1.0)
    grads = []
    for seed in range(30):
        c = torch.tensor(0.5 * math.log(2 * math.pi), dtype=F64, requires_grad=True)
        x = torch.randn(1000, 1, generator=gen(seed), dtype=F64)
        (g,) = torch.autograd.grad(nce(energy, x, noise, log_z=c, generator=gen(100 + seed)), [c])
        grads.append(g)
    grads = torch.stack(grads)
    assert abs(float(grads.mean())) < 5 * float(grads.std()) / math.sqrt(len(grads))


# --- persistent chains, reproducibility ------------------------------------------------------------


def test_persistent_chains_move_on_and_count_their_updates():
    chains = PersistentChains.uniform(64, ((-3, 3), (-3, 3)), generator=gen(0))
    start = chains.x.clone()
    energy = MLPEnergy()
    x = torch.randn(32, 2, generator=gen(1))
    _, x_neg = contrastive_divergence(energy, x, n_steps=3, chains=chains, generator=gen(2), return_samples=True)
    assert chains.n_updates == 1 and x_neg.shape == (64, 2)
    torch.testing.assert_close(chains.x, x_neg)
    assert not torch.equal(chains.x, start)
    assert ((start >= -3) & (start <= 3)).all()


def test_short_run_langevin_equals_the_last_step_of_the_library_sampler():
    from ebmlib.samplers import langevin

    energy = Gaussian(torch.zeros(2, dtype=F64), torch.eye(2, dtype=F64))
    x0 = torch.randn(10, 2, generator=gen(0), dtype=F64)
    samples, _ = langevin(energy, x0, 7, 0.05, generator=gen(1))
    torch.testing.assert_close(short_run_langevin(energy, x0, 7, 0.05, generator=gen(1)), samples[:, -1])


@pytest.mark.parametrize("method", ["cd", "ssm", "dsm", "nce"])
def test_same_seed_gives_the_same_loss(method):
    x = torch.randn(100, 1, generator=gen(0), dtype=F64)
    first = LOSSES[method](ScaleEnergy(0.7), x, gen(1))
    second = LOSSES[method](ScaleEnergy(0.7), x, gen(1))
    assert first.item() == second.item()


def test_losses_do_not_modify_their_input():
    x = torch.randn(20, 2, generator=gen(0))
    copy = x.clone()
    energy = MLPEnergy()
    for loss in (score_matching(energy, x), sliced_score_matching(energy, x), contrastive_divergence(energy, x)):
        loss.backward()
    assert torch.equal(x, copy)


# --- bad input -------------------------------------------------------------------------------------

NOISE = Gaussian(torch.zeros(2), torch.eye(2))
ALL = {
    "cd": lambda e, x: contrastive_divergence(e, x),
    "sm": lambda e, x: score_matching(e, x),
    "ssm": lambda e, x: sliced_score_matching(e, x),
    "dsm": lambda e, x: denoising_score_matching(e, x, 0.1),
    "nce": lambda e, x: nce(e, x, NOISE),
}


@pytest.mark.parametrize("method", list(ALL))
def test_data_with_nan_is_rejected_naming_x(method):
    x = torch.randn(10, 2)
    x[3, 1] = float("nan")
    with pytest.raises(ValueError, match="x must be finite"):
        ALL[method](MLPEnergy(), x)


@pytest.mark.parametrize("method", list(ALL))
def test_data_without_a_batch_dimension_is_rejected_naming_x(method):
    with pytest.raises(ValueError, match="x must have shape"):
        ALL[method](MLPEnergy(), torch.zeros(2))


@pytest.mark.parametrize("method", list(ALL))
def test_an_energy_of_the_wrong_shape_is_rejected_naming_energy(method):
    with pytest.raises(ValueError, match="energy must map"):
        ALL[method](lambda x: x.square(), torch.randn(10, 2))  # (n, 2) instead of (n,)


@pytest.mark.parametrize("method", list(ALL))
def test_a_loss_never_hides_a_nan_energy(method):
    def energy(x):
        return x.square().sum(1) * torch.where(x[:, 0] > 0, float("nan"), 1.0)

    with pytest.raises(ValueError, match="non-finite"):
        ALL[method](energy, torch.randn(10, 2, generator=gen(0)).abs())


@pytest.mark.parametrize("sigma", [0.0, -0.1, float("nan")])
def test_denoising_rejects_a_nonpositive_sigma(sigma):
    with pytest.raises(ValueError, match="sigma"):
        denoising_score_matching(MLPEnergy(), torch.randn(10, 2), sigma)


def test_mismatched_shapes_are_rejected_by_name():
    energy = MLPEnergy()
    with pytest.raises(ValueError, match="x_neg"):
        contrastive_loss(energy, torch.randn(10, 2), torch.randn(10, 3))
    with pytest.raises(ValueError, match="chains"):
        contrastive_divergence(energy, torch.randn(10, 2), chains=PersistentChains(torch.randn(5, 3)))
    with pytest.raises(ValueError, match="noise.sample"):
        nce(MLPEnergy(dim=3), torch.randn(10, 3), NOISE)


def test_other_bad_arguments_are_named():
    energy, x = MLPEnergy(), torch.randn(10, 2)
    with pytest.raises(ValueError, match="n_projections"):
        sliced_score_matching(energy, x, n_projections=0)
    with pytest.raises(ValueError, match="projection"):
        sliced_score_matching(energy, x, projection="uniform")
    with pytest.raises(ValueError, match="step_size"):
        contrastive_divergence(energy, x, step_size=0.0)
    with pytest.raises(ValueError, match="log_z"):
        nce(energy, x, NOISE, log_z=float("nan"))
    with pytest.raises(TypeError, match="noise"):
        nce(energy, x, object())
    with pytest.raises(ValueError, match="regularization"):
        contrastive_loss(energy, x, x, regularization=-1.0)


def test_diverging_chains_raise_instead_of_returning_nan():
    energy = Gaussian(torch.zeros(2), torch.eye(2))
    with pytest.raises(ValueError, match="diverged|non-finite"):
        contrastive_divergence(energy, torch.randn(10, 2), n_steps=200, step_size=100.0)
