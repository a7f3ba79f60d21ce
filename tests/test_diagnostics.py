"""ebmlib.diagnostics: ESS, R-hat and MCSE equal ArviZ 0.23's; autocorrelation equals its definition."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import arviz
from ebmlib import diagnostics
from ebmlib.diagnostics import autocorrelation, ess, mcse, rhat


def ar1_chains(n_chains: int, n_draws: int, rho: float, seed: int) -> np.ndarray:
    """x_t = rho x_{t-1} + sqrt(1 - rho^2) e_t started in N(0, 1): stationary, lag-t correlation rho^t."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n_chains, n_draws))
    x = np.empty((n_chains, n_draws))
    x[:, 0] = noise[:, 0]
    for t in range(1, n_draws):
        x[:, t] = rho * x[:, t - 1] + math.sqrt(1.0 - rho**2) * noise[:, t]
    return x


def shifted_chains() -> np.ndarray:
    x = np.random.default_rng(2).standard_normal((4, 100))
    x[0] += 2.0  # one chain stuck two standard deviations away
    return x


# Fixed arrays, shaped (chains, draws), on which every method is held to ArviZ.
CASES = {
    "iid_normal_4x100": np.random.default_rng(0).standard_normal((4, 100)),
    "ar1_rho0.9_2x1000": ar1_chains(2, 1000, 0.9, seed=1),
    "one_chain_shifted_4x100": shifted_chains(),
    "ar1_odd_draws_8x57": ar1_chains(8, 57, 0.9, seed=3),
    "antithetic_ar1_rho-0.7_4x100": ar1_chains(4, 100, -0.7, seed=4),  # ESS above M N: the cap matters
    "ties_integers_4x100": np.random.default_rng(5).integers(0, 3, (4, 100)).astype(float),  # average ranks
    "heavy_tailed_cauchy_4x100": np.random.default_rng(6).standard_cauchy((4, 100)),
    "deterministic_sine_4x100": np.tile(np.sin(np.arange(100) / 3.0), (4, 1)),
    "deterministic_ramp_2x1000": np.tile(np.linspace(0.0, 1.0, 1000), (2, 1)),
    "fewest_draws_3x4": np.random.default_rng(7).standard_normal((3, 4)),
    "five_draws_2x5": np.random.default_rng(8).standard_normal((2, 5)),
}


def arviz_value(name: str, x: np.ndarray, method: str) -> float:
    with np.errstate(all="ignore"):
        return float(getattr(arviz, name)(x, method=method))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("method", ["bulk", "tail", "mean"])
def test_ess_equals_arviz(case, method):
    x = CASES[case]
    assert ess(x, method=method) == pytest.approx(arviz_value("ess", x, method), rel=1e-6)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("method", ["rank", "split"])
def test_rhat_equals_arviz(case, method):
    x = CASES[case]
    assert rhat(x, method=method) == pytest.approx(arviz_value("rhat", x, method), rel=1e-6)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("method", ["mean", "sd"])
def test_mcse_equals_arviz(case, method):
    x = CASES[case]
    assert mcse(x, method=method) == pytest.approx(arviz_value("mcse", x, method), rel=1e-6)


def test_results_are_python_floats():
    x = CASES["iid_normal_4x100"]
    values = [ess(x), ess(x, "tail"), ess(x, "mean"), rhat(x), rhat(x, "split"), mcse(x), mcse(x, "sd")]
    assert all(type(v) is float for v in values)


def test_default_methods_are_bulk_ess_rank_rhat_and_mean_mcse():
    x = CASES["ar1_odd_draws_8x57"]
    assert ess(x) == ess(x, method="bulk")
    assert rhat(x) == rhat(x, method="rank")
    assert mcse(x) == mcse(x, method="mean")


# --- what the diagnostics say, beyond matching numbers -----------------------------------------


def test_rank_rhat_flags_a_shifted_chain_and_passes_iid_chains():
    # Vehtari et al. (2021): R-hat above 1.01 says the chains have not mixed.
    assert rhat(CASES["one_chain_shifted_4x100"]) > 1.1
    assert rhat(CASES["iid_normal_4x100"]) < 1.01


def test_ess_is_capped_at_draws_times_log10_draws_for_antithetic_chains():
    x = CASES["antithetic_ar1_rho-0.7_4x100"]
    size = x.size  # 400 split draws
    assert size < ess(x, method="mean") <= size * math.log10(size)


