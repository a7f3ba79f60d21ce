"""RBM training: ebmlib's ``RBM.fit`` against scikit-learn's ``BernoulliRBM`` on the binarized digits.

Run: ``python benchmarks/bench_rbm.py`` (two to three minutes). Both learn by PCD-1 (scikit-learn's
only rule; ``fit(..., k=1, persistent=True)`` here) from the same 1500 training digits, with the same
number of hidden units, epochs, batch size and learning rate, on one thread each, five times with
seeds 0-4 (interleaved, so that a busy machine slows both alike). Two tables:

* speed: the best of the five runs in CPU time of the process and in wall time, and the ratios
  ebmlib / scikit-learn (at most 1: ebmlib is not slower). Both run single-threaded, so on an idle
  machine CPU time equals wall time; on a busy one it is far less disturbed by other processes.
  scikit-learn always computes in float64; ebmlib follows the data's dtype, so both are shown.
* quality, per test image of the 297 held-out digits, mean ± standard deviation over the five
  models: the pseudo-likelihood (the exact sum ``sum_i log p(v_i | v_-i)``, and scikit-learn's own
  ``score_samples``, one random flipped bit per image, ``random_state=0``), and the log-likelihood,
  exact (log Z summed over the hidden states) for at most 20 hidden units and by AIS beside it
  (500 linear betas, 2 runs of 50 chains, base rates of the training data).
"""

from __future__ import annotations

import math
import time

import numpy as np
import sklearn
import torch
from sklearn.neural_network import BernoulliRBM
from threadpoolctl import threadpool_limits

from ebmlib.datasets import binarized_digits
from ebmlib.rbm import RBM

try:
    from benchmarks._rows import record
except ImportError:  # run as a script from benchmarks/
    from _rows import record

SETTINGS = [  # (hidden units, epochs, batch size, learning rate)
    (20, 20, 10, 0.05),
    (64, 20, 10, 0.05),
    (100, 20, 20, 0.05),
]
SEEDS = range(5)
DTYPES = (torch.float32, torch.float64)


def fit_sklearn(x: np.ndarray, n_hidden, epochs, batch_size, lr, seed) -> RBM:
    model = BernoulliRBM(n_components=n_hidden, n_iter=epochs, batch_size=batch_size, learning_rate=lr, random_state=seed)
    model.fit(x)
    # scikit-learn's parameters in an ebmlib RBM, in float64: W = components_.T
    return RBM.from_parameters(torch.tensor(model.components_.T), torch.tensor(model.intercept_visible_),
                               torch.tensor(model.intercept_hidden_))


def fit_ebmlib(x: torch.Tensor, n_hidden, epochs, batch_size, lr, seed) -> RBM:
    model = RBM(x.shape[1], n_hidden, generator=torch.Generator().manual_seed(seed), dtype=x.dtype)
    return model.fit(x, epochs, batch_size, lr, k=1, persistent=True, progress=False)


def timed(fit, *args) -> tuple[RBM, float, float]:
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    model = fit(*args)
    return model, time.process_time() - start_cpu, time.perf_counter() - start_wall


def quality(rbm: RBM, x_train: torch.Tensor, x_test: torch.Tensor) -> dict:
    """Held-out pseudo-likelihood and log-likelihood per image, computed in float64."""
    rbm = RBM.from_parameters(rbm.W.double(), rbm.b.double(), rbm.c.double())
    x_test = x_test.double()
    flips = torch.as_tensor(np.random.RandomState(0).randint(0, x_test.shape[1], x_test.shape[0]))  # score_samples'
    out = {"PL": rbm.pseudo_likelihood(x_test, index="all").mean().item(),
           "PL one flip": rbm.pseudo_likelihood(x_test, index=flips).mean().item()}
    out["LL exact"] = rbm.log_likelihood(x_test).mean().item() if rbm.n_hidden <= 20 else math.nan
    base = torch.logit(x_train.double().mean(0).clamp(0.01, 0.99))
    estimate = rbm.log_partition("ais", n_chains=50, betas=500, n_runs=2, base_bias=base,
                                 generator=torch.Generator().manual_seed(0))
    out["LL AIS"] = rbm.log_likelihood(x_test, log_z=estimate.log_z).mean().item()
    return out


