"""Eight Gaussians fitted by every training method of ebmlib.losses, scored by exact test log-likelihood.

Each method trains the same kind of network (``MLPEnergy``, SiLU, float32) on the same 20 000
points of ``ebmlib.datasets.eight_gaussians``; the learned density ``exp(-E)/Z`` is normalised on
a 200 × 200 grid over [-4, 4]² (``ebmlib.partition.log_partition_grid``) and its mean log-density
on 5 000 held-out points is set beside the true mixture's (``eight_gaussians_mixture``). The gap
to the truth is, up to Monte Carlo error, the KL divergence from the truth to the model. The bar:
every method within 0.15 nats of the truth.

Run:  python benchmarks/bench_losses.py [--methods cd pcd sm ssm dsm nce] [--seeds 0 1] [--quick] [--threads 2]

Settings per method are in ``METHODS``; the table prints them. Where they are not the textbook
default, and why:

* Score matching (exact, sliced, denoising) is blind to the *weights* of well-separated modes
  (Wenliang and Kanagawa 2020): the loss only sees the score where data lie, and the information
  about relative mass sits between the modes, where there are no data. Trained on the clean data,
  the eight modes get visibly unequal mass (about 0.2 nats lost). We therefore anneal a Gaussian
  smoothing of the data from σ = 1 down to a small floor over training ("noise annealing", as in
  noise-conditional score models): at large σ the modes overlap and their weights are learned;
  at the floor the shape is refined. The floor's own cost (fitting p * N(0, σ²) instead of p) is
  KL(N(0, s²) ‖ N(0, s² + σ²)) per dimension for mode width s = 0.2: 0.002 nats in all at
  σ = 0.05 (score matching, sliced), 0.023 at σ = 0.1 (denoising, whose loss gets too noisy below).
  Even so, the weights the modes end up with vary from seed to seed: with 4000 steps sliced SM
  lost 0.07 nats on one seed and 0.35 on another; with 8000 steps (the settings here) seeds 0 and 1
  stayed within 0.14. The blindness is reduced, not removed: run ``--seeds 0 1 2`` to see the spread.
* NCE uses a Gaussian fitted to the training data as its noise (Gutmann and Hyvärinen advise a
  noise close to the data), with 16 noise samples per data point.
* CD/PCD negatives are unadjusted Langevin chains (``short_run_langevin``). PCD uses Adam without
  momentum (``betas=(0, 0.999)``): with momentum its chains and parameters chase each other and the
  modes stay too wide.

Timings are wall-clock seconds on the machine that ran it (``--threads`` CPU threads).
"""

from __future__ import annotations

import argparse
import time

import torch

try:
    from benchmarks._rows import record
except ImportError:  # run as a script from benchmarks/
    from _rows import record

from ebmlib.datasets import eight_gaussians, eight_gaussians_mixture
from ebmlib.energies import Gaussian
from ebmlib.losses import (
    PersistentChains,
    contrastive_divergence,
    denoising_score_matching,
    nce,
    score_matching,
    sliced_score_matching,
)
from ebmlib.nets import MLPEnergy
from ebmlib.training import exact_log_likelihood, fit

BOX = ((-4.0, 4.0), (-4.0, 4.0))
BAR = 0.15

# n_steps, lr and the method's own settings; every method: MLPEnergy(hidden=128, depth=2), batch 256,
# Adam with a cosine learning-rate decay.
METHODS = {
    "cd": {"label": "CD-20", "n_steps": 2000, "lr": 5e-3, "k": 20, "step_size": 0.01},
    "pcd": {"label": "PCD-10", "n_steps": 4000, "lr": 3e-3, "k": 10, "step_size": 0.01, "n_chains": 512,
            "betas": (0.0, 0.999)},
    "sm": {"label": "score matching", "n_steps": 8000, "lr": 1e-3, "anneal": (1.0, 0.05, 1.0)},
    "ssm": {"label": "sliced SM (VR)", "n_steps": 8000, "lr": 1e-3, "anneal": (1.0, 0.05, 0.7)},
    "dsm": {"label": "denoising SM", "n_steps": 8000, "lr": 1e-3, "anneal": (1.0, 0.1, 0.6)},
    "nce": {"label": "NCE", "n_steps": 4000, "lr": 3e-3, "noise_ratio": 16},
}


class NoiseAnnealing:
    """σ(t) falling geometrically from σ_max to σ_min over the first ``fraction`` of the run, then held.

    Read by the loss, moved by ``fit``'s callback after every step.
    """

    def __init__(self, sigma_max: float, sigma_min: float, fraction: float, n_steps: int):
        self.sigma_max, self.sigma_min, self.n_anneal = sigma_max, sigma_min, max(1, round(fraction * n_steps))
        self.sigma = sigma_max

    def __call__(self, step: int, energy) -> None:
        self.sigma = self.sigma_max * (self.sigma_min / self.sigma_max) ** min(1.0, step / self.n_anneal)


