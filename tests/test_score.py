"""Tests of ebmlib.score: schedules, multi-level denoising score matching, annealed Langevin, diffusion, guidance.

The reference throughout is a two-component Gaussian mixture, whose score after convolution with
N(0, σ²I) is exact (``GaussianMixture.score(x, sigma)``). Monte Carlo tolerances come from standard
errors: a fraction p over n independent chains has standard error sqrt(p(1-p)/n), and 5 standard
errors bound a fluctuation.
"""

from __future__ import annotations

import math

import pytest
import torch

from ebmlib.energies import GaussianMixture
from ebmlib.score import (
    MixtureClassifier,
    NoiseConditionalClassifier,
    NoiseConditionalEnergy,
    NoiseConditionalScore,
    annealed_langevin,
    classifier_log_prob_grad,
    dsm_loss,
    dsm_target,
    geometric_noise_schedule,
    guided_score,
    linear_beta_schedule,
    mode_weights,
    multilevel_dsm_loss,
    reverse_diffusion,
    score_error,
    train_classifier,
    train_score_model,
    tweedie_denoise,
    ve_forward,
    ve_marginal,
    vp_alpha_bar,
    vp_forward,
    vp_marginal,
    vp_score_from_ve,
)

F64 = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def lopsided_mixture(dtype=F64) -> GaussianMixture:
    """Song and Ermon's example (2019, figure 3), scaled: weights 0.2 and 0.8, modes 5.7 apart, std 0.5."""
    means = torch.tensor([[-2.0, -2.0], [2.0, 2.0]], dtype=dtype)
    return GaussianMixture(means, 0.5, torch.tensor([0.2, 0.8], dtype=dtype))


def uniform_start(n: int, generator, dtype=F64) -> torch.Tensor:
    """n points uniform on [-4, 4]^2: a start that knows nothing about the mode weights."""
    return 8 * torch.rand(n, 2, generator=generator, dtype=dtype) - 4


# 30 geometric levels from 5 to 0.05 and 40 steps per level at ε = 0.3 σ_L² (α_i = 0.3 σ_i²):
# fine enough that the chains are in equilibrium at the levels where the modes separate.
SIGMAS = geometric_noise_schedule(5.0, 0.05, 30)
STEP_SIZE = 0.3 * 0.05**2


# ---------------------------------------------------------------------------------------------
# The noise schedule


def test_geometric_noise_schedule_has_constant_ratio_and_exact_end_points():
    sigmas = geometric_noise_schedule(10.0, 0.01, 4)
    # σ_i = 10 · (0.001)^{i/3}: 10, 1, 0.1, 0.01
    assert torch.allclose(sigmas, torch.tensor([10.0, 1.0, 0.1, 0.01], dtype=F64), rtol=1e-12)
    sigmas = geometric_noise_schedule(5.0, 0.05, 30)
    ratios = sigmas[1:] / sigmas[:-1]
    assert torch.allclose(ratios, torch.full_like(ratios, 0.01 ** (1 / 29)), rtol=1e-12)
    assert sigmas[0] == 5.0 and sigmas[-1] == 0.05


@pytest.mark.parametrize(
    "args, name",
    [((1.0, 0.0, 5), "sigma_min"), ((1.0, -0.1, 5), "sigma_min"), ((0.0, 0.1, 5), "sigma_max"),
     ((0.5, 1.0, 5), "sigma_min"), ((1.0, 0.1, 1), "n_levels")],
)
def test_geometric_noise_schedule_rejects_bad_levels_naming_the_argument(args, name):
    with pytest.raises(ValueError, match=name):
        geometric_noise_schedule(*args)


@pytest.mark.parametrize("sigmas", [[1.0, 2.0, 0.5], [1.0, 1.0, 0.5], [1.0, 0.5, 0.0], [1.0, -0.5], [[1.0, 0.5]], []])
def test_a_schedule_that_is_not_decreasing_or_has_sigma_at_most_zero_is_rejected(sigmas):
    x = torch.zeros(4, 2, dtype=F64)
    mixture = lopsided_mixture()
    with pytest.raises(ValueError, match="sigmas"):
        annealed_langevin(mixture.score, x, torch.tensor(sigmas, dtype=F64), 1, 0.1)
    with pytest.raises(ValueError, match="sigmas"):
        multilevel_dsm_loss(mixture.score, x, torch.tensor(sigmas, dtype=F64))
    with pytest.raises(ValueError, match="sigmas"):
        reverse_diffusion(mixture.score, x, torch.tensor(sigmas, dtype=F64))


