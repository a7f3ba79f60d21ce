r"""Noise-contrastive estimation: learn an unnormalised density, and its log Z, by telling data from noise.

Mix the data with ν times as many draws from a noise density q that can be sampled and
evaluated. A logistic classifier whose logit is the log density ratio

.. math:: G(u) = \log p_\theta(u) - \log\big(\nu\, q(u)\big), \qquad
          \log p_\theta(u) = -E_\theta(u) - c,

is fitted by the logistic loss

.. math:: J(\theta, c) = -\mathbb E_{x\sim p}\big[\log\sigma(G(x))\big]
          - \nu\, \mathbb E_{y\sim q}\big[\log\big(1-\sigma(G(y))\big)\big].

Because c is a free parameter (one number, learned like the weights) and the classifier is best
when :math:`p_\theta = p`, NCE recovers both the density *and* its normaliser: at the optimum
:math:`c = \log Z_\theta`. The noise should overlap the data everywhere (a heavy, wide q, or a
Gaussian fitted to the data); where q is tiny the classifier wins too easily and learns nothing.

Introduced in notebook 05_score_matching_and_nce.

References
----------
.. [1] M. Gutmann and A. Hyvärinen, "Noise-contrastive estimation: a new estimation principle for
   unnormalized statistical models", AISTATS 2010; and JMLR 13, 2012.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ebmlib._validation import Energy, check_data, check_generator, check_int, evaluate, finite_loss

__all__ = ["nce"]


def _noise_log_prob(noise, u: Tensor, name: str) -> Tensor:
    log_q = noise.log_prob(u)
    if not isinstance(log_q, Tensor) or log_q.shape != (u.shape[0],):
        shape = tuple(log_q.shape) if isinstance(log_q, Tensor) else type(log_q).__name__
        raise ValueError(f"noise.log_prob must map {name} of shape {tuple(u.shape)} to ({u.shape[0]},), got {shape}")
    log_q = log_q.to(u)
    if not torch.isfinite(log_q).all():
        raise ValueError(f"noise.log_prob is not finite at some {name}: the noise must cover the data")
    return log_q


def nce(
    energy: Energy,
    x: Tensor,
    noise,
    *,
    log_z: Tensor | float | None = None,
    n_noise: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""The noise-contrastive estimation loss (Gutmann and Hyvärinen), a scalar.

    .. math::

        J = \frac1n \sum_{i=1}^n \operatorname{softplus}\big(-G(x_i)\big)
          + \frac{\nu}{m} \sum_{j=1}^m \operatorname{softplus}\big(G(y_j)\big),
        \quad G(u) = -E(u) - c - \log q(u) - \log\nu, \quad \nu = m/n,

    with :math:`y_j \sim q` drawn afresh on every call (:math:`-\log\sigma(G) = \operatorname{softplus}(-G)`).

    Parameters
    ----------
    energy : callable ``(n, *event_shape) -> (n,)``
    x : Tensor of shape (n, *event_shape)
        Data.
    noise : object with ``sample(m, *, generator=None) -> (m, *event_shape)`` and
        ``log_prob(u) -> (m,)``
        A normalised noise density q, e.g. :class:`ebmlib.energies.Gaussian`.
    log_z : Tensor of shape () or float, optional
        c, the model's log-normaliser. Pass a ``torch.nn.Parameter`` (e.g.
        ``torch.nn.Parameter(torch.zeros(()))``) and give it to the optimizer to learn log Z;
        ``None`` means c = 0, leaving the energy's own bias to play that role.
    n_noise : int, optional
        m, the number of noise samples; default n (ν = 1).
    generator : torch.Generator, optional

    Returns
    -------
    Tensor of shape (), differentiable in the energy's parameters and in ``log_z``.

    Introduced in notebook 05_score_matching_and_nce.
    """
    x = check_data(x, "x", like=energy)
    generator = check_generator(generator, x.device)
    n = x.shape[0]
    m = n if n_noise is None else check_int(n_noise, "n_noise")
    if not (hasattr(noise, "sample") and hasattr(noise, "log_prob")):
        raise TypeError(f"noise must have sample(m, generator=...) and log_prob(x), got {type(noise).__name__}")
    if log_z is None:
        c = x.new_zeros(())
    else:
        c = log_z if isinstance(log_z, Tensor) else torch.tensor(float(log_z))
        if c.numel() != 1:
            raise ValueError(f"log_z must be a single number, got a tensor of shape {tuple(c.shape)}")
        if not torch.isfinite(c).all():
            raise ValueError(f"log_z must be finite, got {float(c)}")
        c = c.reshape(()).to(dtype=x.dtype, device=x.device)
    y = noise.sample(m, generator=generator)
    if not isinstance(y, Tensor) or y.shape[1:] != x.shape[1:] or y.shape[0] != m:
        shape = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
        raise ValueError(f"noise.sample({m}) must return shape ({m}, {', '.join(map(str, x.shape[1:]))}), got {shape}")
    y = y.detach().to(x)
    log_nu = torch.log(torch.tensor(m / n, dtype=x.dtype, device=x.device))
    g_data = -evaluate(energy, x) - c - _noise_log_prob(noise, x, "x") - log_nu  # (n,)
    g_noise = -evaluate(energy, y) - c - _noise_log_prob(noise, y, "noise samples") - log_nu  # (m,)
    loss = F.softplus(-g_data).mean() + (m / n) * F.softplus(g_noise).mean()
    return finite_loss(loss, "nce")
