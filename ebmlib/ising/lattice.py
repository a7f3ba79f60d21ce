r"""Configurations of the L × L Ising lattice: energy, magnetisation, exact enumeration, random spins.

.. math:: E(s) = -\sum_{a, b} s_{a,b} \bigl(s_{a,b+1} + s_{a+1,b}\bigr) \quad (\text{indices mod } L),

every bond counted once; :math:`\log Z` by summing over all :math:`2^{L^2}` states for L ≤ 4.

Introduced in notebook 02_boltzmann_and_temperature.
"""

from __future__ import annotations

import functools

import torch

from ebmlib._validation import check_generator, check_int, check_positive_tensor, check_spins

__all__ = ["bond_energy", "lattice_energy", "magnetization", "all_configurations", "all_energies", "enumerate_log_z", "random_spins"]

MAX_ENUMERATION_L = 4  # 2^16 = 65536 configurations; L = 5 would be 2^25, 33 million



def bond_energy(spins: torch.Tensor) -> torch.Tensor:
    """E(s) = -Σ s (right + down), no checks. (n, L, L) -> (n,). (0 - x, not -x: no "-0.0".)"""
    return 0.0 - (spins * (torch.roll(spins, -1, dims=-1) + torch.roll(spins, -1, dims=-2))).sum(dim=(-2, -1))


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
    return bond_energy(check_spins(spins))


def magnetization(spins) -> torch.Tensor:
    r"""Magnetisation per site :math:`m(s) = \frac{1}{N}\sum_i s_i`, shape (n,) for spins (n, L, L).

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    return check_spins(spins).mean(dim=(-2, -1))


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
    return bond_energy(all_configurations(L).to(torch.float64))


def all_energies(L) -> torch.Tensor:
    """Energies of :func:`all_configurations` ``(L)``, in the same order: float64, shape (2^(L²),).

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    return _all_energies(_check_enumerable(L)).clone()


def enumerate_log_z(L, temperature) -> torch.Tensor:
    r"""Exact :math:`\log Z = \log \sum_s e^{-E(s)/T}` of the :math:`L \times L` lattice (total, not per site).

    By log-sum-exp over all :math:`2^{L^2}` configurations, ``2 <= L <= 4``.

    Parameters
    ----------
    L : int
    temperature : float or Tensor of shape (m,)
        T > 0.
        Temperature(s), finite and > 0.

    Returns
    -------
    Tensor, float64, of shape () or (m,).

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    energies = _all_energies(_check_enumerable(L))
    t = check_positive_tensor(temperature, "temperature")
    if t.ndim > 1:
        raise ValueError(f"temperature must be a number or a 1-D tensor of temperatures, got shape {tuple(t.shape)}")
    return torch.logsumexp(-energies.to(t.device) / t.unsqueeze(-1), dim=-1)


def random_spins(n_chains, L, *, generator: torch.Generator | None = None, dtype=None, device=None) -> torch.Tensor:
    """Independent uniform ±1 spins (infinite temperature), shape (n_chains, L, L).

    The dtype is torch's default unless given.

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    n_chains = check_int(n_chains, "n_chains", minimum=1)
    L = check_int(L, "L", minimum=1)
    check_generator(generator, device or "cpu")
    bits = torch.randint(0, 2, (n_chains, L, L), generator=generator, device=device)
    return (2 * bits - 1).to(dtype or torch.get_default_dtype())


