r"""The two-dimensional Ising model: exact enumeration, checkerboard Metropolis, Onsager's solution.

Spins :math:`s_i = \pm 1` sit on an :math:`L \times L` square lattice with periodic boundaries;
coupling :math:`J = 1`, no field, :math:`k_B = 1`. The energy counts every bond once, as the bonds
from each site to its right and its lower neighbour:

.. math::

    E(s) = -\sum_{\langle ij \rangle} s_i s_j
         = -\sum_{a, b} s_{a,b} \bigl(s_{a,b+1} + s_{a+1,b}\bigr) \quad (\text{indices mod } L),

so a lattice of :math:`N = L^2` sites has :math:`2N` bonds and ground-state energy :math:`-2N`.
(For :math:`L = 2` the right and the left neighbour are the same site: each pair is then joined by
two bonds, and both are counted.)

The infinite lattice orders below the critical temperature
:math:`T_c = 2 / \log(1 + \sqrt 2) \approx 2.269185` (Kramers and Wannier 1941); Onsager (1944)
found its free energy exactly, Yang (1952) its spontaneous magnetisation.

Shapes: configurations ``(n, L, L)``; Monte Carlo traces ``(n_sweeps, n_chains)``.

``onsager``     :data:`TC`, :func:`onsager_log_z`, :func:`onsager_energy`, :func:`onsager_magnetization`
``lattice``     :func:`lattice_energy`, :func:`magnetization`, :func:`all_configurations`, :func:`all_energies`,
                :func:`enumerate_log_z`, :func:`random_spins`, :func:`bond_energy` (unchecked)
``metropolis``  :func:`metropolis_half_sweep` (and its unchecked core :func:`flip_sites`), :func:`checkerboard_metropolis`, :func:`geometric_schedule`,
                :func:`simulated_annealing`
``measure``     :func:`measure_thermodynamics`: energy, heat capacity and magnetisation per site with error bars

References
----------
.. [1] L. Onsager, "Crystal statistics. I. A two-dimensional model with an order-disorder
   transition", Phys. Rev. 65, 117-149 (1944).
.. [2] C. N. Yang, "The spontaneous magnetization of a two-dimensional Ising model", Phys. Rev. 85,
   808-816 (1952).
.. [3] K. Huang, *Statistical Mechanics*, 2nd ed., Wiley (1987), ch. 15.
.. [4] M. E. J. Newman and G. T. Barkema, *Monte Carlo Methods in Statistical Physics*, Oxford
   (1999), ch. 3-4 (Metropolis, checkerboard updates).
.. [5] S. Kirkpatrick, C. D. Gelatt and M. P. Vecchi, "Optimization by simulated annealing",
   Science 220, 671-680 (1983).

Introduced in notebook 02_boltzmann_and_temperature.
"""

from ebmlib.ising.lattice import (
    MAX_ENUMERATION_L,
    all_configurations,
    bond_energy,
    all_energies,
    enumerate_log_z,
    lattice_energy,
    magnetization,
    random_spins,
)
from ebmlib.ising.metropolis import (
    checkerboard_metropolis,
    flip_sites,
    geometric_schedule,
    metropolis_half_sweep,
    simulated_annealing,
)
from ebmlib.ising.measure import measure_thermodynamics
from ebmlib.ising.onsager import TC, onsager_energy, onsager_log_z, onsager_magnetization

__all__ = [
    "TC",
    "onsager_log_z",
    "onsager_energy",
    "onsager_magnetization",
    "MAX_ENUMERATION_L",
    "bond_energy",
    "flip_sites",
    "lattice_energy",
    "magnetization",
    "all_configurations",
    "all_energies",
    "enumerate_log_z",
    "random_spins",
    "metropolis_half_sweep",
    "checkerboard_metropolis",
    "geometric_schedule",
    "simulated_annealing",
    "measure_thermodynamics",
]
