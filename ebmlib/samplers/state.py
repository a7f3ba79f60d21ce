r"""The sampler state shared by every sampler, and the loop that runs a one-step function.

A state carries the position of every chain *and* the energy and its gradient there, so
that no step recomputes what the previous step already knew (the design of blackjax's
``MALAState``, in PyTorch). All chains are one tensor of shape ``(n_chains, *event_shape)``.

Introduced in notebook 03_mcmc.

References
----------
.. [1] blackjax, ``blackjax/mcmc/mala.py`` and ``blackjax/mcmc/hmc.py``: a state with cached
   log-density and gradient, an ``init`` and a one-step kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from ebmlib._validation import (
    Energy,
    as_tensor,
    check_energy_values,
    check_finite,
    check_int,
    check_positive,
    check_temperature,
)


class SamplerState(NamedTuple):
    """Where a batch of chains stands.

    Attributes
    ----------
    position : Tensor of shape (n_chains, *event_shape)
    energy : Tensor of shape (n_chains,)
        ``E(position)``, the raw energy (not divided by the temperature).
    grad : Tensor of shape (n_chains, *event_shape), or None
        ``∇E(position)``; ``None`` for samplers that never need it (random-walk Metropolis).
    temperature : float, or Tensor of shape (n_chains,)
        The target of chain ``i`` is ``exp(-E(x) / temperature[i])``; a tensor lets one batch
        hold chains at several temperatures (parallel tempering).
    """

    position: Tensor
    energy: Tensor
    grad: Tensor | None
    temperature: float | Tensor


def energy_and_grad(energy: Energy, x: Tensor) -> tuple[Tensor, Tensor]:
    r"""Return ``E(x)`` and ``∇_x E(x)`` with one forward and one backward pass.

    Parameters
    ----------
    energy : callable ``(n, *event_shape) -> (n,)``
    x : Tensor of shape (n, *event_shape)

    Returns
    -------
    energy : Tensor of shape (n,), detached
    grad : Tensor of shape (n, *event_shape)
        Rows are independent, so ``∇_x Σ_i E(x_i)`` gives every chain's gradient at once.
        Only ``x`` is differentiated: the energy's own parameters collect no gradient.
    """
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        e = energy(x)  # (n,)
        (grad,) = torch.autograd.grad(e.sum(), x)
    return e.detach(), grad


def energy_only(energy: Energy, x: Tensor) -> Tensor:
    """Return ``E(x)``, shape (n,), without building a graph."""
    with torch.no_grad():
        return energy(x)


def per_chain(value: float | Tensor, like: Tensor) -> float | Tensor:
    """A float stays a float; a per-chain tensor (n_chains,) is shaped to broadcast over ``like``."""
    if isinstance(value, Tensor):
        return value.view(-1, *([1] * (like.ndim - 1)))  # (n_chains, 1, ..., 1)
    return value


def init_state(energy: Energy, x: Tensor, temperature: float | Tensor = 1.0, *, grad: bool = True) -> SamplerState:
    """Evaluate the energy (and its gradient) at the starting positions.

    Parameters
    ----------
    energy : callable ``(n_chains, *event_shape) -> (n_chains,)``
    x : Tensor of shape (n_chains, *event_shape)
        Starting positions, one row per chain; not modified.
    temperature : float or Tensor of shape (n_chains,)
    grad : bool
        Also compute ``∇E(x)`` (every sampler but random-walk Metropolis needs it).

    Returns
    -------
    SamplerState

    Raises
    ------
    ValueError
        If the energy does not return shape ``(n_chains,)``; a :class:`NonFiniteError` (a ValueError)
        if it is not finite at ``x``.
    """
    x = x.detach()
    if grad:
        e, g = energy_and_grad(energy, x)
    else:
        e, g = energy_only(energy, x), None
    check_energy_values(e, x, "energy", " at x0, the chains' starting points")
    return SamplerState(x, e, g, temperature)


def check_sampler_args(
    x0, n_steps, step_size, temperature, *, min_steps: int = 1, step_name: str = "step_size"
) -> tuple[Tensor, int, float, float]:
    """Validate the arguments every sampler shares, at the door, once: x0, n_steps, the step ε (or σ) and T."""
    x0 = as_tensor(x0, "x0")
    if x0.ndim < 2:
        raise ValueError(
            f"x0 must have shape (n_chains, *event_shape) with a batch dimension, got shape {tuple(x0.shape)}"
        )
    if x0.shape[0] == 0:
        raise ValueError(f"x0 must hold at least one chain, got shape {tuple(x0.shape)}")
    check_finite(x0, "x0")
    n_steps = check_int(n_steps, "n_steps", minimum=min_steps)
    step_size = check_positive(step_size, step_name)
    temperature = check_temperature(temperature, "temperature")
    return x0, n_steps, step_size, temperature


def check_clamp(clamp) -> tuple[float, float] | None:
    """None, or a box ``(low, high)`` with ``low < high`` as two floats."""
    if clamp is None:
        return None
    try:
        low, high = (float(c) for c in clamp)
    except (TypeError, ValueError) as err:
        raise ValueError(f"clamp must be None or a pair (low, high), got {clamp!r}") from err
    if not low < high:
        raise ValueError(f"clamp must be (low, high) with low < high, got {clamp!r}")
    return low, high


def run_chain(
    step: Callable, state: SamplerState, n_steps: int, *, metropolis: bool, progress: bool = False, record: bool = True
):
    """Apply ``step(state) -> (state, info)`` ``n_steps`` times and record every position (unless ``record`` is False).

    The samples tensor and the per-step ``accepted`` flags are allocated once; the loop holds
    no ``.item()`` so a GPU never waits on the host.

    Returns
    -------
    samples : Tensor of shape (n_chains, n_steps, *event_shape), or None when ``record`` is False
    accepted : Tensor of shape (n_chains, n_steps), bool, or None when ``metropolis`` is False
    divergences : Tensor of shape (n_chains,), int64
    state : SamplerState, the last one
    """
    x = state.position
    n_chains = x.shape[0]
    samples = x.new_empty((n_chains, n_steps, *x.shape[1:])) if record else None  # (n_chains, n_steps, *event_shape)
    accepted = torch.empty((n_chains, n_steps), dtype=torch.bool, device=x.device) if metropolis else None
    divergences = torch.zeros(n_chains, dtype=torch.int64, device=x.device)
    steps = range(n_steps)
    if progress:
        from tqdm.auto import trange

        steps = trange(n_steps)
    for t in steps:
        state, info = step(state)
        if record:
            samples[:, t] = state.position
        divergences += info["divergent"]
        if metropolis:
            accepted[:, t] = info["accepted"]
    return samples, accepted, divergences, state
