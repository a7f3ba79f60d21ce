"""Tests of ebmlib.dbm: exact sums against brute force, the mean-field fixed point and bound, Gibbs, pretraining."""

import pytest
import torch

from ebmlib.datasets import bars_and_stripes
from ebmlib.dbm import DBM, joint_gradient
from ebmlib.rbm import RBM, binary_states


def random_dbm(sizes, seed, scale=1.0):
    """A DBM with N(0, scale^2) weights and biases, in float64, far from uniform."""
    g = torch.Generator().manual_seed(seed)
    dbm = DBM(sizes, g, dtype=torch.float64)
    dbm.W = [scale * torch.randn(w.shape, generator=g, dtype=torch.float64) for w in dbm.W]
    dbm.b = [scale * torch.randn(b.shape, generator=g, dtype=torch.float64) for b in dbm.b]
    return dbm


def brute_force(dbm):
    """Every joint state, split into layers, and its energy."""
    states = binary_states(sum(dbm.sizes), dtype=torch.float64)
    layers = list(states.split(dbm.sizes, dim=1))
    return layers, dbm.energy(layers)


@pytest.mark.parametrize("sizes", [[4, 3, 2], [3, 4, 2, 3], [5, 3]])
def test_exact_log_z_and_free_energy_equal_brute_force_enumeration(sizes):
    dbm = random_dbm(sizes, seed=len(sizes))
    layers, energies = brute_force(dbm)
    assert torch.allclose(dbm.log_partition(), torch.logsumexp(-energies, dim=0), rtol=0, atol=1e-10)
    v = binary_states(sizes[0], dtype=torch.float64)
    index = (layers[0] * 2 ** torch.arange(sizes[0])).sum(1).long()  # which v each joint state holds
    brute_free_energy = torch.stack([-torch.logsumexp(-energies[index == k], dim=0) for k in range(len(v))])
    assert torch.allclose(dbm.free_energy(v), brute_free_energy, rtol=0, atol=1e-10)
    assert abs(torch.logsumexp(dbm.log_likelihood(v), dim=0).item()) < 1e-10


def test_mean_field_fixed_point_satisfies_its_equations():
    dbm = random_dbm([6, 5, 4, 3], seed=1)
    v = binary_states(6, dtype=torch.float64)
    mu1, mu2, mu3 = dbm.mean_field(v, n_steps=500, tol=1e-12)
    W, b = dbm.W, dbm.b
    assert torch.allclose(mu1, torch.sigmoid(b[1] + v @ W[0] + mu2 @ W[1].T), atol=1e-10)
    assert torch.allclose(mu2, torch.sigmoid(b[2] + mu1 @ W[1] + mu3 @ W[2].T), atol=1e-10)
    assert torch.allclose(mu3, torch.sigmoid(b[3] + mu2 @ W[2]), atol=1e-10)


def test_mean_field_bound_minus_exact_log_z_is_at_most_exact_log_p():
    dbm = random_dbm([5, 4, 3], seed=2, scale=1.5)
    v = binary_states(5, dtype=torch.float64)
    log_p = dbm.log_likelihood(v)
    bound = dbm.elbo(v) - dbm.log_partition()
    assert (bound <= log_p + 1e-12).all()
    assert (log_p - bound).max() > 1e-3  # the posterior does not factorise: the bound is not tight


def test_mean_field_maximises_the_bound_over_other_factorised_posteriors():
    dbm = random_dbm([5, 4, 3], seed=3)
    v = binary_states(5, dtype=torch.float64)
    best = dbm.elbo(v)
    g = torch.Generator().manual_seed(4)
    for _ in range(5):
        other = [torch.rand(len(v), n, generator=g, dtype=torch.float64) for n in (4, 3)]
        assert (dbm.elbo(v, other) <= best + 1e-10).all()


def test_with_one_hidden_layer_mean_field_is_exact_and_matches_the_rbm():
    dbm = random_dbm([6, 4], seed=5)
    rbm = RBM.from_parameters(dbm.W[0], dbm.b[0], dbm.b[1])
    v = binary_states(6, dtype=torch.float64)
    assert torch.allclose(dbm.elbo(v), -rbm.free_energy(v), atol=1e-12)  # q = p(h | v) exactly
    assert torch.allclose(dbm.log_partition(), rbm.log_partition(), atol=1e-12)
    assert torch.allclose(dbm.mean_field(v)[0], rbm.p_h_given_v(v), atol=1e-12)


def test_gibbs_chains_reach_the_exact_visible_marginal():
    dbm = random_dbm([3, 2, 2], seed=6)
    samples = dbm.sample(20000, k=30, generator=torch.Generator().manual_seed(7))
    assert [s.shape for s in samples] == [(20000, 3), (20000, 2), (20000, 2)]
    counts = torch.bincount((samples[0] * torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)).sum(1).long(), minlength=8)
    p = dbm.log_likelihood(binary_states(3, dtype=torch.float64)).exp()
    stderr = (p * (1 - p) / 20000).sqrt()
    assert ((counts / 20000 - p).abs() < 5 * stderr).all(), (counts / 20000, p)


