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

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from scipy import integrate, special

from ebmlib._validation import as_tensor, check_int, check_ndim, check_positive, check_positive_tensor

__all__ = [
    "TC",
    "onsager_log_z",
    "onsager_energy",
    "onsager_magnetization",
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
]

TC = 2.0 / math.log(1.0 + math.sqrt(2.0))
"""Critical temperature :math:`T_c = 2 / \\log(1 + \\sqrt 2) \\approx 2.269185` (J = k_B = 1)."""

MAX_ENUMERATION_L = 4  # 2^16 = 65536 configurations; L = 5 would be 2^25, 33 million


# --- Onsager's exact solution of the infinite lattice -------------------------------------------


def _onsager_temperature(T) -> tuple[np.ndarray, torch.Tensor]:
    """``T`` (float or tensor of any shape) as a float64 numpy array, and the validated tensor."""
    t = check_positive_tensor(T, "T")
    return t.detach().cpu().numpy(), t


def _sech(x: np.ndarray) -> np.ndarray:
    """1 / cosh(x) for x >= 0, without overflow."""
    e = np.exp(-x)
    return 2.0 * e / (1.0 + e * e)


def _kappa(beta: np.ndarray) -> np.ndarray:
    """Onsager's modulus k = 2 sinh(2β) / cosh²(2β) = 2 tanh(2β) sech(2β), in [0, 1], 1 only at T_c."""
    return np.minimum(2.0 * np.tanh(2.0 * beta) * _sech(2.0 * beta), 1.0)


