"""Per-step time of ebmlib's `langevin` and `hmc` against the bare PyTorch loop, and TorchEBM.

The energy is the same small MLP for everyone (2 -> 128 -> 128 -> 1, SiLU), with 4096 chains in
float32. "Bare" is the loop a user would write by hand: forward, backward, update (for HMC the
leapfrog loop with the gradient carried over between steps, and the Metropolis test), storing
nothing. ebmlib's samplers also record every sample, count divergences and (HMC) the per-step
acceptance. TorchEBM (if importable) runs with `return_trajectory=True`, so it records too; its
Langevin step size is set to ε/2 so that both compute x - (ε/2)∇E + √ε z.

Run:  python benchmarks/bench_samplers.py [--device cuda] [--chains 4096] [--repeats 5]

Each timing is one run of ``n_steps`` steps divided by ``n_steps``, repeated (interleaved across
implementations); the table shows the minimum and the median over repeats, and the ratio to the
bare loop of the minima (on a shared machine, noise only ever adds time, so the minimum is the
steadiest estimate). The goal is a ratio of at most 1.2 against the bare loop.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

try:
    from benchmarks._rows import record
except ImportError:  # run as a script from benchmarks/
    from _rows import record
from torch import nn

from ebmlib.samplers import hmc, langevin


def make_energy(device, seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(2, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU(), nn.Linear(128, 1)).to(device)

    def energy(x):
        return net(x).squeeze(-1)  # (n,)

    return net, energy


def bare_langevin(energy, x, n_steps, step_size, generator):
    """x <- x - (ε/2)∇E(x) + √ε z, written out: forward, backward, update."""
    noise_scale = math.sqrt(step_size)
    for _ in range(n_steps):
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(energy(x).sum(), x)
        x = x - 0.5 * step_size * grad + noise_scale * torch.randn(x.shape, generator=generator, device=x.device)
    return x


def bare_hmc(energy, x, n_steps, step_size, n_leapfrog, generator):
    """HMC written out: momentum, leapfrog (gradient carried over), Metropolis test."""

    def energy_and_grad(x):
        x = x.detach().requires_grad_(True)
        e = energy(x)
        (g,) = torch.autograd.grad(e.sum(), x)
        return e.detach(), g

    e, g = energy_and_grad(x)
    for _ in range(n_steps):
        p = torch.randn(x.shape, generator=generator, device=x.device)
        h0 = e + 0.5 * p.square().sum(1)
        x_new, p_new = x, p - 0.5 * step_size * g
        for i in range(n_leapfrog):
            x_new = x_new + step_size * p_new
            e_new, g_new = energy_and_grad(x_new)
            p_new = p_new - (step_size if i < n_leapfrog - 1 else 0.5 * step_size) * g_new
        h1 = e_new + 0.5 * p_new.square().sum(1)
        accept = torch.rand(h0.shape, generator=generator, device=x.device) < torch.exp(h0 - h1)
        x = torch.where(accept[:, None], x_new, x)
        e = torch.where(accept, e_new, e)
        g = torch.where(accept[:, None], g_new, g)
    return x


def torchebm_runners(net, device):
    try:
        from torchebm.core import BaseModel
        from torchebm.samplers import HamiltonianMonteCarlo, LangevinDynamics
    except ImportError:
        return None

    class MLPEnergy(BaseModel):
        def __init__(self):
            super().__init__(dtype=torch.float32, device=device)
            self.net = net

        def forward(self, x):
            return self.net(x).squeeze(-1)

    model = MLPEnergy()

    def tebm_langevin(x, n_steps, step_size, generator):
        sampler = LangevinDynamics(model, step_size=step_size / 2, noise_scale=1.0, device=device)
        return sampler.sample(x=x, n_steps=n_steps, return_trajectory=True, generator=generator)

    def tebm_hmc(x, n_steps, step_size, n_leapfrog, generator):
        sampler = HamiltonianMonteCarlo(model, step_size=step_size, n_leapfrog_steps=n_leapfrog, device=device)
        return sampler.sample(x=x, n_steps=n_steps, return_trajectory=True, generator=generator)

    return tebm_langevin, tebm_hmc


def timed(fn, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--chains", type=int, default=4096)
    parser.add_argument("--langevin-steps", type=int, default=200)
    parser.add_argument("--hmc-steps", type=int, default=10)
    parser.add_argument("--n-leapfrog", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    net, energy = make_energy(device)
    x0 = torch.randn(args.chains, 2, device=device)
    eps_langevin, eps_hmc, n_leapfrog = 0.01, 0.05, args.n_leapfrog
    n_l, n_h = args.langevin_steps, args.hmc_steps

    def gen():
        return torch.Generator(device=device).manual_seed(1)

    cases = {
        "langevin": {
            "bare loop": lambda: bare_langevin(energy, x0, n_l, eps_langevin, gen()),
            "ebmlib": lambda: langevin(energy, x0, n_l, eps_langevin, generator=gen()),
        },
        "hmc": {
            "bare loop": lambda: bare_hmc(energy, x0, n_h, eps_hmc, n_leapfrog, gen()),
            "ebmlib": lambda: hmc(energy, x0, n_h, eps_hmc, n_leapfrog=n_leapfrog, generator=gen()),
        },
    }
    runners = torchebm_runners(net, device)
    if runners is not None:
        tebm_langevin, tebm_hmc = runners
        cases["langevin"]["torchebm"] = lambda: tebm_langevin(x0, n_l, eps_langevin, gen())
        cases["hmc"]["torchebm"] = lambda: tebm_hmc(x0, n_h, eps_hmc, n_leapfrog, gen())
    steps = {"langevin": n_l, "hmc": n_h}

    for sampler, impls in cases.items():  # warm up (allocator, thread pool, lazy init)
        for fn in impls.values():
            fn()
    times = {(s, name): [] for s, impls in cases.items() for name in impls}
    for _ in range(args.repeats):  # interleaved, so that a slow spell on a shared machine hits all
        for sampler, impls in cases.items():
            for name, fn in impls.items():
                times[sampler, name].append(timed(fn, device) / steps[sampler])

    print(f"device={device}, torch {torch.__version__}, threads={torch.get_num_threads()}, "
          f"chains={args.chains}, MLP 2-128-128-1 SiLU, n_leapfrog={n_leapfrog}, {args.repeats} repeats")
    if runners is None:
        print("torchebm not importable: its rows are left out")
    print(f"{'sampler':<10}{'implementation':<16}{'min ms/step':>13}{'median':>10}{'vs bare (min)':>15}")
    for sampler, impls in cases.items():
        bare = min(times[sampler, "bare loop"])
        for name in impls:
            t = times[sampler, name]
            print(f"{sampler:<10}{name:<16}{1e3 * min(t):>13.3f}{1e3 * statistics.median(t):>10.3f}{min(t) / bare:>15.2f}")
            if name != "bare loop":
                record("samplers: time per step / bare PyTorch loop", f"{sampler} ({name})", min(t) / bare, "ratio", bar=1.2)

if __name__ == "__main__":
    main()
