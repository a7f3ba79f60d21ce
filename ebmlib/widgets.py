r"""The course's sliders: move the temperature and watch a Boltzmann distribution change.

Each slider is an ``ipywidgets`` control bound to a matplotlib figure. What a slider shows at a
given temperature is computed by a plain function (:func:`temperature_summary`), so it can be
tested without a browser; setting the slider's ``value`` from Python redraws exactly as dragging it.

.. math::

    p_i(T) = \frac{e^{-E_i/T}}{Z(T)}, \qquad F = -T\log Z = \langle E\rangle - T S, \qquad
    S = -\sum_i p_i \log p_i .

Imported by notebooks only, never by the core of ``ebmlib``.

References
----------
D. J. C. MacKay, *Information Theory, Inference, and Learning Algorithms* (2003), ch. 31.

Introduced in notebook 02_boltzmann_and_temperature.
"""

from __future__ import annotations

import math

import ipywidgets as widgets
from matplotlib.figure import Figure
import torch
from IPython import get_ipython
from IPython.display import display

from ebmlib import partition
from ebmlib._validation import as_tensor, check_energies, check_ndim, check_temperature

__all__ = ["temperature_summary", "temperature_slider", "ising_temperature_slider"]


def temperature_summary(energies, temperature) -> dict:
    r"""Everything the temperature slider displays at one temperature ``T``.

    Parameters
    ----------
    energies : Tensor of shape (n_states,)
        Finite energies of the states.
    temperature : float
        T > 0.

    Returns
    -------
    dict with keys
        ``"temperature"`` (float), ``"probabilities"`` (float64 Tensor of shape (n_states,)),
        ``"mean_energy"`` :math:`\langle E\rangle`, ``"entropy"`` :math:`S`,
        ``"free_energy"`` :math:`F = -T\log Z` and ``"heat_capacity"``
        :math:`C = \operatorname{Var}(E)/T^2`, each a float computed by :mod:`ebmlib.partition`.

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    energies = check_energies(energies)
    t = check_temperature(temperature)
    return {
        "temperature": t,
        "probabilities": partition.boltzmann(energies, t),
        "mean_energy": float(partition.mean_energy(energies, t)),
        "entropy": float(partition.entropy(energies, t)),
        "free_energy": float(partition.free_energy(energies, t)),
        "heat_capacity": float(partition.heat_capacity(energies, t)),
    }


def _show(output: widgets.Output, figure: Figure) -> None:
    """Redraw ``figure`` inside the widget's output area (only inside IPython; a no-op elsewhere)."""
    if get_ipython() is None:  # plain Python (tests): nothing to render into
        return
    with output:
        output.clear_output(wait=True)
        display(figure)


def _panel(slider, figure: Figure, render) -> widgets.VBox:
    """The slider above an HTML readout and ``figure``; moving the slider re-renders both.

    ``render(value) -> (summary, html)`` redraws ``figure`` for the slider's value and returns
    what the readout shows. The box carries ``slider``, ``readout``, ``figure``, ``update``
    (call it to move without a browser) and ``summary`` (the latest one).
    """
    readout, output = widgets.HTML(), widgets.Output()
    box = widgets.VBox([slider, readout, output])

    def update(value) -> dict:
        summary, html = render(value)
        readout.value = html
        box.summary = summary
        _show(output, figure)
        return summary

    slider.observe(lambda change: update(change["new"]), names="value")
    box.slider, box.readout, box.figure, box.update = slider, readout, figure, update
    update(slider.value)
    return box


def _summary_html(summary: dict) -> str:
    t = summary["temperature"]
    return (
        f"<b>T</b> = {t:.4g} &nbsp; "
        f"⟨E⟩ = {summary['mean_energy']:.4f} &nbsp; "
        f"S = {summary['entropy']:.4f} &nbsp; "
        f"F = −T log Z = {summary['free_energy']:.4f} &nbsp; "
        f"⟨E⟩ − TS = {summary['mean_energy'] - t * summary['entropy']:.4f} &nbsp; "
        f"C = {summary['heat_capacity']:.4f}"
    )


def _check_range(temperatures) -> tuple[float, float]:
    try:
        low, high = temperatures
    except (TypeError, ValueError) as err:
        raise ValueError(f"temperatures must be a pair (T_min, T_max), got {temperatures!r}") from err
    low = check_temperature(low, "temperatures")
    high = check_temperature(high, "temperatures")
    if not low < high:
        raise ValueError(f"temperatures must be (T_min, T_max) with T_min < T_max, got {temperatures!r}")
    return low, high


