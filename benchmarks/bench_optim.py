"""What torch.optim.Adam's first use costs a fresh process, against the same update written out.

Run: ``python benchmarks/bench_optim.py``. Each case runs in its own fresh Python process (the
cost in question is a one-time import, invisible in a warm process): import torch, build an
optimiser over a small MLP's parameters, take the first step, then 200 more. Prints the median
of five processes per case. The number decided which Adam the library keeps: ``ebmlib.training``
uses ``torch.optim.Adam`` unless its first use costs a notebook a noticeable share of its 60 s.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

try:
    from benchmarks._rows import record
except ImportError:  # run as a script from benchmarks/
    from _rows import record

PROBE = r"""
import json, math, sys, time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.SiLU(), torch.nn.Linear(64, 1))
params = list(net.parameters())
x = torch.randn(256, 2)

class WrittenOut:  # Kingma and Ba (2015), Algorithm 1
    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, (self.b1, self.b2), self.eps, self.t = params, lr, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
    @torch.no_grad()
    def step(self):
        self.t += 1
        c1, c2 = 1 - self.b1**self.t, 1 - self.b2**self.t
        for p, m, v in zip(self.params, self.m, self.v):
            m.mul_(self.b1).add_(p.grad, alpha=1 - self.b1)
            v.mul_(self.b2).addcmul_(p.grad, p.grad, value=1 - self.b2)
            p.addcdiv_(m, (v / c2).sqrt_().add_(self.eps), value=-self.lr / c1)
    def zero_grad(self):
        for p in self.params:
            p.grad = None

def one_step(opt):
    opt.zero_grad()
    net(x).square().mean().backward()
    opt.step()

t2 = time.perf_counter()
opt = torch.optim.Adam(params, lr=1e-3) if sys.argv[1] == "torch.optim.Adam" else WrittenOut(params, 1e-3)
one_step(opt)
t3 = time.perf_counter()
for _ in range(200):
    one_step(opt)
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "first": t3 - t2, "per_step": (t4 - t3) / 200}))
"""


def measure(case: str, repeats: int = 5) -> dict:
    runs = [json.loads(subprocess.run([sys.executable, "-c", PROBE, case], capture_output=True, text=True,
                                      check=True).stdout) for _ in range(repeats)]  # fmt: skip
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main() -> None:
    print(f"{'optimiser':<20} {'import torch':>13} {'build + 1st step':>17} {'later step':>11}")
    results = {}
    for case in ("torch.optim.Adam", "written out"):
        r = results[case] = measure(case)
        print(f"{case:<20} {r['import']:>12.3f}s {r['first']:>16.4f}s {1e3 * r['per_step']:>9.3f}ms")
        record("optimiser", f"{case}: build + first step", r["first"], "s")
    extra = results["torch.optim.Adam"]["first"] - results["written out"]["first"]
    print(f"\nfirst use of torch.optim.Adam costs {extra:.3f} s more per process than the written-out update")


if __name__ == "__main__":
    main()
