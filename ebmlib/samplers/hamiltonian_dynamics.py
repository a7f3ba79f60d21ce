r"""Hamiltonian Monte Carlo: the leapfrog integrator and the HMC step.

Each chain gets a momentum :math:`p \sim \mathcal N(0, M)` and follows the dynamics of

.. math::

    H(x, p) = \frac{E(x)}{T} + \tfrac12 p^\top M^{-1} p

with ``n_leapfrog`` leapfrog steps of size ε,

.. math::

    p_{1/2} = p - \frac{\varepsilon}{2T}\nabla E(x), \qquad
    x' = x + \varepsilon M^{-1} p_{1/2}, \qquad
    p' = p_{1/2} - \frac{\varepsilon}{2T}\nabla E(x'),

then accepts the end point with probability :math:`\min(1, \exp(H(x, p) - H(x', p')))`. The
leapfrog map is reversible (negate the momentum and it retraces its path) and preserves volume,
so this is an exact Metropolis–Hastings step; its energy error is O(ε²) over a fixed time.
``M`` is diagonal here: a tensor of shape ``event_shape`` (``None`` is the identity).

Introduced in notebook 03_mcmc.

References
----------
.. [1] S. Duane, A. D. Kennedy, B. J. Pendleton and D. Roweth, "Hybrid Monte Carlo",
   Physics Letters B 195(2), 1987.
.. [2] R. M. Neal, "MCMC using Hamiltonian dynamics", Handbook of Markov Chain Monte Carlo, 2011.
.. [3] blackjax, ``blackjax/mcmc/hmc.py`` and ``blackjax/mcmc/integrators.py``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebmlib._validation import Energy, as_tensor, check_generator, check_int
from ebmlib.samplers.random_walk import metropolis_hastings
from ebmlib.samplers.state import (
    SamplerState,
    check_sampler_args,
    energy_and_grad,
    init_state,
    per_chain,
    run_chain,
)


def check_mass(mass, x0: Tensor) -> Tensor | None:
    """``None``, or the diagonal mass as a tensor of x0's event shape, dtype and device, all > 0."""
    if mass is None:
        return None
    mass = as_tensor(mass, "mass").to(dtype=x0.dtype, device=x0.device)
    if mass.shape != x0.shape[1:]:
        raise ValueError(f"mass must have the event shape {tuple(x0.shape[1:])} of x0, got {tuple(mass.shape)}")
    if not torch.isfinite(mass).all() or (mass <= 0).any():
        raise ValueError("mass must be finite and > 0 everywhere")
    return mass


def leapfrog(
    energy: Energy,
    state: SamplerState,
    momentum: Tensor,
    step_size: float | Tensor,
    n_leapfrog: int,
    *,
    inverse_mass: Tensor | None = None,
) -> tuple[SamplerState, Tensor]:
    r"""Integrate Hamilton's equations with ``n_leapfrog`` leapfrog steps of size ε.

    Uses the cached ``state.grad`` at the start and evaluates the gradient once per step
    (``n_leapfrog`` evaluations); the half kicks of consecutive steps are merged.

    Parameters
    ----------
    energy : callable ``(n_chains, *event_shape) -> (n_chains,)``
    state : SamplerState
        Position, energy and gradient at the start; its temperature T scales the force ∇E/T.
    momentum : Tensor of shape (n_chains, *event_shape)
    step_size : float or Tensor of shape (n_chains,)
    n_leapfrog : int
    inverse_mass : Tensor of shape event_shape, optional
        :math:`M^{-1}`, diagonal; ``None`` for the identity.

    Returns
    -------
    state : SamplerState
        At the end of the trajectory, with its energy and gradient.
    momentum : Tensor of shape (n_chains, *event_shape)
        At the end of the trajectory (not negated).
    """
    x, grad = state.position, state.grad
    eps = per_chain(step_size, x)
    kick = eps / per_chain(state.temperature, x)  # ε / T
    p = momentum - (0.5 * kick) * grad  # half kick
    for i in range(n_leapfrog):
        velocity = p if inverse_mass is None else p * inverse_mass
        x = x + eps * velocity  # drift
        e, grad = energy_and_grad(energy, x)
        p = p - (kick if i < n_leapfrog - 1 else 0.5 * kick) * grad  # full kick, half at the end
    return SamplerState(x, e, grad, state.temperature), p


def hamiltonian(state: SamplerState, momentum: Tensor, *, inverse_mass: Tensor | None = None) -> Tensor:
    r"""``H(x, p) = E(x)/T + ½ pᵀM⁻¹p`` for every chain, shape (n_chains,)."""
    kinetic = momentum.square() if inverse_mass is None else momentum.square() * inverse_mass
    return state.energy / state.temperature + 0.5 * kinetic.flatten(1).sum(1)


