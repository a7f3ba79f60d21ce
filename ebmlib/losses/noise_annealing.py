r"""Noise annealing: blur the data by a Gaussian whose width falls over training.

Score matching sees the data's score only where the data lie. For well-separated modes the
score inside each mode does not depend on the mode's weight, so the objective is nearly blind
to how the mass is shared between modes (Wenliang and Kanagawa 2020; Zhang et al. 2022).
Fitting the *blurred* density :math:`p_\sigma = p * \mathcal N(0, \sigma^2 I)` instead, with σ
large at first, lets the modes overlap so that their weights are learned while the data still
cover the space between them; lowering σ then refines the shapes while the weights stay near
where they were learned. Noise-conditional score networks use many σ at once (Song and Ermon
2019); here one unconditional energy follows a schedule.

The schedule is geometric:

.. math:: \sigma(t) = \sigma_{\max}\,\Big(\frac{\sigma_{\min}}{\sigma_{\max}}\Big)^{\min(1,\ t / t_{\text{anneal}})},
          \qquad t_{\text{anneal}} = \mathrm{round}(\text{fraction}\cdot n_{\text{steps}}),

then held at :math:`\sigma_{\min}`. The final fit is of :math:`p_{\sigma_{\min}}`, not p; for a
Gaussian mode of width s that costs :math:`\mathrm{KL}(\mathcal N(0,s^2)\,\|\,\mathcal N(0,s^2+\sigma^2))
= \tfrac12\big(\log(1+r) - \tfrac{r}{1+r}\big)` nats per dimension, :math:`r = \sigma^2/s^2`.

Introduced in notebook 05_score_matching_and_nce.

References
----------
.. [1] L. K. Wenliang and H. Kanagawa, "Blindness of score-based methods to isolated components
   and mixing proportions", arXiv:2008.10087 (2020).
.. [2] Y. Song and S. Ermon, "Generative modeling by estimating gradients of the data
   distribution", NeurIPS 2019.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebmlib._validation import check_data, check_generator, check_int, check_positive

__all__ = ["NoiseAnnealing", "blur_cost"]


class NoiseAnnealing:
    r"""A noise level σ(t) falling geometrically from ``sigma_max`` to ``sigma_min``, then held.

    Pass the object as :func:`ebmlib.training.fit`'s ``callback``: after step t it sets
    :attr:`sigma` to σ(t), which the loss reads on the next step, e.g.
    ``lambda e, x: score_matching(e, annealing.blur(x, generator=g))`` or
    ``lambda e, x: denoising_score_matching(e, x, annealing.sigma, generator=g)``.

    Parameters
    ----------
    sigma_max, sigma_min : float
        Start and floor of the schedule, ``sigma_max >= sigma_min > 0``.
    n_steps : int
        Length of the training run.
    fraction : float
        Share of the run over which σ falls, in (0, 1]; σ is held at the floor after it.

    Attributes
    ----------
    sigma : float
        The current noise level (``sigma_max`` before the first step).

    Examples
    --------
    >>> annealing = NoiseAnnealing(1.0, 0.01, n_steps=100, fraction=0.5)
    >>> annealing(25); round(annealing.sigma, 6)
    0.1
    >>> annealing(80); annealing.sigma
    0.01

    Introduced in notebook 05_score_matching_and_nce.
    """

    def __init__(self, sigma_max: float, sigma_min: float, n_steps: int, fraction: float = 1.0):
        self.sigma_max = check_positive(sigma_max, "sigma_max")
        self.sigma_min = check_positive(sigma_min, "sigma_min")
        if self.sigma_min > self.sigma_max:
            raise ValueError(f"sigma_min must be <= sigma_max, got sigma_min={sigma_min}, sigma_max={sigma_max}")
        self.n_steps = check_int(n_steps, "n_steps")
        fraction = check_positive(fraction, "fraction")
        if fraction > 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        self.fraction = fraction
        self.n_anneal = max(1, round(fraction * self.n_steps))
        self.sigma = self.sigma_max

    def sigma_at(self, step: int) -> float:
        """σ after ``step`` steps (0 ≤ step; held at ``sigma_min`` from ``fraction · n_steps`` on)."""
        step = check_int(step, "step", minimum=0)
        progress = min(1.0, step / self.n_anneal)
        return self.sigma_max * (self.sigma_min / self.sigma_max) ** progress

    def __call__(self, step: int, model=None, history=None) -> None:
        """Set :attr:`sigma` to σ(step); the signature of ``fit``'s callback, model and history unused."""
        self.sigma = self.sigma_at(step)

    def blur(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """``x + σ z`` with z ~ N(0, I) drawn from ``generator``: a sample of the blurred data."""
        x = check_data(x, "x")
        z = torch.randn(x.shape, generator=check_generator(generator, x.device), dtype=x.dtype, device=x.device)
        return x + self.sigma * z.to(x.device)

    def __repr__(self) -> str:
        return (f"NoiseAnnealing(sigma_max={self.sigma_max:g}, sigma_min={self.sigma_min:g}, "
                f"n_steps={self.n_steps}, fraction={self.fraction:g}; sigma={self.sigma:.4g})")


def blur_cost(sigma: float, width: float, dim: int = 1) -> float:
    r"""Nats lost by fitting a Gaussian mode of width s blurred by σ instead of the mode itself.

    .. math:: \mathrm{KL}\big(\mathcal N(0, s^2 I_d)\,\big\|\,\mathcal N(0, (s^2+\sigma^2) I_d)\big)
              = \frac d2\Big(\log(1+r) - \frac{r}{1+r}\Big), \qquad r = \sigma^2/s^2.

    For a mixture of well-separated modes of equal width it is the cost of the whole mixture.

    Introduced in notebook 05_score_matching_and_nce.
    """
    sigma = check_positive(sigma, "sigma")
    width = check_positive(width, "width")
    dim = check_int(dim, "dim")
    r = (sigma / width) ** 2
    return 0.5 * dim * (math.log1p(r) - r / (1 + r))
