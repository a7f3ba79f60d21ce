"""Tests of ebmlib.training: the fit loop (reproducible, records, stops on NaN) and exact log-likelihood."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from ebmlib.datasets import eight_gaussians, eight_gaussians_mixture
from ebmlib.energies import Gaussian
from ebmlib.losses import score_matching
from ebmlib.nets import MLPEnergy
from ebmlib.training import NonFiniteError, exact_log_likelihood, fit
from tests.test_losses import F64, ScaleEnergy, gen  # E = ‖x‖²/(2s²), s a parameter



def test_fit_by_score_matching_finds_the_sample_variance():
    # For E = x²/(2s²) the score matching loss is mean(x²)/(2s⁴) - 1/s², minimised at s² = mean(x²).
    # Full batches are drawn with replacement, so s² ends within a few se of mean(x²) (se = sqrt(2/n)·mean(x²)).
    x = 1.5 * torch.randn(4000, 1, generator=gen(0), dtype=F64)
    energy = ScaleEnergy(0.7)
    history = fit(energy, score_matching, x, n_steps=100, batch_size=4000, lr=0.1, generator=gen(1), progress=False)
    target = float(x.square().mean())
    se = math.sqrt(2 / 4000) * target
    assert abs(energy.s.item() ** 2 - target) < 5 * se, f"s² = {energy.s.item() ** 2}, sample variance {target}"
    assert len(history["loss"]) == 100 and history["loss"][-1] < history["loss"][0]


def test_fit_with_the_same_seed_gives_the_same_model():
    x = torch.randn(200, 2, generator=gen(0))
    results = []
    for _ in range(2):
        torch.manual_seed(0)
        energy = MLPEnergy(hidden=8)
        fit(energy, score_matching, x, n_steps=5, batch_size=32, lr=1e-2, generator=gen(1), progress=False)
        results.append(torch.cat([p.detach().flatten() for p in energy.parameters()]))
    assert torch.equal(*results)


def test_fit_calls_back_after_every_step_and_trains_extra_params():
    x = torch.randn(100, 1, generator=gen(0), dtype=F64)
    energy = ScaleEnergy(1.0)
    extra = torch.nn.Parameter(torch.tensor(0.0, dtype=F64))
    steps = []

    def loss_fn(e, batch):
        return score_matching(e, batch) + (extra - 2.0) ** 2

    fit(energy, loss_fn, x, 4, 10, 0.1, params=[*energy.parameters(), extra], progress=False,
        callback=lambda step, e, history: steps.append((step, e is energy, len(history["loss"]))))  # fmt: skip
    assert steps == [(1, True, 1), (2, True, 2), (3, True, 3), (4, True, 4)]  # the history so far, too
    assert extra.item() > 0.3  # Adam moves by about lr per step toward 2


def test_fit_stops_with_the_step_number_when_the_loss_is_nan():
    x = torch.randn(100, 1, generator=gen(0), dtype=F64)
    energy = ScaleEnergy(1.0)
    calls = []

    def loss_fn(e, batch):
        calls.append(1)
        loss = score_matching(e, batch)
        return loss * float("nan") if len(calls) == 3 else loss

    with pytest.raises(ValueError, match="step 3"):
        fit(energy, loss_fn, x, 10, 10, 0.1, progress=False)


def test_fit_shows_a_progress_bar(capsys):
    x = torch.randn(50, 1, generator=gen(0), dtype=F64)
    fit(ScaleEnergy(1.0), score_matching, x, 3, 10, 0.1, progress=True)
    assert "fit" in capsys.readouterr().err


def test_exact_log_likelihood_of_a_gaussian_equals_its_closed_form():
    cov = torch.tensor([[1.0, 0.3], [0.3, 0.5]], dtype=F64)
    energy = Gaussian(torch.tensor([0.2, -0.1], dtype=F64), cov)
    x = energy.sample(500, generator=gen(0))
    got = exact_log_likelihood(energy, x, ((-7, 7), (-6, 6)), n=301)
    torch.testing.assert_close(got, energy.log_prob(x).mean(), rtol=0, atol=1e-8)


def test_exact_log_likelihood_of_eight_gaussians_equals_the_mixture_log_density():
    mixture = eight_gaussians_mixture()
    x = eight_gaussians(1000, generator=gen(0)).double()
    got = exact_log_likelihood(mixture, x, ((-4, 4), (-4, 4)), n=401)
    torch.testing.assert_close(got, mixture.log_prob(x).mean(), rtol=0, atol=1e-6)


def test_exact_log_likelihood_is_invariant_to_shifting_the_energy():
    torch.manual_seed(0)
    energy = MLPEnergy(hidden=8)
    x = torch.randn(50, 2, generator=gen(0))
    base = exact_log_likelihood(energy, x, ((-4, 4), (-4, 4)), n=60)
    shifted = exact_log_likelihood(lambda u: energy(u) + 3.0, x.double(), ((-4, 4), (-4, 4)), n=60)
    torch.testing.assert_close(base, shifted, rtol=0, atol=1e-4)  # float32 network, float64 grid points


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"lr": 0.0}, "lr"), ({"batch_size": 0}, "batch_size"), ({"n_steps": 0}, "n_steps")],
)
def test_fit_rejects_bad_settings_by_name(kwargs, name):
    settings = {"n_steps": 2, "batch_size": 4, "lr": 0.1} | kwargs
    with pytest.raises(ValueError, match=name):
        fit(ScaleEnergy(1.0), score_matching, torch.randn(10, 1, dtype=F64), progress=False, **settings)


def test_fit_rejects_an_unknown_schedule():
    with pytest.raises(ValueError, match="schedule"):
        fit(ScaleEnergy(1.0), score_matching, torch.randn(10, 1, dtype=F64), 2, 4, 0.1, progress=False, schedule="step")


def test_fit_with_a_cosine_schedule_takes_smaller_and_smaller_steps():
    # Adam's step is about lr in size while the gradient keeps its sign; the cosine schedule shrinks lr to ~0.
    x = 3.0 * torch.randn(2000, 1, generator=gen(0), dtype=F64)
    energy, values = ScaleEnergy(0.5), []
    fit(energy, score_matching, x, 20, 2000, 0.01, progress=False, schedule="cosine",
        callback=lambda step, e, history: values.append(e.s.item()))  # fmt: skip
    steps = torch.tensor(values).diff().abs()
    assert steps[0] > 0.009 and steps[-1] < 0.001, steps


def test_fit_rejects_data_with_nan_naming_data():
    x = torch.randn(10, 1, dtype=F64)
    x[0] = float("nan")
    with pytest.raises(ValueError, match="data must be finite"):
        fit(ScaleEnergy(1.0), score_matching, x, 2, 4, 0.1, progress=False)


def test_exact_log_likelihood_rejects_bad_input_by_name():
    with pytest.raises(ValueError, match="x must be finite"):
        exact_log_likelihood(MLPEnergy(), torch.tensor([[0.0, float("nan")]]), ((-1, 1), (-1, 1)), 10)
    with pytest.raises(ValueError, match="bounds"):
        exact_log_likelihood(MLPEnergy(), torch.zeros(3, 2), ((1, -1), (-1, 1)), 10)


def test_fit_draws_rows_of_every_tensor_of_a_tuple_together_and_logs_the_record():
    # data = (x, labels) with labels = 10·x: every batch must keep the pairs aligned; labels stay int64.
    x = torch.arange(20, dtype=F64).unsqueeze(1)
    labels = 10 * torch.arange(20)
    seen = []

    def loss_fn(model, batch):
        xb, yb = batch
        seen.append(bool(torch.equal(10 * xb.squeeze(1).long(), yb)) and yb.dtype == torch.int64)
        loss = score_matching(model, xb)
        return loss, {"mean_label": yb.double().mean()}

    history = fit(ScaleEnergy(5.0), loss_fn, (x, labels), 6, 8, 0.1, generator=gen(2), progress=False)
    assert seen == [True] * 6
    assert len(history["mean_label"]) == 6 and all(0 <= v <= 190 for v in history["mean_label"])
    assert history["stopped"] is None


def test_fit_rejects_a_tuple_of_unequal_lengths_naming_data():
    with pytest.raises(ValueError, match="data must be non-empty tensors of equal length"):
        fit(ScaleEnergy(1.0), score_matching, (torch.zeros(5, 1), torch.zeros(4)), 2, 2, 0.1, progress=False)


class _InfiniteGradient(torch.autograd.Function):
    """The identity, whose backward pass returns an infinite gradient."""

    @staticmethod
    def forward(ctx, s):
        return s.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * float("inf")


class InfiniteGradientOnce(torch.nn.Module):
    """E = s·x: a finite value always, but an infinite gradient in s at the given call."""

    def __init__(self, bad_call):
        super().__init__()
        self.s, self.calls, self.bad_call = torch.nn.Parameter(torch.tensor(1.0, dtype=F64)), 0, bad_call

    def forward(self, x):
        self.calls += 1
        s = _InfiniteGradient.apply(self.s) if self.calls == self.bad_call else self.s
        return s * x.sum(1)


def test_a_non_finite_gradient_raises_naming_the_step_and_leaves_the_parameters_of_that_step():
    model = InfiniteGradientOnce(bad_call=3)
    values = []
    with pytest.raises(ValueError, match="step 3: a gradient of the loss is not finite"):
        fit(model, lambda m, x: m(x).mean(), torch.ones(4, 1, dtype=F64), 10, 2, 0.1, progress=False,
            callback=lambda step, m, history: values.append(m.s.item()))  # fmt: skip
    assert math.isfinite(model.s.item()) and model.s.item() == values[-1]  # the state step 3 was evaluated at


def test_on_nonfinite_stop_keeps_the_last_good_state_and_warns():
    model = InfiniteGradientOnce(bad_call=3)
    states = {0: model.s.item()}
    with pytest.warns(RuntimeWarning, match="training stopped at step 3: a gradient of the loss is not finite"):
        history = fit(model, lambda m, x: m(x).mean(), torch.ones(4, 1, dtype=F64), 10, 2, 0.1, progress=False,
                      on_nonfinite="stop", callback=lambda step, m, h: states.update({step: m.s.item()}))  # fmt: skip
    assert len(history["loss"]) == 2 and history["stopped"].endswith("the last good state is kept")
    assert model.s.item() == states[1]  # the parameters at which step 2 (the last finite one) was evaluated


def test_fit_rejects_an_unknown_on_nonfinite_and_a_loss_that_is_not_a_scalar():
    with pytest.raises(ValueError, match="on_nonfinite"):
        fit(ScaleEnergy(1.0), score_matching, torch.randn(10, 1, dtype=F64), 2, 4, 0.1, progress=False, on_nonfinite="ignore")
    with pytest.raises(TypeError, match="scalar tensor"):
        fit(ScaleEnergy(1.0), lambda m, x: m(x), torch.randn(10, 1, dtype=F64), 2, 4, 0.1, progress=False)


def test_an_ordinary_bug_in_a_loss_is_raised_as_it_is_never_turned_into_a_warning():
    # fit catches only NonFiniteError: a ValueError of the loss's own (here a wrong shape) passes
    # through unchanged, even with on_nonfinite="stop", and no step is taken
    model = ScaleEnergy(1.0)
    before = model.s.item()

    def buggy(m, x):
        raise ValueError("a bug in the loss, not a NaN")

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning would fail here
        with pytest.raises(ValueError, match="^a bug in the loss, not a NaN$"):
            fit(model, buggy, torch.randn(10, 1, dtype=F64), 5, 4, 0.1, on_nonfinite="stop")
    assert model.s.item() == before


def test_a_non_finite_error_of_a_loss_stops_the_run_with_on_nonfinite_stop():
    model = ScaleEnergy(1.0)
    calls = []

    def loss_fn(m, x):
        calls.append(1)
        if len(calls) == 3:
            raise NonFiniteError("the energy became NaN")
        return m(x).mean()

    with pytest.warns(RuntimeWarning, match="training stopped at step 3: the energy became NaN"):
        history = fit(model, loss_fn, torch.randn(10, 1, dtype=F64), 5, 4, 0.1, on_nonfinite="stop")
    assert len(history["loss"]) == 2