def make_loss(method: str, settings: dict, energy, train: torch.Tensor, g: torch.Generator):
    """The loss_fn, extra parameters and callback for one method; the description of its settings."""
    n_steps = settings["n_steps"]
    if method in ("cd", "pcd"):
        chains = PersistentChains.uniform(settings["n_chains"], BOX, generator=g) if method == "pcd" else None

        def loss_fn(e, x):
            return contrastive_divergence(e, x, n_steps=settings["k"], step_size=settings["step_size"], chains=chains, generator=g)

        extra = f"k={settings['k']}, ε={settings['step_size']}" + (f", {settings['n_chains']} chains" if chains else "")
        return loss_fn, None, None, extra
    if method == "nce":
        noise = Gaussian(train.mean(0), torch.cov(train.T))  # the data-fitted Gaussian
        log_z = torch.nn.Parameter(torch.zeros(()))
        ratio = settings["noise_ratio"]

        def loss_fn(e, x):
            return nce(e, x, noise, log_z=log_z, n_noise=ratio * x.shape[0], generator=g)

        return loss_fn, [*energy.parameters(), log_z], None, f"data-fitted Gaussian noise, ν={ratio}"
    annealing = NoiseAnnealing(*settings["anneal"], n_steps)

    def smoothed(x):
        return x + annealing.sigma * torch.randn(x.shape, generator=g, dtype=x.dtype)

    if method == "sm":
        loss_fn = lambda e, x: score_matching(e, smoothed(x))  # noqa: E731
    elif method == "ssm":
        loss_fn = lambda e, x: sliced_score_matching(e, smoothed(x), variance_reduction=True, generator=g)  # noqa: E731
    else:  # dsm: the loss adds the noise itself
        loss_fn = lambda e, x: denoising_score_matching(e, x, annealing.sigma, generator=g)  # noqa: E731
    high, low, fraction = settings["anneal"]
    return loss_fn, None, annealing, f"data noise σ {high} → {low} over {fraction:.0%} of the steps"


def run(method: str, settings: dict, train, test, seed: int) -> tuple[float, float, str]:
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    energy = MLPEnergy(dim=2, hidden=128, depth=2)
    loss_fn, params, callback, extra = make_loss(method, settings, energy, train, g)
    start = time.perf_counter()
    fit(energy, loss_fn, train, settings["n_steps"], 256, settings["lr"], params=params, generator=g,
        progress=False, callback=callback, schedule="cosine", betas=settings.get("betas", (0.9, 0.999)))
    seconds = time.perf_counter() - start
    ll = exact_log_likelihood(energy, test, BOX, 200).item()
    return ll, seconds, f"{settings['n_steps']} steps, lr {settings['lr']:g}, {extra}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--quick", action="store_true", help="a tenth of the steps: a smoke test, not the result")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seeds", type=int, nargs="*", default=[0], help="one row per seed (the network's start and the noise)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    train = eight_gaussians(20_000, generator=torch.Generator().manual_seed(0))
    test = eight_gaussians(5_000, generator=torch.Generator().manual_seed(1))
    truth = exact_log_likelihood(eight_gaussians_mixture(), test.double(), BOX, 300).item()
    print(f"eight Gaussians: 20 000 training points, 5 000 test points; exact log-likelihood on a 200² grid over {BOX}")
    print(f"{'method':<16}{'test log-lik':>13}{'gap':>8}{'≤ 0.15':>8}{'seconds':>9}   settings")
    print(f"{'true density':<16}{truth:>13.4f}{0.0:>8.3f}{'':>8}{'':>9}   eight_gaussians_mixture()")
    for method in args.methods:
        settings = dict(METHODS[method])
        if args.quick:
            settings["n_steps"] = max(50, settings["n_steps"] // 10)
        for seed in args.seeds:
            ll, seconds, described = run(method, settings, train, test, seed)
            gap = truth - ll
            ok = "yes" if gap <= BAR else "NO"
            label = settings["label"] + (f" (seed {seed})" if len(args.seeds) > 1 else "")
            print(f"{label:<16}{ll:>13.4f}{gap:>8.3f}{ok:>8}{seconds:>9.0f}   {described}", flush=True)
            record("losses: eight Gaussians, gap to the true test log-likelihood", label, gap, "nats", bar=BAR)


if __name__ == "__main__":
    main()
