r"""Score matching: fit the score :math:`s_\theta(x) = \nabla_x \log p_\theta(x) = -\nabla_x E_\theta(x)`, never Z.

The score does not depend on :math:`Z_\theta`, so matching it to the data's score sidesteps the
partition function. The Fisher divergence
:math:`\tfrac12\mathbb E_{p}\lVert s_\theta - \nabla\log p\rVert^2` needs the unknown data score,
but integrating by parts (Hyvärinen 2005) turns it into

.. math::

    J(\theta) = \mathbb E_{x\sim p}\Big[\tfrac12 \lVert s_\theta(x)\rVert^2
              + \operatorname{tr} \nabla_x s_\theta(x)\Big] + \text{const}
            = \mathbb E\Big[\tfrac12 \lVert \nabla_x E\rVert^2 - \Delta_x E\Big] + \text{const}.

The ½ matters: without it the objective is no longer the Fisher divergence plus a constant, and
its minimiser is the wrong density (for Gaussian data, one with twice the variance: the data at temperature 2).

Three estimators of the same idea:

* :func:`score_matching`: the Hessian trace exactly, one backward pass per dimension (small d).
* :func:`sliced_score_matching`: :math:`\operatorname{tr}\nabla s` replaced by
  :math:`v^\top \nabla s\, v` with random projections v, :math:`\mathbb E[vv^\top] = I`; one
  Hessian-vector product per projection, whatever d.
* :func:`denoising_score_matching`: match the score of the data blurred by N(0, σ²I); no second
  derivatives at all.

Introduced in notebook 05_score_matching_and_nce.

References
----------
.. [1] A. Hyvärinen, "Estimation of non-normalized statistical models by score matching",
   JMLR 6, 2005.
.. [2] Y. Song, S. Garg, J. Shi and S. Ermon, "Sliced score matching: a scalable approach to
   density and score estimation", UAI 2019.
.. [3] P. Vincent, "A connection between score matching and denoising autoencoders",
   Neural Computation 23(7), 2011.
.. [4] Y. Song and S. Ermon, "Generative modeling by estimating gradients of the data
   distribution", NeurIPS 2019 (the σ² weighting).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebmlib._validation import Energy, NonFiniteError, Score, check_data, check_generator, check_int, check_positive, evaluate, finite_loss, sigma_column

__all__ = ["denoising_score_matching", "dsm_loss", "score_matching", "score_of", "sliced_score_matching"]


def score_of(energy: Energy, x: Tensor, *, create_graph: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    r"""The model score :math:`s(x) = -\nabla_x E(x)` with a graph, for losses that differentiate it.

    Unlike :func:`ebmlib.samplers.energy_and_grad` (which detaches, for samplers), it keeps the graph
    in θ and returns the input leaf, so that a loss can differentiate ``s`` again in x and θ.

    Returns
    -------
    x : Tensor of shape (n, *event_shape)
        The input, now requiring grad (differentiate ``s`` with respect to it).
    e : Tensor of shape (n,)
    s : Tensor of shape (n, *event_shape)
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        e = evaluate(energy, x)
        (grad,) = torch.autograd.grad(e.sum(), x, create_graph=create_graph)
    return x, e, -grad


def score_matching(energy: Energy, x: Tensor) -> Tensor:
    r"""Hyvärinen's score matching loss with the exact Hessian trace.

    .. math::

        J = \frac1n \sum_{i=1}^n \Big[\tfrac12 \lVert s(x_i) \rVert^2 + \sum_{k=1}^d \frac{\partial s_k}{\partial x_k}(x_i)\Big],
        \qquad s = -\nabla_x E .

    The trace costs d extra backward passes (``d`` = the number of entries of one sample), so this
    is for small dimensions. At the true model of N(0, I) data in d dimensions the expected loss
    is exactly :math:`d/2 - d = -d/2`.

    Parameters
    ----------
    energy : callable ``(n, *event_shape) -> (n,)``, twice differentiable in x
        (a ReLU network has zero second derivative almost everywhere: use a smooth activation).
    x : Tensor of shape (n, *event_shape)
        Data, finite.

    Returns
    -------
    Tensor of shape (), differentiable in the energy's parameters.

    Introduced in notebook 05_score_matching_and_nce.
    """
    x = check_data(x, "x", like=energy)
    x, _e, s = score_of(energy, x)
    trace = _exact_divergence(s, x, create_graph=True)
    loss = (0.5 * s.flatten(1).square().sum(1) + trace).mean()
    return finite_loss(loss, "score matching")