def test_ess_of_a_strongly_correlated_chain_is_far_below_its_draws():
    # AR(1) with rho = 0.9 has ESS / draws -> (1 - rho) / (1 + rho) ~ 0.05 in the limit.
    assert ess(CASES["ar1_rho0.9_2x1000"], method="mean") < 0.2 * 2000


def test_mcse_mean_is_sd_over_root_ess():
    x = CASES["ar1_rho0.9_2x1000"]
    assert mcse(x) == pytest.approx(x.std(ddof=1) / math.sqrt(ess(x, method="mean")), rel=1e-12)


# --- degenerate input: constant chains, matched to ArviZ where ArviZ is exact ------------------


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_constant_draws_count_as_independent_and_leave_rhat_undefined(value):
    x = np.full((4, 101), value)
    n_split_draws = 4 * 2 * 50  # the middle draw of each odd chain is dropped
    for method in ["bulk", "tail", "mean"]:
        assert ess(x, method) == n_split_draws == arviz_value("ess", x, method)
    for method in ["rank", "split"]:
        assert math.isnan(rhat(x, method)) and math.isnan(arviz_value("rhat", x, method))
    assert mcse(x, "mean") == 0.0 == arviz_value("mcse", x, "mean")
    assert math.isnan(mcse(x, "sd")) and math.isnan(arviz_value("mcse", x, "sd"))


def test_constant_draws_that_numpy_averages_inexactly_still_give_nan_rhat():
    # ArviZ gives split R-hat 0.98995 here: numpy's mean of 400 copies of 0.1 is off by an ulp,
    # so W is ~1e-33 instead of 0. R-hat of constant chains is 0/0; ebmlib says NaN.
    assert math.isnan(rhat(np.full((4, 100), 0.1), method="split"))


def test_chains_each_constant_but_different_give_infinite_rhat():
    # W = 0 < B: R-hat is infinite. ArviZ agrees for "split"; for "rank" its rounding gives ~3e16.
    x = np.repeat(np.arange(4.0)[:, None], 100, axis=1)
    assert rhat(x, method="split") == math.inf == arviz_value("rhat", x, "split")
    assert rhat(x, method="rank") == math.inf
    assert arviz_value("rhat", x, "rank") > 1e15


# --- autocorrelation ---------------------------------------------------------------------------


def direct_autocorrelation(x: np.ndarray) -> np.ndarray:
    """rho[m, t] = sum_n xc[m, n] xc[m, n + t] / sum_n xc[m, n]^2, the O(N^2) definition."""
    centered = x - x.mean(axis=1, keepdims=True)
    n_draws = x.shape[1]
    gamma = np.array([[c[: n_draws - t] @ c[t:] for t in range(n_draws)] for c in centered])
    return gamma / gamma[:, :1]


