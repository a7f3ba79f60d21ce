r"""The library's one Adam optimiser, used by its one training loop, :func:`ebmlib.training.fit`.

Why not ``torch.optim.Adam``: its first use in a process costs seconds (it loads ``torch._dynamo``).
``benchmarks/bench_optim.py`` measures it in fresh processes: building ``torch.optim.Adam`` and
taking its first step took 3.7 s against 0.006 s for the update written out (each later step
1.8 ms against 1.4 ms), on the course's 2-core machine: a large share of a notebook that must run
in a minute, paid by every notebook that trains. The update is short enough to write out
(Kingma and Ba 2015, Algorithm 1), with bias-corrected moments:

.. math:: m \leftarrow \beta_1 m + (1-\beta_1) g, \quad v \leftarrow \beta_2 v + (1-\beta_2) g^2, \quad
          \theta \leftarrow \theta - \eta\, \frac{m / (1-\beta_1^t)}{\sqrt{v / (1-\beta_2^t)} + \epsilon}.

References
----------
.. [1] D. P. Kingma and J. Ba, "Adam: a method for stochastic optimization", ICLR 2015.

Introduced in notebook 04_contrastive_divergence (through :func:`ebmlib.training.fit`).
"""

from __future__ import annotations

import math

import torch


class Adam:
    """Adam over a list of parameters; parameters whose ``grad`` is None are left as they are.

    Parameters
    ----------
    params : iterable of Tensors
    lr : float
        The learning rate η.
    betas : (float, float)
        β₁, β₂, the averaging constants of the gradient and of its square.
    eps : float
        ϵ in the denominator.
    """

    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = [p for p in params if p.requires_grad]
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, lr: float | None = None) -> None:
        """One update; ``lr`` overrides the initial learning rate (for a schedule)."""
        self.t += 1
        lr = self.lr if lr is None else lr
        correction1, correction2 = 1 - self.beta1**self.t, 1 - self.beta2**self.t
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            m.mul_(self.beta1).add_(p.grad, alpha=1 - self.beta1)
            v.mul_(self.beta2).addcmul_(p.grad, p.grad, value=1 - self.beta2)
            denominator = (v / correction2).sqrt_().add_(self.eps)
            p.addcdiv_(m, denominator, value=-lr / correction1)


def cosine_lr(lr: float, step: int, n_steps: int) -> float:
    r"""Cosine annealing, :math:`\eta\,\tfrac12(1 + \cos(\pi t/T))`: ``lr`` at step 0, 0 at ``n_steps``."""
    return 0.5 * lr * (1 + math.cos(math.pi * step / n_steps))
