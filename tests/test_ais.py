"""Tests of ebmlib.ais: AIS against closed forms and quadrature, its unbiased weights, its bad input."""

import math

import pytest
import torch

from ebmlib.ais import AISResult, ais, ais_energy, linear_betas
from ebmlib.energies import DoubleWell, Gaussian
from ebmlib.partition import log_partition_grid


def gen(seed):
    return torch.Generator().manual_seed(seed)


STANDARD_2D = Gaussian(torch.zeros(2, dtype=torch.float64), 4 * torch.eye(2, dtype=torch.float64))


def test_ais_energy_recovers_the_closed_form_log_z_of_a_gaussian():
    target = Gaussian(torch.tensor([0.5, -0.5], dtype=torch.float64),
                      torch.tensor([[1.0, 0.6], [0.6, 0.8]], dtype=torch.float64))
    result = ais_energy(target, STANDARD_2D, n_chains=100, betas=200, n_runs=5, proposal_scale=0.8, generator=gen(0))
    exact = target.log_partition().item()
    assert abs(result.log_z.item() - exact) < max(0.05, 4 * result.stderr.item()), (result.log_z, exact)


def test_ais_energy_matches_quadrature_on_a_double_well():
    well = DoubleWell(barrier=2.0, dim=2)
    exact = log_partition_grid(well, ((-3.0, 3.0), (-6.0, 6.0)), 300).item()
    result = ais_energy(well, STANDARD_2D, n_chains=100, betas=300, n_runs=5, proposal_scale=0.6, generator=gen(1))
    assert abs(result.log_z.item() - exact) < max(0.05, 4 * result.stderr.item()), (result.log_z, exact)


def test_ais_is_exact_when_the_target_is_the_base():
    result = ais_energy(STANDARD_2D, STANDARD_2D, n_chains=10, betas=5, n_runs=3, generator=gen(2))
    assert torch.allclose(result.log_weights, torch.zeros(3, 10, dtype=torch.float64), atol=1e-12)
    assert abs(result.log_z.item() - STANDARD_2D.log_partition().item()) < 1e-12
    assert result.std.item() < 1e-12


def test_the_weights_are_unbiased_for_z_over_z0():
    # Two temperatures, no Markov step: plain importance sampling from the base, E[w] = Z / Z0 exactly.
    target = Gaussian(torch.tensor([1.0, 0.0], dtype=torch.float64), torch.eye(2, dtype=torch.float64))
    result = ais_energy(target, STANDARD_2D, n_chains=20000, betas=2, n_runs=1, generator=gen(3))
    w = result.log_weights.exp().flatten()
    expected = math.exp(target.log_partition().item() - STANDARD_2D.log_partition().item())
    assert abs(w.mean().item() - expected) < 4 * w.std().item() / math.sqrt(w.numel())


def test_generic_ais_with_a_hand_made_path_on_a_discrete_space():
    # f_beta(x) = exp(beta * theta * x) on x in {0, 1}: Z_0 = 2, Z = 1 + e^theta; exact draws as the transition.
    theta = 1.7

    def log_density(x, beta):
        return beta * theta * x[:, 0]

    def transition(x, beta, generator):
        p_one = torch.sigmoid(torch.tensor(beta * theta, dtype=torch.float64))
        return (torch.rand(x.shape, generator=generator, dtype=torch.float64) < p_one).double()

    x0 = (torch.rand(4, 500, 1, generator=gen(4), dtype=torch.float64) < 0.5).double()
    result = ais(log_density, transition, x0, math.log(2.0), linear_betas(50), generator=gen(5))
    assert isinstance(result, AISResult)
    assert result.samples.shape == (4, 500, 1)
    exact = math.log(1 + math.exp(theta))
    assert abs(result.log_z.item() - exact) < max(0.01, 4 * result.stderr.item())


def test_same_generator_gives_the_same_estimate():
    runs = [ais_energy(DoubleWell(dim=2), STANDARD_2D, 20, 20, n_runs=2, generator=gen(6)) for _ in range(2)]
    assert torch.equal(runs[0].log_weights, runs[1].log_weights)


def test_bad_input_raises_naming_the_argument():
    with pytest.raises(ValueError, match="betas"):
        ais_energy(STANDARD_2D, STANDARD_2D, 10, torch.tensor([0.0, 0.7, 0.5, 1.0]))
    with pytest.raises(ValueError, match="betas"):
        ais_energy(STANDARD_2D, STANDARD_2D, 10, torch.tensor([0.1, 1.0]))
    with pytest.raises(ValueError, match="betas"):
        ais_energy(STANDARD_2D, STANDARD_2D, 10, 1)
    with pytest.raises(ValueError, match="n_chains"):
        ais_energy(STANDARD_2D, STANDARD_2D, 0, 10)
    with pytest.raises(ValueError, match="proposal_scale"):
        ais_energy(STANDARD_2D, STANDARD_2D, 10, 10, proposal_scale=-1.0)
    with pytest.raises(TypeError, match="base"):
        ais_energy(STANDARD_2D, DoubleWell(dim=2), 10, 10)
    with pytest.raises(ValueError, match="x0"):
        ais(lambda x, b: x.sum(1), lambda x, b, g: x, torch.zeros(5, 2), 0.0, 10)
