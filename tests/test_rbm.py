"""Tests of ebmlib.rbm: energies and log Z against enumeration, scikit-learn and hand computations."""

import math

import numpy as np
import pytest
import torch
from sklearn.neural_network import BernoulliRBM

from ebmlib.datasets import bars_and_stripes
from ebmlib.rbm import RBM, binary_states, free_energy, sample_bernoulli


def random_rbm(n_visible, n_hidden, seed, scale=1.0, dtype=torch.float64):
    """An RBM with N(0, scale^2) weights and biases, so that its distribution is far from uniform."""
    g = torch.Generator().manual_seed(seed)
    W = scale * torch.randn(n_visible, n_hidden, generator=g, dtype=dtype)
    b = scale * torch.randn(n_visible, generator=g, dtype=dtype)
    c = scale * torch.randn(n_hidden, generator=g, dtype=dtype)
    return RBM.from_parameters(W, b, c, generator=g)


def joint_log_z(rbm):
    """log Z by brute force over every (v, h) pair, from the energy alone."""
    v = binary_states(rbm.n_visible, dtype=torch.float64)
    h = binary_states(rbm.n_hidden, dtype=torch.float64)
    pairs_v = v.repeat_interleave(len(h), dim=0)
    pairs_h = h.repeat(len(v), 1)
    return torch.logsumexp(-rbm.energy(pairs_v, pairs_h), dim=0)


def test_exact_log_z_summing_over_visible_states_equals_summing_over_hidden_states():
    for n_visible, n_hidden, seed in [(9, 5, 0), (6, 11, 1), (12, 12, 2)]:
        rbm = random_rbm(n_visible, n_hidden, seed)
        over_hidden = rbm.log_partition(sum_over="hidden")
        over_visible = rbm.log_partition(sum_over="visible")
        assert over_hidden.dtype == torch.float64
        assert torch.allclose(over_hidden, over_visible, rtol=0, atol=1e-10)
        assert torch.equal(rbm.log_partition(), over_hidden if n_hidden <= n_visible else over_visible)


def test_exact_log_z_equals_the_brute_force_sum_over_every_joint_state():
    rbm = random_rbm(5, 4, seed=3)
    assert torch.allclose(rbm.log_partition(), joint_log_z(rbm), rtol=0, atol=1e-10)


def test_exact_log_z_is_stable_for_large_weights():
    rbm = random_rbm(8, 6, seed=4, scale=60.0)  # exp(-E) overflows float64 without log-sum-exp
    log_z = rbm.log_partition()
    assert torch.isfinite(log_z)
    assert torch.allclose(log_z, joint_log_z(rbm), rtol=1e-12)


def test_free_energy_equals_minus_log_sum_over_hidden_states():
    rbm = random_rbm(6, 5, seed=5)
    v = binary_states(6, dtype=torch.float64)
    h = binary_states(5, dtype=torch.float64)
    energies = torch.stack([rbm.energy(v, h_row.expand(len(v), -1)) for h_row in h], dim=1)  # (64, 32)
    assert torch.allclose(rbm.free_energy(v), -torch.logsumexp(-energies, dim=1), rtol=0, atol=1e-12)


def test_log_likelihood_sums_to_one_over_every_visible_state():
    rbm = random_rbm(7, 4, seed=6)
    log_p = rbm.log_likelihood(binary_states(7, dtype=torch.float64))
    assert abs(torch.logsumexp(log_p, dim=0).item()) < 1e-12


def sklearn_rbm(rbm):
    """scikit-learn's BernoulliRBM holding the same parameters: components_ = W^T."""
    model = BernoulliRBM(n_components=rbm.n_hidden, random_state=7)
    model.components_ = rbm.W.T.numpy().copy()
    model.intercept_visible_ = rbm.b.numpy().copy()
    model.intercept_hidden_ = rbm.c.numpy().copy()
    model.n_features_in_ = rbm.n_visible
    return model


def test_free_energy_and_pseudo_likelihood_agree_with_sklearn():
    rbm = random_rbm(20, 7, seed=8)
    v = bars_and_stripes(50, size=4, generator=torch.Generator().manual_seed(9)).double()
    v = torch.cat([v, torch.zeros(50, 4, dtype=torch.float64)], dim=1)  # 20 visible units
    model = sklearn_rbm(rbm)
    assert np.allclose(rbm.free_energy(v).numpy(), model._free_energy(v.numpy()), rtol=0, atol=1e-12)
    # score_samples flips bit RandomState(random_state).randint(0, n_features, n_samples)[i] of row i
    index = torch.as_tensor(np.random.RandomState(7).randint(0, 20, 50))
    ours = rbm.pseudo_likelihood(v, index=index).numpy()
    assert np.allclose(ours, model.score_samples(v.numpy()), rtol=0, atol=1e-10)