# ---------------------------------------------------------------------------------------------
# Denoising score matching


def test_dsm_target_and_loss_match_the_formulas_written_out():
    x = torch.tensor([[0.0, 1.0], [2.0, -1.0]], dtype=F64)
    noise = torch.tensor([[1.0, 0.0], [-0.5, 2.0]], dtype=F64)
    sigma = torch.tensor([0.5, 2.0], dtype=F64)
    x_noisy = x + sigma[:, None] * noise
    assert torch.allclose(dsm_target(x_noisy, x, sigma), -(x_noisy - x) / sigma[:, None] ** 2, atol=1e-15)

    def score(y, s):  # a linear score, -y / (1 + s²)
        return -y / (1 + s[:, None] ** 2)

    expected = 0.5 * sigma**2 * (score(x_noisy, sigma) + (x_noisy - x) / sigma[:, None] ** 2).square().sum(1)
    assert torch.allclose(dsm_loss(score, x, sigma, noise, reduction="none"), expected, atol=1e-14)
    assert torch.allclose(dsm_loss(score, x, sigma, noise), expected.mean(), atol=1e-14)


def _perturbed(score, a, b):
    """The score (1 + a) s + b, with a of shape () or (n,) and b of shape (2,) or (n, 2)."""

    def perturbed(x, sigma):
        scale = a.unsqueeze(-1) if a.ndim == 1 else a
        return (1 + scale) * score(x, sigma) + b

    return perturbed


def test_exact_noised_score_has_lower_multilevel_dsm_loss_than_perturbed_scores():
    mixture, n = lopsided_mixture(), 20_000
    x = mixture.sample(n, generator=gen(0))
    exact = multilevel_dsm_loss(mixture.score, x, SIGMAS, generator=gen(1), reduction="none")
    for a, b in [(0.1, (0.0, 0.0)), (-0.1, (0.0, 0.0)), (0.0, (0.1, 0.0)), (0.0, (0.0, -0.1))]:
        score = _perturbed(mixture.score, torch.tensor(a, dtype=F64), torch.tensor(b, dtype=F64))
        # the same levels and noise (same seed): a paired comparison
        worse = multilevel_dsm_loss(score, x, SIGMAS, generator=gen(1), reduction="none")
        difference = worse - exact
        standard_error = difference.std() / math.sqrt(n)
        assert difference.mean() > 5 * standard_error, f"a={a}, b={b}: {difference.mean():.4g} ± {standard_error:.2g}"


def test_gradient_of_dsm_at_the_exact_score_vanishes_within_monte_carlo_error():
    # Per-point perturbation parameters a_i, b_i: the gradient of the summed loss with respect to
    # them is each point's own gradient, so their mean and standard error come from one backward.
    mixture, n = lopsided_mixture(), 20_000
    x = mixture.sample(n, generator=gen(2))
    for a0 in (0.0, 0.2):
        a = torch.full((n,), a0, dtype=F64, requires_grad=True)
        b = torch.zeros(n, 2, dtype=F64, requires_grad=True)
        loss = multilevel_dsm_loss(_perturbed(mixture.score, a, b), x, SIGMAS, generator=gen(3), reduction="none")
        grad_a, grad_b = torch.autograd.grad(loss.sum(), (a, b))
        for per_point in (grad_a, grad_b[:, 0], grad_b[:, 1]):
            z = per_point.mean() / (per_point.std() / math.sqrt(n))
            if a0 == 0.0:
                assert abs(z) < 5, f"at the exact score the gradient must vanish: z = {z:.2f}"
        if a0 != 0.0:  # away from the optimum the scale gradient is clearly not zero
            z = grad_a.mean() / (grad_a.std() / math.sqrt(n))
            assert z > 20, f"at a = {a0} the gradient must point back to the exact score: z = {z:.2f}"


