"""Speed of ebmlib.diagnostics against ArviZ on the same arrays: ESS (bulk, tail) and rank R-hat.

Run: ``python benchmarks/bench_diagnostics.py``. Prints one table: the best of several timed
repeats per call, for ebmlib (given a NumPy array and a torch tensor) and for ArviZ (given the
NumPy array), with the ratio ArviZ time / ebmlib time (above 1: ebmlib is faster), and checks on
the way that both give the same number. The arrays are AR(1) chains (rho = 0.9), fixed seed.
"""

from __future__ import annotations

import logging
import math
import timeit
import warnings

import numpy as np
import torch

try:
    from benchmarks._rows import record
except ImportError:  # run as a script from benchmarks/
    from _rows import record

import arviz
from ebmlib import diagnostics

SHAPES = [(4, 1000), (64, 5000)]
CALLS = [("ess", "bulk"), ("ess", "tail"), ("rhat", "rank")]


def ar1_chains(n_chains: int, n_draws: int, rho: float = 0.9, seed: int = 0) -> np.ndarray:
    """AR(1) chains x_t = rho x_{t-1} + sqrt(1 - rho^2) e_t, started in the stationary N(0, 1)."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n_chains, n_draws))
    x = np.empty((n_chains, n_draws))
    x[:, 0] = noise[:, 0]
    for t in range(1, n_draws):
        x[:, t] = rho * x[:, t - 1] + math.sqrt(1.0 - rho**2) * noise[:, t]
    return x


def best_times(fns, budget_s: float = 1.0) -> list[float]:
    """Best single-call time in seconds of each function, timed in turn (interleaved) so that a
    busy machine slows them all alike."""
    for fn in fns:
        fn()  # warm up
    once = max(timeit.timeit(fn, number=1) for fn in fns)
    number = max(1, int(0.05 / max(once, 1e-9)))
    rounds = min(30, max(5, int(budget_s / max(len(fns) * once * number, 1e-9))))
    best = [math.inf] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], timeit.timeit(fn, number=number) / number)
    return best


def main() -> None:
    logging.getLogger("arviz").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)  # a fair comparison with single-threaded numpy/scipy
    print(f"torch {torch.__version__}, numpy {np.__version__}, arviz {arviz.__version__}, 1 thread\n")
    header = f"{'call':<18}{'shape':>10}{'arviz ms':>11}{'ebmlib np ms':>14}{'ebmlib torch ms':>17}{'ratio np':>10}{'ratio torch':>13}"
    print(header)
    print("-" * len(header))
    for shape in SHAPES:
        x = ar1_chains(*shape)
        xt = torch.from_numpy(x)
        for name, method in CALLS:
            ours = getattr(diagnostics, name)
            theirs = getattr(arviz, name)
            expected = float(theirs(x, method=method))
            got = ours(x, method=method)
            assert abs(got - expected) <= 1e-6 * abs(expected), (name, method, got, expected)
            t_arviz, t_numpy, t_torch = best_times(
                [
                    lambda: theirs(x, method=method),
                    lambda: ours(x, method=method),
                    lambda: ours(xt, method=method),
                ]
            )
            print(
                f"{name + ' ' + method:<18}{'x'.join(map(str, shape)):>10}{1e3 * t_arviz:>11.3f}"
                f"{1e3 * t_numpy:>14.3f}{1e3 * t_torch:>17.3f}"
                f"{t_arviz / t_numpy:>10.2f}{t_arviz / t_torch:>13.2f}"
            )
            record("diagnostics: ArviZ time / ebmlib time", f"{name} {method} {'x'.join(map(str, shape))}", t_arviz / t_torch, "ratio", bar=1.0)
    print("\nratio = ArviZ time / ebmlib time; above 1 means ebmlib is faster.")


if __name__ == "__main__":
    main()