def test_pseudo_likelihood_estimates_the_sum_of_exact_conditionals():
    rbm = random_rbm(6, 3, seed=10)
    v = binary_states(6, dtype=torch.float64)
    log_p = rbm.log_likelihood(v)
    # log p(v_i | v_-i) = log p(v) - log(p(v) + p(v with bit i flipped)), by enumeration
    index_of = lambda x: (x * 2 ** torch.arange(6)).sum(1).long()  # noqa: E731  row k of binary_states has bits of k
    exact = torch.zeros(len(v), dtype=torch.float64)
    for i in range(6):
        flipped = v.clone()
        flipped[:, i] = 1 - flipped[:, i]
        exact += log_p - torch.logaddexp(log_p, log_p[index_of(flipped)])
    assert torch.allclose(rbm.pseudo_likelihood(v, index="all"), exact, rtol=0, atol=1e-12)
    # the one-flip estimate n_v log p(v_i | v_-i), averaged over every i, is the exact sum
    each = [rbm.pseudo_likelihood(v, index=torch.full((len(v),), i)) for i in range(6)]
    assert torch.allclose(torch.stack(each).mean(0), exact, rtol=0, atol=1e-12)


def test_conditionals_match_the_joint_distribution_by_enumeration():
    rbm = random_rbm(4, 3, seed=11)
    v = binary_states(4, dtype=torch.float64)
    h = binary_states(3, dtype=torch.float64)
    log_joint = torch.stack([-rbm.energy(v, h_row.expand(len(v), -1)) for h_row in h], dim=1)  # (16, 8)
    p_h_given_v = torch.softmax(log_joint, dim=1) @ h  # E[h | v] = p(h_j = 1 | v)
    p_v_given_h = torch.softmax(log_joint, dim=0).T @ v
    assert torch.allclose(rbm.p_h_given_v(v), p_h_given_v, atol=1e-12)
    assert torch.allclose(rbm.p_v_given_h(h), p_v_given_h, atol=1e-12)


def test_gibbs_chains_reach_the_exact_distribution():
    rbm = random_rbm(3, 2, seed=12)
    v = torch.zeros(20000, 3, dtype=torch.float64)
    samples = rbm.gibbs(v, 30, generator=torch.Generator().manual_seed(13))
    counts = torch.bincount((samples * torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)).sum(1).long(), minlength=8)
    p = rbm.log_likelihood(binary_states(3, dtype=torch.float64)).exp()
    stderr = (p * (1 - p) / 20000).sqrt()
    assert ((counts / 20000 - p).abs() < 5 * stderr).all(), (counts / 20000, p)


def test_gibbs_returns_the_chain_and_is_reproducible():
    rbm = random_rbm(5, 3, seed=14)
    v = torch.ones(4, 5, dtype=torch.float64)
    chain = rbm.gibbs(v, 6, generator=torch.Generator().manual_seed(1), return_chain=True)
    assert chain.shape == (4, 6, 5)
    assert torch.equal(chain[:, -1], rbm.gibbs(v, 6, generator=torch.Generator().manual_seed(1)))
    assert torch.equal(v, torch.ones(4, 5, dtype=torch.float64))  # the input is not modified


def test_gradient_is_minus_the_gradient_of_the_free_energy_difference():
    rbm = random_rbm(6, 4, seed=15)
    g = torch.Generator().manual_seed(16)
    v_pos = sample_bernoulli(torch.full((7, 6), 0.5, dtype=torch.float64), g)
    v_neg = sample_bernoulli(torch.full((5, 6), 0.3, dtype=torch.float64), g)
    params = [p.clone().requires_grad_(True) for p in (rbm.W, rbm.b, rbm.c)]
    objective = -(free_energy(v_pos, *params).mean() - free_energy(v_neg, *params).mean())
    expected = torch.autograd.grad(objective, params)
    for got, want in zip(rbm.gradient(v_pos, v_neg), expected):
        assert torch.allclose(got, want, atol=1e-12)