def test_training_brings_the_dsm_loss_close_to_that_of_the_exact_score():
    mixture = lopsided_mixture(torch.float32)
    torch.manual_seed(0)
    model = NoiseConditionalScore(dim=2, hidden=32, depth=2)
    data = mixture.sample(4096, generator=gen(4))
    held_out = mixture.sample(8192, generator=gen(5))

    def excess():  # paired excess loss over the exact score, and its standard error
        with torch.no_grad():
            learned = multilevel_dsm_loss(model.score, held_out, SIGMAS, generator=gen(6), reduction="none")
        exact = multilevel_dsm_loss(mixture.score, held_out, SIGMAS, generator=gen(6), reduction="none")
        d = (learned - exact).double()
        return d.mean().item(), d.std().item() / math.sqrt(d.numel())

    before, _ = excess()
    losses = train_score_model(model, data, SIGMAS, n_steps=300, batch_size=256, generator=gen(7))
    after, standard_error = excess()
    assert losses.shape == (300,) and torch.isfinite(losses).all()
    assert after < before / 5, f"training must remove most of the excess loss: {before:.3f} -> {after:.3f}"
    assert after > -5 * standard_error, "no model beats the exact score beyond Monte Carlo error"


# ---------------------------------------------------------------------------------------------
# Models


@pytest.mark.parametrize("sigma", [0.3, torch.tensor([0.1, 0.5, 1.0, 2.0, 4.0])])
def test_energy_model_score_is_minus_the_autograd_gradient_of_its_energy(sigma):
    torch.manual_seed(1)
    model = NoiseConditionalEnergy(dim=2, hidden=16, depth=2).double()
    x = torch.randn(5, 2, dtype=F64, generator=gen(8))
    x_in = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x_in, sigma).sum(), x_in)
    assert torch.allclose(model.score(x, sigma), -grad, atol=1e-12)
    with torch.no_grad():  # the sampling path, without a graph, gives the same field
        assert torch.allclose(model.score(x, sigma), -grad, atol=1e-12)
    # finite differences of the energy confirm the sign: E(x + h e_j) - E(x - h e_j) ≈ 2h ∂_j E
    h = 1e-6
    for j in range(2):
        step = torch.zeros_like(x)
        step[:, j] = h
        with torch.no_grad():
            central = (model(x + step, sigma) - model(x - step, sigma)) / (2 * h)
        assert torch.allclose(-central, model.score(x, sigma)[:, j], atol=1e-6)


def test_energy_model_trains_through_its_score_by_double_backpropagation():
    torch.manual_seed(2)
    model = NoiseConditionalEnergy(dim=2, hidden=16, depth=2)
    x = lopsided_mixture(torch.float32).sample(64, generator=gen(9))
    loss = multilevel_dsm_loss(model.score, x, SIGMAS, generator=gen(10))
    loss.backward()
    # every weight matrix gets a gradient through -∇ₓE (the read-out bias shifts E by a constant
    # and so has none: the score does not see it)
    grads = [p.grad for name, p in model.named_parameters() if name.endswith("weight")]
    assert all(g is not None and torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)


def test_score_model_keeps_shapes_and_accepts_one_level_per_point():
    model = NoiseConditionalScore(dim=3, hidden=8, depth=1)
    x = torch.randn(4, 3)
    one = model(x, 0.5)
    per_point = model(x, torch.full((4,), 0.5))
    assert one.shape == (4, 3) and torch.equal(one, per_point)
    with pytest.raises(ValueError, match="sigma"):
        model(x, 0.0)
    with pytest.raises(ValueError, match="sigma"):
        model(x, torch.ones(3))


# ---------------------------------------------------------------------------------------------
# Annealed Langevin


