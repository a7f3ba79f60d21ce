"""MCMC samplers for energy-based models: ULA, MALA, HMC, random-walk Metropolis, parallel tempering, SGLD.

Every sampler targets :math:`p(x) \\propto \\exp(-E(x)/T)`, moves a batch of chains
``x0`` of shape ``(n_chains, *event_shape)`` as one tensor and returns
``(samples, info)`` with samples of shape ``(n_chains, n_steps, *event_shape)``.
Under each ``sampler(...)`` sits a one-step function ``state -> (state, info)`` over a
:class:`SamplerState` that caches the energy and its gradient.

Introduced in notebook 03_mcmc.

The Langevin update is written once, :func:`langevin_move` in ``langevin_family``; ULA, MALA's
proposal, the SGLD of neural EBMs (a parametrisation: ε = σ², T = σ²/(2a)), the negatives of
contrastive divergence and annealed Langevin all call it.

Modules: ``state`` (the state, ``energy_and_grad`` and the loop), ``langevin_family`` (the Langevin move,
ULA, MALA), ``sgld`` (SGLD with drift and noise set apart, its implied temperature; notebook 07),
``hamiltonian_dynamics`` (leapfrog, HMC), ``random_walk`` (Metropolis and the Metropolis–Hastings step),
``tempering`` (parallel tempering), ``adaptation`` (step-size tuning).
"""

from ebmlib.samplers.adaptation import adapt_step_size
from ebmlib.samplers.hamiltonian_dynamics import hamiltonian, hmc, hmc_log_acceptance, hmc_step, leapfrog
from ebmlib.samplers.langevin_family import langevin, langevin_move, langevin_step, mala, mala_log_acceptance, mala_step
from ebmlib.samplers.random_walk import metropolis, metropolis_hastings, metropolis_log_acceptance, metropolis_step
from ebmlib.samplers.sgld import implied_temperature, sgld, sgld_step, sgld_to_langevin
from ebmlib.samplers.state import SamplerState, energy_and_grad, init_state
from ebmlib.samplers.tempering import parallel_tempering, swap_step

__all__ = [
    "SamplerState",
    "adapt_step_size",
    "energy_and_grad",
    "hamiltonian",
    "hmc",
    "hmc_log_acceptance",
    "hmc_step",
    "implied_temperature",
    "init_state",
    "langevin",
    "langevin_move",
    "langevin_step",
    "leapfrog",
    "mala",
    "mala_log_acceptance",
    "mala_step",
    "metropolis",
    "metropolis_hastings",
    "metropolis_log_acceptance",
    "metropolis_step",
    "parallel_tempering",
    "sgld",
    "sgld_step",
    "sgld_to_langevin",
    "swap_step",
]
