"""Tests of ebmlib.training.replay_buffer: the re-initialised fraction, persistence of written samples, resuming from a state."""

from __future__ import annotations

import io
import math

import pytest
import torch

from ebmlib.training import ReplayBuffer, uniform_init


def marked_buffer(capacity, reinit_fraction, mark=7.0):
    """A buffer whose every stored row is the constant ``mark`` (outside the init's box [-1, 1])."""
    buffer = ReplayBuffer(capacity, uniform_init((3,)), reinit_fraction=reinit_fraction)
    buffer.load_state_dict({"samples": torch.full((capacity, 3), mark), "reinit_fraction": reinit_fraction, "n_draws": 0})
    return buffer


def test_reinitialised_fraction_is_right_on_average():
    # 200 draws of 500 rows: 100 000 Bernoulli(0.05) choices; standard error sqrt(ρ(1-ρ)/N) ≈ 6.9e-4.
    rho, n, n_draws = 0.05, 500, 200
    buffer = marked_buffer(1000, rho)
    g = torch.Generator().manual_seed(0)
    fresh_count = 0
    for _ in range(n_draws):
        x, index, reinitialized = buffer.sample(n, generator=g)
        # a fresh row comes from U(-1, 1)^3, a persisted row is the mark 7: the flag must say which
        assert torch.equal(reinitialized, (x != 7.0).all(1))
        fresh_count += int(reinitialized.sum())
    fraction = fresh_count / (n * n_draws)
    standard_error = math.sqrt(rho * (1 - rho) / (n * n_draws))
    assert abs(fraction - rho) < 5 * standard_error, (fraction, standard_error)
    assert buffer.n_draws == n_draws


@pytest.mark.parametrize("rho, expected", [(0.0, False), (1.0, True)])
def test_fraction_zero_keeps_every_row_and_fraction_one_replaces_every_row(rho, expected):
    buffer = marked_buffer(50, rho)
    x, _, reinitialized = buffer.sample(400, generator=torch.Generator().manual_seed(1))
    assert bool(reinitialized.all()) is expected and bool(reinitialized.any()) is expected
    assert bool((x == 7.0).all(1).any()) is not expected


def test_fresh_rows_come_from_the_initial_distribution():
    buffer = marked_buffer(100, 1.0)
    x, _, _ = buffer.sample(20_000, generator=torch.Generator().manual_seed(2))
    assert x.min() >= -1 and x.max() <= 1
    # U(-1, 1): mean 0 and variance 1/3, within 5 standard errors of 60 000 draws
    assert abs(float(x.mean())) < 5 * math.sqrt(1 / 3 / x.numel())
    assert abs(float(x.var()) - 1 / 3) < 5 * math.sqrt(4 / 45 / x.numel())  # Var of (u - 0)^2 for u ~ U(-1, 1) is 4/45


def test_written_samples_are_the_ones_returned_later():
    buffer = ReplayBuffer(10, uniform_init((2,)), reinit_fraction=0.0)
    written = torch.arange(20.0).reshape(10, 2)
    buffer.update(torch.arange(10), written)
    g = torch.Generator().manual_seed(3)
    x, index, _ = buffer.sample(32, generator=g)
    assert torch.equal(x, written[index])
    # move some rows on, as after SGLD: those rows change, every other row persists
    buffer.update(index[:5], x[:5] + 100.0)
    expected = written.clone()
    expected[index[:5]] = x[:5] + 100.0
    assert torch.equal(buffer.samples, expected)


def test_sample_returns_a_copy_so_moving_it_leaves_the_buffer_unchanged():
    buffer = ReplayBuffer(10, uniform_init((2,)), reinit_fraction=0.0, generator=torch.Generator().manual_seed(4))
    before = buffer.samples.clone()
    x, _, _ = buffer.sample(8)
    x += 1.0
    assert torch.equal(buffer.samples, before)


def test_state_round_trips_and_a_restored_buffer_draws_the_same_samples():
    init = uniform_init((1, 8, 8))
    original = ReplayBuffer(300, init, reinit_fraction=0.2, generator=torch.Generator().manual_seed(5))
    for seed in range(3):
        x, index, _ = original.sample(40, generator=torch.Generator().manual_seed(seed))
        original.update(index, 0.5 * x)
    saved = io.BytesIO()
    torch.save(original.state_dict(), saved)
    saved.seek(0)
    restored = ReplayBuffer(300, init, reinit_fraction=0.9, generator=torch.Generator().manual_seed(6))
    restored.load_state_dict(torch.load(saved))
    assert torch.equal(restored.samples, original.samples)
    assert restored.reinit_fraction == 0.2 and restored.n_draws == original.n_draws == 3
    a = original.sample(64, generator=torch.Generator().manual_seed(7))
    b = restored.sample(64, generator=torch.Generator().manual_seed(7))
    for left, right in zip(a, b):
        assert torch.equal(left, right)


def test_state_dict_holds_a_copy():
    buffer = ReplayBuffer(5, uniform_init((2,)), generator=torch.Generator().manual_seed(8))
    state = buffer.state_dict()
    state["samples"] += 1.0
    assert not torch.equal(state["samples"], buffer.samples)


def test_same_generator_same_buffer_and_draws():
    def run():
        g = torch.Generator().manual_seed(9)
        buffer = ReplayBuffer(100, uniform_init((2,), -3, 3), reinit_fraction=0.3, generator=g)
        return buffer.samples, *buffer.sample(50, generator=g)

    for left, right in zip(run(), run()):
        assert torch.equal(left, right)


@pytest.mark.parametrize("rho", [-0.1, 1.5, float("nan")])
def test_fraction_outside_zero_one_is_refused(rho):
    with pytest.raises(ValueError, match="reinit_fraction"):
        ReplayBuffer(10, uniform_init((2,)), reinit_fraction=rho)


def test_bad_input_is_refused_with_the_argument_named():
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(0, uniform_init((2,)))
    with pytest.raises(TypeError, match="init"):
        ReplayBuffer(10, "uniform")
    with pytest.raises(ValueError, match="init"):
        ReplayBuffer(10, lambda n, generator=None: torch.zeros(n + 1, 2))
    with pytest.raises(ValueError, match="low and high"):
        uniform_init((2,), 1.0, -1.0)
    buffer = ReplayBuffer(10, uniform_init((2,)))
    with pytest.raises(ValueError, match="x must be finite"):
        buffer.update(torch.tensor([0, 1]), torch.tensor([[0.0, float("nan")], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="x must have shape"):
        buffer.update(torch.tensor([0, 1]), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="index"):
        buffer.update(torch.tensor([0, 10]), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="samples"):
        buffer.load_state_dict({"samples": torch.zeros(11, 2), "reinit_fraction": 0.1, "n_draws": 0})
    with pytest.raises(ValueError, match="reinit_fraction"):
        buffer.load_state_dict({"samples": torch.zeros(10, 2), "reinit_fraction": 2.0, "n_draws": 0})
