"""Tests of ebmlib.training.neural_ebm: the regularised loss, buffer negatives, a short 2-D run, the clean stop on NaN."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ebmlib.losses import contrastive_loss
from ebmlib.training import ReplayBuffer, fit, persistent_sgld, train_ebm, uniform_init
from ebmlib.energies import GaussianMixture
from ebmlib.nets import MLPEnergy


class Quadratic(nn.Module):
    """E(x) = ½ θ ‖x - μ‖², with a switch that makes it return NaN from a given forward call on."""

    def __init__(self, nan_from_call=None):
        super().__init__()
        self.mu = nn.Parameter(torch.zeros(2))
        self.log_precision = nn.Parameter(torch.zeros(()))
        self.calls, self.nan_from_call = 0, nan_from_call

    def forward(self, x):
        self.calls += 1
        e = 0.5 * self.log_precision.exp() * (x - self.mu).square().sum(1)
        if self.nan_from_call is not None and self.calls >= self.nan_from_call:
            e = e * float("nan")
        return e


def energy_loss(e_pos, e_neg, alpha=0.0):
    """The contrastive loss of given energies: the energy x -> x[:, 0] evaluated at them."""
    return contrastive_loss(lambda x: x[:, 0], e_pos[:, None], e_neg[:, None], regularization=alpha)


def test_contrastive_loss_is_positive_minus_negative_phase_plus_the_penalty():
    e_pos, e_neg = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([3.0, 1.0])
    # means -1/6 and 2; mean squares 5.25/3 = 1.75 and 5
    assert float(energy_loss(e_pos, e_neg)) == pytest.approx(-1 / 6 - 2)
    assert float(energy_loss(e_pos, e_neg, 0.1)) == pytest.approx(-1 / 6 - 2 + 0.1 * (1.75 + 5.0))


def test_energy_penalty_fixes_the_energies_at_minus_and_plus_one_over_twice_alpha():
    # For free energy values, (e⁺ - e⁻) + α(e⁺² + e⁻²) is smallest at e⁺ = -1/(2α), e⁻ = +1/(2α).
    alpha = 0.25
    e = torch.zeros(2, dtype=torch.float64)
    x_pos, x_neg = torch.zeros(1, 1, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64)  # state 0 and state 1
    for _ in range(200):  # gradient descent; the loss is a convex quadratic
        e.requires_grad_(True)
        loss = contrastive_loss(lambda x: e[x[:, 0].long()], x_pos, x_neg, regularization=alpha)  # E(state k) = e_k
        (grad,) = torch.autograd.grad(loss, e)
        e = (e - 0.5 * grad).detach()
    torch.testing.assert_close(e, torch.tensor([-2.0, 2.0], dtype=torch.float64))


def test_persistent_sgld_writes_the_moved_negatives_back_into_the_drawn_rows():
    g = torch.Generator().manual_seed(0)
    buffer = ReplayBuffer(50, uniform_init((2,), -3, 3), reinit_fraction=0.0, generator=g)
    before = buffer.samples.clone()
    state = torch.Generator().manual_seed(1)
    x_neg = persistent_sgld(Quadratic(), buffer, 20, 5, 0.1, 0.01, generator=state)
    # replay the draw: the same rows, moved by the same SGLD run
    index = torch.randint(50, (20,), generator=torch.Generator().manual_seed(1))
    once = torch.tensor([int((index == i).sum()) == 1 for i in index])  # a row drawn twice keeps its last write
    assert once.sum() > 10
    assert torch.equal(buffer.samples[index[once]], x_neg[once])
    untouched = torch.ones(50, dtype=torch.bool)
    untouched[index] = False
    assert torch.equal(buffer.samples[untouched], before[untouched])
    # SGLD on ½‖x‖² with a = 0.1 pulls the chains toward 0
    assert float(x_neg.norm(dim=1).mean()) < float(before[index].norm(dim=1).mean())


def test_a_short_run_on_four_gaussians_puts_data_below_the_rest_of_the_box():
    g = torch.Generator().manual_seed(0)
    means = torch.tensor([[1.5, 1.5], [-1.5, 1.5], [-1.5, -1.5], [1.5, -1.5]])
    data = GaussianMixture(means, 0.3).sample(1000, generator=g)
    energy = MLPEnergy(2, 32, 2, generator=torch.Generator().manual_seed(0))
    buffer = ReplayBuffer(300, uniform_init((2,), -3.5, 3.5), reinit_fraction=0.05, generator=g)
    history = train_ebm(energy, data, buffer, 200, batch_size=64, lr=5e-3, sgld_steps=5, drift=0.05,
                        noise_scale=0.05, regularization=0.01, generator=g, progress=False)  # fmt: skip
    assert history["stopped"] is None and len(history["energy_pos"]) == 200
    with torch.no_grad():
        e_data = energy(data)
        e_centre = energy(torch.zeros(1, 2))  # the hole between the four modes
        e_box = energy(uniform_init((2,), -3.5, 3.5)(1000, generator=g))
    assert float(e_data.mean()) < float(e_box.mean()) and float(e_data.mean()) < float(e_centre)
    # the buffer has moved toward the data: uniform on the box, 4π/49 ≈ 26% of it would lie within 1 of a mode
    distance = torch.cdist(buffer.samples, means).min(1).values
    assert float((distance < 1.0).double().mean()) > 0.45


def test_training_stops_cleanly_and_keeps_the_last_good_state_when_energies_become_nan():
    # Every step calls the energy 1 + 4 (SGLD: the start, then every step but the last, whose move
    # needs no gradient at its end) + 2 (loss) = 7 times; call 38 falls in step 6's SGLD (calls 36-40).
    energy = Quadratic(nan_from_call=38)
    g = torch.Generator().manual_seed(2)
    data = torch.randn(100, 2, generator=g) + 1.0
    buffer = ReplayBuffer(64, uniform_init((2,), -3, 3), generator=g)
    states = {0: {k: v.clone() for k, v in energy.state_dict().items()}}

    def record(step, model, history):
        states[step] = {k: v.clone() for k, v in model.state_dict().items()}

    buffer_before_stop = {}

    def keep_buffer(step, model, history):
        record(step, model, history)
        buffer_before_stop["samples"] = buffer.samples.clone()

    with pytest.warns(RuntimeWarning, match="training stopped at step 6: .*Langevin chain.* diverged"):
        history = train_ebm(energy, data, buffer, 50, batch_size=16, sgld_steps=5, drift=0.1, noise_scale=0.1,
                            lr=0.05, generator=g, progress=False, callback=keep_buffer)  # fmt: skip
    assert history["stopped"].startswith("training stopped at step 6")
    assert len(history["loss"]) == 5
    # the parameters at which step 5 was evaluated (all finite): those after step 4's update
    for key, value in energy.state_dict().items():
        assert torch.equal(value, states[4][key]), key
    assert torch.isfinite(buffer.samples).all()
    assert torch.equal(buffer.samples, buffer_before_stop["samples"])  # nothing non-finite written back


def test_a_non_finite_loss_stops_the_loop_too():
    model = Quadratic()
    calls = []

    def loss_fn(m, batch):
        calls.append(1)
        e = m(batch).mean()
        return (e if len(calls) < 3 else e * float("inf")), {}

    with pytest.warns(RuntimeWarning, match="step 3: the loss is not finite"):
        history = fit(model, loss_fn, torch.randn(10, 2), 10, 4, 0.1, progress=False, on_nonfinite="stop")
    assert len(history["loss"]) == 2


def test_same_seed_same_run():
    def run():
        g = torch.Generator().manual_seed(3)
        energy = MLPEnergy(2, 8, 1, generator=torch.Generator().manual_seed(0))
        buffer = ReplayBuffer(40, uniform_init((2,)), generator=g)
        history = train_ebm(energy, torch.randn(50, 2, generator=g), buffer, 5, batch_size=8, sgld_steps=3,
                            generator=g, progress=False)  # fmt: skip
        return history["loss"], buffer.samples

    (loss_a, buffer_a), (loss_b, buffer_b) = run(), run()
    assert loss_a == loss_b and torch.equal(buffer_a, buffer_b)


def test_bad_input_is_refused_naming_the_argument():
    energy, buffer = MLPEnergy(2, 8, 1), ReplayBuffer(10, uniform_init((2,)))
    with pytest.raises(ValueError, match="data must be finite"):
        train_ebm(energy, torch.tensor([[0.0, float("nan")]]), buffer, 1, progress=False)
    with pytest.raises(ValueError, match="buffer must have the event shape"):
        train_ebm(energy, torch.zeros(5, 2), ReplayBuffer(10, uniform_init((3,))), 1, progress=False)
    with pytest.raises(ValueError, match="regularization"):
        train_ebm(energy, torch.zeros(5, 2), buffer, 1, regularization=-1.0, progress=False)
    with pytest.raises(ValueError, match="n_steps"):
        train_ebm(energy, torch.zeros(5, 2), buffer, 0, progress=False)
    with pytest.raises(TypeError, match="buffer"):
        persistent_sgld(energy, torch.zeros(10, 2), 4, 1, 0.1, 0.1)