def check_score_samples_agree(x_train: np.ndarray, x_test: torch.Tensor) -> None:
    """ebmlib's pseudo_likelihood with the same flipped bits is scikit-learn's score_samples, to 1e-8."""
    model = BernoulliRBM(n_components=20, n_iter=2, random_state=0).fit(x_train)
    rbm = RBM.from_parameters(torch.tensor(model.components_.T), torch.tensor(model.intercept_visible_),
                              torch.tensor(model.intercept_hidden_))
    flips = torch.as_tensor(np.random.RandomState(0).randint(0, 64, len(x_test)))
    ours = rbm.pseudo_likelihood(x_test.double(), index=flips).numpy()
    assert np.allclose(ours, model.score_samples(x_test.double().numpy()), atol=1e-8)


def main() -> None:
    torch.set_num_threads(1)
    x_train, x_test = binarized_digits("train"), binarized_digits("test")
    x_np = x_train.double().numpy()
    check_score_samples_agree(x_np, x_test)
    print(f"torch {torch.__version__}, scikit-learn {sklearn.__version__}, one thread each; binarized digits: "
          f"{len(x_train)} train, {len(x_test)} test, 64 pixels; PCD-1; seeds {list(SEEDS)}\n")
    header = (f"{'hidden':>6} {'epochs':>6} {'batch':>5} {'lr':>5} {'ebmlib dtype':>12} | {'CPU s sklearn':>13}"
              f" {'CPU s ebmlib':>12} {'ratio':>5} | {'wall s sklearn':>14} {'wall s ebmlib':>13} {'ratio':>5}")
    print("speed: best of five fits\n" + header + "\n" + "-" * len(header))
    models = {}
    for setting in SETTINGS:
        cpu, wall = {}, {}
        with threadpool_limits(1):
            for seed in SEEDS:  # interleaved, so that a busy machine slows both alike
                runs = [("sklearn", fit_sklearn, x_np)] + [(str(d)[6:], fit_ebmlib, x_train.to(d)) for d in DTYPES]
                for name, fit, x in runs:
                    model, seconds_cpu, seconds_wall = timed(fit, x, *setting, seed)
                    models.setdefault((setting, name), []).append(model)
                    cpu[name] = min(cpu.get(name, math.inf), seconds_cpu)
                    wall[name] = min(wall.get(name, math.inf), seconds_wall)
        n_hidden, epochs, batch_size, lr = setting
        for dtype in DTYPES:
            name = str(dtype)[6:]
            print(f"{n_hidden:>6} {epochs:>6} {batch_size:>5} {lr:>5} {name:>12} | {cpu['sklearn']:13.3f} {cpu[name]:12.3f}"
                  f" {cpu[name] / cpu['sklearn']:5.2f} | {wall['sklearn']:14.3f} {wall[name]:13.3f}"
                  f" {wall[name] / wall['sklearn']:5.2f}")
            record("RBM fit: ebmlib CPU time / scikit-learn's", f"{n_hidden} hidden, {name}", cpu[name] / cpu["sklearn"], "ratio", bar=1.0)

    columns = ["PL", "PL one flip", "LL exact", "LL AIS"]
    header = f"{'hidden':>6} {'model':>16} | " + " ".join(f"{c:>15}" for c in columns)
    print("\nquality on the test digits, per image (nats), mean ± sd over the five models\n" + header + "\n" + "-" * len(header))
    for setting in SETTINGS:
        for name in ["sklearn"] + [str(d)[6:] for d in DTYPES]:
            scores = [quality(model, x_train, x_test) for model in models[(setting, name)]]
            cells = []
            for column in columns:
                values = np.array([s[column] for s in scores])
                cells.append(f"{values.mean():8.2f} ± {values.std(ddof=1):4.2f}" if np.isfinite(values).all() else f"{'-':>15}")
            label = "scikit-learn" if name == "sklearn" else f"ebmlib {name}"
            print(f"{setting[0]:>6} {label:>16} | " + " ".join(cells))
    print("\nPL: exact pseudo-likelihood (all 64 bits); PL one flip: scikit-learn's score_samples estimate; "
          "LL: log-likelihood, exact for <= 20 hidden units and by AIS.")


if __name__ == "__main__":
    main()
