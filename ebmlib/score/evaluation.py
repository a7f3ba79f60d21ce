r"""Checking samples and learned scores against a Gaussian mixture, whose every noised score is exact.

* :func:`mode_weights`: the fraction of samples nearest each mode. A sampler that recovers the
  data's mode weights has found not only where the modes are but how much mass each carries,
  which single-level Langevin cannot (Song and Ermon 2019, section 3.2).
* :func:`score_error`: the relative mean squared error of a score model at one noise level,
  measured where the noised data lie,

  .. math:: \frac{\mathbb E_{\tilde x \sim p_\sigma} \|s_\theta(\tilde x, \sigma) - \nabla\log p_\sigma(\tilde x)\|^2}
                 {\mathbb E_{\tilde x \sim p_\sigma} \|\nabla\log p_\sigma(\tilde x)\|^2}.

Introduced in notebook 08_score_models_and_diffusion.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ebmlib._validation import check_int, check_x
from ebmlib.energies import GaussianMixture

__all__ = ["mode_weights", "score_error"]


def mode_weights(x: Tensor, means: Tensor) -> Tensor:
    """Fraction of the rows of x (n, d) nearest each of the means (k, d), shape (k,); sums to 1.

    Non-finite rows (diverged chains) count for no mode, so the fractions then sum to less than 1.
    """
    x = check_x(x, finite=False)
    means = check_x(means, "means").to(x)
    if means.shape[1] != x.shape[1]:
        raise ValueError(f"means must have shape (k, {x.shape[1]}), got shape {tuple(means.shape)}")
    nearest = torch.cdist(x, means).argmin(1)  # (n,)
    finite = torch.isfinite(x).all(1)
    return torch.bincount(nearest[finite], minlength=means.shape[0]).to(x.dtype) / x.shape[0]


def score_error(
    score: Callable[[Tensor, Tensor], Tensor],
    mixture: GaussianMixture,
    sigma: float,
    n: int = 4096,
    *,
    generator: torch.Generator | None = None,
) -> float:
    r"""Relative mean squared error of ``score`` against ``mixture.score`` at level sigma, on n noised samples.

    The samples are in the mixture's dtype: build the mixture in the dtype the score model expects.
    """
    n = check_int(n, "n")
    x = mixture.sample(n, generator=generator)
    x = x + sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    exact = mixture.score(x, sigma)  # (n, d)
    with torch.no_grad():
        learned = score(x, torch.full((n,), float(sigma), dtype=x.dtype, device=x.device))
    return float((learned - exact).square().sum(1).mean() / exact.square().sum(1).mean())