def test_cd1_update_equals_a_hand_computation_when_every_unit_is_certain():
    # Weights of +-30 make sigmoid 1 - 9e-14 or 9e-14: every draw is determined (a flip has chance < 1e-12).
    W = torch.tensor([[30.0, -30.0], [-30.0, 30.0], [30.0, 30.0]], dtype=torch.float64)
    b = torch.tensor([-15.0, -15.0, 20.0], dtype=torch.float64)
    c = torch.tensor([-15.0, -45.0], dtype=torch.float64)
    rbm = RBM.from_parameters(W, b, c, generator=torch.Generator().manual_seed(0))
    v_pos = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    # By hand: p(h | v_pos) = sigmoid(c + v W) = sigmoid([15, -75]) -> h0 = [1, 0];
    # p(v | h0) = sigmoid(b + W h0) = sigmoid([15, -45, 50]) -> v1 = [1, 0, 1];
    # p(h | v1) = sigmoid(c + v1 W) = sigmoid([45, -45]).
    s = torch.sigmoid
    p_pos = s(torch.tensor([15.0, -75.0], dtype=torch.float64))
    v1 = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    p_neg = s(torch.tensor([45.0, -45.0], dtype=torch.float64))
    lr = 0.1
    expected_W = W + lr * (torch.outer(v_pos[0], p_pos) - torch.outer(v1, p_neg))
    expected_b = b + lr * (v_pos[0] - v1)
    expected_c = c + lr * (p_pos - p_neg)
    h1 = rbm.cd_update(v_pos, lr=lr, k=1)
    assert torch.allclose(rbm.W, expected_W, rtol=0, atol=1e-14)
    assert torch.allclose(rbm.b, expected_b, rtol=0, atol=1e-14)
    assert torch.allclose(rbm.c, expected_c, rtol=0, atol=1e-14)
    assert torch.equal(h1, torch.tensor([[1.0, 0.0]], dtype=torch.float64))


def test_cd1_update_equals_a_hand_computation_with_the_same_uniform_draws():
    rbm = random_rbm(4, 3, seed=17)
    W, b, c = (t.numpy().copy() for t in (rbm.W, rbm.b, rbm.c))
    v_pos = np.array([[1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 1.0, 0.0]])
    # The documented draw order: h0 (2x3), then v1 (2x4), then h1 (2x3), each u < p with u = torch.rand.
    g = torch.Generator().manual_seed(18)
    u_h0, u_v1 = (torch.rand(2, 3, generator=g, dtype=torch.float64).numpy(),
                  torch.rand(2, 4, generator=g, dtype=torch.float64).numpy())
    sigmoid = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    p_pos = sigmoid(v_pos @ W + c)
    h0 = (u_h0 < p_pos).astype(float)
    v1 = (u_v1 < sigmoid(h0 @ W.T + b)).astype(float)
    p_neg = sigmoid(v1 @ W + c)
    lr = 0.5
    rbm.cd_update(torch.tensor(v_pos), lr=lr, k=1, generator=torch.Generator().manual_seed(18))
    assert np.allclose(rbm.W.numpy(), W + lr * (v_pos.T @ p_pos - v1.T @ p_neg) / 2, atol=1e-14)
    assert np.allclose(rbm.b.numpy(), b + lr * (v_pos - v1).mean(0), atol=1e-14)
    assert np.allclose(rbm.c.numpy(), c + lr * (p_pos - p_neg).mean(0), atol=1e-14)


@pytest.mark.parametrize("persistent, epochs, batch_size, lr", [(False, 150, 10, 0.2), (True, 300, 14, 0.1)])
def test_fit_raises_the_exact_log_likelihood_of_bars_and_stripes(persistent, epochs, batch_size, lr):
    data = bars_and_stripes(size=3).double()  # the 14 patterns
    rbm = RBM(9, 8, generator=torch.Generator().manual_seed(19), dtype=torch.float64)
    before = rbm.log_likelihood(data).mean().item()  # -9 log 2 = -6.24 for tiny weights
    rbm.fit(data.repeat(10, 1), epochs=epochs, batch_size=batch_size, lr=lr, persistent=persistent, progress=False)
    after = rbm.log_likelihood(data).mean().item()
    assert before < -6.2 and after > before + 0.8, (before, after)
    assert after <= -math.log(14) + 1e-9  # nothing beats the uniform distribution on the 14 patterns
    if persistent:
        assert rbm.chains.shape == (batch_size, 8)


def test_fit_is_reproducible_with_the_same_generator():
    data = bars_and_stripes(40, size=3, generator=torch.Generator().manual_seed(20))
    fits = [RBM(9, 5, generator=torch.Generator().manual_seed(seed)).fit(data, 3, 8, 0.05, persistent=True, progress=False)
            for seed in (21, 21, 22)]
    assert torch.equal(fits[0].W, fits[1].W) and torch.equal(fits[0].chains, fits[1].chains)
    assert not torch.equal(fits[0].W, fits[2].W)
    assert torch.equal(data, bars_and_stripes(40, size=3, generator=torch.Generator().manual_seed(20)))