def onsager_log_z(T) -> torch.Tensor:
    r"""Log partition function per site of the infinite square-lattice Ising model, :math:`\log Z / N`.

    Onsager's double integral,

    .. math::

        \frac{\log Z}{N} = \log 2 + \frac{1}{2\pi^2} \int_0^\pi\!\!\int_0^\pi
            \log\bigl[\cosh^2 2\beta - \sinh 2\beta\,(\cos\theta_1 + \cos\theta_2)\bigr]\,
            d\theta_1\, d\theta_2, \qquad \beta = 1/T,

    reduces, doing the inner integral in closed form, to one integral (Huang, eq. 15.128)

    .. math::

        \frac{\log Z}{N} = \log(2\cosh 2\beta) + \frac{1}{\pi} \int_0^{\pi/2}
            \log \frac{1 + \sqrt{1 - k^2 \sin^2\phi}}{2}\, d\phi,
        \qquad k = \frac{2 \sinh 2\beta}{\cosh^2 2\beta},

    which is computed here by adaptive quadrature (``scipy.integrate.quad_vec``, absolute error
    below 1e-13) in float64, all temperatures at once. The integrand is written as
    :math:`\operatorname{log1p}(-x / (2 (1 + \sqrt{1-x})))`, :math:`x = k^2 \sin^2\phi`, and
    :math:`\log(2\cosh 2\beta) = 2\beta + \operatorname{log1p}(e^{-4\beta})`, so both limits are
    accurate: :math:`\log 2` as :math:`T \to \infty`, :math:`2\beta` (the ground state, energy
    :math:`-2` per site) as :math:`T \to 0`. At :math:`T_c` (:math:`k = 1`) the integrand has a
    square-root kink at :math:`\phi = \pi/2`, which the adaptive rule resolves.

    Parameters
    ----------
    T : float or Tensor of any shape
        Temperatures, finite and > 0.

    Returns
    -------
    Tensor, float64, of the shape of ``T`` (0-d for a float), on ``T``'s device.

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    t_np, t = _onsager_temperature(T)
    beta = 1.0 / t_np.reshape(-1)
    k2 = _kappa(beta) ** 2

    def integrand(phi: float) -> np.ndarray:
        x = k2 * math.sin(phi) ** 2
        return np.log1p(-x / (2.0 * (1.0 + np.sqrt(1.0 - x))))

    integral, _ = integrate.quad_vec(integrand, 0.0, math.pi / 2, epsabs=1e-14, epsrel=1e-13, norm="max", limit=2000)
    log_z = 2.0 * beta + np.log1p(np.exp(-4.0 * beta)) + integral / math.pi
    return torch.as_tensor(log_z.reshape(t_np.shape), dtype=torch.float64, device=t.device)


def _k_minus_half_pi(m: np.ndarray) -> np.ndarray:
    r"""K(m) - π/2 for 0 <= m < 1/4, without cancellation: (π/2) Σ_{n≥1} [(2n-1)!!/(2n)!!]² mⁿ."""
    total, term, c = np.zeros_like(m), np.ones_like(m), 1.0
    for n in range(1, 41):  # (1/4)^40 ~ 1e-24: far below float64 resolution
        c *= (2 * n - 1) / (2 * n)
        term = term * m
        total = total + c * c * term
    return (math.pi / 2) * total


def onsager_energy(T) -> torch.Tensor:
    r"""Mean energy per site of the infinite lattice, :math:`u = -\partial (\log Z / N) / \partial \beta`.

    .. math::

        u(T) = -\coth 2\beta \Bigl[1 + \frac{2}{\pi} (2 \tanh^2 2\beta - 1)\, K(k)\Bigr],
        \qquad k = \frac{2 \sinh 2\beta}{\cosh^2 2\beta},

    with :math:`K(k) = \int_0^{\pi/2} d\phi / \sqrt{1 - k^2 \sin^2\phi}` the complete elliptic
    integral of the first kind (``scipy.special.ellipk`` takes :math:`m = k^2`).

    At :math:`T_c`, :math:`k = 1` and :math:`K` diverges logarithmically while
    :math:`2\tanh^2 2\beta - 1` vanishes linearly; the product tends to 0, so :math:`u` is continuous
    with :math:`u(T_c) = -\coth 2\beta_c = -\sqrt 2`, which is returned there (for
    :math:`|T - T_c| \le 10^{-12} T_c`). At high temperature the bracket is a small difference of
    terms near 1; there (:math:`k^2 < 1/4`) it is rewritten as
    :math:`-\tfrac{2}{\pi}(K - \tfrac{\pi}{2}) + \tfrac{4}{\pi}\tanh^2(2\beta) K` with
    :math:`K - \pi/2` from its power series, so :math:`u \approx -2/T` stays accurate.

    Parameters
    ----------
    T : float or Tensor of any shape
        Temperatures, finite and > 0.

    Returns
    -------
    Tensor, float64, of the shape of ``T``, on ``T``'s device.

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    t_np, t = _onsager_temperature(T)
    beta = 1.0 / t_np
    tanh2 = np.tanh(2.0 * beta)
    m = _kappa(beta) ** 2
    at_tc = (np.abs(t_np - TC) <= 1e-12 * TC) | (m >= 1.0)
    small = m < 0.25
    with np.errstate(divide="ignore", invalid="ignore"):
        k = special.ellipk(np.where(at_tc, 0.0, m))
        near_one = 1.0 + (2.0 / math.pi) * np.where(at_tc, 0.0, (2.0 * tanh2**2 - 1.0) * k)
        series = -(2.0 / math.pi) * _k_minus_half_pi(np.where(small, m, 0.0)) + (4.0 / math.pi) * tanh2**2 * k
    bracket = np.where(small, series, near_one)
    u = -bracket / tanh2
    return torch.as_tensor(u, dtype=torch.float64, device=t.device)


