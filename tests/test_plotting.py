"""Smoke tests of ebmlib.plotting on the Agg backend: the right artists, the right data."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402

from ebmlib.datasets import eight_gaussians, eight_gaussians_mixture  # noqa: E402
from ebmlib.energies import DoubleWell, Gaussian  # noqa: E402
from ebmlib.plotting import plot_density_2d, plot_energy_1d, plot_energy_2d, plot_samples  # noqa: E402

BOX = ((-3.0, 3.0), (-3.0, 3.0))


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _contour_sets(ax):
    return [c for c in ax.collections if isinstance(c, ContourSet)]


def test_plot_energy_1d_draws_the_energy_and_a_normalised_density_on_a_twin_axis():
    well = DoubleWell(barrier=1.5)
    ax = plot_energy_1d(well, (-2.5, 2.5), temperature=0.5, n=301)
    assert isinstance(ax, matplotlib.axes.Axes)
    fig_axes = ax.figure.axes
    assert len(fig_axes) == 2 and len(ax.lines) == 1
    x, e = ax.lines[0].get_data()
    assert len(x) == 301
    np.testing.assert_allclose(e, well(torch.from_numpy(x)[:, None]).numpy(), rtol=1e-12)
    twin = next(a for a in fig_axes if a is not ax)
    xd, p = twin.lines[0].get_data()
    assert np.trapezoid(p, xd) == pytest.approx(1.0, rel=1e-12)
    assert xd[np.argmax(p)] == pytest.approx(-1.0, abs=0.02) or xd[np.argmax(p)] == pytest.approx(1.0, abs=0.02)


def test_plot_energy_1d_without_density_draws_one_axis():
    _, ax = plt.subplots()
    gaussian = Gaussian(torch.zeros(1), torch.eye(1))
    assert plot_energy_1d(gaussian, (-3.0, 3.0), ax=ax, density=False) is ax
    assert len(ax.figure.axes) == 1 and len(ax.lines) == 1


def test_plot_energy_2d_draws_filled_contours_and_a_colorbar():
    ax = plot_energy_2d(DoubleWell(dim=2), BOX, n=60, levels=12)
    (contours,) = _contour_sets(ax)
    assert contours.filled
    assert len(ax.figure.axes) == 2  # the plot and its colour bar
    # E ranges from 0 (the minima) to 64 + 4.5 at the corners of the box
    assert contours.levels[0] <= 0.0 and contours.levels[-1] >= 64 + 4.5


def test_plot_energy_2d_draws_on_the_given_axes_without_colorbar():
    fig, axes = plt.subplots(1, 2)
    assert plot_energy_2d(DoubleWell(dim=2), BOX, ax=axes[1], n=30, colorbar=False) is axes[1]
    assert len(fig.axes) == 2 and _contour_sets(axes[1]) and not _contour_sets(axes[0])


def test_plot_density_2d_levels_reach_the_peak_density_of_a_standard_normal():
    gaussian = Gaussian(torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64))
    ax = plot_density_2d(gaussian, ((-6.0, 6.0), (-6.0, 6.0)), n=121)
    (contours,) = _contour_sets(ax)
    peak = 1 / (2 * math.pi)  # the normalised density at the mean
    assert contours.levels[-1] >= peak > contours.levels[-2]
    assert contours.levels[0] <= 0.0


def test_plot_density_2d_of_the_mixture_energy_at_temperature_one():
    mixture = eight_gaussians_mixture()
    ax = plot_density_2d(mixture, BOX, n=80, temperature=1.0)
    assert _contour_sets(ax)


def test_plot_samples_draws_every_point():
    x = eight_gaussians(321, generator=torch.Generator().manual_seed(0))
    ax = plot_samples(x, bounds=BOX, label="data")
    (scatter,) = ax.collections
    offsets = scatter.get_offsets()
    assert offsets.shape == (321, 2)
    np.testing.assert_allclose(np.asarray(offsets), x.numpy())
    assert ax.get_xlim() == (-3.0, 3.0) and ax.get_ylim() == (-3.0, 3.0)
    assert scatter.get_label() == "data"


def test_plot_samples_accepts_tensors_that_require_grad():
    x = torch.zeros(5, 2, requires_grad=True)
    assert len(plot_samples(x).collections[0].get_offsets()) == 5


def test_plotting_bad_input_raises_naming_the_argument():
    with pytest.raises(ValueError, match="x"):
        plot_samples(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="bounds"):
        plot_energy_2d(DoubleWell(dim=2), (-1.0, 1.0))
    with pytest.raises(ValueError, match="bounds"):
        plot_energy_1d(DoubleWell(), BOX)
    with pytest.raises(ValueError, match="temperature"):
        plot_density_2d(DoubleWell(dim=2), BOX, temperature=0.0)
