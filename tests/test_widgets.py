"""Tests of ebmlib.widgets: the sliders build, and moving them shows ebmlib.partition's numbers."""

from __future__ import annotations

import math

import ipywidgets as widgets
import pytest
import torch

from ebmlib import ising, partition
from ebmlib.widgets import ising_temperature_slider, temperature_slider, temperature_summary

# Five states with a doubly degenerate first excited level.
ENERGIES = torch.tensor([0.0, 0.5, 0.5, 1.5, 3.0], dtype=torch.float64)


def test_temperature_summary_matches_partition_at_each_temperature():
    for t in (0.1, 1.0, 7.5):
        summary = temperature_summary(ENERGIES, t)
        assert summary["temperature"] == t
        torch.testing.assert_close(summary["probabilities"], partition.boltzmann(ENERGIES, t))
        assert summary["mean_energy"] == pytest.approx(float(partition.mean_energy(ENERGIES, t)), abs=1e-14)
        assert summary["entropy"] == pytest.approx(float(partition.entropy(ENERGIES, t)), abs=1e-14)
        assert summary["free_energy"] == pytest.approx(float(partition.free_energy(ENERGIES, t)), abs=1e-14)
        assert summary["heat_capacity"] == pytest.approx(float(partition.heat_capacity(ENERGIES, t)), abs=1e-14)


def test_temperature_summary_two_level_system_closed_form():
    # Two states 0 and delta: p_1 = 1 / (1 + e^{delta/T}), F = -T log(1 + e^{-delta/T}).
    delta, t = 2.0, 0.7
    summary = temperature_summary(torch.tensor([0.0, delta]), t)
    p1 = 1.0 / (1.0 + math.exp(delta / t))
    assert summary["probabilities"][1].item() == pytest.approx(p1, rel=1e-12)
    assert summary["mean_energy"] == pytest.approx(delta * p1, rel=1e-12)
    assert summary["free_energy"] == pytest.approx(-t * math.log1p(math.exp(-delta / t)), rel=1e-12)
    assert summary["mean_energy"] - t * summary["entropy"] == pytest.approx(summary["free_energy"], rel=1e-12)


def test_temperature_slider_builds_a_log_slider_over_the_requested_range():
    box = temperature_slider(ENERGIES, temperatures=(0.05, 10.0), labels=list("abcde"))
    assert isinstance(box, widgets.VBox)
    assert isinstance(box.slider, widgets.FloatLogSlider)
    assert box.slider.min == pytest.approx(math.log10(0.05))
    assert box.slider.max == pytest.approx(1.0)
    assert box.slider.value == pytest.approx(1.0)
    assert [t.get_text() for t in box.figure.axes[0].get_xticklabels()] == list("abcde")


def test_moving_the_slider_updates_bars_and_numbers_to_partition_values():
    box = temperature_slider(ENERGIES)
    for t in (0.2, 4.0):
        box.slider.value = t  # what dragging the slider does, without a browser
        t_now = box.slider.value
        assert box.summary["temperature"] == pytest.approx(t_now)
        heights = torch.tensor([bar.get_height() for bar in box.figure.axes[0].patches], dtype=torch.float64)
        torch.testing.assert_close(heights, partition.boltzmann(ENERGIES, t_now))
        for key, fn in [("mean_energy", partition.mean_energy), ("entropy", partition.entropy),
                        ("free_energy", partition.free_energy)]:
            value = float(fn(ENERGIES, t_now))
            assert box.summary[key] == pytest.approx(value, abs=1e-14)
            assert f"{value:.4f}" in box.readout.value


def test_update_function_redraws_at_a_given_temperature():
    box = temperature_slider(ENERGIES)
    summary = box.update(0.01)
    # At T = 0.01 the ground state (energy 0, gap 0.5) holds all but e^{-50} of the mass.
    assert summary["probabilities"][0].item() == pytest.approx(1.0, abs=1e-20)
    assert box.figure.axes[0].patches[0].get_height() == pytest.approx(1.0, abs=1e-20)


def test_temperature_slider_rejects_bad_arguments():
    with pytest.raises(ValueError, match="temperatures"):
        temperature_slider(ENERGIES, temperatures=(2.0, 1.0))
    with pytest.raises(ValueError, match="temperatures"):
        temperature_slider(ENERGIES, temperatures=(0.0, 1.0))
    with pytest.raises(ValueError, match="labels"):
        temperature_slider(ENERGIES, labels=["a", "b"])
    with pytest.raises(ValueError, match="energies"):
        temperature_slider(torch.tensor([0.0, float("nan")]))
    with pytest.raises(ValueError, match="temperature"):
        temperature_summary(ENERGIES, -1.0)


def test_ising_slider_shows_the_snapshot_and_its_energy_at_each_temperature():
    g = torch.Generator().manual_seed(0)
    spins = ising.random_spins(3, 4, generator=g)
    spins[0] = 1.0  # all up: energy per site -2, magnetisation 1
    temperatures = torch.tensor([1.5, 2.0, 3.5])
    box = ising_temperature_slider(spins, temperatures)
    assert isinstance(box.slider, widgets.SelectionSlider)
    box.slider.value = box.slider.options[0][1]
    assert box.summary["temperature"] == pytest.approx(1.5)
    assert box.summary["energy_per_site"] == pytest.approx(-2.0)
    assert box.summary["magnetization"] == pytest.approx(1.0)
    box.slider.value = box.slider.options[2][1]
    expected = float(ising.lattice_energy(spins[2:3])[0]) / 16
    assert box.summary["energy_per_site"] == pytest.approx(expected)
    assert box.update(1.7)["temperature"] == pytest.approx(1.5)  # the nearest snapshot
    box.update(3.4)
    image = box.figure.axes[0].images[0].get_array()
    torch.testing.assert_close(torch.as_tensor(image.data, dtype=spins.dtype), spins[2])


def test_ising_slider_rejects_mismatched_temperatures():
    with pytest.raises(ValueError, match="temperatures"):
        ising_temperature_slider(torch.ones(2, 4, 4), torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="spins"):
        ising_temperature_slider(torch.ones(4, 4), torch.tensor([1.0]))
