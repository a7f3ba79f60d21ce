r"""Step-size adaptation toward a target acceptance rate, by dual averaging on the log step size.

After step m, with :math:`\bar\alpha_m` the acceptance probability averaged over the chains,

.. math::

    \bar H_m = \Bigl(1 - \frac{1}{m + t_0}\Bigr)\bar H_{m-1} + \frac{\delta - \bar\alpha_m}{m + t_0}, \qquad
    \log\varepsilon_m = \mu - \frac{\sqrt m}{\gamma}\bar H_m, \qquad
    \log\bar\varepsilon_m = m^{-\kappa}\log\varepsilon_m + (1 - m^{-\kappa})\log\bar\varepsilon_{m-1},

with δ the target acceptance, :math:`\mu = \log(10\,\varepsilon_0)`, γ = 0.05, t₀ = 10, κ = 0.75.
The averaged :math:`\bar\varepsilon` is returned; the chains move meanwhile, so this is also a
burn-in. Targets by default: MALA 0.574, HMC 0.65 (the optimal scaling results of Roberts and
Rosenthal 1998, Beskos et al. 2013).

Introduced in notebook 03_mcmc.

References
----------
.. [1] M. D. Hoffman and A. Gelman, "The No-U-Turn sampler", JMLR 15, 2014, Algorithm 5.
.. [2] Y. Nesterov, "Primal-dual subgradient methods for convex problems", Math. Program. 120, 2009.
.. [3] blackjax, ``blackjax/adaptation/step_size.py``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebmlib._validation import Energy, check_generator, check_int
from ebmlib.samplers.hamiltonian_dynamics import check_mass, hmc, hmc_step
from ebmlib.samplers.langevin_family import mala, mala_step
from ebmlib.samplers.state import check_sampler_args, init_state

DEFAULT_TARGET = {"mala": 0.574, "hmc": 0.65}
_BY_FUNCTION = {mala: "mala", hmc: "hmc"}


def adapt_step_size(
    energy: Energy,
    x0: Tensor,
    n_steps: int,
    step_size: float,
    *,
    sampler="mala",
    target_acceptance: float | None = None,
    n_leapfrog: int = 10,
    mass: Tensor | None = None,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> float:
    r"""Tune the step size of a Metropolis-corrected sampler so that it accepts ``target_acceptance``.

    Parameters
    ----------
    energy : callable ``(n_chains, *event_shape) -> (n_chains,)``
    x0 : Tensor of shape (n_chains, *event_shape)
        Starting points; more chains give a less noisy acceptance estimate at each step.
    n_steps : int
        Adaptation steps, ≥ 1 (a few hundred is plenty with many chains).
    step_size : float
        Initial guess ε₀ > 0.
    sampler : {"mala", "hmc"} or one of the functions ``mala``, ``hmc``
        (random-walk Metropolis has a ``proposal_scale``, not a step size, and is not tuned here)
    target_acceptance : float in (0, 1), optional
        δ; the sampler's optimal-scaling value when omitted.
    n_leapfrog, mass : as in :func:`~ebmlib.samplers.hmc` (HMC only).
    temperature : float
    generator : torch.Generator, optional

    Returns
    -------
    float
        The tuned step size :math:`\bar\varepsilon`.
    """
    name = _BY_FUNCTION.get(sampler, sampler)
    if name not in DEFAULT_TARGET:
        raise ValueError(f"sampler must be one of {sorted(DEFAULT_TARGET)} (or the function), got {sampler!r}")
    x0, n_steps, step_size, temperature = check_sampler_args(x0, n_steps, step_size, temperature)
    check_generator(generator, x0.device)
    target = DEFAULT_TARGET[name] if target_acceptance is None else float(target_acceptance)
    if not 0.0 < target < 1.0:
        raise ValueError(f"target_acceptance must lie in (0, 1), got {target_acceptance}")
    if name == "hmc":
        n_leapfrog = check_int(n_leapfrog, "n_leapfrog", minimum=1)
        mass = check_mass(mass, x0)

    def step(state, eps):
        if name == "mala":
            return mala_step(state, energy, eps, generator=generator)
        return hmc_step(state, energy, eps, n_leapfrog, mass=mass, generator=generator)

    state = init_state(energy, x0, temperature)
    gamma, t0, kappa = 0.05, 10.0, 0.75
    mu = math.log(10.0 * step_size)
    h_bar, log_eps, log_eps_bar = 0.0, math.log(step_size), 0.0
    for m in range(1, n_steps + 1):
        state, info = step(state, math.exp(log_eps))
        alpha = info["acceptance_probability"].mean().item()
        h_bar = (1.0 - 1.0 / (m + t0)) * h_bar + (target - alpha) / (m + t0)
        log_eps = mu - math.sqrt(m) / gamma * h_bar
        weight = m ** (-kappa)
        log_eps_bar = weight * log_eps + (1.0 - weight) * log_eps_bar
    return math.exp(log_eps_bar)
