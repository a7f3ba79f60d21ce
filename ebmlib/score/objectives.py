r"""Denoising score matching over many noise levels, on a geometric schedule, and its training.

The loss at given levels is :func:`ebmlib.losses.dsm_loss`, the library's one denoising score
matching (re-exported here as ``ebmlib.score.dsm_loss``); the training runs through
:func:`ebmlib.training.fit`, the one training loop.

Adding noise :math:`\tilde x = x + \sigma z`, :math:`z \sim \mathcal N(0, I)`, to data
:math:`x \sim p` gives samples of :math:`p_\sigma = p * \mathcal N(0, \sigma^2 I)`. Vincent (2011)
showed that regressing onto the score of the noise kernel,

.. math:: \ell(\theta; \sigma) = \tfrac12\, \mathbb E_{x, z}
          \big\| s_\theta(\tilde x, \sigma) - \nabla_{\tilde x} \log q_\sigma(\tilde x \mid x) \big\|^2,
          \qquad \nabla_{\tilde x} \log q_\sigma(\tilde x \mid x) = -\frac{\tilde x - x}{\sigma^2} = -\frac{z}{\sigma},

equals the Fisher divergence to :math:`\nabla \log p_\sigma` up to a constant, so its minimiser is
the exact score of the noised density. Song and Ermon (2019) average it over a schedule
:math:`\sigma_1 > \dots > \sigma_L` with weights :math:`\lambda(\sigma) = \sigma^2`,

.. math:: \mathcal L(\theta) = \frac1L \sum_{i=1}^L \sigma_i^2\, \ell(\theta; \sigma_i)
          = \frac1L \sum_i \tfrac12\, \mathbb E\, \big\| \sigma_i s_\theta(\tilde x, \sigma_i) + z \big\|^2,

which makes every level's term of order one, since :math:`\|\nabla\log p_\sigma\| \sim 1/\sigma`.
The schedule is geometric, :math:`\sigma_i = \sigma_{\max} (\sigma_{\min}/\sigma_{\max})^{(i-1)/(L-1)}`:
a constant ratio between neighbours keeps neighbouring noised densities overlapping at every scale.

References
----------
.. [1] P. Vincent, "A connection between score matching and denoising autoencoders",
   Neural Computation 23(7), 2011.
.. [2] Y. Song and S. Ermon, "Generative modeling by estimating gradients of the data distribution",
   NeurIPS 2019.
.. [3] Y. Song and S. Ermon, "Improved techniques for training score-based generative models",
   NeurIPS 2020 (choosing sigma_max and the number of levels).

Introduced in notebook 08_score_models_and_diffusion.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebmlib._validation import Score, check_generator, check_int, check_noise_schedule, check_positive, check_x, sigma_column
from ebmlib.losses import dsm_loss
from ebmlib.training import fit

__all__ = ["geometric_noise_schedule", "dsm_target", "dsm_loss", "multilevel_dsm_loss", "train_score_model"]



def geometric_noise_schedule(sigma_max: float, sigma_min: float, n_levels: int) -> Tensor:
    r"""The geometric schedule :math:`\sigma_i = \sigma_{\max}\,(\sigma_{\min}/\sigma_{\max})^{i/(L-1)}`, i = 0..L-1.

    Parameters
    ----------
    sigma_max, sigma_min : float
        Largest and smallest noise level, :math:`\sigma_{\max} > \sigma_{\min} > 0`.
    n_levels : int
        L >= 2.

    Returns
    -------
    Tensor of shape (n_levels,), float64, strictly decreasing from sigma_max to sigma_min.

    Introduced in notebook 08_score_models_and_diffusion.
    """
    sigma_max = check_positive(sigma_max, "sigma_max")
    sigma_min = check_positive(sigma_min, "sigma_min")
    n_levels = check_int(n_levels, "n_levels", minimum=2)
    if sigma_min >= sigma_max:
        raise ValueError(f"sigma_min must be < sigma_max, got sigma_min={sigma_min}, sigma_max={sigma_max}")
    exponents = torch.arange(n_levels, dtype=torch.float64) / (n_levels - 1)
    sigmas = torch.exp(math.log(sigma_max) + exponents * (math.log(sigma_min) - math.log(sigma_max)))
    sigmas[0], sigmas[-1] = sigma_max, sigma_min  # exact end points
    return sigmas


def dsm_target(x_noisy: Tensor, x: Tensor, sigma) -> Tensor:
    r"""The denoising target :math:`\nabla_{\tilde x}\log q_\sigma(\tilde x \mid x) = -(\tilde x - x)/\sigma^2`, (n, d).

    ``sigma`` is a number > 0 or a tensor of shape (n,).
    """
    x_noisy, x = check_x(x_noisy, "x_noisy"), check_x(x)
    if x_noisy.shape != x.shape:
        raise ValueError(f"x_noisy must have the shape of x, {tuple(x.shape)}; got {tuple(x_noisy.shape)}")
    return -(x_noisy - x) / sigma_column(sigma, x) ** 2


def multilevel_dsm_loss(
    score: Score, x: Tensor, sigmas, *, generator: torch.Generator | None = None, reduction: str = "mean"
) -> Tensor:
    r"""Song and Ermon's loss :math:`\frac1L\sum_i \sigma_i^2 \ell(\theta;\sigma_i)`, estimated on a batch.

    Each point gets one level drawn uniformly from ``sigmas`` and one noise draw, so the batch
    mean is an unbiased estimate of the sum over levels.

    Parameters
    ----------
    score : callable ``(x, sigma) -> (n, d)``, sigma a tensor (n,).
    x : Tensor of shape (n, d)
    sigmas : Tensor of shape (n_levels,)
        A strictly decreasing schedule of levels > 0.
    generator : torch.Generator, optional
    reduction : "mean" or "none"

    Returns
    -------
    Tensor of shape () or (n,).
    """
    x = check_x(x)
    generator = check_generator(generator, x.device)
    sigmas = check_noise_schedule(sigmas).to(dtype=x.dtype, device=x.device)
    levels = torch.randint(0, sigmas.numel(), (x.shape[0],), generator=generator, device=x.device)
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return dsm_loss(score, x, sigmas[levels], noise, reduction=reduction)


def train_score_model(
    model: torch.nn.Module,
    data: Tensor,
    sigmas,
    *,
    n_steps: int,
    batch_size: int = 256,
    lr: float = 2e-3,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> Tensor:
    r"""Fit ``model.score`` on :func:`multilevel_dsm_loss` through :func:`ebmlib.training.fit`.

    Adam with a learning rate that decays by cosine annealing from ``lr`` to 0 over ``n_steps``
    (``schedule="cosine"``, a steadier end point); minibatches drawn from ``data``.

    Parameters
    ----------
    model : nn.Module with a method ``score(x, sigma)``
        :class:`~ebmlib.score.NoiseConditionalScore` or :class:`~ebmlib.score.NoiseConditionalEnergy`.
    data : Tensor of shape (n_data, d)
    sigmas : Tensor of shape (n_levels,), a decreasing schedule.
    n_steps, batch_size : int
    lr : float
    generator : torch.Generator, optional
        Draws the minibatches, the levels and the noise, on the device of ``data``.
    progress : bool
        Show a progress bar (tqdm).

    Returns
    -------
    losses : Tensor of shape (n_steps,), the loss at every step.
    """
    data = check_x(data, "data")
    sigmas = check_noise_schedule(sigmas)
    generator = check_generator(generator, data.device)

    def loss_fn(m, x):
        return multilevel_dsm_loss(m.score, x, sigmas, generator=generator)

    model.train()
    history = fit(model, loss_fn, data, n_steps, batch_size, lr, generator=generator, schedule="cosine",
                  progress=progress, desc="denoising score matching")  # fmt: skip
    model.eval()
    return torch.tensor(history["loss"])
