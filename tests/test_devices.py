"""Tests of the one rule for randomness: draws happen on the inputs' device, from a generator on that device.

Every stochastic public function runs on the CPU, and on CUDA when one is present (skipped with
the reason otherwise), with its inputs and its generator on that device: its result must come
back on that device, finite, and the same for the same seed. A generator on another device is
refused with a ``ValueError`` that names ``generator`` and the device it must be on.
"""

from __future__ import annotations

import math

import pytest
import torch

import ebmlib.ais
import ebmlib.dbm
import ebmlib.ising
import ebmlib.losses
import ebmlib.samplers
import ebmlib.score
import ebmlib.training
from ebmlib._validation import check_generator
from ebmlib.energies import Gaussian, GaussianMixture
from ebmlib.jem import JEM
from ebmlib.nets import MLPEnergy, mlp
from ebmlib.rbm import RBM, ais_rbm

DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param(
        "cuda",
        id="cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine"),
    ),
]


def quadratic(x):
    """E(x) = ½‖x‖², shape (n,)."""
    return 0.5 * x.square().flatten(1).sum(1)


def mixture(device):
    means = torch.tensor([[1.0, 0.0], [-1.0, 0.5]], device=device)
    return GaussianMixture(means, 0.5)


def buffer_negatives(device, g):
    buffer = ebmlib.training.ReplayBuffer(32, ebmlib.training.uniform_init((2,), device=device), generator=g)
    energy = MLPEnergy(2, 8, 1, generator=g).to(device)
    return ebmlib.training.persistent_sgld(energy, buffer, 16, 3, 0.1, 0.05, generator=g)


def train_a_little(device, g):
    energy = MLPEnergy(2, 8, 1, generator=g).to(device)
    data = torch.randn(64, 2, generator=g, device=device)
    loss = lambda e, x: ebmlib.losses.contrastive_divergence(e, x, n_steps=2, step_size=0.01, generator=g)  # noqa: E731
    ebmlib.training.fit(energy, loss, data, 3, 16, 1e-3, generator=g)
    return energy(data)


def jem_samples(device, g):
    jem = JEM(mlp(2, 3, 8, 1, generator=g)).to(device)
    return jem.conditional_samples(torch.tensor([0, 1, 2], device=device), torch.zeros(3, 2, device=device), 3, 0.1, 0.01,
                                   generator=g)  # fmt: skip


def rbm_chain(device, g):
    rbm = RBM(6, 4, generator=g, device=device)
    v = (torch.rand(8, 6, generator=g, device=device) < 0.5).float()
    rbm.fit(v, 1, 4, 0.1, generator=g)
    return rbm.gibbs(v, 2, generator=g)


def dbm_chain(device, g):
    dbm = ebmlib.dbm.DBM([6, 4, 3], generator=g, device=device)
    v = (torch.rand(8, 6, generator=g, device=device) < 0.5).float()
    dbm.pretrain(v, 1, 4, 0.1, generator=g)
    return torch.cat(dbm.sample(4, 2, generator=g), dim=1)


def x0(device, g, n=8, d=2):
    return torch.randn(n, d, generator=g, device=device)