@pytest.mark.parametrize("case", ["ar1_odd_draws_8x57", "deterministic_sine_4x100", "fewest_draws_3x4"])
def test_autocorrelation_equals_direct_sum(case):
    x = CASES[case]
    got = autocorrelation(x)
    assert isinstance(got, np.ndarray) and got.shape == x.shape
    np.testing.assert_allclose(got, direct_autocorrelation(x), rtol=0, atol=1e-12)
    np.testing.assert_allclose(got, arviz.autocorr(x, axis=1), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(got[:, 0], 1.0)


def test_autocorrelation_of_ar1_decays_as_rho_to_the_lag():
    # Lag-t sample autocorrelation of a stationary AR(1) is rho^t with standard error about
    # sqrt((1 + rho^2) / (1 - rho^2) / N) (Bartlett); N = 8000 pooled draws, rho = 0.5: SE ~ 0.014.
    x = ar1_chains(4, 2000, 0.5, seed=9)
    mean_acf = autocorrelation(x).mean(axis=0)
    standard_error = math.sqrt((1 + 0.25) / (1 - 0.25) / x.size)
    for lag in range(1, 5):
        assert abs(mean_acf[lag] - 0.5**lag) < 4 * standard_error


def test_autocorrelation_of_a_constant_chain_is_nan_not_hidden():
    x = np.vstack([np.ones(10), np.arange(10.0)])
    got = autocorrelation(x)
    assert np.isnan(got[0]).all() and np.isfinite(got[1]).all()


def test_fft_length_is_the_smallest_5_smooth_number_at_least_n():
    def is_5_smooth(k):
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        return k == 1

    for n in range(1, 400):
        got = diagnostics._next_fast_len(n)
        assert got >= n and is_5_smooth(got)
        assert not any(is_5_smooth(k) for k in range(n, got))


@pytest.mark.parametrize("prob", [0.05, 0.5, 0.95])
@pytest.mark.parametrize("case", ["iid_normal_4x100", "ties_integers_4x100", "fewest_draws_3x4"])
def test_tail_quantile_is_the_type_7_quantile_arviz_uses(case, prob):
    # ArviZ's tail ESS thresholds at scipy's mquantiles(alphap=1, betap=1), i.e. type 7.
    from scipy.stats.mstats import mquantiles

    x = CASES[case]
    expected = mquantiles(x, [prob], alphap=1, betap=1)[0]
    assert float(diagnostics._quantile_type7(torch.from_numpy(x), prob)) == pytest.approx(expected, rel=1e-15)


def test_tail_quantile_interpolates_to_the_next_distinct_value():
    # Sorted 0, 1, 2, 3, 7; S = 5, p = 0.3: h = 2.2, so q = 0.8 x_(2) + 0.2 x_(3) = 0.8 + 0.4 = 1.2.
    x = torch.tensor([[3.0, 1.0, 0.0, 2.0, 7.0]], dtype=torch.float64)
    assert float(diagnostics._quantile_type7(x, 0.3)) == pytest.approx(1.2, rel=1e-15)


# --- torch and numpy inputs --------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda x: ess(x, "bulk"),
        lambda x: ess(x, "tail"),
        lambda x: ess(x, "mean"),
        lambda x: rhat(x, "rank"),
        lambda x: rhat(x, "split"),
        lambda x: mcse(x, "mean"),
        lambda x: mcse(x, "sd"),
    ],
    ids=["ess_bulk", "ess_tail", "ess_mean", "rhat_rank", "rhat_split", "mcse_mean", "mcse_sd"],
)
def test_torch_tensor_and_numpy_array_give_the_same_float(call):
    x = CASES["ar1_odd_draws_8x57"]
    assert call(torch.from_numpy(x)) == call(x)


def test_autocorrelation_returns_the_kind_it_was_given():
    x = CASES["ar1_odd_draws_8x57"]
    got = autocorrelation(torch.from_numpy(x))
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
    np.testing.assert_array_equal(got.numpy(), autocorrelation(x))


def test_float32_draws_are_diagnosed_in_float64():
    x32 = torch.from_numpy(CASES["iid_normal_4x100"]).float()
    assert ess(x32) == ess(x32.double().numpy())
    assert autocorrelation(x32).dtype == torch.float64


def test_input_is_left_unmodified():
    x = torch.from_numpy(CASES["ar1_odd_draws_8x57"].copy())
    before = x.clone()
    ess(x), ess(x, "tail"), rhat(x), mcse(x, "sd"), autocorrelation(x)
    assert torch.equal(x, before)


# --- bad input ---------------------------------------------------------------------------------

FUNCTIONS = [autocorrelation, ess, rhat, mcse]


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize(
    "x",
    [
        np.zeros((4, 3)),  # fewer than 4 draws
        np.zeros(100),  # 1-D: no chain axis
        np.zeros((4, 100, 2)),  # several coordinates at once
        np.zeros((0, 100)),  # no chains
        np.array([[0.0, 1.0, np.nan, 2.0, 3.0]] * 2),
        np.array([[0.0, 1.0, np.inf, 2.0, 3.0]] * 2),
    ],
    ids=["3_draws", "1d", "3d", "no_chains", "nan", "inf"],
)
def test_bad_x_raises_value_error_naming_x(function, x):
    with pytest.raises(ValueError, match=r"\bx\b"):
        function(x)


def test_rhat_of_one_chain_raises_instead_of_arviz_nan():
    with pytest.raises(ValueError, match=r"x must have at least 2 chains"):
        rhat(np.random.default_rng(0).standard_normal((1, 100)))


@pytest.mark.parametrize(
    "function, method",
    [(ess, "median"), (ess, "rank"), (rhat, "bulk"), (rhat, "folded"), (mcse, "quantile"), (mcse, None)],
)
def test_unknown_method_raises_value_error_naming_method(function, method):
    with pytest.raises(ValueError, match="method"):
        function(CASES["iid_normal_4x100"], method=method)
