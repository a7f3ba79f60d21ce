r"""Thermodynamics of the 2-D Ising model by Monte Carlo: energy, heat capacity and magnetisation per site.

``n_chains`` independent chains per temperature start fully ordered and run ``n_sweeps``
checkerboard Metropolis sweeps; the first ``burn_in`` sweeps are discarded. For chain :math:`r` at
temperature :math:`T`, with :math:`e_t = E(s_t)/N` and :math:`m_t = \tfrac1N\sum_i s_{t,i}` after
sweep :math:`t` (:math:`N = L^2` sites):

.. math::

    u_r = \overline{e_t}, \qquad
    c_r = \frac{N\,\overline{(e_t - u_r)^2}}{T^2}, \qquad
    |m|_r = \overline{|m_t|},

time averages over the kept sweeps (:math:`c = \operatorname{Var}(E)/(N T^2)` is the fluctuation
formula for the heat capacity per site). Each quantity is reported as the mean over the independent
chains, with the standard error :math:`\operatorname{sd}_r / \sqrt{n_\text{chains}}`: the chains
share nothing, so their spread is an honest error bar whatever the autocorrelation within a chain.
(The magnetisation is :math:`\langle |m| \rangle`: on a finite lattice :math:`\langle m \rangle = 0`
by symmetry, while :math:`\langle |m| \rangle` tends to Yang's spontaneous magnetisation below
:math:`T_c` and to 0 above it as :math:`L \to \infty`.)

References
----------
.. [1] M. E. J. Newman and G. T. Barkema, *Monte Carlo Methods in Statistical Physics*, Oxford
   (1999), ch. 3 (equilibration, measurement, errors from independent runs).

Introduced in notebook 02_boltzmann_and_temperature.
"""

from __future__ import annotations

import math

import torch

from ebmlib._validation import check_generator, check_int, check_positive_tensor
from ebmlib.ising.metropolis import _run

__all__ = ["measure_thermodynamics"]


def measure_thermodynamics(
    L, temperatures, n_sweeps, burn_in, n_chains, *, generator: torch.Generator | None = None, progress: bool = False
) -> dict[str, torch.Tensor]:
    r"""Energy, heat capacity and magnetisation per site of the L × L Ising model, with error bars.

    Parameters
    ----------
    L : int
        Side of the lattice, even (>= 2).
    temperatures : sequence or 1-D Tensor of shape (n_T,)
        Every entry finite and > 0.
    n_sweeps : int
        Checkerboard sweeps per chain, burn-in included.
    burn_in : int
        Sweeps discarded at the start of every chain, 0 <= burn_in <= n_sweeps - 2.
    n_chains : int >= 2
        Independent chains per temperature (all started from all spins up).
    generator : torch.Generator, optional
    progress : bool

    Returns
    -------
    dict of Tensors of shape (n_T,), float64
        ``"energy"``, ``"heat_capacity"``, ``"magnetization"``: the means over chains of
        :math:`u_r`, :math:`c_r` and :math:`|m|_r` (module docstring); ``"energy_error"``,
        ``"heat_capacity_error"``, ``"magnetization_error"``: their standard errors
        :math:`\operatorname{sd}_r/\sqrt{n_\text{chains}}`.

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    L = check_int(L, "L", minimum=2)
    if L % 2:
        raise ValueError(f"L must be even (the checkerboard needs two colours), got L = {L}")
    t = check_positive_tensor(temperatures, "temperatures")
    if t.ndim != 1:
        raise ValueError(f"temperatures must be a 1-D tensor, got shape {tuple(t.shape)}")
    n_sweeps = check_int(n_sweeps, "n_sweeps", minimum=2)
    burn_in = check_int(burn_in, "burn_in", minimum=0)
    if burn_in > n_sweeps - 2:
        raise ValueError(f"burn_in must leave at least 2 sweeps to measure, got burn_in = {burn_in} of n_sweeps = {n_sweeps}")
    n_chains = check_int(n_chains, "n_chains", minimum=2)
    check_generator(generator)
    chain_t = t.repeat_interleave(n_chains)  # (n_T * n_chains,)
    spins = torch.ones(chain_t.numel(), L, L, dtype=torch.float64)
    _, energy, mag, _ = _run(spins, chain_t.view(-1, 1, 1), n_sweeps, generator, progress)
    e = energy[burn_in:].reshape(n_sweeps - burn_in, t.numel(), n_chains)  # (kept sweeps, n_T, n_chains)
    m = mag[burn_in:].reshape(n_sweeps - burn_in, t.numel(), n_chains).abs()
    per_chain = {
        "energy": e.mean(0),
        "heat_capacity": L * L * e.var(0) / t[:, None] ** 2,
        "magnetization": m.mean(0),
    }  # each (n_T, n_chains)
    result = {}
    for name, values in per_chain.items():
        result[name] = values.mean(1)
        result[f"{name}_error"] = values.std(1) / math.sqrt(n_chains)
    return result
