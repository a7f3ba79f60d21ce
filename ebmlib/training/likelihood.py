r"""Judging a 2-D energy by exact likelihood: normalise on a grid, average over held-out data.

:func:`exact_log_likelihood` scores a 2-D model the way no training loss can: normalise
:math:`e^{-E(x)}` on a grid (:func:`ebmlib.partition.log_partition_grid`) and average
:math:`\log p(x) = -E(x) - \log Z` over held-out data. Different methods, one yardstick.

Introduced in notebook 04_contrastive_divergence (used again in 05).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebmlib._validation import Energy, check_data, evaluate
from ebmlib.partition import log_partition_grid

__all__ = ["exact_log_likelihood"]


def exact_log_likelihood(energy: Energy, x: Tensor, bounds, n: int = 200) -> Tensor:
    r"""Mean exact log-likelihood of 2-D data under :math:`p(x) = e^{-E(x)}/Z`, Z by quadrature.

    .. math:: \frac1N \sum_{i=1}^N \log p(x_i) = \frac1N \sum_{i=1}^N \big(-E(x_i)\big) - \log Z,
              \qquad \log Z \approx \log \int_{\text{box}} e^{-E(x)}\,dx

    with :math:`\log Z` from :func:`ebmlib.partition.log_partition_grid` on an n × n grid over
    ``bounds``. The box must hold nearly all the model's mass; mass outside is ignored, which
    would overstate the likelihood. In nats per point; higher is better.

    Parameters
    ----------
    energy : callable ``(m, d) -> (m,)``
    x : Tensor of shape (N, d)
        Held-out data, inside the box.
    bounds : (low, high) or ((x_low, x_high), (y_low, y_high))
    n : int
        Grid points per axis.

    Returns
    -------
    Tensor of shape (), float64.

    Introduced in notebook 04_contrastive_divergence.
    """
    x = check_data(x, "x", like=energy)
    with torch.no_grad():
        log_z = log_partition_grid(energy, bounds, n)
        mean_neg_energy = -evaluate(energy, x).to(torch.float64).mean()
    return mean_neg_energy - log_z.to(mean_neg_energy.device)
