r"""Parallel tempering (replica exchange): MALA at a ladder of temperatures, with swaps between neighbours.

Each chain is a ladder of replicas at temperatures :math:`T_0 < T_1 < \dots < T_{K-1}`, the first
being the target. Hot replicas cross energy barriers easily; swaps hand their positions down the
ladder. A swap of the replicas at levels i and j is accepted with probability

.. math::

    \min\bigl(1, \exp\bigl((\beta_i - \beta_j)(E(x_i) - E(x_j))\bigr)\bigr), \qquad \beta = 1/T,

which keeps the product :math:`\prod_k p_{T_k}(x_k)` invariant, so the level-0 replica samples
:math:`\exp(-E/T_0)`. Swaps alternate between the even pairs (0,1), (2,3), … and the odd pairs
(1,2), (3,4), … on successive steps. All replicas of all chains move as one batch of
``n_temperatures * n_chains`` rows.

Introduced in notebook 03_mcmc.

References
----------
.. [1] R. H. Swendsen and J.-S. Wang, "Replica Monte Carlo simulation of spin-glasses",
   Phys. Rev. Lett. 57(21), 1986.
.. [2] C. J. Geyer, "Markov chain Monte Carlo maximum likelihood", Computing Science and
   Statistics, 1991.
.. [3] D. J. Earl and M. W. Deem, "Parallel tempering: theory, applications, and new
   perspectives", Phys. Chem. Chem. Phys. 7, 2005.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebmlib._validation import Energy, check_generator, check_int, check_positive, check_positive_tensor
from ebmlib.samplers.langevin_family import mala_step
from ebmlib.samplers.state import SamplerState, check_sampler_args, init_state


def swap_step(
    state: SamplerState, n_temperatures: int, parity: int, *, generator: torch.Generator | None = None
) -> tuple[SamplerState, dict]:
    r"""Propose swaps between adjacent temperatures, pairs (k, k+1) for k = parity, parity + 2, ….

    Parameters
    ----------
    state : SamplerState
        ``n_temperatures * n_chains`` rows, level-major: row ``k * n_chains + i`` is chain i at
        level k; ``state.temperature`` is a Tensor of shape (n_temperatures * n_chains,).
    n_temperatures : int
    parity : int
        0 for the even pairs, 1 for the odd pairs.
    generator : torch.Generator, optional

    Returns
    -------
    state : SamplerState
        Positions, energies and gradients exchanged where accepted; temperatures stay put.
    info : dict
        ``"lower"``: Tensor (n_pairs,), the lower level of each pair tried; ``"accepted"``:
        Tensor (n_pairs, n_chains) bool.
    """
    K = n_temperatures
    n = state.energy.shape[0] // K
    device = state.energy.device
    lower = torch.arange(parity, K - 1, 2, device=device)  # (n_pairs,)
    upper = lower + 1
    beta = state.temperature.view(K, n).reciprocal()  # (K, n)
    e = state.energy.view(K, n)  # (K, n)
    log_ratio = (beta[lower] - beta[upper]) * (e[lower] - e[upper])  # (n_pairs, n)
    uniform = torch.rand(log_ratio.shape, generator=generator, dtype=log_ratio.dtype, device=device)
    accepted = uniform < log_ratio.clamp(max=0.0).exp()  # (n_pairs, n)
    rows = torch.arange(K * n, device=device).view(K, n)
    perm = rows.clone()
    perm[lower] = torch.where(accepted, rows[upper], rows[lower])
    perm[upper] = torch.where(accepted, rows[lower], rows[upper])
    perm = perm.view(-1)  # (K * n,)
    new = SamplerState(state.position[perm], state.energy[perm], state.grad[perm], state.temperature)
    return new, {"lower": lower, "accepted": accepted}


def parallel_tempering(
    energy: Energy,
    x0: Tensor,
    n_steps: int,
    step_size: float | Tensor,
    *,
    temperatures,
    n_local_steps: int = 1,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> tuple[Tensor, dict]:
    r"""Sample :math:`\exp(-E/T_0)` by parallel tempering with MALA local moves.

    Every step: ``n_local_steps`` MALA moves at every temperature, then one round of swaps
    between adjacent temperatures (even and odd pairs alternately); the level-0 positions are
    recorded.

    Parameters
    ----------
    energy : callable ``(n, *event_shape) -> (n,)``
    x0 : Tensor of shape (n_chains, *event_shape)
        Starting point of each chain, used at every temperature.
    n_steps : int
    step_size : float or Tensor of shape (n_temperatures,)
        A float ε is the MALA step at ``temperatures[0]`` and is scaled as
        :math:`\varepsilon_k = \varepsilon\, T_k / T_0` (the width of a tempered mode grows like
        √T); a tensor gives each temperature its own step.
    temperatures : sequence or Tensor of shape (n_temperatures,)
        Strictly increasing, all > 0; ``temperatures[0]`` is the target's temperature.
    n_local_steps : int
        MALA moves per temperature between swap rounds.
    generator : torch.Generator, optional
    progress : bool

    Returns
    -------
    samples : Tensor of shape (n_chains, n_steps, *event_shape)
        The replicas at ``temperatures[0]``.
    info : dict
        ``"acceptance_rate"`` (n_chains,) and ``"accepted"`` (n_chains, n_steps * n_local_steps)
        of the local moves at ``temperatures[0]``; ``"acceptance_rate_per_temperature"``
        (n_temperatures,); ``"swap_acceptance_rate"`` (n_temperatures - 1,), pair (k, k+1) at k;
        ``"divergences"`` (n_chains,) int64, summed over the chain's replicas;
        ``"n_gradient_evaluations"`` int per chain, all replicas counted
        (``n_temperatures * (n_steps * n_local_steps + 1)``).
    """
    x0, n_steps, _, _ = check_sampler_args(x0, n_steps, 1.0, 1.0)
    check_generator(generator, x0.device)
    n_local_steps = check_int(n_local_steps, "n_local_steps", minimum=1)
    temps = check_positive_tensor(temperatures, "temperatures")
    if temps.ndim != 1:
        raise ValueError(f"temperatures must have shape (n_temperatures,), got {tuple(temps.shape)}")
    if (temps[1:] <= temps[:-1]).any():
        raise ValueError(f"temperatures must be strictly increasing, got {temps.tolist()}")
    K, n = temps.numel(), x0.shape[0]
    if isinstance(step_size, Tensor) and step_size.numel() > 1:
        steps = check_positive_tensor(step_size, "step_size")
        if steps.shape != (K,):
            raise ValueError(f"step_size must be a float or have shape ({K},), got {tuple(steps.shape)}")
    else:
        steps = check_positive(step_size, "step_size") * temps / temps[0]
    temps = temps.to(dtype=x0.dtype, device=x0.device)
    steps = steps.to(dtype=x0.dtype, device=x0.device)

    x = x0.repeat(K, *([1] * (x0.ndim - 1)))  # (K * n_chains, *event_shape), level-major
    state = init_state(energy, x, temps.repeat_interleave(n))
    step_rows = steps.repeat_interleave(n)  # (K * n_chains,)

    samples = x0.new_empty((n, n_steps, *x0.shape[1:]))  # (n_chains, n_steps, *event_shape)
    accepted = torch.empty((n, n_steps * n_local_steps), dtype=torch.bool, device=x0.device)
    accepted_per_level = torch.zeros(K, dtype=torch.int64, device=x0.device)
    divergences = torch.zeros(n, dtype=torch.int64, device=x0.device)
    swaps_accepted = torch.zeros(max(K - 1, 0), dtype=torch.int64, device=x0.device)
    swaps_tried = torch.zeros(max(K - 1, 0), dtype=torch.int64, device=x0.device)
    loop = range(n_steps)
    if progress:
        from tqdm.auto import trange

        loop = trange(n_steps)
    for t in loop:
        for j in range(n_local_steps):
            state, info = mala_step(state, energy, step_rows, generator=generator)
            flags = info["accepted"].view(K, n)
            accepted[:, t * n_local_steps + j] = flags[0]
            accepted_per_level += flags.sum(1)
            divergences += info["divergent"].view(K, n).sum(0)
        if K > 1:
            state, swap = swap_step(state, K, t % 2, generator=generator)
            swaps_accepted.index_add_(0, swap["lower"], swap["accepted"].sum(1))
            swaps_tried[swap["lower"]] += n
        samples[:, t] = state.position[:n]

    info = {
        "acceptance_rate": accepted.to(x0.dtype).mean(1),
        "accepted": accepted,
        "acceptance_rate_per_temperature": accepted_per_level.to(x0.dtype) / (n * n_steps * n_local_steps),
        "swap_acceptance_rate": swaps_accepted.to(x0.dtype) / swaps_tried.clamp(min=1).to(x0.dtype),
        "divergences": divergences,
        "n_gradient_evaluations": K * (n_steps * n_local_steps + 1),
    }
    return samples, info