# (name, f(device, generator) -> Tensor): every stochastic public function, a small call each
CASES = [
    ("langevin", lambda d, g: ebmlib.samplers.langevin(quadratic, x0(d, g), 3, 0.1, generator=g)[0]),
    ("langevin_keep_last_clamped", lambda d, g: ebmlib.samplers.langevin(quadratic, x0(d, g), 3, 0.1, keep="last",
                                                                          clamp=(-1, 1), generator=g)[0]),
    ("mala", lambda d, g: ebmlib.samplers.mala(quadratic, x0(d, g), 3, 0.1, generator=g)[0]),
    ("hmc", lambda d, g: ebmlib.samplers.hmc(quadratic, x0(d, g), 3, 0.1, n_leapfrog=2, generator=g)[0]),
    ("metropolis", lambda d, g: ebmlib.samplers.metropolis(quadratic, x0(d, g), 3, 0.5, generator=g)[0]),
    ("parallel_tempering", lambda d, g: ebmlib.samplers.parallel_tempering(quadratic, x0(d, g), 3, 0.1, temperatures=[1.0, 2.0],
                                                                            generator=g)[0]),
    ("adapt_step_size", lambda d, g: torch.tensor(ebmlib.samplers.adapt_step_size(quadratic, x0(d, g), 5, 0.1,
                                                                                    generator=g), device=d)),
    ("sgld", lambda d, g: ebmlib.samplers.sgld(quadratic, x0(d, g), 3, 0.1, 0.05, generator=g)),
    ("langevin_move", lambda d, g: ebmlib.samplers.langevin_move(x0(d, g), -x0(d, g), 0.1, generator=g)),
    ("random_spins", lambda d, g: ebmlib.ising.random_spins(4, 4, generator=g, device=d)),
    ("checkerboard_metropolis", lambda d, g: ebmlib.ising.checkerboard_metropolis(
        ebmlib.ising.random_spins(2, 4, generator=g, device=d), 2.0, 3, generator=g)[0]),
    ("contrastive_divergence", lambda d, g: ebmlib.losses.contrastive_divergence(quadratic, x0(d, g), n_steps=2,
                                                                                  step_size=0.1, generator=g)),
    ("short_run_langevin", lambda d, g: ebmlib.losses.short_run_langevin(quadratic, x0(d, g), 2, 0.1, generator=g)),
    ("persistent_chains", lambda d, g: ebmlib.losses.PersistentChains.uniform(8, ((-1, 1), (-1, 1)), generator=g,
                                                                               device=d).x),
    ("sliced_score_matching", lambda d, g: ebmlib.losses.sliced_score_matching(quadratic, x0(d, g), generator=g)),
    ("denoising_score_matching", lambda d, g: ebmlib.losses.denoising_score_matching(quadratic, x0(d, g), 0.3,
                                                                                      generator=g)),
    ("nce", lambda d, g: ebmlib.losses.nce(quadratic, x0(d, g), Gaussian(torch.zeros(2, device=d),
                                                                          torch.eye(2, device=d)), generator=g)),
    ("noise_annealing_blur", lambda d, g: ebmlib.losses.NoiseAnnealing(1.0, 0.1, 10).blur(x0(d, g), generator=g)),
    ("gaussian_sample", lambda d, g: Gaussian(torch.zeros(2, device=d), torch.eye(2, device=d)).sample(5, generator=g)),
    ("mixture_sample", lambda d, g: mixture(d).sample(5, generator=g)),
    ("replay_buffer_sample", lambda d, g: ebmlib.training.ReplayBuffer(
        16, ebmlib.training.uniform_init((2,), device=d), generator=g).sample(4, generator=g).x),
    ("persistent_sgld", buffer_negatives),
    ("fit", train_a_little),
    ("jem_conditional_samples", jem_samples),
    ("rbm_fit_and_gibbs", rbm_chain),
    ("dbm_pretrain_and_sample", dbm_chain),
    ("ais_rbm", lambda d, g: ais_rbm(0.1 * torch.ones(4, 3, device=d), torch.zeros(4, device=d),
                                     torch.zeros(3, device=d), 8, 5, n_runs=2, generator=g).samples),
    ("ais_energy", lambda d, g: ebmlib.ais.ais_energy(quadratic, Gaussian(torch.zeros(2, device=d),
                                                                           torch.eye(2, device=d)), 8, 5, generator=g).samples),
    ("multilevel_dsm_loss", lambda d, g: ebmlib.score.multilevel_dsm_loss(mixture(d).score, x0(d, g),
                                                                           torch.tensor([1.0, 0.5]), generator=g)),
    ("ve_forward", lambda d, g: ebmlib.score.ve_forward(x0(d, g), 0.5, generator=g)),
    ("vp_forward", lambda d, g: ebmlib.score.vp_forward(x0(d, g), 0.5, generator=g)),
    ("annealed_langevin", lambda d, g: ebmlib.score.annealed_langevin(mixture(d).score, x0(d, g),
                                                                       torch.tensor([1.0, 0.5]), 2, 0.01, generator=g)[0]),
    ("reverse_diffusion", lambda d, g: ebmlib.score.reverse_diffusion(mixture(d).score, x0(d, g),
                                                                       torch.tensor([1.0, 0.5, 0.1]), generator=g)[0]),
    ("train_score_model", lambda d, g: ebmlib.score.NoiseConditionalScore(2, 8, 1, generator=g).to(d)(
        x0(d, g), 0.5) if ebmlib.score.train_score_model(ebmlib.score.NoiseConditionalScore(2, 8, 1, generator=g).to(d),
                                                          x0(d, g, 32), torch.tensor([1.0, 0.5]), n_steps=2,
                                                          batch_size=8, generator=g) is not None else None),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name, run", CASES, ids=[c[0] for c in CASES])
def test_draws_happen_on_the_device_of_the_inputs_with_a_generator_there(name, run, device):
    first = run(device, torch.Generator(device=device).manual_seed(0))
    second = run(device, torch.Generator(device=device).manual_seed(0))
    assert first.device.type == device, (name, first.device)
    assert torch.isfinite(first).all(), name
    assert torch.equal(first, second), f"{name}: the same seed must give the same result"


def test_a_generator_on_another_device_is_refused_naming_the_device_it_must_be_on():
    # the rule itself, checkable without a GPU: a CPU generator for inputs on cuda:0
    with pytest.raises(ValueError, match=r"generator must be on the device of the inputs, cuda:0"):
        check_generator(torch.Generator(), torch.device("cuda:0"))
    assert check_generator(torch.Generator(), torch.device("cpu")) is not None
    assert check_generator(None, "cuda") is None
    with pytest.raises(TypeError, match="generator"):
        check_generator(0, "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("name, run", CASES, ids=[c[0] for c in CASES])
def test_a_cpu_generator_with_cuda_inputs_raises_a_value_error_naming_generator(name, run):
    with pytest.raises(ValueError, match="generator"):
        run("cuda", torch.Generator().manual_seed(0))


def test_networks_take_a_generator_so_that_no_test_needs_the_global_seed():
    torch.manual_seed(1)
    a = MLPEnergy(2, 8, 2, generator=torch.Generator().manual_seed(5))
    torch.manual_seed(2)
    b = MLPEnergy(2, 8, 2, generator=torch.Generator().manual_seed(5))
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    # PyTorch's default law: every weight and bias in ±1/√fan_in
    first = a.net[0]
    assert first.weight.abs().max() <= 1 / math.sqrt(2) and first.bias.abs().max() <= 1 / math.sqrt(2)
    assert not torch.equal(a.net[0].weight, MLPEnergy(2, 8, 2, generator=torch.Generator().manual_seed(6)).net[0].weight)