def test_annealed_langevin_takes_step_eps_sigma_i_squared_over_sigma_l_squared():
    # A linear score, that of N(0, I) noised by σ: -x / (1 + σ²). Replay the draws by hand.
    def score(x, sigma):
        return -x / (1 + sigma[:, None] ** 2)

    sigmas = torch.tensor([2.0, 1.0, 0.5], dtype=F64)
    x0 = torch.randn(6, 2, dtype=F64, generator=gen(11))
    x, info = annealed_langevin(score, x0, sigmas, 3, 0.01, return_trajectory=True, generator=gen(12))
    replay, x_hand, path = gen(12), x0.clone(), [x0]
    for sigma in sigmas.tolist():
        alpha = 0.01 * sigma**2 / 0.5**2
        for _ in range(3):
            z = torch.randn(x0.shape, generator=replay, dtype=F64)
            x_hand = x_hand - 0.5 * alpha * x_hand / (1 + sigma**2) + math.sqrt(alpha) * z
            path.append(x_hand)
    assert torch.allclose(info["step_sizes"], torch.tensor([0.16, 0.04, 0.01], dtype=F64), atol=1e-15)
    assert torch.allclose(x, x_hand, atol=1e-13)
    assert info["trajectory"].shape == (6, 10, 2)
    assert torch.allclose(info["trajectory"], torch.stack(path, dim=1), atol=1e-13)
    assert torch.allclose(info["level_ends"][:, -1], x, atol=0) and info["divergences"].sum() == 0
    assert torch.equal(x0, torch.randn(6, 2, dtype=F64, generator=gen(11))), "x0 must not be modified"


def test_annealed_langevin_recovers_unequal_mode_weights_where_single_level_langevin_does_not():
    mixture, n = lopsided_mixture(), 2000
    x0 = uniform_start(n, gen(13))
    standard_error = math.sqrt(0.2 * 0.8 / n)
    x, info = annealed_langevin(mixture.score, x0, SIGMAS, 40, STEP_SIZE, generator=gen(14))
    weight = mode_weights(x, mixture.means)[0].item()
    assert abs(weight - 0.2) < 5 * standard_error, f"annealed: weight {weight:.3f}, 0.2 ± {standard_error:.3f}"
    assert info["divergences"].sum() == 0
    # Langevin at the smallest level only, with a step 20 times larger: the chains settle in
    # whichever basin they start in and cannot cross between the modes.
    single, _ = annealed_langevin(mixture.score, x0, SIGMAS[-1:], 400, 20 * STEP_SIZE, generator=gen(14))
    single_weight = mode_weights(single, mixture.means)[0].item()
    assert abs(single_weight - 0.2) > 20 * standard_error, f"single level: weight {single_weight:.3f}"


def test_annealed_langevin_counts_divergences_and_keeps_the_nans():
    def exploding(x, sigma):  # a score that pushes outward, so large steps blow up
        return 1e3 * x

    x, info = annealed_langevin(exploding, torch.ones(3, 2), torch.tensor([1.0]), 200, 1.0, generator=gen(15))
    assert (info["divergences"] > 0).all() and not torch.isfinite(x).all()


def test_annealed_langevin_is_reproducible_with_a_generator():
    mixture = lopsided_mixture()
    x0 = uniform_start(10, gen(16))
    a, _ = annealed_langevin(mixture.score, x0, SIGMAS[::6], 5, STEP_SIZE, generator=gen(17))
    b, _ = annealed_langevin(mixture.score, x0, SIGMAS[::6], 5, STEP_SIZE, generator=gen(17))
    assert torch.equal(a, b)


