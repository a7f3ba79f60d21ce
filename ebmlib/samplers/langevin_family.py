r"""Langevin samplers: the unadjusted Langevin algorithm (ULA) and its Metropolis-adjusted form (MALA).

Both move every chain with one discretised Langevin step toward lower energy plus noise,

.. math::

    x' = x + \frac{\varepsilon}{2} \nabla \log p(x) + \sqrt{\varepsilon}\, z
       = x - \frac{\varepsilon}{2T} \nabla E(x) + \sqrt{\varepsilon}\, z, \qquad z \sim \mathcal N(0, I).

This file holds the one Langevin update of the library, :func:`langevin_move`; every other
Langevin sampler calls it: :func:`langevin_step` (and so :func:`langevin`, MALA's proposal, the
SGLD of :mod:`ebmlib.samplers.sgld`, the short-run negatives of contrastive divergence) and the
annealed Langevin dynamics of :func:`ebmlib.score.annealed_langevin`.

ULA keeps every move and so samples a slightly wrong distribution (on a standard normal its
stationary variance is :math:`1 / (1 - \varepsilon/4)`, not 1); MALA treats the move as a proposal
and accepts it with the Metropolis–Hastings probability, which makes ``p`` exactly invariant.

Introduced in notebook 03_mcmc.

References
----------
.. [1] G. O. Roberts and R. L. Tweedie, "Exponential convergence of Langevin distributions and
   their discrete approximations", Bernoulli 2(4), 1996.
.. [2] blackjax, ``blackjax/mcmc/mala.py``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebmlib._validation import Energy, NonFiniteError, check_generator
from ebmlib.samplers.random_walk import metropolis_hastings
from ebmlib.samplers.state import (
    SamplerState,
    check_clamp,
    check_sampler_args,
    energy_and_grad,
    init_state,
    per_chain,
    run_chain,
)


def langevin_move(
    x: Tensor,
    score: Tensor,
    step_size: float | Tensor,
    *,
    noise: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""The Langevin update, written once: :math:`x' = x + \frac{\varepsilon}{2}\, s(x) + \sqrt{\varepsilon}\, z`.

    With the score :math:`s = \nabla \log p = -\nabla E / T` this is the ULA step at temperature T;
    with a learned noise-conditional score it is one step of annealed Langevin dynamics.

    Parameters
    ----------
    x : Tensor of shape (n_chains, *event_shape)
    score : Tensor of shape (n_chains, *event_shape)
        :math:`\nabla_x \log p(x)` at ``x``.
    step_size : float or Tensor of shape (n_chains,)
        ε > 0.
    noise : Tensor of shape (n_chains, *event_shape), optional
        The standard normal draws z; drawn on the device of ``x`` from ``generator`` if not given.
    generator : torch.Generator, optional

    Returns
    -------
    Tensor of shape (n_chains, *event_shape)
    """
    if noise is None:
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    if isinstance(step_size, Tensor):  # one ε per chain
        eps = per_chain(step_size, x)
        return x + (0.5 * eps) * score + eps.sqrt() * noise  # (n_chains, *event_shape)
    # a float ε: two fused multiply-adds, x + (ε/2) s, then + √ε z in place
    return torch.add(x, score, alpha=0.5 * step_size).add_(noise, alpha=math.sqrt(step_size))


def _langevin_proposal(
    state: SamplerState, energy: Energy, step_size: float | Tensor, generator, clamp=None
) -> SamplerState:
    x = state.position  # (n_chains, *event_shape)
    score = state.grad * (-1.0 / per_chain(state.temperature, x))  # -∇E / T, one pass over the batch
    x_new = langevin_move(x, score, step_size, generator=generator)
    if clamp is not None:
        x_new = x_new.clamp(*clamp)
    e_new, g_new = energy_and_grad(energy, x_new)
    return SamplerState(x_new, e_new, g_new, state.temperature)


def langevin_step(
    state: SamplerState,
    energy: Energy,
    step_size: float | Tensor,
    *,
    clamp: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
) -> tuple[SamplerState, dict]:
    r"""One ULA step for every chain: :math:`x' = x - \frac{\varepsilon}{2T}\nabla E(x) + \sqrt{\varepsilon} z`.

    Parameters
    ----------
    state : SamplerState
        From :func:`~ebmlib.samplers.state.init_state`; its ``grad`` is used, not recomputed.
    energy : callable ``(n_chains, *event_shape) -> (n_chains,)``
    step_size : float or Tensor of shape (n_chains,)
        ε.
    clamp : (low, high), optional
        Clip every new position to this box (images kept in their pixel range); the energy and
        its gradient are then evaluated at the clipped point.
    generator : torch.Generator, optional

    Returns
    -------
    state : SamplerState
        Every move is kept, also a non-finite one (a NaN is never hidden).
    info : dict
        ``"divergent"``: Tensor (n_chains,) bool, the new position or energy is not finite.
    """
    new = _langevin_proposal(state, energy, step_size, generator, clamp)
    divergent = ~(torch.isfinite(new.energy) & torch.isfinite(new.position).flatten(1).all(1))
    return new, {"divergent": divergent}