def test_float32_agrees_with_float64():
    rbm64 = random_rbm(10, 6, seed=28)
    rbm32 = RBM.from_parameters(rbm64.W.float(), rbm64.b.float(), rbm64.c.float())
    v = binary_states(10)[::7]
    assert rbm32.free_energy(v).dtype == torch.float32
    assert torch.allclose(rbm32.free_energy(v).double(), rbm64.free_energy(v.double()), atol=1e-4)
    assert torch.allclose(rbm32.pseudo_likelihood(v, index="all").double(), rbm64.pseudo_likelihood(v.double(), index="all"), atol=1e-4)
    assert torch.allclose(rbm32.log_partition(), rbm64.log_partition(), atol=1e-4)


def test_ais_lands_within_a_tenth_of_a_nat_of_the_exact_log_z():
    rbm = random_rbm(16, 10, seed=22, scale=0.7)
    exact = rbm.log_partition().item()
    estimate = rbm.log_partition("ais", n_chains=100, betas=500, n_runs=4, generator=torch.Generator().manual_seed(23))
    assert abs(estimate.log_z.item() - exact) < 0.1, (estimate.log_z.item(), exact)
    assert estimate.log_z_runs.shape == (4,) and estimate.log_weights.shape == (4, 100)


def test_ais_estimates_average_at_or_below_the_exact_log_z():
    # Few temperatures make log Z-hat clearly biased low (Jensen), while Z-hat itself stays unbiased.
    rbm = random_rbm(12, 8, seed=24, scale=0.8)
    exact = rbm.log_partition().item()
    estimate = rbm.log_partition("ais", n_chains=20, betas=20, n_runs=200, generator=torch.Generator().manual_seed(25))
    mean, stderr = estimate.log_z_runs.mean().item(), estimate.stderr.item()
    assert mean - exact < 2 * stderr, (mean, exact, stderr)  # at or below the exact value
    ratio = (estimate.log_z_runs - exact).exp()  # Z-hat / Z of each run: its mean is 1
    assert abs(ratio.mean().item() - 1) < 4 * ratio.std().item() / math.sqrt(200)


def test_log_likelihood_with_ais_is_close_to_exact():
    rbm = random_rbm(10, 6, seed=26, scale=0.5)
    v = binary_states(10, dtype=torch.float64)[::37]
    exact = rbm.log_likelihood(v)
    ais = rbm.log_likelihood(v, method="ais", n_chains=50, betas=300, generator=torch.Generator().manual_seed(27))
    assert torch.allclose(ais, exact, atol=0.1)
    assert torch.allclose(rbm.log_likelihood(v, log_z=rbm.log_partition()), exact, rtol=0, atol=0)


@pytest.mark.parametrize("n_visible, n_hidden, name", [(0, 3, "n_visible"), (4, -1, "n_hidden")])
def test_non_positive_sizes_raise_naming_the_size(n_visible, n_hidden, name):
    with pytest.raises(ValueError, match=name):
        RBM(n_visible, n_hidden)


def test_bad_data_raises_value_error():
    rbm = RBM(4, 3)
    with pytest.raises(ValueError, match="binary"):
        rbm.free_energy(torch.tensor([[0.0, 0.5, 1.0, 1.0]]))
    with pytest.raises(ValueError, match="binary"):
        rbm.fit(torch.tensor([[0.0, 2.0, 1.0, 1.0]]), 1, 1, 0.1, progress=False)
    with pytest.raises(ValueError, match="4 columns"):
        rbm.free_energy(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="shape"):
        rbm.free_energy(torch.zeros(4))
    with pytest.raises(ValueError, match="lr"):
        rbm.fit(torch.zeros(2, 4), 1, 1, lr=0.0, progress=False)
    with pytest.raises(ValueError, match="method"):
        rbm.log_partition("mean_field")


def test_exact_log_z_of_too_many_states_raises_and_says_use_ais():
    rbm = RBM(30, 26)  # the smaller layer has 26 units: 2^26 > 2^25 states
    with pytest.raises(ValueError, match="use AIS"):
        rbm.log_partition()
    with pytest.raises(ValueError, match="use AIS"):
        rbm.log_likelihood(torch.zeros(1, 30))


