r"""Random-walk Metropolis, and the Metropolis–Hastings accept/reject step every corrected sampler uses.

Each chain proposes :math:`x' = x + \sigma z`, :math:`z \sim \mathcal N(0, I)`. The proposal is
symmetric, so the Metropolis–Hastings ratio reduces to the ratio of densities and the move is
accepted with probability

.. math::

    \alpha(x \to x') = \min\Bigl(1, \frac{p(x')}{p(x)}\Bigr) = \min\Bigl(1, e^{-(E(x') - E(x))/T}\Bigr).

No gradient is needed. The optimal acceptance in high dimension is about 0.234.

Introduced in notebook 03_mcmc.

References
----------
.. [1] N. Metropolis, A. W. Rosenbluth, M. N. Rosenbluth, A. H. Teller and E. Teller, "Equation of
   state calculations by fast computing machines", J. Chem. Phys. 21(6), 1953.
.. [2] W. K. Hastings, "Monte Carlo sampling methods using Markov chains and their applications",
   Biometrika 57(1), 1970.
.. [3] G. O. Roberts, A. Gelman and W. R. Gilks, "Weak convergence and optimal scaling of random
   walk Metropolis algorithms", Ann. Appl. Probab. 7(1), 1997.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebmlib._validation import Energy, check_generator
from ebmlib.samplers.state import SamplerState, check_sampler_args, energy_only, init_state, per_chain, run_chain


def metropolis_hastings(state: SamplerState, proposal: SamplerState, log_ratio: Tensor, generator) -> tuple[SamplerState, dict]:
    r"""Accept each chain's proposal with probability :math:`\min(1, e^{\log r})`, and keep the rest.

    A non-finite ``log_ratio`` (a NaN or infinite energy, gradient or position) is a
    divergence: the move is rejected and flagged, so the state stays finite.

    Parameters
    ----------
    state, proposal : SamplerState
        Current and proposed states of the same chains; ``grad`` is carried over when present.
    log_ratio : Tensor of shape (n_chains,)
        :math:`\log r`, e.g. from :func:`metropolis_log_acceptance`.
    generator : torch.Generator or None

    Returns
    -------
    state : SamplerState
    info : dict
        ``"accepted"`` (n_chains,) bool, ``"acceptance_probability"`` (n_chains,) (0 where
        divergent), ``"divergent"`` (n_chains,) bool.
    """
    x = state.position
    divergent = ~torch.isfinite(log_ratio)
    uniform = torch.rand(log_ratio.shape, generator=generator, dtype=log_ratio.dtype, device=log_ratio.device)
    acceptance_probability = torch.where(divergent, 0.0, log_ratio.clamp(max=0.0).exp())
    accepted = uniform < acceptance_probability  # (n_chains,)
    mask = accepted.view(-1, *([1] * (x.ndim - 1)))
    new = SamplerState(
        torch.where(mask, proposal.position, x),
        torch.where(accepted, proposal.energy, state.energy),
        None if state.grad is None else torch.where(mask, proposal.grad, state.grad),
        state.temperature,
    )
    info = {"accepted": accepted, "acceptance_probability": acceptance_probability, "divergent": divergent}
    return new, info



def metropolis_log_acceptance(state: SamplerState, proposal: SamplerState) -> Tensor:
    r"""Log of the Metropolis ratio of a symmetric proposal, :math:`-(E(x') - E(x))/T`, shape (n_chains,)."""
    return (state.energy - proposal.energy) / state.temperature


def metropolis_step(
    state: SamplerState, energy: Energy, proposal_scale: float | Tensor, *, generator: torch.Generator | None = None
) -> tuple[SamplerState, dict]:
    r"""One random-walk Metropolis step for every chain: propose :math:`x + \sigma z`, accept or reject.

    Parameters
    ----------
    state : SamplerState
        Its ``grad`` may be ``None`` (``init_state(..., grad=False)``); it is not used.
    energy : callable ``(n_chains, *event_shape) -> (n_chains,)``
    proposal_scale : float or Tensor of shape (n_chains,)
        σ, the standard deviation of the Gaussian proposal (not a step size: no dynamics is discretised).
    generator : torch.Generator, optional

    Returns
    -------
    state : SamplerState
    info : dict
        ``"accepted"``, ``"acceptance_probability"``, ``"divergent"`` (n_chains,) each.
    """
    x = state.position  # (n_chains, *event_shape)
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    x_new = x + per_chain(proposal_scale, x) * noise
    proposal = SamplerState(x_new, energy_only(energy, x_new), None, state.temperature)
    state = state._replace(grad=None)
    return metropolis_hastings(state, proposal, metropolis_log_acceptance(state, proposal), generator)


def metropolis(
    energy: Energy,
    x0: Tensor,
    n_steps: int,
    proposal_scale: float,
    *,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> tuple[Tensor, dict]:
    r"""Run random-walk Metropolis on a batch of chains.

    Proposal :math:`x' = x + \sigma z` with σ = ``proposal_scale``; acceptance
    :math:`\min(1, e^{-(E(x') - E(x))/T})`. One energy evaluation and no gradient per step.

    Parameters
    ----------
    energy, x0, n_steps, temperature, generator, progress
        As in :func:`~ebmlib.samplers.langevin`.
    proposal_scale : float
        σ > 0, the proposal's standard deviation.

    Returns
    -------
    samples : Tensor of shape (n_chains, n_steps, *event_shape)
    info : dict
        ``"acceptance_rate"`` (n_chains,), ``"accepted"`` (n_chains, n_steps) bool,
        ``"divergences"`` (n_chains,) int64, ``"n_gradient_evaluations"`` = 0,
        ``"n_energy_evaluations"`` = ``n_steps + 1`` per chain.
    """
    x0, n_steps, proposal_scale, temperature = check_sampler_args(
        x0, n_steps, proposal_scale, temperature, step_name="proposal_scale"
    )
    check_generator(generator, x0.device)
    state = init_state(energy, x0, temperature, grad=False)

    def step(s):
        return metropolis_step(s, energy, proposal_scale, generator=generator)

    samples, accepted, divergences, _ = run_chain(step, state, n_steps, metropolis=True, progress=progress)
    info = {
        "acceptance_rate": accepted.to(x0.dtype).mean(1),
        "accepted": accepted,
        "divergences": divergences,
        "n_gradient_evaluations": 0,
        "n_energy_evaluations": n_steps + 1,
    }
    return samples, info