def hmc_log_acceptance(
    state: SamplerState,
    momentum: Tensor,
    proposal: SamplerState,
    proposal_momentum: Tensor,
    *,
    inverse_mass: Tensor | None = None,
) -> Tensor:
    r"""Log of the HMC acceptance ratio, :math:`H(x, p) - H(x', p')`, shape (n_chains,).

    The move is accepted with probability :math:`\min(1, \exp(H(x, p) - H(x', p')))`; the
    momentum flip that makes the proposal an involution leaves the kinetic energy unchanged.
    """
    return hamiltonian(state, momentum, inverse_mass=inverse_mass) - hamiltonian(
        proposal, proposal_momentum, inverse_mass=inverse_mass
    )


def hmc_step(
    state: SamplerState,
    energy: Energy,
    step_size: float | Tensor,
    n_leapfrog: int,
    *,
    mass: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[SamplerState, dict]:
    r"""One HMC step for every chain: fresh momentum, ``n_leapfrog`` leapfrog steps, accept or reject.

    Parameters
    ----------
    state : SamplerState
    energy : callable ``(n_chains, *event_shape) -> (n_chains,)``
    step_size : float or Tensor of shape (n_chains,)
        ε of the leapfrog.
    n_leapfrog : int
    mass : Tensor of shape event_shape, optional
        Diagonal of M; momentum :math:`p = \sqrt{M} z`.
    generator : torch.Generator, optional

    Returns
    -------
    state : SamplerState
    info : dict
        ``"accepted"``, ``"acceptance_probability"``, ``"divergent"`` (n_chains,) each; a
        non-finite end point is rejected and counted as divergent.
    """
    x = state.position
    momentum = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    inverse_mass = None
    if mass is not None:
        momentum = momentum * mass.sqrt()
        inverse_mass = mass.reciprocal()
    proposal, proposal_momentum = leapfrog(energy, state, momentum, step_size, n_leapfrog, inverse_mass=inverse_mass)
    log_ratio = hmc_log_acceptance(state, momentum, proposal, proposal_momentum, inverse_mass=inverse_mass)
    return metropolis_hastings(state, proposal, log_ratio, generator)


def hmc(
    energy: Energy,
    x0: Tensor,
    n_steps: int,
    step_size: float,
    *,
    n_leapfrog: int = 10,
    mass: Tensor | None = None,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> tuple[Tensor, dict]:
    r"""Run Hamiltonian Monte Carlo on a batch of chains.

    Each step draws :math:`p \sim \mathcal N(0, M)`, runs :func:`leapfrog` for ``n_leapfrog``
    steps of size ε on :math:`H = E/T + \frac12 p^\top M^{-1} p` and accepts with probability
    :math:`\min(1, e^{-\Delta H})`. Cost: ``n_leapfrog`` gradient evaluations per step.

    Parameters
    ----------
    energy, x0, n_steps, step_size, temperature, generator, progress
        As in :func:`~ebmlib.samplers.langevin`.
    n_leapfrog : int
        Leapfrog steps per HMC step, ≥ 1.
    mass : Tensor of shape event_shape, optional
        Diagonal mass matrix, entries > 0; ``None`` is the identity. A good choice is the
        inverse of the target's marginal variances.

    Returns
    -------
    samples : Tensor of shape (n_chains, n_steps, *event_shape)
    info : dict
        ``"acceptance_rate"`` (n_chains,), ``"accepted"`` (n_chains, n_steps) bool,
        ``"divergences"`` (n_chains,) int64, ``"n_gradient_evaluations"`` int per chain
        (``n_steps * n_leapfrog + 1``).
    """
    x0, n_steps, step_size, temperature = check_sampler_args(x0, n_steps, step_size, temperature)
    check_generator(generator, x0.device)
    n_leapfrog = check_int(n_leapfrog, "n_leapfrog", minimum=1)
    mass = check_mass(mass, x0)
    state = init_state(energy, x0, temperature)

    def step(s):
        return hmc_step(s, energy, step_size, n_leapfrog, mass=mass, generator=generator)

    samples, accepted, divergences, _ = run_chain(step, state, n_steps, metropolis=True, progress=progress)
    info = {
        "acceptance_rate": accepted.to(x0.dtype).mean(1),
        "accepted": accepted,
        "divergences": divergences,
        "n_gradient_evaluations": n_steps * n_leapfrog + 1,
    }
    return samples, info