def test_tweedie_denoise_is_the_posterior_mean_for_a_gaussian():
    # x0 ~ N(m, s² I), x = x0 + σ z: E[x0 | x] = m + s²/(s² + σ²) (x - m).
    m, s, sigma = torch.tensor([[1.0, -2.0]], dtype=F64), 0.7, 1.3
    gaussian = GaussianMixture(m, s)
    x = torch.randn(5, 2, dtype=F64, generator=gen(18))
    expected = m + s**2 / (s**2 + sigma**2) * (x - m)
    assert torch.allclose(tweedie_denoise(gaussian.score, x, sigma), expected, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# Forward noising and the reverse process


def test_vp_forward_with_given_noise_is_the_closed_form_jump():
    x0, z = torch.randn(4, 2, dtype=F64, generator=gen(19)), torch.randn(4, 2, dtype=F64, generator=gen(20))
    alpha_bar = torch.tensor([0.9, 0.5, 0.1, 1.0], dtype=F64)
    expected = alpha_bar.sqrt()[:, None] * x0 + (1 - alpha_bar).sqrt()[:, None] * z
    assert torch.allclose(vp_forward(x0, alpha_bar, noise=z), expected, atol=1e-15)
    assert torch.allclose(ve_forward(x0, 0.3, noise=z), x0 + 0.3 * z, atol=1e-15)


def test_linear_beta_schedule_and_alpha_bar_are_the_ddpm_products():
    betas = linear_beta_schedule(1e-4, 0.02, 1000)
    assert betas.shape == (1000,) and betas[0] == 1e-4 and abs(betas[-1] - 0.02) < 1e-15
    alpha_bar = vp_alpha_bar(torch.tensor([0.1, 0.2, 0.5], dtype=F64))
    assert torch.allclose(alpha_bar, torch.tensor([0.9, 0.72, 0.36], dtype=F64), atol=1e-15)
    for bad in ([0.1, 1.0], [0.0, 0.1], [0.1, -0.2]):
        with pytest.raises(ValueError, match="betas"):
            vp_alpha_bar(torch.tensor(bad))


def test_composed_vp_steps_match_the_one_jump_marginal_within_monte_carlo_error():
    mixture, n, t = lopsided_mixture(), 20_000, 300
    betas = linear_beta_schedule(1e-4, 0.02, 1000)[:t]
    g = gen(21)
    x = mixture.sample(n, generator=g)
    for beta in betas.tolist():  # x_t = sqrt(1 - β_t) x_{t-1} + sqrt(β_t) z_t, step by step
        x = math.sqrt(1 - beta) * x + math.sqrt(beta) * torch.randn(x.shape, generator=g, dtype=F64)
    marginal = vp_marginal(mixture, float(vp_alpha_bar(betas)[-1]))
    reference = marginal.sample(n, generator=g)  # one jump, x_t ~ the closed-form marginal

    def mean_and_variance(y):  # per coordinate, with the standard errors of both
        variance = y.var(0)
        fourth = (y - y.mean(0)).pow(4).mean(0)
        return y.mean(0), (variance / n).sqrt(), variance, ((fourth - variance**2) / n).sqrt()

    m1, m1_se, v1, v1_se = mean_and_variance(x)
    m2, m2_se, v2, v2_se = mean_and_variance(reference)
    assert ((m1 - m2).abs() < 5 * (m1_se**2 + m2_se**2).sqrt()).all(), f"means {m1.tolist()} vs {m2.tolist()}"
    assert ((v1 - v2).abs() < 5 * (v1_se**2 + v2_se**2).sqrt()).all(), f"variances {v1.tolist()} vs {v2.tolist()}"


def test_forward_marginals_are_mixtures_with_the_exact_noised_score():
    mixture = lopsided_mixture()
    x = torch.randn(50, 2, dtype=F64, generator=gen(22)) * 3
    assert torch.allclose(ve_marginal(mixture, 0.8).score(x), mixture.score(x, 0.8), atol=1e-12)
    # VP at ᾱ: a VE point at σ² = (1 - ᾱ)/ᾱ, scaled by sqrt(ᾱ).
    alpha_bar = 0.3
    exact = vp_marginal(mixture, alpha_bar).score(x)
    assert torch.allclose(vp_score_from_ve(mixture.score, x, alpha_bar), exact, atol=1e-12)


def test_reverse_diffusion_with_the_exact_score_recovers_the_mode_weights():
    mixture, n = lopsided_mixture(), 2000
    sigmas = geometric_noise_schedule(20.0, 0.02, 300)
    x0 = 20.0 * torch.randn(n, 2, dtype=F64, generator=gen(23))  # ≈ p_σ1, as σ1 ≫ the data's scale
    x, info = reverse_diffusion(mixture.score, x0, sigmas, generator=gen(24))
    weight = mode_weights(x, mixture.means)[0].item()
    assert abs(weight - 0.2) < 5 * math.sqrt(0.16 / n), f"weight {weight:.3f}"
    assert info["divergences"].sum() == 0
    # and the spread around the heavy mode is the component's std 0.5
    near = x[(x - mixture.means[1]).norm(dim=1) < 2.0]
    assert abs(near.std(0).mean().item() - 0.5) < 0.05


# ---------------------------------------------------------------------------------------------
# Guidance


def test_mixture_classifier_is_the_component_posterior_of_the_noised_mixture():
    mixture, sigma = lopsided_mixture(), 0.9
    x = torch.randn(40, 2, dtype=F64, generator=gen(25)) * 3
    posterior = torch.softmax(MixtureClassifier(mixture)(x, sigma), dim=1)
    for k in range(2):
        component = GaussianMixture(mixture.means[k : k + 1], mixture.stds[k : k + 1])
        bayes = mixture.weights[k] * torch.exp(component.log_prob(x, sigma) - mixture.log_prob(x, sigma))
        assert torch.allclose(posterior[:, k], bayes, atol=1e-12)


@pytest.mark.parametrize("label", [0, 1])
def test_guided_score_with_w_one_is_the_exact_conditional_score(label):
    mixture, sigma = lopsided_mixture(), 0.7
    x = torch.randn(30, 2, dtype=F64, generator=gen(26)) * 3
    guided = guided_score(mixture.score, MixtureClassifier(mixture), label, 1.0)
    variance = mixture.stds[label] ** 2 + sigma**2
    expected = -(x - mixture.means[label]) / variance  # the score of N(μ_y, (s² + σ²) I)
    assert torch.allclose(guided(x, torch.full((30,), sigma, dtype=F64)), expected, atol=1e-10)
    unguided = guided_score(mixture.score, MixtureClassifier(mixture), label, 0.0)
    assert torch.equal(unguided(x, sigma), mixture.score(x, sigma))


def test_fraction_of_samples_in_the_target_class_rises_with_the_guidance_scale():
    mixture, n = lopsided_mixture(), 1000
    classifier = MixtureClassifier(mixture)
    x0 = uniform_start(n, gen(27))
    fractions = []
    for w in (0.0, 0.1, 0.3, 1.0):
        guided = guided_score(mixture.score, classifier, 0, w)
        x, _ = annealed_langevin(guided, x0, SIGMAS[::2], 30, STEP_SIZE, generator=gen(28))
        fractions.append(mode_weights(x, mixture.means)[0].item())
    for low, high in zip(fractions, fractions[1:]):
        standard_error = math.sqrt((low * (1 - low) + high * (1 - high)) / n)
        assert high - low > 4 * standard_error, f"fractions in class 0 by w: {fractions}"
    assert fractions[-1] > 1 - 5 / n ** 0.5, f"w = 1 samples p(x | y) exactly: {fractions}"


def test_classifier_log_prob_grad_and_training_reject_labels_out_of_range():
    mixture = lopsided_mixture()
    classifier = MixtureClassifier(mixture)
    x = torch.zeros(3, 2, dtype=F64)
    for bad in (2, -1, torch.tensor([0, 1, 2])):
        with pytest.raises(ValueError, match="labels"):
            classifier_log_prob_grad(classifier, x, bad, 0.5)
        with pytest.raises(ValueError, match="labels"):
            guided_score(mixture.score, classifier, bad, 1.0)
    net = NoiseConditionalClassifier(dim=2, n_classes=2)
    with pytest.raises(ValueError, match="labels"):
        train_classifier(net, x.float(), torch.tensor([0, 1, 5]), SIGMAS, n_steps=1)


@pytest.mark.parametrize("w", [-0.1, -5.0, float("nan")])
def test_negative_guidance_scale_is_rejected_naming_it(w):
    mixture = lopsided_mixture()
    with pytest.raises(ValueError, match="guidance_scale"):
        guided_score(mixture.score, MixtureClassifier(mixture), 0, w)


def test_noise_conditional_classifier_learns_the_noisy_posterior():
    mixture = lopsided_mixture(torch.float32)
    torch.manual_seed(3)
    data, labels = mixture.sample(4096, generator=gen(29), return_labels=True)
    net = NoiseConditionalClassifier(dim=2, n_classes=2, hidden=32)
    train_classifier(net, data, labels, SIGMAS, n_steps=200, generator=gen(30))
    # On fresh noisy points at σ = 2, where the classes overlap, compare with the Bayes posterior.
    x, y = mixture.sample(4096, generator=gen(31), return_labels=True)
    x = x + 2.0 * torch.randn(x.shape, generator=gen(32))
    with torch.no_grad():
        learned = torch.softmax(net(x, 2.0), 1)[:, 0]
    bayes = torch.softmax(MixtureClassifier(mixture)(x, 2.0), 1)[:, 0]
    # the learned posterior must be far closer to Bayes than the prior-only guess p(y=0) = 0.2 is
    assert (learned - bayes).abs().mean() < 0.2 * (bayes - 0.2).abs().mean()


# ---------------------------------------------------------------------------------------------
# Evaluation helpers


def test_mode_weights_count_the_nearest_mode_and_score_error_of_the_exact_score_is_zero():
    means = torch.tensor([[0.0, 0.0], [4.0, 0.0]])
    x = torch.tensor([[0.1, 0.0], [3.9, 1.0], [5.0, 0.0], [1.9, 0.0]])
    assert torch.equal(mode_weights(x, means), torch.tensor([0.5, 0.5]))
    mixture = lopsided_mixture()
    assert score_error(mixture.score, mixture, 0.5, 100, generator=gen(33)) < 1e-20


# --- the probability-flow ODE (ebmlib.score.flow) -------------------------------------------------


def _gaussian_score(mean, variance):
    # ∇ log N(x; m, (s² + σ²) I), the exact noised score of N(m, s² I)
    return lambda x, sigma: -(x - mean) / (variance + torch.as_tensor(sigma, dtype=x.dtype).reshape(-1, 1) ** 2)


def test_probability_flow_is_euler_on_the_ode_for_a_gaussian():
    # Each Euler step is linear, x - m ← (1 - Δ_i / (2(s² + σ_i²))) (x - m): the product is exact for the scheme.
    from ebmlib.score import probability_flow

    mean, variance = torch.tensor([1.0, -2.0], dtype=torch.float64), 0.25
    sigmas = geometric_noise_schedule(3.0, 0.1, 50)
    x0 = torch.tensor([[4.0, 1.0], [-2.0, -2.0], [1.5, 0.0]], dtype=torch.float64)
    keep = x0.clone()
    x, info = probability_flow(_gaussian_score(mean, variance), x0, sigmas, return_trajectory=True)
    factor = torch.prod(1 - (sigmas[:-1] ** 2 - sigmas[1:] ** 2) / (2 * (variance + sigmas[:-1] ** 2)))
    assert torch.allclose(x, mean + factor * (x0 - mean), atol=1e-12)
    assert torch.equal(x0, keep)
    assert info["trajectory"].shape == (3, 50, 2) and torch.equal(info["trajectory"][:, -1], x)
    assert info["divergences"].sum() == 0
    # and the exact flow's factor √((s² + σ_L²)/(s² + σ_1²)) is approached, to the scheme's first order
    assert abs(float(factor) - math.sqrt((variance + 0.01) / (variance + 9.0))) < 0.05 * float(factor)


def test_probability_flow_keeps_the_mode_weights_of_the_mixture():
    from ebmlib.score import probability_flow, ve_forward

    mixture = GaussianMixture(torch.tensor([[-2.0, -2.0], [2.0, 2.0]], dtype=torch.float64), 0.5,
                              torch.tensor([0.2, 0.8], dtype=torch.float64))
    g = torch.Generator().manual_seed(0)
    n = 2000
    x0 = ve_forward(mixture.sample(n, generator=g), 3.0, generator=g)  # exact draws of p_σ1
    x, _ = probability_flow(mixture.score, x0, geometric_noise_schedule(3.0, 0.05, 200))
    light = float(mode_weights(x, mixture.means)[0])
    assert abs(light - 0.2) < 5 * math.sqrt(0.16 / n) + 0.01  # 0.01: the Euler discretisation, measured 0.007


def test_flow_log_likelihood_is_exact_for_a_gaussian_and_the_mixture():
    from ebmlib.score import flow_log_likelihood, ve_forward

    # One Gaussian: p_σ is N(m, (s² + σ²) I) in closed form.
    mean, variance = torch.tensor([0.5, -1.0], dtype=torch.float64), 0.3
    sigmas = geometric_noise_schedule(4.0, 0.05, 100)

    def log_normal(x, var):
        return -0.5 * ((x - mean) ** 2).sum(1) / var - math.log(2 * math.pi * var)  # d = 2

    x = mean + torch.randn(200, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    got, top = flow_log_likelihood(_gaussian_score(mean, variance), x, sigmas, lambda y: log_normal(y, variance + 16.0))
    assert top.shape == x.shape
    # Heun's second-order error at 100 levels: measured up to 0.2 % of log p in the tails
    assert torch.allclose(got, log_normal(x, variance + 0.05**2), atol=2e-3, rtol=5e-3)
    # The lopsided mixture: its exact log p_σL, within a few hundredths of a nat (Heun, 100 levels: measured 0.013).
    mixture = GaussianMixture(torch.tensor([[-2.0, -2.0], [2.0, 2.0]], dtype=torch.float64), 0.5,
                              torch.tensor([0.2, 0.8], dtype=torch.float64))
    g = torch.Generator().manual_seed(2)
    x = ve_forward(mixture.sample(300, generator=g), 0.05, generator=g)
    got, _ = flow_log_likelihood(mixture.score, x, geometric_noise_schedule(5.0, 0.05, 100),
                                 lambda y: mixture.log_prob(y, 5.0))
    assert (got - mixture.log_prob(x, 0.05)).abs().max() < 0.05


def test_flow_functions_refuse_a_schedule_that_does_not_decrease():
    from ebmlib.score import flow_log_likelihood, probability_flow

    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="sigmas"):
        probability_flow(lambda y, s: -y, x, torch.tensor([0.1, 1.0]))
    with pytest.raises(ValueError, match="sigmas"):
        flow_log_likelihood(lambda y, s: -y, x, torch.tensor([1.0, 0.0]), lambda y: y.sum(1))
    with pytest.raises(ValueError, match="x0"):
        probability_flow(lambda y, s: -y, torch.full((3, 2), float("nan")), torch.tensor([1.0, 0.1]))


def test_predictor_corrector_without_correctors_is_the_reverse_sde():
    from ebmlib.score import predictor_corrector, reverse_diffusion, ve_forward

    mixture = GaussianMixture(torch.tensor([[-2.0, -2.0], [2.0, 2.0]]), 0.5, torch.tensor([0.2, 0.8]))
    x0 = ve_forward(mixture.sample(50, generator=torch.Generator().manual_seed(0)), 5.0,
                    generator=torch.Generator().manual_seed(1))
    sigmas = geometric_noise_schedule(5.0, 0.05, 20)
    pc, _ = predictor_corrector(mixture.score, x0, sigmas, n_corrector=0, generator=torch.Generator().manual_seed(2))
    sde, _ = reverse_diffusion(mixture.score, x0, sigmas, generator=torch.Generator().manual_seed(2))
    assert torch.equal(pc, sde)


def test_the_corrector_repairs_the_coarse_predictor():
    # 20 levels: the reverse SDE alone leaves the heavy mode too wide (variance 0.32 against the exact
    # s² + σ_L² = 0.2525); two Langevin corrector steps per level bring it within 0.03. The standard error of
    # a variance from 3200 2-D points is about 0.25 · √(2/6400) = 0.0044, so the gap tested is many of them.
    from ebmlib.score import predictor_corrector, ve_forward

    means = torch.tensor([[-2.0, -2.0], [2.0, 2.0]])
    mixture = GaussianMixture(means, 0.5, torch.tensor([0.2, 0.8]))
    g = torch.Generator().manual_seed(0)
    x0 = ve_forward(mixture.sample(4000, generator=g), 5.0, generator=g)
    sigmas = geometric_noise_schedule(5.0, 0.05, 20)

    def heavy_mode_variance(n_corrector):
        x, _ = predictor_corrector(mixture.score, x0, sigmas, n_corrector=n_corrector, snr=0.3, denoise=False,
                                   generator=torch.Generator().manual_seed(1))
        return float(x[torch.cdist(x, means).argmin(1) == 1].var(0).mean())

    exact = 0.25 + 0.05**2
    plain, corrected = heavy_mode_variance(0), heavy_mode_variance(2)
    assert plain - exact > 10 * 0.0044
    assert abs(corrected - exact) < 0.03 and abs(corrected - exact) < (plain - exact) - 5 * 0.0044


@pytest.mark.parametrize("kwargs, name", [({"snr": 0.0}, "snr"), ({"snr": float("nan")}, "snr"), ({"n_corrector": -1}, "n_corrector")])
def test_predictor_corrector_refuses_bad_arguments_naming_them(kwargs, name):
    from ebmlib.score import predictor_corrector

    with pytest.raises(ValueError, match=name):
        predictor_corrector(lambda y, s: -y, torch.zeros(3, 2), torch.tensor([1.0, 0.1]), **kwargs)
