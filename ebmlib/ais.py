r"""Annealed importance sampling (AIS): log Z of an unnormalised density, from a base whose Z is known.

AIS (Neal 2001) walks from a base density :math:`f_0` with known normaliser :math:`Z_0`, from
which exact draws are cheap, to the target :math:`f_K = f` through intermediate densities
:math:`f_k`, :math:`0 = \beta_0 < \beta_1 < \dots < \beta_K = 1`. Each chain starts at an exact
draw :math:`x_0 \sim f_0 / Z_0` and alternates a weight update and a Markov step:

.. math::

    \log w \mathrel{+}= \log f_{\beta_k}(x_{k-1}) - \log f_{\beta_{k-1}}(x_{k-1}), \qquad
    x_k \sim T_{\beta_k}(\cdot \mid x_{k-1}),

where :math:`T_\beta` leaves :math:`f_\beta` invariant. Then :math:`\mathbb E[w] = Z / Z_0`
exactly, so :math:`\hat Z = Z_0 \cdot \tfrac1M \sum_m w_m` is unbiased; its logarithm
:math:`\log \hat Z` is biased low (Jensen's inequality), which is why averages of AIS estimates of
:math:`\log Z` fall at or below the truth.

The generic :func:`ais` takes any path and any transition. :func:`ais_energy` ships with it, for a
continuous energy :math:`E(x)`, on the geometric path
:math:`f_\beta = e^{-(1-\beta) E_0(x) - \beta E(x)}` from a Gaussian base, with random-walk
Metropolis steps. The RBM's AIS, :func:`ebmlib.rbm.ais_rbm`, lives with the RBM (``ebmlib/rbm/ais.py``),
where it uses the RBM's own conditionals.

Introduced in notebook 06_boltzmann_machines.

References
----------
.. [1] R. M. Neal, "Annealed importance sampling", Statistics and Computing 11(2), 125-139, 2001.
.. [2] R. Salakhutdinov and I. Murray, "On the quantitative analysis of deep belief networks",
   ICML 2008.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from ebmlib._validation import as_tensor, check_finite, check_generator, check_int, check_positive
from ebmlib.energies import Gaussian
from ebmlib.samplers import init_state, metropolis_step

__all__ = ["AISResult", "ais", "ais_energy", "check_betas", "linear_betas"]


class AISResult(NamedTuple):
    """What :func:`ais` returns: the estimate of log Z with its spread over independent runs.

    Attributes
    ----------
    log_z : Tensor, 0-d, float64
        :math:`\\log \\hat Z`, pooled over every chain of every run: ``log Z_0 + logmeanexp(log w)``.
    log_z_runs : Tensor of shape (n_runs,)
        The estimate of each run alone (each from its own ``n_chains`` chains).
    std : Tensor, 0-d
        The spread of ``log_z_runs`` (sample standard deviation; NaN for a single run).
    log_weights : Tensor of shape (n_runs, n_chains)
        :math:`\\log w` of each chain.
    samples : Tensor of shape (n_runs, n_chains, *event)
        Where the chains ended: approximate draws from the target.
    """

    log_z: Tensor
    log_z_runs: Tensor
    std: Tensor
    log_weights: Tensor
    samples: Tensor

    @property
    def stderr(self) -> Tensor:
        """Standard error of the estimate from the spread over runs: ``std / sqrt(n_runs)``."""
        return self.std / math.sqrt(self.log_z_runs.numel())


def linear_betas(n_betas: int, *, dtype=torch.float64, device=None) -> Tensor:
    """``n_betas`` inverse temperatures evenly spaced from 0 to 1 (both included), shape (n_betas,)."""
    n_betas = check_int(n_betas, "n_betas", minimum=2)
    return torch.linspace(0.0, 1.0, n_betas, dtype=dtype, device=device)


def check_betas(betas, device) -> Tensor:
    """An AIS schedule: a count n >= 2 (evenly spaced) or a 1-D tensor rising strictly from 0 to 1, float64."""
    if isinstance(betas, int) and not isinstance(betas, bool):
        return linear_betas(check_int(betas, "betas", minimum=2), device=device)
    betas = as_tensor(betas, "betas", dtype=torch.float64)
    if betas.ndim != 1 or betas.numel() < 2:
        raise ValueError(f"betas must be a 1-D schedule with at least 2 values, got shape {tuple(betas.shape)}")
    check_finite(betas, "betas")
    if betas[0] != 0 or betas[-1] != 1 or (betas[1:] <= betas[:-1]).any():
        raise ValueError("betas must increase strictly from 0 to 1 (betas[0] = 0, betas[-1] = 1)")
    return betas.to(device)


def ais(
    log_density: Callable[[Tensor, float], Tensor],
    transition: Callable[[Tensor, float, torch.Generator | None], Tensor],
    x0: Tensor,
    log_z_base,
    betas,
    *,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> AISResult:
    r"""Annealed importance sampling along a path :math:`f_\beta`, from exact base draws ``x0``.

    .. math::

        \log w = \sum_{k=1}^{K} \big[\log f_{\beta_k}(x_{k-1}) - \log f_{\beta_{k-1}}(x_{k-1})\big],
        \qquad \log \hat Z = \log Z_0 + \log \tfrac1M \textstyle\sum_m e^{\log w_m}.

    Parameters
    ----------
    log_density : callable ``(x, beta) -> Tensor of shape (n,)``
        :math:`\log f_\beta(x)` for a batch ``x`` of shape ``(n, *event)``, up to nothing: the
        constant must be the same for every :math:`\beta` except through :math:`f_\beta` itself.
    transition : callable ``(x, beta, generator) -> x_new``
        A Markov step (or several) that leaves :math:`f_\beta` invariant.
    x0 : Tensor of shape (n_runs, n_chains, *event)
        Exact draws from :math:`f_0 / Z_0`: ``n_runs`` independent runs of ``n_chains`` chains.
    log_z_base : float or 0-d Tensor
        :math:`\log Z_0`, the log normaliser of :math:`f_0`.
    betas : int or Tensor of shape (K + 1,)
        The schedule, increasing from 0 to 1; an int ``K + 1`` means :func:`linear_betas`.
    generator : torch.Generator or None
    progress : bool
        Show a ``tqdm.auto`` progress bar over the schedule.

    Returns
    -------
    AISResult
    """
    x0 = torch.as_tensor(x0)
    check_generator(generator, x0.device)
    if x0.ndim < 3:
        raise ValueError(f"x0 must have shape (n_runs, n_chains, *event), got shape {tuple(x0.shape)}")
    betas = check_betas(betas, x0.device)
    n_runs, n_chains = x0.shape[:2]
    x = x0.reshape(n_runs * n_chains, *x0.shape[2:])  # (n_runs * n_chains, *event)
    log_w = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
    steps = range(1, len(betas))
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="AIS", leave=False)
    beta_values = betas.tolist()
    for k in steps:
        log_w += (log_density(x, beta_values[k]) - log_density(x, beta_values[k - 1])).to(torch.float64)
        if k < len(beta_values) - 1:  # no step at beta = 1: it would not change the weights
            x = transition(x, beta_values[k], generator)
    log_w = log_w.reshape(n_runs, n_chains)
    log_z_base = torch.as_tensor(log_z_base, dtype=torch.float64, device=log_w.device)
    log_z_runs = log_z_base + torch.logsumexp(log_w, dim=1) - math.log(n_chains)  # (n_runs,)
    log_z = log_z_base + torch.logsumexp(log_w.flatten(), dim=0) - math.log(n_runs * n_chains)
    std = log_z_runs.std() if n_runs > 1 else torch.tensor(float("nan"), dtype=torch.float64)
    return AISResult(log_z, log_z_runs, std, log_w, x.reshape(x0.shape))


def ais_energy(
    energy: Callable[[Tensor], Tensor],
    base: Gaussian,
    n_chains: int = 200,
    betas=500,
    *,
    n_runs: int = 4,
    proposal_scale: float = 0.5,
    n_steps: int = 1,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> AISResult:
    r"""AIS estimate of :math:`\log Z = \log \int e^{-E(x)}\,dx` for a continuous energy, from a Gaussian.

    The path is geometric, :math:`\log f_\beta(x) = -(1-\beta)\,E_0(x) - \beta\,E(x)`, with
    :math:`E_0` the energy of ``base`` (so :math:`Z_0 = \sqrt{(2\pi)^d \det\Sigma}`), and each
    transition is ``n_steps`` random-walk Metropolis steps of proposal std ``proposal_scale`` on
    :math:`f_\beta` (:func:`ebmlib.samplers.metropolis_step`). Choose a base that covers the
    target: AIS cannot find mass the base never visits.

    Parameters
    ----------
    energy : callable ``(n, d) -> (n,)``
    base : ebmlib.energies.Gaussian
    n_chains, n_runs : int
        Chains per run, and independent runs (their spread is the error bar).
    betas : int or Tensor
        The schedule (see :func:`ais`).
    proposal_scale : float
        σ, the standard deviation of the random-walk proposal.
    n_steps : int
        Metropolis steps per temperature.
    generator : torch.Generator or None
    progress : bool

    Returns
    -------
    AISResult
    """
    if not isinstance(base, Gaussian):
        raise TypeError(f"base must be an ebmlib.energies.Gaussian, got {type(base).__name__}")
    n_chains = check_int(n_chains, "n_chains")
    n_runs = check_int(n_runs, "n_runs")
    n_steps = check_int(n_steps, "n_steps")
    proposal_scale = check_positive(proposal_scale, "proposal_scale")
    x0 = base.sample(n_runs * n_chains, generator=generator).reshape(n_runs, n_chains, base.dim)

    def annealed(beta: float) -> Callable[[Tensor], Tensor]:
        return lambda x: (1.0 - beta) * base(x) + beta * energy(x)

    def log_density(x: Tensor, beta: float) -> Tensor:
        return -annealed(beta)(x)

    def transition(x: Tensor, beta: float, generator) -> Tensor:
        target = annealed(beta)
        state = init_state(target, x, grad=False)
        for _ in range(n_steps):
            state, _ = metropolis_step(state, target, proposal_scale, generator=generator)
        return state.position

    return ais(log_density, transition, x0, base.log_partition(), betas, generator=generator, progress=progress)