def test_clamped_gibbs_keeps_the_visible_layer_and_leaves_the_input_alone():
    dbm = random_dbm([4, 3, 2], seed=8)
    g = torch.Generator().manual_seed(9)
    layers = [torch.ones(6, 4, dtype=torch.float64), torch.zeros(6, 3, dtype=torch.float64), torch.zeros(6, 2, dtype=torch.float64)]
    out = dbm.gibbs(layers, 5, clamp_visible=True, generator=g)
    assert torch.equal(out[0], layers[0])
    assert torch.equal(layers[1], torch.zeros(6, 3, dtype=torch.float64))


def test_greedy_pretraining_raises_the_exact_log_likelihood_of_bars_and_stripes():
    data = bars_and_stripes(size=3).double()
    dbm = DBM([9, 12, 6], torch.Generator().manual_seed(1), dtype=torch.float64)
    before = dbm.log_likelihood(data).mean().item()
    dbm.pretrain(data.repeat(20, 1), epochs=100, batch_size=10, lr=0.1, progress=False)
    after = dbm.log_likelihood(data).mean().item()
    assert before < -6.2 and after > before + 1.5, (before, after)
    assert [w.shape for w in dbm.W] == [(9, 12), (12, 6)] and [b.shape for b in dbm.b] == [(9,), (12,), (6,)]


def test_pretraining_works_with_three_hidden_layers():
    data = bars_and_stripes(size=3).double()
    g = torch.Generator().manual_seed(2)
    dbm = DBM([9, 6, 5, 4], g, dtype=torch.float64).pretrain(data, epochs=2, batch_size=7, lr=0.1, progress=False)
    assert all(torch.isfinite(w).all() for w in dbm.W)
    assert torch.isfinite(dbm.log_partition())


def test_bad_input_raises_value_error():
    with pytest.raises(ValueError, match="sizes"):
        DBM([4])
    with pytest.raises(ValueError, match=r"sizes\[1\]"):
        DBM([4, 0, 2])
    dbm = DBM([4, 3, 2])
    with pytest.raises(ValueError, match="binary"):
        dbm.mean_field(torch.full((2, 4), 0.5))
    with pytest.raises(ValueError, match="4 columns"):
        dbm.elbo(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="layers"):
        dbm.energy([torch.zeros(2, 4), torch.zeros(2, 3)])
    with pytest.raises(ValueError, match="use AIS"):
        DBM([20, 30, 10]).log_partition()
    with pytest.raises(ValueError, match="method"):
        dbm.log_partition("ais")


def test_joint_gradient_is_minus_the_gradient_of_the_energy_difference():
    # ΔW_l, Δb_l = ∇θ (<-E>_pos - <-E>_neg); the energy is linear in θ, so autograd gives them exactly.
    dbm = random_dbm([4, 3, 2], seed=7)
    g = torch.Generator().manual_seed(8)
    positive = [torch.rand(5, n, generator=g, dtype=torch.float64) for n in dbm.sizes]  # means, as mean field gives
    negative = [torch.bernoulli(torch.full((3, n), 0.5, dtype=torch.float64), generator=g) for n in dbm.sizes]
    leaves = [p.clone().requires_grad_(True) for p in (*dbm.W, *dbm.b)]
    dbm.W, dbm.b = leaves[:2], leaves[2:]
    energy = lambda layers: -sum(x @ b for x, b in zip(layers, dbm.b)) - sum(((x @ W) * y).sum(-1) for x, W, y in zip(layers, dbm.W, layers[1:]))
    expected = torch.autograd.grad(-energy(positive).mean() + energy(negative).mean(), leaves)
    dW, db = joint_gradient(positive, negative)
    assert dW[-1] is None
    for got, want in zip([*dW[:-1], *db], expected):
        assert torch.allclose(got, want, atol=1e-12)


def test_joint_training_after_pretraining_raises_the_exact_log_likelihood_of_bars_and_stripes():
    data = bars_and_stripes(size=3).double()
    dbm = DBM([9, 12, 6], torch.Generator().manual_seed(10), dtype=torch.float64)
    dbm.pretrain(data.repeat(20, 1), epochs=100, batch_size=10, lr=0.1, progress=False)
    pretrained = dbm.log_likelihood(data).mean().item()
    g = torch.Generator().manual_seed(13)
    for lr in (0.02, 0.01):
        dbm.fit(data, n_steps=400, batch_size=14, lr=lr, n_chains=200, generator=g)
    jointly = dbm.log_likelihood(data).mean().item()
    assert dbm.chains is not None and [x.shape for x in dbm.chains] == [(200, 9), (200, 12), (200, 6)]
    assert jointly > pretrained + 0.3, (pretrained, jointly)


def test_fit_rejects_bad_arguments_by_name():
    dbm, data = DBM([4, 3, 2]), torch.zeros(3, 4)
    with pytest.raises(ValueError, match="lr"):
        dbm.fit(data, n_steps=1, batch_size=2, lr=-0.1)
    with pytest.raises(ValueError, match="n_chains"):
        dbm.fit(data, n_steps=1, batch_size=2, lr=0.1, n_chains=0)
    with pytest.raises(ValueError, match="binary"):
        dbm.fit(torch.full((3, 4), 0.5), n_steps=1, batch_size=2, lr=0.1)
    with pytest.raises(ValueError, match="layers_pos and layers_neg"):
        joint_gradient([data], [data, data])