def temperature_slider(energies, *, temperatures=(0.05, 10.0), labels=None, value: float = 1.0):
    r"""A log-scale temperature slider bound to a bar plot of the Boltzmann probabilities.

    Each move of the slider recomputes :func:`temperature_summary` (with :mod:`ebmlib.partition`)
    and redraws the bars :math:`p_i(T)`, together with :math:`\langle E\rangle`, the entropy
    :math:`S` and the thermodynamic free energy :math:`F = -T \log Z = \langle E\rangle - TS`.

    Parameters
    ----------
    energies : Tensor of shape (n_states,)
        Finite energies of the states (a few dozen at most, one bar each).
    temperatures : (float, float)
        The slider's range (T_min, T_max), both > 0; the slider moves in log T.
    labels : sequence of str, optional
        One label per state for the bars (default: the energies).
    value : float
        The starting temperature, clipped into the range.

    Returns
    -------
    ipywidgets.VBox
        The slider above the readout and the figure. Attributes: ``slider`` (the
        ``FloatLogSlider``; set ``.value`` to move it), ``readout`` (an ``HTML`` widget with the
        numbers), ``summary`` (the dict of :func:`temperature_summary` for the current T),
        ``update(T)`` (redraw at T) and ``figure``.

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    energies = check_energies(energies)
    low, high = _check_range(temperatures)
    n = energies.shape[0]
    xlabel = "state" if labels is not None else "state (labelled by its energy)"
    if labels is None:
        labels = [f"{float(e):.3g}" for e in energies]
    labels = [str(label) for label in labels]
    if len(labels) != n:
        raise ValueError(f"labels must have one entry per state ({n}), got {len(labels)}")
    start = min(max(check_temperature(value, "value"), low), high)

    slider = widgets.FloatLogSlider(
        value=start,
        base=10,
        min=math.log10(low),
        max=math.log10(high),
        step=(math.log10(high) - math.log10(low)) / 200,
        description="T",
        readout_format=".3g",
        continuous_update=True,
        layout=widgets.Layout(width="60%"),
    )

    # A Figure outside pyplot: it is shown only inside the widget, never by a later plt.show().
    figure = Figure(figsize=(6.5, 3.0), layout="constrained")
    ax = figure.subplots()
    positions = list(range(n))
    bars = ax.bar(positions, [0.0] * n, color="tab:blue")
    ax.set_xticks(positions, labels, rotation=45 if n > 8 else 0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(r"$p_i = e^{-E_i/T}/Z$")
    ax.set_ylim(0.0, 1.0)
    ax.axhline(1.0 / n, color="gray", lw=0.8, ls="--", label="uniform (T → ∞)")
    ax.legend(loc="upper right", fontsize=8)

    def render(temperature) -> tuple[dict, str]:
        summary = temperature_summary(energies, temperature)
        for bar, p in zip(bars, summary["probabilities"].tolist()):
            bar.set_height(p)
        ax.set_title(f"Boltzmann distribution at T = {summary['temperature']:.3g}")
        return summary, _summary_html(summary)

    return _panel(slider, figure, render)


def ising_temperature_slider(spins, temperatures):
    r"""A slider over precomputed Ising snapshots, one per temperature, with :math:`T_c` marked.

    Nothing is simulated here: pass the final states of a sweep of temperatures (for example
    from :func:`ebmlib.ising.checkerboard_metropolis` with a tensor of temperatures).

    Parameters
    ----------
    spins : Tensor of shape (m, L, L)
        One configuration of ±1 spins per temperature.
    temperatures : Tensor of shape (m,)
        The temperature of each configuration, all > 0.

    Returns
    -------
    ipywidgets.VBox
        Attributes ``slider`` (a ``SelectionSlider`` over the temperatures, sorted),
        ``readout`` (HTML with T, T_c, energy and magnetisation per site), ``summary``
        (those numbers for the current snapshot), ``update(T)`` (show the snapshot nearest to T)
        and ``figure``.

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    from ebmlib import ising

    spins = as_tensor(spins, "spins")
    check_ndim(spins, "spins", 3, "(m, L, L)")
    t = as_tensor(temperatures, "temperatures", dtype=torch.float64).reshape(-1)
    if t.shape[0] != spins.shape[0]:
        raise ValueError(
            f"temperatures must have one entry per configuration ({spins.shape[0]}), got {t.shape[0]}"
        )
    for value in t.tolist():
        check_temperature(value, "temperatures")
    order = torch.argsort(t)
    t, spins = t[order], spins[order]
    energy = (ising.lattice_energy(spins) / spins[0].numel()).tolist()
    magnetization = ising.magnetization(spins).tolist()

    slider = widgets.SelectionSlider(
        options=[(f"{v:.3g}", round(v, 10)) for v in t.tolist()],
        value=round(t.tolist()[len(t) // 2], 10),
        description="T",
        continuous_update=True,
        layout=widgets.Layout(width="60%"),
    )
    figure = Figure(figsize=(3.6, 3.6), layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(spins[0].cpu().numpy(), cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    def render(temperature) -> tuple[dict, str]:
        i = int((t - float(temperature)).abs().argmin())  # the snapshot nearest to T
        image.set_data(spins[i].cpu().numpy())
        summary = {
            "temperature": t[i].item(),
            "energy_per_site": energy[i],
            "magnetization": magnetization[i],
        }
        phase = "below T_c" if summary["temperature"] < ising.TC else "above T_c"
        ax.set_title(f"T = {summary['temperature']:.3g} = {summary['temperature'] / ising.TC:.2f} T_c ({phase})")
        html = (
            f"<b>T</b> = {summary['temperature']:.4g} &nbsp; T_c = {ising.TC:.4f} &nbsp; "
            f"E/N = {summary['energy_per_site']:.4f} &nbsp; m = {summary['magnetization']:.4f}"
        )
        return summary, html

    return _panel(slider, figure, render)
