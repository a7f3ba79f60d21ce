"""Checks shared by the score package: noise levels given per batch or per point, and noise schedules.

Introduced in notebook 08_score_models_and_diffusion.
"""

from __future__ import annotations

import math
from numbers import Real

import torch
from torch import Tensor

from ebmlib._validation import as_tensor, check_finite, check_ndim, check_nonempty


def check_x(x, name: str = "x", *, finite: bool = True) -> Tensor:
    """A floating, non-empty batch of shape (n, d), finite unless ``finite=False``.

    Models pass ``finite=False``: a diverged chain's NaN flows through to the sampler, which counts it.
    """
    x = as_tensor(x, name)
    check_ndim(x, name, 2, "(n, d)")
    check_nonempty(x, name)
    return check_finite(x, name) if finite else x


def sigma_column(sigma, x: Tensor, name: str = "sigma") -> Tensor:
    """A noise level sigma > 0, a number or a tensor of shape (n,), as a tensor of shape (n, 1).

    In the dtype and on the device of ``x``, so ``x + sigma_column(sigma, x) * z`` broadcasts.
    """
    if isinstance(sigma, Real) and not isinstance(sigma, bool):
        if not math.isfinite(sigma) or sigma <= 0:
            raise ValueError(f"{name} must be finite and > 0, got {sigma}")
        return torch.full((x.shape[0], 1), float(sigma), dtype=x.dtype, device=x.device)
    s = as_tensor(sigma, name).to(dtype=x.dtype, device=x.device)
    if s.ndim == 0 or (s.ndim == 2 and s.shape == (x.shape[0], 1)):
        s = s.reshape(-1).expand(x.shape[0]) if s.ndim == 0 else s.reshape(-1)
    if s.shape != (x.shape[0],):
        raise ValueError(f"{name} must be a number or have shape ({x.shape[0]},), got shape {tuple(s.shape)}")
    if not torch.isfinite(s).all() or (s <= 0).any():
        raise ValueError(f"{name} must be finite and > 0 everywhere")
    return s.unsqueeze(1)  # (n, 1)


def check_noise_schedule(sigmas, name: str = "sigmas") -> Tensor:
    r"""A noise schedule :math:`\sigma_1 > \sigma_2 > \dots > \sigma_L > 0` as a 1-D tensor.

    Raises a ``ValueError`` naming ``name`` when it is empty, not 1-D, not finite, has a level
    :math:`\le 0`, or is not strictly decreasing (annealing goes from coarse to fine).
    """
    s = as_tensor(sigmas, name)
    check_ndim(s, name, 1, "(n_levels,)")
    check_nonempty(s, name)
    check_finite(s, name)
    if (s <= 0).any():
        raise ValueError(f"{name} must be > 0 at every level, got {s.tolist()}")
    if s.numel() > 1 and not (s[1:] < s[:-1]).all():
        raise ValueError(f"{name} must be strictly decreasing (largest noise first), got {s.tolist()}")
    return s