def _gaussian_bernoulli(seed, n_visible=2, n_hidden=3):
    from ebmlib.rbm import GaussianBernoulliRBM

    g = torch.Generator().manual_seed(seed)
    model = GaussianBernoulliRBM(n_visible, n_hidden, g, dtype=torch.float64)
    model.W = torch.randn(n_visible, n_hidden, generator=g, dtype=torch.float64)
    model.b, model.c = torch.randn(n_visible, generator=g, dtype=torch.float64), torch.randn(n_hidden, generator=g, dtype=torch.float64)
    return model


def test_gaussian_bernoulli_log_z_equals_quadrature_of_exp_minus_free_energy():
    # In 2-D, log ∫ e^{-F(v)} dv on a fine grid must give the closed form (the tails beyond ±12 are negligible).
    from ebmlib.partition import log_partition_grid

    model = _gaussian_bernoulli(seed=3)
    quadrature = log_partition_grid(lambda v: model.free_energy(v), ((-12.0, 12.0), (-12.0, 12.0)), 600)
    assert abs(model.log_partition().item() - quadrature.item()) < 1e-6


def test_gaussian_bernoulli_density_is_the_mixture_of_its_hidden_states():
    # p(v) = Σ_h p(h) N(v; b + W h, I), p(h) ∝ exp(cᵀh + bᵀWh + ½‖Wh‖²), written out term by term.
    model = _gaussian_bernoulli(seed=4, n_visible=3, n_hidden=2)
    v = torch.randn(7, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    states = binary_states(2, dtype=torch.float64)
    means = model.b + states @ model.W.T  # (4, 3)
    log_prior = states @ model.c + means @ model.b - 0.5 * model.b.square().sum() + 0.5 * (states @ model.W.T).square().sum(1) \
        - (states @ model.W.T) @ model.b + (states @ model.W.T) @ model.b
    log_prior = log_prior - torch.logsumexp(log_prior, 0)
    log_normal = -0.5 * (v[:, None, :] - means[None]).square().sum(-1) - 1.5 * math.log(2 * math.pi)  # (7, 4)
    expected = torch.logsumexp(log_prior[None] + log_normal, dim=1)
    assert torch.allclose(model.log_likelihood(v), expected, atol=1e-10)


def test_gaussian_bernoulli_gibbs_keeps_the_mixture_moments():
    # Start 20 000 chains at exact draws from p(v); after 5 block Gibbs steps the mean is unchanged within 5 standard errors.
    model = _gaussian_bernoulli(seed=6)
    g = torch.Generator().manual_seed(7)
    states = binary_states(3, dtype=torch.float64)
    shift = states @ model.W.T
    log_prior = states @ model.c + shift @ model.b + 0.5 * shift.square().sum(1)
    h = states[torch.multinomial(torch.softmax(log_prior, 0), 20000, replacement=True, generator=g)]
    v0 = model.mean_v_given_h(h) + torch.randn(20000, 2, generator=g, dtype=torch.float64)
    v5 = model.gibbs(v0, k=5, generator=g)
    exact_mean = torch.softmax(log_prior, 0) @ (model.b + shift)
    error = v0.std(0) / math.sqrt(20000)
    assert ((v5.mean(0) - exact_mean).abs() < 5 * error).all(), (v5.mean(0), exact_mean)


def test_gaussian_bernoulli_cd_raises_the_exact_likelihood_of_clustered_data():
    from ebmlib.rbm import GaussianBernoulliRBM

    g = torch.Generator().manual_seed(8)
    # Four unit-variance clusters at the corners of a square are exactly a Gaussian-Bernoulli RBM with 2 hidden units
    # (centres b, b + W₁, b + W₂, b + W₁ + W₂): CD-1 must reach the true mixture's log-likelihood on the data.
    from ebmlib.energies import GaussianMixture

    centres = 2.0 * torch.tensor([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    x = centres[torch.randint(4, (2000,), generator=g)] + torch.randn(2000, 2, generator=g, dtype=torch.float64)
    truth = GaussianMixture(centres, 1.0).log_prob(x).mean().item()
    model = GaussianBernoulliRBM(2, 2, torch.Generator().manual_seed(9), dtype=torch.float64)
    before = model.log_likelihood(x).mean().item()
    model.fit(x, epochs=40, batch_size=50, lr=0.05)
    after = model.log_likelihood(x).mean().item()
    assert before < truth - 2 and abs(after - truth) < 0.02, (before, after, truth)
    with pytest.raises(ValueError, match="lr"):
        model.fit(x, epochs=1, batch_size=50, lr=0.0)
    with pytest.raises(ValueError, match="v must have shape"):
        model.free_energy(torch.zeros(3, 5))
