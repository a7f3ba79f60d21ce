"""Checks shared by the losses: validate the data at the door, evaluate the energy, refuse NaN.

A loss never hides a non-finite value: an energy that returns NaN or inf, or a loss that becomes
NaN, raises a ``ValueError`` that says which.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ebmlib._validation import as_tensor, check_finite

Energy = Callable[[Tensor], Tensor]


def check_data(x, name: str = "x", like: Energy | None = None) -> Tensor:
    """A finite, non-empty batch of shape (n, *event_shape), detached.

    If ``like`` is a ``torch.nn.Module`` with parameters, ``x`` moves to their dtype and device
    (data in float64 fed to a float32 network would otherwise fail deep inside a matmul).
    """
    x = as_tensor(x, name)
    if x.ndim < 2:
        raise ValueError(f"{name} must have shape (n, *event_shape) with a batch dimension, got shape {tuple(x.shape)}")
    if x.shape[0] == 0 or x[0].numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(x.shape)}")
    check_finite(x, name)
    if isinstance(like, torch.nn.Module):
        param = next(like.parameters(), None)
        if param is not None:
            x = x.to(dtype=param.dtype, device=param.device)
    return x.detach()


def evaluate(energy: Energy, x: Tensor, name: str = "energy") -> Tensor:
    """``energy(x)``, checked to have shape (n,) and to be finite."""
    if not callable(energy):
        raise TypeError(f"{name} must be a callable x -> E(x), got {type(energy).__name__}")
    e = energy(x)
    if not isinstance(e, Tensor) or e.shape != (x.shape[0],):
        shape = tuple(e.shape) if isinstance(e, Tensor) else type(e).__name__
        raise ValueError(f"{name} must map x of shape {tuple(x.shape)} to shape ({x.shape[0]},), got {shape}")
    if not torch.isfinite(e).all():
        n_bad = int((~torch.isfinite(e)).sum())
        raise ValueError(f"{name} returned {n_bad} non-finite value(s) (NaN or inf); a loss never hides them")
    return e


def score_of(energy: Energy, x: Tensor, *, create_graph: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    r"""The model score :math:`s(x) = -\nabla_x E(x)` with a graph, for losses that differentiate it.

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


def finite_loss(loss: Tensor, name: str) -> Tensor:
    """Return ``loss`` unchanged, or raise if it is NaN or infinite."""
    if not torch.isfinite(loss).all():
        raise ValueError(f"{name} loss is not finite ({float(loss.detach())}); a loss never hides a NaN")
    return loss


def randn_like(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise of the shape, dtype and device of ``x``, drawn from ``generator``."""
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