def onsager_magnetization(T) -> torch.Tensor:
    r"""Spontaneous magnetisation per site of the infinite lattice (Yang 1952).

    .. math::

        m(T) = \bigl(1 - \sinh^{-4} 2\beta\bigr)^{1/8} \quad (T < T_c), \qquad m(T) = 0 \quad (T \ge T_c).

    It vanishes as :math:`(T_c - T)^{1/8}` at :math:`T_c` and tends to 1 as :math:`T \to 0`.

    Parameters
    ----------
    T : float or Tensor of any shape
        Temperatures, finite and > 0.

    Returns
    -------
    Tensor, float64, of the shape of ``T``, on ``T``'s device.

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    t_np, t = _onsager_temperature(T)
    with np.errstate(over="ignore"):
        inv_sinh4 = np.sinh(2.0 / t_np) ** -4.0  # 0 when sinh overflows (T < 0.003)
    m = np.where(t_np < TC, np.clip(1.0 - inv_sinh4, 0.0, 1.0) ** 0.125, 0.0)
    return torch.as_tensor(m, dtype=torch.float64, device=t.device)


# --- configurations, energies, enumeration ------------------------------------------------------


def _check_spins(spins, name: str = "spins", *, even: bool = False) -> torch.Tensor:
    """A floating tensor (n, L, L) with entries ±1; L even when ``even``."""
    s = as_tensor(spins, name)
    check_ndim(s, name, 3, "(n, L, L)")
    if s.shape[-1] != s.shape[-2] or s.shape[-1] == 0:
        raise ValueError(f"{name} must have shape (n, L, L) with L >= 1, got shape {tuple(s.shape)}")
    if not ((s == 1) | (s == -1)).all():
        raise ValueError(f"{name} must hold only +1 and -1 entries")
    if even and s.shape[-1] % 2:
        raise ValueError(
            f"{name} must have an even side L (the checkerboard needs two colours), got L = {s.shape[-1]}"
        )
    return s


def _energy(s: torch.Tensor) -> torch.Tensor:
    """E(s) = -Σ s (right + down), no checks. (n, L, L) -> (n,). (0 - x, not -x: no "-0.0".)"""
    return 0.0 - (s * (torch.roll(s, -1, dims=-1) + torch.roll(s, -1, dims=-2))).sum(dim=(-2, -1))


def lattice_energy(spins) -> torch.Tensor:
    r"""Total energy :math:`E(s) = -\sum_{a,b} s_{a,b}(s_{a,b+1} + s_{a+1,b})` of each configuration.

    Periodic boundaries, each bond counted once (each site's right and lower bond).

    Parameters
    ----------
    spins : Tensor of shape (n, L, L), entries ±1

    Returns
    -------
    Tensor of shape (n,), in the dtype of ``spins``.

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    return _energy(_check_spins(spins))


def magnetization(spins) -> torch.Tensor:
    r"""Magnetisation per site :math:`m(s) = \frac{1}{N}\sum_i s_i`, shape (n,) for spins (n, L, L).

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    return _check_spins(spins).mean(dim=(-2, -1))


def _check_enumerable(L) -> int:
    L = check_int(L, "L", minimum=2)
    if L > MAX_ENUMERATION_L:
        raise ValueError(f"L must be at most {MAX_ENUMERATION_L} for enumeration (2^(L^2) states), got L = {L}")
    return L


def all_configurations(L) -> torch.Tensor:
    r"""Every configuration of the :math:`L \times L` lattice, shape (2^(L²), L, L), entries ±1.

    Row ``k`` is the binary expansion of ``k``: site ``j`` (row-major, ``(j // L, j % L)``) is
    +1 where bit ``j`` is 1 and -1 where it is 0. So row 0 is all down and the last row all up.
    ``2 <= L <= 4``; the dtype is torch's default.

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    L = _check_enumerable(L)
    n = L * L
    bits = (torch.arange(2**n).unsqueeze(1) >> torch.arange(n)) & 1  # (2^n, n)
    return (2 * bits - 1).to(torch.get_default_dtype()).reshape(-1, L, L)


@functools.lru_cache(maxsize=None)
def _all_energies(L: int) -> torch.Tensor:
    return _energy(all_configurations(L).to(torch.float64))


def all_energies(L) -> torch.Tensor:
    """Energies of :func:`all_configurations` ``(L)``, in the same order: float64, shape (2^(L²),).

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    return _all_energies(_check_enumerable(L)).clone()


def enumerate_log_z(L, T) -> torch.Tensor:
    r"""Exact :math:`\log Z = \log \sum_s e^{-E(s)/T}` of the :math:`L \times L` lattice (total, not per site).

    By log-sum-exp over all :math:`2^{L^2}` configurations, ``2 <= L <= 4``.

    Parameters
    ----------
    L : int
    T : float or Tensor of shape (m,)
        Temperature(s), finite and > 0.

    Returns
    -------
    Tensor, float64, of shape () or (m,).

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    energies = _all_energies(_check_enumerable(L))
    t = check_positive_tensor(T, "T")
    if t.ndim > 1:
        raise ValueError(f"T must be a number or a 1-D tensor of temperatures, got shape {tuple(t.shape)}")
    return torch.logsumexp(-energies.to(t.device) / t.unsqueeze(-1), dim=-1)


def random_spins(n_chains, L, *, generator: torch.Generator | None = None, dtype=None, device=None) -> torch.Tensor:
    """Independent uniform ±1 spins (infinite temperature), shape (n_chains, L, L).

    The dtype is torch's default unless given.

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    n_chains = check_int(n_chains, "n_chains", minimum=1)
    L = check_int(L, "L", minimum=1)
    bits = torch.randint(0, 2, (n_chains, L, L), generator=generator, device=device)
    return (2 * bits - 1).to(dtype or torch.get_default_dtype())


# --- checkerboard Metropolis ---------------------------------------------------------------------


def _chain_temperature(temperature, s: torch.Tensor) -> torch.Tensor:
    """A float or (n_chains,) temperature as a tensor of shape (n_chains or 1, 1, 1) like ``s``."""
    if isinstance(temperature, torch.Tensor) and temperature.numel() != 1:
        t = check_positive_tensor(temperature, "temperature")
        if t.shape != (s.shape[0],):
            raise ValueError(
                f"temperature must be a number or a tensor of shape (n_chains,) = ({s.shape[0]},), "
                f"got shape {tuple(t.shape)}"
            )
        return t.to(dtype=s.dtype, device=s.device).view(-1, 1, 1)
    return torch.full((1, 1, 1), check_positive(temperature, "temperature"), dtype=s.dtype, device=s.device)


def _colour_masks(L: int, device) -> torch.Tensor:
    """Boolean masks (2, L, L): entry c marks the sites with (a + b) % 2 == c."""
    i = torch.arange(L, device=device)
    parity = (i[:, None] + i[None, :]) % 2
    return torch.stack([parity == 0, parity == 1])


def _half_sweep(s, t, on_colour, uniforms) -> tuple[torch.Tensor, torch.Tensor]:
    """Metropolis flips of the sites in ``on_colour``; no checks. Returns new spins and the flip mask."""
    field = torch.roll(s, 1, -1) + torch.roll(s, -1, -1) + torch.roll(s, 1, -2) + torch.roll(s, -1, -2)
    delta_e = 2.0 * s * field  # energy change if s_i flips, (n_chains, L, L)
    flip = on_colour & (uniforms < torch.exp(-delta_e / t))
    return torch.where(flip, -s, s), flip


def metropolis_half_sweep(spins, temperature, color, uniforms) -> torch.Tensor:
    r"""Metropolis update of every site of one checkerboard colour, all chains at once.

    Sites with :math:`(a + b) \bmod 2 = \text{color}` have all four neighbours of the other colour
    (for even :math:`L`), so they can be updated simultaneously and exactly as one after the
    other. Site :math:`i` flips when

    .. math:: u_i < e^{-\Delta E_i / T}, \qquad \Delta E_i = 2 s_i \textstyle\sum_{j \sim i} s_j .

    Parameters
    ----------
    spins : Tensor of shape (n_chains, L, L), entries ±1, L even
    temperature : float or Tensor of shape (n_chains,)
    color : 0 or 1
    uniforms : Tensor of shape (n_chains, L, L), uniforms on [0, 1)

    Returns
    -------
    Tensor of shape (n_chains, L, L): the new spins (``spins`` is not modified).

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    s = _check_spins(spins, even=True)
    t = _chain_temperature(temperature, s)
    if color not in (0, 1):
        raise ValueError(f"color must be 0 or 1, got {color!r}")
    u = as_tensor(uniforms, "uniforms")
    if u.shape != s.shape:
        raise ValueError(f"uniforms must have the shape of spins {tuple(s.shape)}, got {tuple(u.shape)}")
    return _half_sweep(s, t, _colour_masks(s.shape[-1], s.device)[color], u.to(s.dtype))[0]


def _run(s, t, n_sweeps, generator, progress=False):
    """n_sweeps checkerboard sweeps; returns spins, energy and magnetisation traces, flip counts."""
    n, L, _ = s.shape
    masks = _colour_masks(L, s.device)
    energy = s.new_empty((n_sweeps, n))
    mag = s.new_empty((n_sweeps, n))
    flips = torch.zeros(n, dtype=torch.int64, device=s.device)
    loop = range(n_sweeps)
    if progress:
        from tqdm.auto import trange

        loop = trange(n_sweeps)
    for k in loop:
        u = torch.rand((2, n, L, L), generator=generator, dtype=s.dtype, device=s.device)
        for colour in (0, 1):
            s, flip = _half_sweep(s, t, masks[colour], u[colour])
            flips += flip.sum(dim=(-2, -1))
        energy[k] = _energy(s) / (L * L)
        mag[k] = s.mean(dim=(-2, -1))
    return s, energy, mag, flips


def checkerboard_metropolis(
    spins, temperature, n_sweeps, *, generator: torch.Generator | None = None, progress: bool = False
) -> tuple[torch.Tensor, dict]:
    r"""Run single-spin-flip Metropolis on a batch of Ising lattices, sweeping in checkerboard order.

    One sweep is two half-sweeps (:func:`metropolis_half_sweep`), first the sites with
    :math:`(a + b)` even, then the odd ones; every site is offered one flip per sweep. All chains
    and all sites of a colour are updated in one tensor operation; the uniforms of a sweep are
    drawn in one call, shape (2, n_chains, L, L). Each half-sweep satisfies detailed balance
    for :math:`p(s) \propto e^{-E(s)/T}`.

    Parameters
    ----------
    spins : Tensor of shape (n_chains, L, L)
        Starting configurations, entries ±1, L even (>= 2). Not modified.
    temperature : float or Tensor of shape (n_chains,)
        One temperature for all chains, or one per chain (a whole temperature sweep in one call).
    n_sweeps : int >= 1
    generator : torch.Generator, optional
        Same seed, same result.
    progress : bool
        Show a progress bar.

    Returns
    -------
    spins : Tensor of shape (n_chains, L, L)
        The configurations after the last sweep.
    trace : dict
        ``"energy"`` (n_sweeps, n_chains): energy per site :math:`E/L^2` after each sweep;
        ``"magnetization"`` (n_sweeps, n_chains): mean spin after each sweep;
        ``"acceptance_rate"`` (n_chains,): fraction of proposed flips accepted.

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    s = _check_spins(spins, even=True)
    t = _chain_temperature(temperature, s)
    n_sweeps = check_int(n_sweeps, "n_sweeps", minimum=1)
    s, energy, mag, flips = _run(s, t, n_sweeps, generator, progress)
    rate = flips.to(s.dtype) / (n_sweeps * s.shape[-1] ** 2)
    return s, {"energy": energy, "magnetization": mag, "acceptance_rate": rate}


# --- simulated annealing -----------------------------------------------------------------------


def geometric_schedule(t_start, t_end, n_steps) -> torch.Tensor:
    r"""Temperatures :math:`T_k = T_\text{start} (T_\text{end}/T_\text{start})^{k/(K-1)}`, k = 0..K-1.

    Equally spaced in :math:`\log T`, from ``t_start`` to ``t_end`` exactly; float64, shape (K,).
    ``n_steps`` K >= 2.

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    t_start = check_positive(t_start, "t_start")
    t_end = check_positive(t_end, "t_end")
    n_steps = check_int(n_steps, "n_steps", minimum=2)
    k = torch.arange(n_steps, dtype=torch.float64)
    schedule = t_start * (t_end / t_start) ** (k / (n_steps - 1))
    schedule[-1] = t_end
    return schedule


def simulated_annealing(
    spins, temperatures, n_sweeps_per_T, *, generator: torch.Generator | None = None, progress: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Simulated annealing: checkerboard Metropolis while the temperature follows a schedule.

    ``n_sweeps_per_T`` sweeps at ``temperatures[0]``, then as many at ``temperatures[1]``, and so
    on; usually a decreasing schedule such as :func:`geometric_schedule`. Slow cooling lets the
    chains order; a quench freezes domain walls in (Kirkpatrick, Gelatt and Vecchi 1983).
    Draws the same random numbers as calling :func:`checkerboard_metropolis` once per temperature.

    Parameters
    ----------
    spins : Tensor of shape (n_chains, L, L), entries ±1, L even
    temperatures : sequence or 1-D Tensor of shape (n_T,), every entry finite and > 0
    n_sweeps_per_T : int >= 1
    generator : torch.Generator, optional
    progress : bool

    Returns
    -------
    spins : Tensor of shape (n_chains, L, L), the final configurations
    energy : Tensor of shape (n_T * n_sweeps_per_T, n_chains), energy per site after each sweep

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    s = _check_spins(spins, even=True)
    schedule = check_positive_tensor(temperatures, "temperatures")
    if schedule.ndim != 1:
        raise ValueError(f"temperatures must be a 1-D schedule, got shape {tuple(schedule.shape)}")
    n_sweeps_per_T = check_int(n_sweeps_per_T, "n_sweeps_per_T", minimum=1)
    loop = schedule.tolist()
    if progress:
        from tqdm.auto import tqdm

        loop = tqdm(loop)
    energies = []
    for t in loop:
        s, energy, _, _ = _run(s, torch.full((1, 1, 1), t, dtype=s.dtype, device=s.device), n_sweeps_per_T, generator)
        energies.append(energy)
    return s, torch.cat(energies)
