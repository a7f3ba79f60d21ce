r"""A minimal Adam optimiser for the training loops of this package.

``torch.optim``'s ``step`` imports ``torch._dynamo`` on first use, which takes 2 to 3 seconds on a
laptop CPU: a large share of a notebook that must run in a minute. The update is short enough to
write out (Kingma and Ba 2015, Algorithm 1), with bias-corrected moments:

.. math:: m \leftarrow \beta_1 m + (1-\beta_1) g, \quad v \leftarrow \beta_2 v + (1-\beta_2) g^2, \quad
          \theta \leftarrow \theta - \eta\, \frac{m / (1-\beta_1^t)}{\sqrt{v / (1-\beta_2^t)} + \epsilon}.

References
----------
.. [1] D. P. Kingma and J. Ba, "Adam: a method for stochastic optimization", ICLR 2015.

Introduced in notebook 08_score_models_and_diffusion (used by ``train_score_model`` and ``train_classifier``).
"""

from __future__ import annotations

import math

import torch


class Adam:
    """Adam over a list of parameters; parameters whose ``grad`` is None are left as they are."""

    def __init__(self, params, learning_rate: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = [p for p in params if p.requires_grad]
        self.learning_rate, (self.beta1, self.beta2), self.eps = learning_rate, betas, eps
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, learning_rate: float | None = None) -> None:
        """One update; ``learning_rate`` overrides the initial one (for a schedule)."""
        self.t += 1
        lr = self.learning_rate if learning_rate is None else learning_rate
        correction1, correction2 = 1 - self.beta1**self.t, 1 - self.beta2**self.t
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            m.mul_(self.beta1).add_(p.grad, alpha=1 - self.beta1)
            v.mul_(self.beta2).addcmul_(p.grad, p.grad, value=1 - self.beta2)
            denominator = (v / correction2).sqrt_().add_(self.eps)
            p.addcdiv_(m, denominator, value=-lr / correction1)


def cosine_learning_rate(learning_rate: float, step: int, n_steps: int) -> float:
    r"""Cosine annealing, :math:`\eta\,\tfrac12(1 + \cos(\pi t/T))`: ``learning_rate`` at step 0, 0 at ``n_steps``."""
    return 0.5 * learning_rate * (1 + math.cos(math.pi * step / n_steps))
