"""Tests of ebmlib.training: the fit loop (reproducible, records, stops on NaN) and exact log-likelihood."""

from __future__ import annotations

import math

import pytest
import torch

from ebmlib.datasets import eight_gaussians, eight_gaussians_mixture
from ebmlib.energies import Gaussian
from ebmlib.losses import score_matching
from ebmlib.nets import MLPEnergy
from ebmlib.training import exact_log_likelihood, fit
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
        callback=lambda step, e: steps.append((step, e is energy)))  # fmt: skip
    assert steps == [(1, True), (2, True), (3, True), (4, True)]
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
        callback=lambda step, e: values.append(e.s.item()))  # fmt: skip
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