def _exact_divergence(s: Tensor, x: Tensor, *, create_graph: bool = False) -> Tensor:
    r"""The divergence :math:`\nabla\cdot s = \sum_k \partial s_k / \partial x_k` of ``s`` (n, *event_shape), a function of ``x``, shape (n,).

    One backward pass per coordinate (exact; for the low-dimensional data of the course).
    ``create_graph`` keeps the result differentiable (for a loss); otherwise it is a plain value.
    """
    s_flat = s.flatten(1)  # (n, d)
    d = s_flat.shape[1]
    trace = torch.zeros(x.shape[0], dtype=s.dtype, device=s.device)
    with torch.enable_grad():
        for k in range(d):
            (row,) = torch.autograd.grad(s_flat[:, k].sum(), x, create_graph=create_graph, retain_graph=create_graph or k < d - 1)
            trace = trace + row.flatten(1)[:, k]  # ∂s_k/∂x_k, (n,)
    return trace


def sliced_score_matching(
    energy: Energy,
    x: Tensor,
    *,
    n_projections: int = 1,
    projection: str = "gaussian",
    variance_reduction: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Sliced score matching: the Hessian trace estimated by random projections.

    .. math::

        J = \frac1{nM} \sum_{i=1}^n \sum_{m=1}^M \Big[\tfrac12 \big(v_{im}^\top s(x_i)\big)^2
            + v_{im}^\top \nabla_x\big(v_{im}^\top s(x_i)\big)\Big],
        \qquad \mathbb E[v v^\top] = I .

    :math:`\nabla_x(v^\top s)` is a Hessian-vector product: one backward pass per projection,
    whatever the dimension. Since :math:`\mathbb E_v[(v^\top s)^2] = \lVert s\rVert^2` and
    :math:`\mathbb E_v[v^\top H v] = \operatorname{tr} H`, the expectation equals
    :func:`score_matching`'s. With ``variance_reduction=True`` the first term is replaced by its
    exact mean :math:`\tfrac12\lVert s\rVert^2` (SSM-VR of Song et al.).

    Parameters
    ----------
    energy : callable ``(n, *event_shape) -> (n,)``, twice differentiable in x
    x : Tensor of shape (n, *event_shape)
    n_projections : int
        M ≥ 1, projections per data point.
    projection : {"gaussian", "rademacher"}
        v ~ N(0, I), or independent ±1 entries.
    variance_reduction : bool
    generator : torch.Generator, optional

    Returns
    -------
    Tensor of shape ()

    Introduced in notebook 05_score_matching_and_nce.
    """
    x = check_data(x, "x", like=energy)
    n_projections = check_int(n_projections, "n_projections")
    if projection not in ("gaussian", "rademacher"):
        raise ValueError(f"projection must be 'gaussian' or 'rademacher', got {projection!r}")
    generator = check_generator(generator, x.device)
    x, _e, s = score_of(energy, x)
    total = torch.zeros(x.shape[0], dtype=s.dtype, device=s.device)
    with torch.enable_grad():
        for _ in range(n_projections):
            v = torch.randn(s.shape, generator=generator, dtype=s.dtype, device=s.device)  # (n, *event_shape)
            if projection == "rademacher":
                v = v.sign()
            vs = (v * s).flatten(1).sum(1)  # vᵀ s, (n,)
            (hvp,) = torch.autograd.grad(vs.sum(), x, create_graph=True)  # ∇x(vᵀs), (n, *event_shape)
            second = (v * hvp).flatten(1).sum(1)  # vᵀ ∇s v, (n,)
            first = 0.5 * s.flatten(1).square().sum(1) if variance_reduction else 0.5 * vs.square()
            total = total + first + second
    loss = (total / n_projections).mean()
    return finite_loss(loss, "sliced score matching")


def dsm_loss(score: Score, x: Tensor, sigma, noise: Tensor, *, reduction: str = "mean") -> Tensor:
    r"""Denoising score matching at given noise levels and noise, weighted by :math:`\sigma^2`: the library's one DSM.

    .. math:: \tfrac12\,\sigma^2 \big\| s(\tilde x, \sigma) + (\tilde x - x)/\sigma^2 \big\|^2
              = \tfrac12 \big\| \sigma\, s(\tilde x, \sigma) + z \big\|^2,
              \qquad \tilde x = x + \sigma z,

    averaged over the batch (``reduction="mean"``) or one value per point (``reduction="none"``).
    Its minimiser is the score of the noised data :math:`p_\sigma = p * N(0, \sigma^2 I)` (Vincent 2011);
    the σ² weight keeps every level's term of order one (Song and Ermon 2019).

    Parameters
    ----------
    score : callable ``(x, sigma) -> (n, *event_shape)``
        For example ``model.score`` or ``GaussianMixture.score``; sigma is passed as a tensor (n,).
    x : Tensor of shape (n, *event_shape)
        Clean data.
    sigma : float or Tensor of shape (n,)
        Noise level of each point, > 0.
    noise : Tensor of shape (n, *event_shape)
        Standard normal draws z.
    reduction : {"mean", "none"}

    Returns
    -------
    Tensor of shape () or (n,).

    Introduced in notebook 05_score_matching_and_nce (one level) and 08_score_models_and_diffusion (many).
    """
    x = check_data(x, "x")
    noise = check_data(noise, "noise").to(x)
    if noise.shape != x.shape:
        raise ValueError(f"noise must have the shape of x, {tuple(x.shape)}; got {tuple(noise.shape)}")
    if reduction not in ("mean", "none"):
        raise ValueError(f'reduction must be "mean" or "none", got {reduction!r}')
    sigma = sigma_column(sigma, x.flatten(1))  # (n, 1)
    sigma_b = sigma.view(-1, *[1] * (x.ndim - 1))  # (n, 1, ..., 1)
    x_noisy = x + sigma_b * noise
    # σ² · ½‖s + (x̃ − x)/σ²‖² = ½‖σ s + z‖²
    per_point = 0.5 * (sigma_b * score(x_noisy, sigma.squeeze(1)) + noise).flatten(1).square().sum(1)  # (n,)
    if not torch.isfinite(per_point).all():
        raise NonFiniteError("score returned non-finite values: the denoising score matching loss is not finite")
    return per_point.mean() if reduction == "mean" else per_point


def denoising_score_matching(
    energy: Energy, x: Tensor, sigma: float, *, generator: torch.Generator | None = None
) -> Tensor:
    r"""Denoising score matching at noise level σ, weighted by σ².

    With :math:`\tilde x = x + \sigma z`, :math:`z \sim N(0, I)`, the score of the noising kernel is
    :math:`\nabla_{\tilde x} \log q(\tilde x\mid x) = -z/\sigma`, and

    .. math::

        J = \frac1n \sum_i \frac{\sigma^2}{2} \Big\lVert s(\tilde x_i) + \frac{z_i}{\sigma} \Big\rVert^2
          = \frac1n \sum_i \tfrac12 \lVert \sigma s(\tilde x_i) + z_i \rVert^2 .

    Its minimiser over all functions is the score of the *noised* data
    :math:`p_\sigma = p * N(0, \sigma^2 I)` (Vincent 2011): for N(0, 1) data,
    :math:`s(\tilde x) = -\tilde x / (1 + \sigma^2)`. The σ² weight keeps the loss of order one at
    every noise level (Song and Ermon 2019); its minimum is not 0 but the denoising error.

    Parameters
    ----------
    energy : callable ``(n, *event_shape) -> (n,)``
    x : Tensor of shape (n, *event_shape)
    sigma : float
        σ > 0.
    generator : torch.Generator, optional

    Returns
    -------
    Tensor of shape ()

    Introduced in notebook 05_score_matching_and_nce.
    """
    x = check_data(x, "x", like=energy)
    sigma = check_positive(sigma, "sigma")
    z = torch.randn(x.shape, generator=check_generator(generator, x.device), dtype=x.dtype, device=x.device)
    return dsm_loss(lambda x_noisy, _sigma: score_of(energy, x_noisy)[2], x, sigma, z)  # s = -∇E at x̃