def mala_log_acceptance(state: SamplerState, proposal: SamplerState, step_size: float | Tensor) -> Tensor:
    r"""Log of the Metropolis–Hastings ratio of a Langevin proposal, shape (n_chains,).

    .. math::

        \log r = -\frac{E(x') - E(x)}{T} + \log q(x \mid x') - \log q(x' \mid x), \qquad
        \log q(y \mid x) = -\frac{\lVert y - x + \frac{\varepsilon}{2T}\nabla E(x) \rVert^2}{2\varepsilon}
        + \text{const},

    and the move is accepted with probability :math:`\min(1, r)`. NaN where anything is not
    finite: the caller turns it into a rejection.
    """
    x, x_new = state.position, proposal.position
    drift = per_chain(step_size, x) / (2 * per_chain(state.temperature, x))  # ε / 2T
    forward = (x_new - x + drift * state.grad).square().flatten(1).sum(1)  # (n_chains,)
    backward = (x - x_new + drift * proposal.grad).square().flatten(1).sum(1)  # (n_chains,)
    # -(‖·‖²_backward - ‖·‖²_forward) / 2ε, with ε a float or one per chain
    return (state.energy - proposal.energy) / state.temperature + (forward - backward) / (2 * step_size)


def mala_step(
    state: SamplerState, energy: Energy, step_size: float | Tensor, *, generator: torch.Generator | None = None
) -> tuple[SamplerState, dict]:
    r"""One MALA step for every chain: a ULA proposal, accepted with :func:`mala_log_acceptance`.

    Parameters
    ----------
    state : SamplerState
    energy : callable ``(n_chains, *event_shape) -> (n_chains,)``
    step_size : float or Tensor of shape (n_chains,)
        ε of the Langevin proposal.
    generator : torch.Generator, optional

    Returns
    -------
    state : SamplerState
    info : dict
        ``"accepted"`` (n_chains,) bool, ``"acceptance_probability"`` (n_chains,),
        ``"divergent"`` (n_chains,) bool (rejected).
    """
    proposal = _langevin_proposal(state, energy, step_size, generator)
    return metropolis_hastings(state, proposal, mala_log_acceptance(state, proposal, step_size), generator)


