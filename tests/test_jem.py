"""Tests of ebmlib.jem: the energies read from the logits, p(y|x) as a softmax, a short run, AUROC, bad input."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch import nn

from ebmlib.training import ReplayBuffer, uniform_init
from ebmlib.datasets import scaled_digits
from ebmlib.jem import JEM, auroc, train_jem
from ebmlib.nets import ConvNet8x8


class FixedLogits(nn.Module):
    """A 'classifier' with logits x @ W for a fixed W (one parameter, so dtypes and devices follow it)."""

    def __init__(self, weight):
        super().__init__()
        self.weight = nn.Parameter(torch.as_tensor(weight, dtype=torch.float64))

    def forward(self, x):
        return x.flatten(1) @ self.weight  # (n, K)


def random_jem(seed=0, n_in=4, n_classes=5):
    g = torch.Generator().manual_seed(seed)
    return JEM(FixedLogits(3 * torch.randn(n_in, n_classes, dtype=torch.float64, generator=g)))


def test_marginal_energy_is_minus_logsumexp_of_the_logits():
    # Logits (0, log 3): E(x) = -log(1 + 3) = -log 4, written out by hand.
    jem = JEM(FixedLogits([[0.0, math.log(3.0)]]))
    assert float(jem(torch.ones(1, 1, dtype=torch.float64)).detach()) == pytest.approx(-math.log(4.0), rel=1e-15)
    # Random logits: E(x) = -log Σ_y exp(-E(x, y)), summed term by term in float64.
    jem = random_jem()
    x = torch.randn(50, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    logits = x @ jem.classifier.weight
    by_hand = -torch.log(torch.exp(logits).sum(1))
    torch.testing.assert_close(jem(x), by_hand, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(jem(x), -torch.log(torch.exp(-jem.energy(x)).sum(1)), rtol=1e-12, atol=1e-12)


def test_marginal_energy_is_stable_for_huge_logits():
    jem = JEM(FixedLogits([[1000.0, 1000.0]]))
    assert float(jem(torch.ones(1, 1, dtype=torch.float64)).detach()) == pytest.approx(-1000.0 - math.log(2.0), rel=1e-15)


def test_energy_of_a_label_is_minus_its_logit():
    jem = random_jem(2)
    x = torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    y = torch.tensor([0, 4, 2, 2, 1, 3])
    logits = x @ jem.classifier.weight
    torch.testing.assert_close(jem.energy(x, y), -logits[torch.arange(6), y], rtol=0, atol=0)
    torch.testing.assert_close(jem.energy(x), -logits, rtol=0, atol=0)


def test_conditional_from_the_energies_is_the_softmax_of_the_logits():
    # p(y|x) = exp(-E(x, y)) / exp(-E(x)) = exp(-E(x, y) + E(x)): Z cancels, the classifier is recovered.
    jem = random_jem(4)
    x = torch.randn(40, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    from_energies = torch.exp(-jem.energy(x) + jem(x)[:, None])  # (40, 5)
    softmax = torch.softmax(x @ jem.classifier.weight, dim=1)
    torch.testing.assert_close(from_energies, softmax, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(from_energies.sum(1), torch.ones(40, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(jem.log_conditional(x), torch.log(softmax), rtol=1e-12, atol=1e-12)


def test_loss_is_cross_entropy_plus_the_energy_difference():
    jem = random_jem(6)
    g = torch.Generator().manual_seed(7)
    x, x_neg = torch.randn(8, 4, dtype=torch.float64, generator=g), torch.randn(5, 4, dtype=torch.float64, generator=g)
    y = torch.randint(5, (8,), generator=g)
    logits, logits_neg = x @ jem.classifier.weight, x_neg @ jem.classifier.weight
    cross_entropy = -torch.log_softmax(logits, 1)[torch.arange(8), y].mean()
    e_pos, e_neg = -torch.logsumexp(logits, 1), -torch.logsumexp(logits_neg, 1)
    loss, record = jem.loss(x, y, x_neg, generative_weight=0.5, regularization=0.1)
    expected = cross_entropy + 0.5 * (e_pos.mean() - e_neg.mean() + 0.1 * (e_pos.square().mean() + e_neg.square().mean()))
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(record["cross_entropy"], cross_entropy, rtol=1e-12, atol=1e-12)
    plain, _ = jem.loss(x, y, generative_weight=0.0)
    torch.testing.assert_close(plain, F.cross_entropy(logits, y), rtol=1e-12, atol=1e-12)


def test_conditional_sampling_lowers_the_energy_of_the_chosen_class():
    # Nearly noiseless SGLD on E(x, y) = -x·W[:, y], a linear energy: after k steps of drift a,
    # x = x0 + k a W[:, y] exactly.
    jem = random_jem(8)
    x0 = torch.zeros(5, 4, dtype=torch.float64)
    y = torch.arange(5)
    # with noise σ = 1e-9 the three steps are gradient descent up to |σ Σz| < 1e-7
    x = jem.conditional_samples(y, x0, 3, 0.1, 1e-9, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(x, 0.3 * jem.classifier.weight.detach().T, rtol=0, atol=1e-7)


def test_a_short_jem_run_beats_chance_and_lowers_the_energy_of_data_below_noise():
    g = torch.Generator().manual_seed(0)
    x_train, y_train, x_test, y_test = scaled_digits(360, generator=g)
    jem = JEM(ConvNet8x8(10, channels=(8, 16), hidden=32, generator=torch.Generator().manual_seed(0)), event_shape=(1, 8, 8))
    noise = uniform_init((1, 8, 8))(360, generator=g)
    buffer = ReplayBuffer(500, uniform_init((1, 8, 8)), reinit_fraction=0.05, generator=g)
    history = train_jem(jem, x_train, y_train, 80, buffer=buffer, batch_size=64, lr=3e-3, sgld_steps=5,
                        drift=1.0, noise_scale=0.01, generator=g, progress=False)  # fmt: skip
    assert history["stopped"] is None and len(history["loss"]) == 80
    # chance is 0.1; with 360 test images its standard error is 0.016, so 0.5 is far above chance
    accuracy = jem.accuracy(x_test, y_test)
    assert accuracy > 0.5, accuracy
    with torch.no_grad():
        e_data, e_noise = jem(x_test), jem(noise)
    assert float(e_data.mean()) < float(e_noise.mean()), (e_data.mean(), e_noise.mean())
    assert auroc(-e_data, -e_noise) > 0.9


def test_auroc_equals_sklearn_roc_auc_score_with_ties():
    g = torch.Generator().manual_seed(9)
    s_in = torch.randint(0, 6, (70,), generator=g).double()  # many ties
    s_out = torch.randint(0, 4, (50,), generator=g).double()
    expected = roc_auc_score([1] * 70 + [0] * 50, torch.cat([s_in, s_out]).numpy())
    assert auroc(s_in, s_out) == pytest.approx(expected, rel=1e-12)
    assert auroc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 1.0
    assert auroc(torch.tensor([0.0]), torch.tensor([1.0])) == 0.0
    assert auroc(torch.tensor([1.0]), torch.tensor([1.0])) == 0.5


def test_images_of_the_wrong_size_are_refused_naming_x():
    jem = JEM(ConvNet8x8(10, channels=(4, 8), hidden=16), event_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="x must have shape"):
        jem(torch.zeros(3, 1, 7, 7))
    with pytest.raises(ValueError, match="x must have shape"):
        jem.logits(torch.zeros(3, 64))
    with pytest.raises(ValueError, match="x must have shape"):
        JEM(ConvNet8x8(10))(torch.zeros(2, 1, 8, 9))  # the network checks too
    with pytest.raises(ValueError, match="x must have shape"):
        train_jem(jem, torch.zeros(10, 1, 28, 28), torch.zeros(10, dtype=torch.int64), 1, generative_weight=0.0)


def test_bad_labels_data_and_buffers_are_refused_naming_the_argument():
    jem = JEM(ConvNet8x8(10, channels=(4, 8), hidden=16), event_shape=(1, 8, 8))
    x = torch.zeros(4, 1, 8, 8)
    with pytest.raises(ValueError, match="y must lie"):
        jem.loss(x, torch.tensor([0, 1, 2, 10]), generative_weight=0.0)
    with pytest.raises(ValueError, match="y must be integer labels"):
        jem.loss(x, torch.zeros(4), generative_weight=0.0)
    with pytest.raises(ValueError, match="x_neg"):
        jem.loss(x, torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ValueError, match="x must be finite"):
        train_jem(jem, torch.full((4, 1, 8, 8), float("nan")), torch.zeros(4, dtype=torch.int64), 1)
    with pytest.raises(TypeError, match="buffer"):
        train_jem(jem, x, torch.zeros(4, dtype=torch.int64), 1)
    with pytest.raises(ValueError, match="buffer"):
        train_jem(jem, x, torch.zeros(4, dtype=torch.int64), 1, buffer=ReplayBuffer(8, uniform_init((64,))))
    with pytest.raises(ValueError, match="scores_in"):
        auroc(torch.tensor([float("nan")]), torch.tensor([0.0]))
