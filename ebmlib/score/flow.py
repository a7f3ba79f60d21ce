r"""The probability-flow ODE: a deterministic sampler with the same marginals as the reverse diffusion, and its exact likelihood.

The variance-exploding forward process is :math:`\mathrm dx = \mathrm dw` with :math:`\tau = \sigma^2` as
time, so that :math:`x_\sigma = x_0 + \sigma z`. Song et al. (2021) showed that the ODE

.. math:: \frac{\mathrm dx}{\mathrm d\tau} = -\tfrac12\, \nabla_x \log p_\sigma(x), \qquad \tau = \sigma^2,

moves points so that their law is :math:`p_\sigma` at every level: run from :math:`\sigma_1` down to
:math:`\sigma_L` it samples, deterministically, and run upwards it maps data to the prior. Half of
the reverse SDE's drift :math:`\Delta\sigma^2\, s` does this transport; the other half, with the
noise, is a Langevin step that leaves :math:`p_\sigma` unchanged.

Because the map is a deterministic flow, the instantaneous change of variables (Chen et al. 2018)
gives the exact log-density along it:

.. math:: \frac{\mathrm d}{\mathrm d\tau}\log p_\tau(x_\tau) = -\nabla\cdot f = \tfrac12\, \nabla\cdot s(x_\tau, \sigma),
          \qquad \log p_{\sigma_L}(x) = \log p_{\sigma_1}(x_{\sigma_1}) - \tfrac12 \int_{\sigma_L^2}^{\sigma_1^2} \nabla\cdot s\, \mathrm d\tau .

:func:`probability_flow` is the Euler sampler (downwards); :func:`flow_log_likelihood` integrates the
ODE upwards with Heun's steps and the exact divergence (one backward pass per coordinate, for the
low-dimensional data of the course).

References
----------
.. [1] Y. Song, J. Sohl-Dickstein, D. P. Kingma, A. Kumar, S. Ermon, B. Poole, "Score-based generative
   modeling through stochastic differential equations", ICLR 2021 (section 4.3, appendix D).
.. [2] R. T. Q. Chen, Y. Rubanova, J. Bettencourt, D. Duvenaud, "Neural ordinary differential
   equations", NeurIPS 2018 (the instantaneous change of variables).

Introduced in notebook 08_score_models_and_diffusion.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ebmlib._validation import Score, check_noise_schedule, check_x
from ebmlib.losses.score_matching_family import _exact_divergence

__all__ = ["probability_flow", "flow_log_likelihood"]


def probability_flow(score: Score, x0: Tensor, sigmas, *, return_trajectory: bool = False) -> tuple[Tensor, dict]:
    r"""Sample by Euler steps of the probability-flow ODE from :math:`\sigma_1` down to :math:`\sigma_L`.

    .. math:: x \leftarrow x + \tfrac12\,(\sigma_i^2 - \sigma_{i+1}^2)\, s(x, \sigma_i), \qquad i = 1, \dots, L-1.

    Parameters
    ----------
    score : callable ``(x, sigma) -> (n_chains, d)``, sigma a tensor (n_chains,).
    x0 : Tensor of shape (n_chains, d)
        Draws from (approximately) :math:`p_{\sigma_1}`; not modified.
    sigmas : Tensor of shape (n_levels,)
        Strictly decreasing.
    return_trajectory : bool
        Also return ``info["trajectory"]`` of shape (n_chains, n_levels, d).

    Returns
    -------
    x : Tensor of shape (n_chains, d), the chains at :math:`\sigma_L` (no Tweedie step)
    info : dict with ``"divergences"`` (n_chains,) and, if asked, ``"trajectory"``.
    """
    x = check_x(x0, "x0").detach().clone()
    sigmas = check_noise_schedule(sigmas).to(dtype=x.dtype, device=x.device)
    n_chains = x.shape[0]
    trajectory = [x.clone()] if return_trajectory else None
    with torch.no_grad():
        for i in range(sigmas.numel() - 1):
            variance = sigmas[i] ** 2 - sigmas[i + 1] ** 2
            x = x + 0.5 * variance * score(x, sigmas[i].expand(n_chains))
            if return_trajectory:
                trajectory.append(x)
    info = {"divergences": (~torch.isfinite(x).all(1)).long()}
    if return_trajectory:
        info["trajectory"] = torch.stack(trajectory, dim=1)  # (n_chains, n_levels, d)
    return x, info


def _divergence(score: Score, x: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor]:
    """s(x, σ) (n, d), detached, and its exact divergence Σ_j ∂s_j/∂x_j (n,), one backward pass per coordinate."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        s = score(x, sigma)  # (n, d)
        divergence = _exact_divergence(s, x)
    return s.detach(), divergence.detach()


def flow_log_likelihood(
    score: Score, x: Tensor, sigmas, log_prior: Callable[[Tensor], Tensor]
) -> tuple[Tensor, Tensor]:
    r"""The log-density at :math:`\sigma_L` by the instantaneous change of variables along the probability flow.

    Runs the ODE upwards, from ``x`` at :math:`\sigma_L` to :math:`\sigma_1`, by Heun's steps (the
    trapezoid rule, second order: an Euler step's first-order error would dominate the likelihood)

    .. math:: \tilde x = x - \tfrac12\Delta_i\, s(x, \sigma_{i+1}), \qquad
              x \leftarrow x - \tfrac14\Delta_i\,\big(s(x, \sigma_{i+1}) + s(\tilde x, \sigma_i)\big),
              \qquad \Delta_i = \sigma_i^2 - \sigma_{i+1}^2,

    accumulating the divergence term by the same rule, and returns

    .. math:: \log p_{\sigma_L}(x) \approx \log p_{\sigma_1}(x_{\sigma_1})
              - \tfrac14 \sum_i \Delta_i\, \big(\nabla\cdot s(x, \sigma_{i+1}) + \nabla\cdot s(\tilde x, \sigma_i)\big).

    Parameters
    ----------
    score : callable ``(x, sigma) -> (n, d)``, differentiable in x; sigma a tensor (n,).
    x : Tensor of shape (n, d)
        Points at the lowest level :math:`\sigma_L`.
    sigmas : Tensor of shape (n_levels,)
        Strictly decreasing, as for sampling; finer schedules integrate more accurately.
    log_prior : callable ``(n, d) -> (n,)``
        :math:`\log p_{\sigma_1}`, e.g. the Gaussian with the mean and covariance of :math:`p_{\sigma_1}`.

    Returns
    -------
    log_density : Tensor of shape (n,)
    x_top : Tensor of shape (n, d), the points carried to :math:`\sigma_1`.
    """
    x = check_x(x, "x").detach().clone()
    sigmas = check_noise_schedule(sigmas).to(dtype=x.dtype, device=x.device)
    n = x.shape[0]
    change = torch.zeros(n, dtype=x.dtype, device=x.device)  # −½ ∫ ∇·s dτ so far
    for i in range(sigmas.numel() - 2, -1, -1):  # from level L up to level 1
        variance = sigmas[i] ** 2 - sigmas[i + 1] ** 2
        s_low, div_low = _divergence(score, x, sigmas[i + 1].expand(n))  # at the lower level
        x_euler = x - 0.5 * variance * s_low
        s_high, div_high = _divergence(score, x_euler, sigmas[i].expand(n))  # at the upper level, after an Euler step
        change = change - 0.25 * variance * (div_low + div_high)
        x = x - 0.25 * variance * (s_low + s_high)
    return log_prior(x) + change, x