def langevin(
    energy: Energy,
    x0: Tensor,
    n_steps: int,
    step_size: float,
    *,
    temperature: float = 1.0,
    keep: str = "all",
    clamp: tuple[float, float] | None = None,
    on_divergence: str = "count",
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> tuple[Tensor, dict]:
    r"""Run the unadjusted Langevin algorithm (ULA) on a batch of chains.

    .. math::

        x_{t+1} = x_t + \frac{\varepsilon}{2} \nabla \log p(x_t) + \sqrt{\varepsilon}\, z_t, \qquad
        \nabla \log p = -\nabla E / T, \quad z_t \sim \mathcal N(0, I).

    No Metropolis correction: the chain is biased by O(ε) (on a standard normal the stationary
    variance is :math:`1/(1 - \varepsilon/4)`). One gradient evaluation per step.

    Parameters
    ----------
    energy : callable ``(n_chains, *event_shape) -> (n_chains,)``
        The target is :math:`p(x) \propto \exp(-E(x)/T)`.
    x0 : Tensor of shape (n_chains, *event_shape)
        One starting point per chain; the chains move together as one tensor.
    n_steps : int
        Number of steps, ≥ 1 (≥ 0 with ``keep="last"``).
    step_size : float
        ε > 0.
    temperature : float
        T > 0.
    keep : {"all", "last"}
        ``"all"`` records every step; ``"last"`` keeps only the final positions (the negatives of
        contrastive divergence, SGLD's output), with no path allocated.
    clamp : (low, high), optional
        Clip the chains to this box after every step (see :func:`langevin_step`).
    on_divergence : {"count", "raise"}
        ``"count"`` keeps a non-finite chain and counts it in ``info["divergences"]``; ``"raise"``
        raises :class:`~ebmlib._validation.NonFiniteError` at the end instead (for callers that
        train on the samples: contrastive divergence, SGLD negatives).
    generator : torch.Generator, optional
        On the device of ``x0``. Same seed, same samples.
    progress : bool
        Show a progress bar.

    Returns
    -------
    samples : Tensor of shape (n_chains, n_steps, *event_shape), or (n_chains, *event_shape) with ``keep="last"``
        In the dtype and on the device of ``x0``; ``x0`` itself is not included (with
        ``keep="last"`` and ``n_steps = 0``, a copy of ``x0``).
    info : dict
        ``"divergences"``: Tensor (n_chains,) int64, the number of steps whose position or energy
        was not finite (kept, never hidden; with ``keep="last"`` the last step's energy is not
        evaluated, only its position); ``"n_gradient_evaluations"``: int per chain
        (``n_steps + 1``, the start included; ``n_steps`` with ``keep="last"``, whose last move
        needs no gradient at its end).

    Examples
    --------
    >>> import torch
    >>> from ebmlib.samplers import langevin
    >>> energy = lambda x: 0.5 * x.square().sum(1)
    >>> samples, info = langevin(energy, torch.zeros(100, 2), 50, 0.1, generator=torch.Generator().manual_seed(0))
    >>> samples.shape
    torch.Size([100, 50, 2])
    """
    if keep not in ("all", "last"):
        raise ValueError(f'keep must be "all" or "last", got {keep!r}')
    if on_divergence not in ("count", "raise"):
        raise ValueError(f'on_divergence must be "count" or "raise", got {on_divergence!r}')
    x0, n_steps, step_size, temperature = check_sampler_args(
        x0, n_steps, step_size, temperature, min_steps=0 if keep == "last" else 1
    )
    check_generator(generator, x0.device)
    clamp = check_clamp(clamp)
    state = init_state(energy, x0, temperature)

    def step(s):
        return langevin_step(s, energy, step_size, clamp=clamp, generator=generator)

    if keep == "all":
        samples, _, divergences, state = run_chain(step, state, n_steps, metropolis=False, progress=progress)
        n_gradients = n_steps + 1
    else:  # the last move needs no gradient at its end: n_steps - 1 full steps, then the move alone
        _, _, divergences, state = run_chain(step, state, max(n_steps - 1, 0), metropolis=False, progress=progress,
                                             record=False)  # fmt: skip
        samples = state.position.clone()
        if n_steps:
            x = state.position
            score = state.grad * (-1.0 / per_chain(state.temperature, x))
            samples = langevin_move(x, score, step_size, generator=generator)
            samples = samples if clamp is None else samples.clamp(*clamp)
            divergences += ~torch.isfinite(samples).flatten(1).all(1)
        n_gradients = max(n_steps, 1)
    if on_divergence == "raise" and bool((divergences > 0).any()):
        n_bad = int((divergences > 0).sum())
        raise NonFiniteError(
            f"{n_bad} Langevin chain(s) diverged (a non-finite position or energy); lower step_size (got {step_size})"
        )
    return samples, {"divergences": divergences, "n_gradient_evaluations": n_gradients}


def mala(
    energy: Energy,
    x0: Tensor,
    n_steps: int,
    step_size: float,
    *,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> tuple[Tensor, dict]:
    r"""Run the Metropolis-adjusted Langevin algorithm (MALA) on a batch of chains.

    Proposal :math:`x' = x - \frac{\varepsilon}{2T}\nabla E(x) + \sqrt{\varepsilon} z`, accepted with
    probability :math:`\min\bigl(1, \frac{p(x') q(x \mid x')}{p(x) q(x' \mid x)}\bigr)`, so that
    :math:`p \propto \exp(-E/T)` is exactly invariant. Optimal acceptance in high dimension ≈ 0.574
    (Roberts and Rosenthal 1998). One gradient evaluation per step.

    Parameters
    ----------
    energy, x0, n_steps, step_size, temperature, generator, progress
        As in :func:`langevin`.

    Returns
    -------
    samples : Tensor of shape (n_chains, n_steps, *event_shape)
    info : dict
        ``"acceptance_rate"`` (n_chains,), ``"accepted"`` (n_chains, n_steps) bool,
        ``"divergences"`` (n_chains,) int64 (non-finite proposals, all rejected),
        ``"n_gradient_evaluations"`` int per chain (``n_steps + 1``).
    """
    x0, n_steps, step_size, temperature = check_sampler_args(x0, n_steps, step_size, temperature)
    check_generator(generator, x0.device)
    state = init_state(energy, x0, temperature)

    def step(s):
        return mala_step(s, energy, step_size, generator=generator)

    samples, accepted, divergences, _ = run_chain(step, state, n_steps, metropolis=True, progress=progress)
    info = {
        "acceptance_rate": accepted.to(x0.dtype).mean(1),
        "accepted": accepted,
        "divergences": divergences,
        "n_gradient_evaluations": n_steps + 1,
    }
    return samples, info
