r"""The course's figures: energies and densities on a grid, and scatter plots of samples.

Every function draws on ``ax`` (a new figure when ``ax`` is None) and returns the Axes; none
calls ``plt.show()``, so they work with any backend, Agg included. Densities are normalised on
the plotted box with the same trapezoid rule as :func:`ebmlib.partition.log_partition_grid`:

.. math:: p(x) = \frac{e^{-E(x)/T}}{Z}, \qquad Z \approx \sum_k w_k e^{-E(x_k)/T},

so the box should hold nearly all of the mass.

Imported by notebooks only, never by the core of ebmlib.

Introduced in notebook 01_energy_and_partition.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from ebmlib._validation import as_tensor, check_bounds, check_int, check_ndim, check_temperature
from ebmlib.partition import energy_on_grid, grid

__all__ = ["plot_energy_1d", "plot_energy_2d", "plot_density_2d", "plot_samples"]


def _axes(ax):
    """The given Axes, or a fresh one on a new figure."""
    if ax is None:
        _, ax = plt.subplots()
    return ax


def _energy_and_density(energy, bounds, n: int, temperature: float):
    """Energies and normalised densities on the grid, as float64 tensors of shape (n**d,)."""
    points, weights, axes = grid(bounds, n)
    with torch.no_grad():
        values = energy_on_grid(energy, points).cpu()
    log_z = torch.logsumexp(-values / temperature + weights.log(), dim=0)
    return axes, values, torch.exp(-values / temperature - log_z)


def _check_2d_bounds(bounds) -> None:
    if check_bounds(bounds).shape[0] != 2:
        raise ValueError(f"bounds must be ((x_low, x_high), (y_low, y_high)) for a 2-D plot, got {bounds!r}")


def plot_energy_1d(energy, bounds, *, temperature: float = 1.0, ax=None, n: int = 400, density: bool = True):
    r"""Plot a 1-D energy E(x) and, on a twin y-axis, its density :math:`e^{-E(x)/T}/Z`.

    Parameters
    ----------
    energy : callable
        Maps x of shape (m, 1) to energies of shape (m,).
    bounds : (low, high)
        The x-range; also the range on which the density is normalised.
    temperature : float
        T > 0 for the density.
    ax : matplotlib Axes, optional
    n : int
        Grid points.
    density : bool
        Whether to draw the density on a twin axis (``ax.twinx()``).

    Returns
    -------
    The Axes holding E(x); the density's twin Axes is the other one in ``ax.figure.axes``.
    """
    temperature = check_temperature(temperature)
    n = check_int(n, "n", minimum=2)
    if check_bounds(bounds).shape[0] != 1:
        raise ValueError(f"bounds must be (low, high) for a 1-D plot, got {bounds!r}")
    axes, values, prob = _energy_and_density(energy, bounds, n, temperature)
    ax = _axes(ax)
    x = axes[0].numpy()
    ax.plot(x, values.numpy(), color="C0", label="E(x)")
    ax.set_xlabel("x")
    ax.set_ylabel("energy E(x)", color="C0")
    if density:
        twin = ax.twinx()
        twin.plot(x, prob.numpy(), color="C1", label=f"p(x), T = {temperature:g}")
        twin.set_ylabel(f"density exp(-E/T)/Z, T = {temperature:g}", color="C1")
        twin.set_ylim(bottom=0)
    return ax


def plot_energy_2d(energy, bounds, *, ax=None, n: int = 150, levels=30, colorbar: bool = True):
    """Filled contours of a 2-D energy E(x) on the box ``bounds``.

    Parameters
    ----------
    energy : callable
        Maps x of shape (m, 2) to energies of shape (m,).
    bounds : ((x_low, x_high), (y_low, y_high))
    ax : matplotlib Axes, optional
    n : int
        Grid points per axis.
    levels : int or sequence
        Contour levels, as for ``Axes.contourf``.
    colorbar : bool
        Whether to add a colour bar.

    Returns
    -------
    The Axes.
    """
    _check_2d_bounds(bounds)
    n = check_int(n, "n", minimum=2)
    axes, values, _ = _energy_and_density(energy, bounds, n, 1.0)
    ax = _axes(ax)
    grid_x, grid_y = torch.meshgrid(*axes, indexing="ij")
    filled = ax.contourf(grid_x.numpy(), grid_y.numpy(), values.reshape(n, n).numpy(), levels=levels, cmap="viridis")
    if colorbar:
        ax.figure.colorbar(filled, ax=ax, label="E(x)")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal")
    return ax


def plot_density_2d(energy, bounds, *, temperature: float = 1.0, ax=None, n: int = 150, colorbar: bool = True):
    r"""Filled contours of the normalised density :math:`e^{-E(x)/T}/Z` on the box ``bounds``.

    Z is the trapezoid-rule integral over the same box and grid.

    Returns
    -------
    The Axes.
    """
    temperature = check_temperature(temperature)
    _check_2d_bounds(bounds)
    n = check_int(n, "n", minimum=2)
    axes, _, prob = _energy_and_density(energy, bounds, n, temperature)
    ax = _axes(ax)
    grid_x, grid_y = torch.meshgrid(*axes, indexing="ij")
    filled = ax.contourf(grid_x.numpy(), grid_y.numpy(), prob.reshape(n, n).numpy(), levels=30, cmap="magma")
    if colorbar:
        ax.figure.colorbar(filled, ax=ax, label=f"p(x), T = {temperature:g}")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal")
    return ax


def plot_samples(x, *, ax=None, bounds=None, marker_size: float = 2, alpha: float = 0.5, label=None):
    """Scatter plot of 2-D samples.

    Parameters
    ----------
    x : Tensor of shape (n, 2)
    ax : matplotlib Axes, optional
    bounds : ((x_low, x_high), (y_low, y_high)), optional
        Axis limits; by default matplotlib's.
    marker_size, alpha, label
        Marker size, opacity and legend label, as for ``Axes.scatter``.

    Returns
    -------
    The Axes.
    """
    x = as_tensor(x, "x")
    check_ndim(x, "x", 2, "(n, 2)")
    if x.shape[1] != 2:
        raise ValueError(f"x must have shape (n, 2), got shape {tuple(x.shape)}")
    ax = _axes(ax)
    points = x.detach().cpu().numpy()
    ax.scatter(points[:, 0], points[:, 1], s=marker_size, alpha=alpha, label=label)
    if bounds is not None:
        _check_2d_bounds(bounds)
        (x_low, x_high), (y_low, y_high) = check_bounds(bounds).tolist()
        ax.set_xlim(x_low, x_high)
        ax.set_ylim(y_low, y_high)
    ax.set_aspect("equal")
    return ax
