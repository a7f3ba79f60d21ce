r"""Checkerboard Metropolis for the 2-D Ising model, and simulated annealing on a geometric schedule.

Sites of one colour of the checkerboard have no neighbours of their own colour, so all of them can
be updated at once from the same configuration: two half sweeps make one sweep of the lattice.

References
----------
.. [1] M. E. J. Newman and G. T. Barkema, *Monte Carlo Methods in Statistical Physics*, Oxford
   (1999), ch. 3-4 (Metropolis, checkerboard updates).
.. [2] S. Kirkpatrick, C. D. Gelatt and M. P. Vecchi, "Optimization by simulated annealing",
   Science 220, 671-680 (1983).

Introduced in notebook 02_boltzmann_and_temperature.
"""

from __future__ import annotations

import torch

from ebmlib._validation import as_tensor, check_generator, check_int, check_positive, check_positive_tensor, check_spins
from ebmlib.ising.lattice import bond_energy

__all__ = ["metropolis_half_sweep", "checkerboard_metropolis", "geometric_schedule", "simulated_annealing"]


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


def flip_sites(spins, temperature, on_color, uniforms) -> tuple[torch.Tensor, torch.Tensor]:
    """Metropolis flips of the sites in ``on_color``; no checks. Returns new spins and the flip mask."""
    s, t = spins, temperature
    field = torch.roll(s, 1, -1) + torch.roll(s, -1, -1) + torch.roll(s, 1, -2) + torch.roll(s, -1, -2)
    delta_e = 2.0 * s * field  # energy change if s_i flips, (n_chains, L, L)
    flip = on_color & (uniforms < torch.exp(-delta_e / t))
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
    s = check_spins(spins, even=True)
    t = _chain_temperature(temperature, s)
    if color not in (0, 1):
        raise ValueError(f"color must be 0 or 1, got {color!r}")
    u = as_tensor(uniforms, "uniforms")
    if u.shape != s.shape:
        raise ValueError(f"uniforms must have the shape of spins {tuple(s.shape)}, got {tuple(u.shape)}")
    return flip_sites(s, t, _colour_masks(s.shape[-1], s.device)[color], u.to(s.dtype))[0]


def _run(s, t, n_sweeps, generator, progress=False):
    check_generator(generator, s.device)
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
            s, flip = flip_sites(s, t, masks[colour], u[colour])
            flips += flip.sum(dim=(-2, -1))
        energy[k] = bond_energy(s) / (L * L)
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
    s = check_spins(spins, even=True)
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
    s = check_spins(spins, even=True)
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
