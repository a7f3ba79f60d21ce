r"""MCMC diagnostics: autocorrelation, effective sample size, R-hat and Monte Carlo standard error.

Every function takes the draws of one scalar quantity from several chains, ``x`` of shape
``(n_chains, n_draws)`` (a torch tensor or a NumPy array), and computes in float64 on the
device of ``x``. The definitions are those of Vehtari et al. (2021), as ArviZ 0.23 computes
them (``arviz.ess``, ``arviz.rhat``, ``arviz.mcse``), and the tests hold this module to
ArviZ's numbers.

Three building blocks, used throughout:

* **Split chains.** Each chain of :math:`N` draws is cut into its first and last
  :math:`\lfloor N/2 \rfloor` draws (the middle draw is dropped when :math:`N` is odd), so
  :math:`M` chains become :math:`2M`. A chain that drifts then looks like two chains that
  disagree.
* **Rank normalisation.** Replace each of the :math:`S` draws (all chains pooled) by its
  average rank :math:`r` (ties share the mean of their ranks) and map the ranks to normal
  scores with Blom's offset :math:`c = 3/8`:

  .. math:: z = \Phi^{-1}\!\left(\frac{r - 3/8}{S - 2 \cdot 3/8 + 1}\right).

  The diagnostics of :math:`z` work for heavy tails and infinite variance.
* **Autocovariance by FFT.** Per chain, with :math:`\bar x_m` the chain mean,
  :math:`\hat\gamma_{m,t} = \frac1N \sum_{n=1}^{N-t} (x_{m,n} - \bar x_m)(x_{m,n+t} - \bar x_m)`
  (the biased estimate, divided by :math:`N`), computed in :math:`O(N \log N)` from the
  Wiener–Khinchin theorem: zero-pad to at least :math:`2N`, :math:`\gamma = \mathcal F^{-1}
  |\mathcal F(x - \bar x)|^2 / N`.

References
----------
A. Vehtari, A. Gelman, D. Simpson, B. Carpenter, P.-C. Bürkner, "Rank-normalization,
folding, and localization: an improved R-hat for assessing convergence of MCMC",
*Bayesian Analysis* 16(2):667–718 (2021).
C. J. Geyer, "Practical Markov chain Monte Carlo", *Statistical Science* 7(4):473–483 (1992).
A. Gelman, D. B. Rubin, "Inference from iterative simulation using multiple sequences",
*Statistical Science* 7(4):457–472 (1992).
G. Blom, *Statistical Estimates and Transformed Beta-Variables*, Wiley (1958).

Introduced in notebook 03_mcmc.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ebmlib._validation import as_tensor, check_finite, check_ndim

__all__ = ["autocorrelation", "ess", "rhat", "mcse"]

MIN_DRAWS = 4
# numpy's float64 resolution: below this spread ArviZ calls a chain constant.
_RESOLUTION = float(np.finfo(np.float64).resolution)  # 1e-15
_BLOM = 3.0 / 8.0


# ---------------------------------------------------------------------------------------------
# Input checks and the three building blocks
# ---------------------------------------------------------------------------------------------


def _chains(x, *, min_chains: int = 1) -> torch.Tensor:
    """``x`` as a finite float64 tensor of shape (n_chains >= min_chains, n_draws >= 4)."""
    t = as_tensor(x, "x", dtype=torch.float64)
    check_ndim(t, "x", 2, "(n_chains, n_draws): one scalar quantity; pick a coordinate, e.g. x[..., 0]")
    n_chains, n_draws = t.shape
    if n_draws < MIN_DRAWS:
        raise ValueError(f"x must have at least {MIN_DRAWS} draws per chain, got shape {tuple(t.shape)}")
    if n_chains < min_chains:
        raise ValueError(f"x must have at least {min_chains} chains, got shape {tuple(t.shape)}")
    return check_finite(t, "x")


def _check_method(method, methods: tuple[str, ...]) -> str:
    if method not in methods:
        raise ValueError(f"method must be one of {', '.join(map(repr, methods))}; got {method!r}")
    return method


def _split_chains(x: torch.Tensor) -> torch.Tensor:
    """(M, N) -> (2M, N // 2): first and last halves of each chain, middle draw dropped if N is odd."""
    half = x.shape[1] // 2
    return torch.cat([x[:, :half], x[:, x.shape[1] - half :]], dim=0)


def _normal_scores(sorted_values: torch.Tensor) -> torch.Tensor:
    """Phi^-1((r - 3/8) / (S + 1/4)) of the average ranks r of already sorted values; shape (S,)."""
    _, counts = torch.unique_consecutive(sorted_values, return_counts=True)  # tie groups, in order
    group_size = counts.to(sorted_values.dtype)
    average_rank = torch.cumsum(group_size, 0) - (group_size - 1.0) / 2.0  # mean rank in each group
    size = sorted_values.numel()
    u = (average_rank - _BLOM) / (size - 2.0 * _BLOM + 1.0)
    return torch.repeat_interleave(torch.special.ndtri(u), counts)  # one score per draw again


def _unsort(sorted_values: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Put back in place: out[order[j]] = sorted_values[j]."""
    return torch.empty_like(sorted_values).scatter_(0, order, sorted_values)


def _rank_normalize(x: torch.Tensor) -> torch.Tensor:
    """Rank-normalised x: the normal scores of the ranks of all entries pooled; same shape as x."""
    sorted_values, order = torch.sort(x.reshape(-1))
    return _unsort(_normal_scores(sorted_values), order).reshape(x.shape)


def _next_fast_len(n: int) -> int:
    """Smallest 5-smooth integer (2^a 3^b 5^c) >= n: an FFT length with no large prime factor."""
    best = 1 << max(n - 1, 0).bit_length()
    power5 = 1
    while power5 < best:
        power35 = power5
        while power35 < best:
            candidate = power35
            while candidate < n:
                candidate *= 2
            best = min(best, candidate)
            power35 *= 3
        power5 *= 5
    return best


def _power_spectrum(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """|F(x - mean)|^2 of each chain, zero-padded to a fast length >= 2N; ((M, L // 2 + 1), L)."""
    length = _next_fast_len(2 * x.shape[1])
    spectrum = torch.fft.rfft(x - x.mean(dim=1, keepdim=True), n=length, dim=1)
    return spectrum.real.square() + spectrum.imag.square(), length


def _autocovariance(x: torch.Tensor) -> torch.Tensor:
    """Biased autocovariance of each chain, gamma[m, t] = (1/N) sum_n xc[m, n] xc[m, n+t]; (M, N)."""
    power, length = _power_spectrum(x)
    return torch.fft.irfft(power, n=length, dim=1)[:, : x.shape[1]] / x.shape[1]


def _mean_autocovariance(x: torch.Tensor) -> torch.Tensor:
    """(1/M) sum_m gamma[m, t], shape (N,): the inverse FFT is linear, so average the spectra first."""
    power, length = _power_spectrum(x)
    return torch.fft.irfft(power.mean(dim=0), n=length)[: x.shape[1]] / x.shape[1]


# ---------------------------------------------------------------------------------------------
# The estimators on an already prepared (M, N) array
# ---------------------------------------------------------------------------------------------


def _ess_geyer(x: torch.Tensor) -> float:
    """ESS of the draws in x (M, N) by Geyer's initial monotone sequence, as ArviZ's ``_ess``."""
    n_chains, n_draws = x.shape
    size = n_chains * n_draws
    low, high = torch.aminmax(x)
    if float(high - low) < _RESOLUTION:  # a constant chain: ArviZ reports every draw as independent
        return float(size)
    acov = _mean_autocovariance(x)  # (N,) mean over chains of gamma_{m,t}
    within = acov[0] * n_draws / (n_draws - 1.0)  # W: mean of the unbiased chain variances
    var_plus = within * (n_draws - 1.0) / n_draws
    if n_chains > 1:
        var_plus = var_plus + x.mean(dim=1).var(correction=1)  # + B / N
    rho = 1.0 - (within - acov) / var_plus  # (N,) combined autocorrelation rho_t
    rho[0] = 1.0
    if math.isnan(float(rho[1])):
        return math.nan
    # Initial positive sequence: K = the first k with P_k <= 0, among k < (N - 3) // 2 as in ArviZ.
    n_pairs = (n_draws - 3) // 2
    n_kept = 0  # K
    if n_pairs >= 1:
        pairs = rho[: 2 * n_pairs + 2].view(n_pairs + 1, 2).sum(dim=1)  # P_k = rho_2k + rho_2k+1
        stop = ~(pairs[:n_pairs] > 0)
        n_kept = int(stop.int().argmax()) if bool(stop.any()) else n_pairs
    if n_kept == 0:
        tau = 0.0  # -1 + rho_0
    else:
        monotone = torch.cummin(pairs[:n_kept], dim=0).values  # initial monotone sequence
        last_even = float(rho[2 * n_kept])  # rho_2K, kept if positive or if P_K >= 0
        tail = last_even if (float(pairs[n_kept]) >= 0 or last_even > 0) else 0.0
        tau = -1.0 + 2.0 * float(monotone.sum()) + tail
    tau = max(tau, 1.0 / math.log10(size))  # ArviZ's cap: ESS <= S log10 S
    return size / tau


def _rhat_basic(x: torch.Tensor) -> float:
    """Gelman–Rubin R-hat of the chains in x (M, N): sqrt(((N - 1)/N W + B/N) / W)."""
    n_draws = x.shape[1]
    low, high = torch.aminmax(x, dim=1)
    chain_var = torch.where(low == high, 0.0, x.var(dim=1, correction=1))  # a constant chain: exactly 0
    between = n_draws * x.mean(dim=1).var(correction=1)  # B
    within = chain_var.mean()  # W
    if float(high.max() - low.min()) == 0.0:  # all draws equal: R-hat is 0/0, undefined
        return math.nan
    return float(torch.sqrt((between / within + n_draws - 1.0) / n_draws))


def _quantile_type7(x: torch.Tensor, prob: float) -> torch.Tensor:
    r"""Quantile of all entries by linear interpolation (Hyndman–Fan type 7), as ArviZ computes it.

    With the :math:`S` values sorted, :math:`x_{(1)} \le \dots \le x_{(S)}`, :math:`h = S p + 1 - p`,
    :math:`k = \lfloor h \rfloor` clipped to :math:`[1, S - 1]` and :math:`\gamma = h - k` clipped to
    :math:`[0, 1]`: :math:`q = (1 - \gamma)\, x_{(k)} + \gamma\, x_{(k+1)}` (``scipy.stats.mstats.
    mquantiles`` with ``alphap = betap = 1``). One selection, no full sort.
    """
    flat = x.reshape(-1)
    size = flat.numel()
    position = size * prob + (1.0 - prob)  # h
    k = math.floor(min(max(position, 1.0), size - 1.0))
    gamma = min(max(position - k, 0.0), 1.0)
    kth = torch.kthvalue(flat, k).values  # x_(k)
    if int((flat <= kth).sum()) > k:  # x_(k+1) ties with x_(k)
        next_value = kth
    else:  # x_(k+1) is the smallest value above x_(k)
        next_value = torch.where(flat > kth, flat, math.inf).min()
    return (1.0 - gamma) * kth + gamma * next_value


def _ess_bulk(x: torch.Tensor) -> float:
    return _ess_geyer(_rank_normalize(_split_chains(x)))


def _ess_quantile(x: torch.Tensor, prob: float) -> float:
    indicator = (x <= _quantile_type7(x, prob)).to(x.dtype)
    return _ess_geyer(_split_chains(indicator))


def _ess_tail(x: torch.Tensor) -> float:
    return min(_ess_quantile(x, 0.05), _ess_quantile(x, 0.95))


def _ess_mean(x: torch.Tensor) -> float:
    return _ess_geyer(_split_chains(x))


_ESS = {"bulk": _ess_bulk, "tail": _ess_tail, "mean": _ess_mean}


# ---------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------


def autocorrelation(x):
    r"""Autocorrelation of each chain at every lag, by FFT.

    .. math::

        \hat\rho_{m,t} = \frac{\hat\gamma_{m,t}}{\hat\gamma_{m,0}}, \qquad
        \hat\gamma_{m,t} = \frac1N \sum_{n=1}^{N-t} (x_{m,n} - \bar x_m)(x_{m,n+t} - \bar x_m),

    the biased (divide by :math:`N`) estimate, so :math:`\hat\rho_{m,0} = 1` and the sequence
    is positive semi-definite. Computed in :math:`O(N \log N)` as
    :math:`\mathcal F^{-1} |\mathcal F(x_m - \bar x_m)|^2` with zero padding to :math:`\ge 2N`
    (Wiener–Khinchin), the same as ``arviz.autocorr``.

    Parameters
    ----------
    x : Tensor or ndarray of shape (n_chains, n_draws)
        Draws of one scalar quantity; at least 4 draws, all finite.

    Returns
    -------
    Tensor or ndarray of shape (n_chains, n_draws), float64
        The same kind as ``x`` (a tensor on ``x``'s device, or a NumPy array). A constant chain
        has no defined autocorrelation (0/0): its row is NaN, as in ArviZ.

    Raises
    ------
    ValueError
        If ``x`` is not 2-D, has fewer than 4 draws, or holds NaN or inf.

    Notes
    -----
    Introduced in notebook 03_mcmc.
    """
    chains = _chains(x)
    acov = _autocovariance(chains)
    rho = acov / acov[:, :1]  # (n_chains, n_draws)
    return rho if isinstance(x, torch.Tensor) else rho.numpy()


def ess(x, method: str = "bulk") -> float:
    r"""Effective sample size of ``x`` (n_chains, n_draws), with ArviZ's definitions.

    For draws :math:`x_{m,n}` of :math:`M` chains of length :math:`N`, with :math:`W` the
    mean within-chain variance (divide by :math:`N-1`), :math:`B/N` the variance of the chain
    means and :math:`\hat\gamma_{m,t}` the biased autocovariance:

    .. math::

        \widehat{\mathrm{var}}^+ = \frac{N-1}{N} W + \frac{B}{N}, \qquad
        \hat\rho_t = 1 - \frac{W - \frac1M \sum_m \hat\gamma_{m,t}}{\widehat{\mathrm{var}}^+},
        \qquad \hat\rho_0 = 1.

    Geyer's initial monotone sequence: sum the pairs :math:`\hat P_k = \hat\rho_{2k} +
    \hat\rho_{2k+1}` up to the first :math:`K` with :math:`\hat P_K \le 0` (initial positive
    sequence, at most :math:`k \le \lfloor (N-3)/2 \rfloor`), replace each
    :math:`\hat P_k` by :math:`\min(\hat P_0, \dots, \hat P_k)` (monotone sequence), and

    .. math::

        \hat\tau = -1 + 2 \sum_{k<K} \hat P_k + \hat\rho_{2K}^{+}, \qquad
        \widehat{\mathrm{ESS}} = \frac{MN}{\max(\hat\tau,\ 1/\log_{10}(MN))},

    where :math:`\hat\rho_{2K}^{+}` is the last even-lag term (kept when positive or when
    :math:`\hat P_K \ge 0`; Stan's and ArviZ's "improved estimate"), and the cap keeps the
    ESS below :math:`MN \log_{10}(MN)` for antithetic chains.

    The methods apply this to split chains (so there :math:`M` and :math:`N` stand for
    :math:`2M` chains of :math:`\lfloor N/2\rfloor` draws):

    * ``"bulk"`` (default): the rank-normalised split chains, :math:`z = \Phi^{-1}((r - 3/8)
      / (S + 1/4))` of the pooled ranks :math:`r` of all :math:`S` split draws. The ESS of
      the centre of the distribution, valid without finite variance.
    * ``"tail"``: :math:`\min` of the ESS of the indicators :math:`I(x \le q_{0.05})` and
      :math:`I(x \le q_{0.95})`, with :math:`q_p` the empirical quantile (linear interpolation,
      type 7) of all draws. The ESS of the 5% and 95% quantiles.
    * ``"mean"``: the split chains as they are: the ESS that governs the Monte Carlo error
      of the mean (see :func:`mcse`).

    Parameters
    ----------
    x : Tensor or ndarray of shape (n_chains, n_draws)
        Draws of one scalar quantity; at least 4 draws, all finite. Computed in float64.
    method : {"bulk", "tail", "mean"}

    Returns
    -------
    float
        The effective sample size. For constant draws (spread below 1e-15) every draw counts:
        the result is the number of split draws, :math:`2M \lfloor N/2 \rfloor`, as in ArviZ.

    Raises
    ------
    ValueError
        If ``x`` is not 2-D, has fewer than 4 draws or holds NaN or inf, or ``method`` is unknown.

    References
    ----------
    Vehtari et al. (2021); Geyer (1992), the initial positive and monotone sequence estimators.
    Stan Reference Manual, "Effective sample size".

    Notes
    -----
    Introduced in notebook 03_mcmc.
    """
    method = _check_method(method, tuple(_ESS))
    return _ESS[method](_chains(x))


def rhat(x, method: str = "rank") -> float:
    r"""Potential scale reduction factor R-hat of ``x`` (n_chains, n_draws), as ArviZ computes it.

    Gelman–Rubin on :math:`M` chains of :math:`N` draws, with chain means :math:`\bar x_m`,
    chain variances :math:`s_m^2` (divide by :math:`N-1`) and grand mean :math:`\bar x`:

    .. math::

        W = \frac1M \sum_m s_m^2, \qquad
        B = \frac{N}{M-1} \sum_m (\bar x_m - \bar x)^2, \qquad
        \hat R = \sqrt{\frac{\frac{N-1}{N} W + \frac1N B}{W}}.

    :math:`\hat R \to 1` as chains agree; values above 1.01 say "run longer" (Vehtari et al.).

    * ``"split"``: :math:`\hat R` of the split chains (first and last halves of each chain,
      middle draw dropped when :math:`N` is odd), so a trend inside one chain shows.
    * ``"rank"`` (default): :math:`\max(\hat R_{\text{bulk}}, \hat R_{\text{tail}})`, where
      :math:`\hat R_{\text{bulk}}` is split-:math:`\hat R` of the rank-normalised draws
      :math:`z = \Phi^{-1}((r - 3/8)/(S + 1/4))` and :math:`\hat R_{\text{tail}}` that of the
      rank-normalised folded draws :math:`|x - \operatorname{median}(x)|`, which catches chains
      that agree in location but not in scale.

    Parameters
    ----------
    x : Tensor or ndarray of shape (n_chains, n_draws)
        At least 2 chains and 4 draws, all finite. Computed in float64.
    method : {"rank", "split"}

    Returns
    -------
    float
        R-hat. Constant chains give NaN (W = B = 0: undefined); chains each constant but
        different from one another give inf (B > 0 = W). In ``"rank"``, Python's
        ``max(bulk, tail)`` is taken as ArviZ does: a NaN bulk value wins, a NaN tail loses.

    Raises
    ------
    ValueError
        If ``x`` is not 2-D, has fewer than 2 chains or 4 draws, or holds NaN or inf, or
        ``method`` is unknown. (ArviZ returns NaN for too few chains or draws.)

    References
    ----------
    Vehtari et al. (2021); Gelman and Rubin (1992).

    Notes
    -----
    Introduced in notebook 03_mcmc.
    """
    method = _check_method(method, ("rank", "split"))
    split = _split_chains(_chains(x, min_chains=2))  # (2M, N // 2)
    if method == "split":
        return _rhat_basic(split)
    sorted_values, order = torch.sort(split.reshape(-1))  # (S,)
    rhat_bulk = _rhat_basic(_unsort(_normal_scores(sorted_values), order).reshape(split.shape))
    size = sorted_values.numel()
    median = (sorted_values[(size - 1) // 2] + sorted_values[size // 2]) / 2.0
    # |x - median| read in the sorted order of x falls then rises: a stable sort of two runs is fast.
    folded_sorted, folded_order = torch.sort((sorted_values - median).abs(), stable=True)
    z_folded = _unsort(_unsort(_normal_scores(folded_sorted), folded_order), order)
    rhat_tail = _rhat_basic(z_folded.reshape(split.shape))
    return max(rhat_bulk, rhat_tail)


def mcse(x, method: str = "mean") -> float:
    r"""Monte Carlo standard error of the mean or of the standard deviation, as ArviZ computes it.

    * ``"mean"``: :math:`\operatorname{MCSE}(\bar x) = \hat\sigma / \sqrt{\widehat{\mathrm{ESS}}_
      \text{mean}}`, with :math:`\hat\sigma` the standard deviation of all draws (divide by
      :math:`MN - 1`) and the ESS of :func:`ess` with ``method="mean"``.
    * ``"sd"``: by the delta method, with :math:`y = (x - \bar x)^2`, :math:`v = \bar y` and
      :math:`\widehat{\mathrm{ESS}}_y` the mean-ESS of :math:`y`:

      .. math:: \operatorname{MCSE}(\hat\sigma) =
                \sqrt{\frac{\overline{y^2} - v^2}{4 v\, \widehat{\mathrm{ESS}}_y}}.

    Parameters
    ----------
    x : Tensor or ndarray of shape (n_chains, n_draws)
        Draws of one scalar quantity; at least 4 draws, all finite. Computed in float64.
    method : {"mean", "sd"}

    Returns
    -------
    float
        The standard error of the posterior mean (or sd) estimated from ``x``.

    Raises
    ------
    ValueError
        If ``x`` is not 2-D, has fewer than 4 draws or holds NaN or inf, or ``method`` is unknown.

    References
    ----------
    Vehtari et al. (2021). Stan Reference Manual, "Monte Carlo standard error".

    Notes
    -----
    Introduced in notebook 03_mcmc.
    """
    method = _check_method(method, ("mean", "sd"))
    chains = _chains(x)
    if method == "mean":
        return float(chains.std(correction=1) / math.sqrt(_ess_mean(chains)))
    squared = (chains - chains.mean()).square()  # y, (n_chains, n_draws)
    variance = squared.mean()  # v
    var_of_variance = (squared.square().mean() - variance.square()) / _ess_mean(squared)
    return float(torch.sqrt(var_of_variance / variance / 4.0))  # 0/0 -> NaN for constant x
