"""Argument checks shared by every public function: validate at the door, once.

Each check raises a ``ValueError`` (or ``TypeError``) whose message names the argument,
says what was expected and shows what came.
"""

from __future__ import annotations

import math
from numbers import Real

import torch


def check_positive(value, name: str) -> float:
    """Return ``value`` as a float, or raise if it is not a finite number > 0."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a single number, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return value


def check_temperature(temperature, name: str = "temperature") -> float:
    """Return the temperature as a float, or raise if T is not finite and > 0."""
    return check_positive(temperature, name)


def check_positive_tensor(value, name: str) -> torch.Tensor:
    """Temperatures given as a tensor (a sweep over T): every entry finite and > 0."""
    t = torch.as_tensor(value, dtype=torch.float64)
    if t.numel() == 0:
        raise ValueError(f"{name} must not be empty")
    if not torch.isfinite(t).all() or (t <= 0).any():
        raise ValueError(f"{name} must be finite and > 0 everywhere, got {t.tolist() if t.numel() < 8 else t}")
    return t


def check_int(value, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise if it is not an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int,)) and not (
        isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point()
    ):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return value


def as_tensor(x, name: str, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Convert ``x`` to a floating tensor, keeping its device (and its dtype if floating)."""
    if isinstance(x, torch.Tensor):
        t = x
    else:
        try:
            # Convert Python numbers straight to the requested dtype: going through
            # float32 first would lose digits (0.7 -> 0.699999988).
            t = torch.as_tensor(x, dtype=dtype) if dtype is not None else torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{name} must be a tensor or array of numbers, got {type(x).__name__}") from err
    if dtype is not None:
        t = t.to(dtype)
    elif not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    return t


def check_finite(t: torch.Tensor, name: str) -> torch.Tensor:
    """Raise if ``t`` holds a NaN or an infinity; return it unchanged otherwise."""
    if not torch.isfinite(t).all():
        n_bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name} must be finite, got {n_bad} non-finite value(s) (NaN or inf)")
    return t


def check_nonempty(t: torch.Tensor, name: str) -> torch.Tensor:
    """Raise if ``t`` has no elements."""
    if t.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(t.shape)}")
    return t


def check_ndim(t: torch.Tensor, name: str, ndim: int, shape_text: str) -> torch.Tensor:
    """Raise if ``t`` does not have ``ndim`` dimensions; ``shape_text`` names the expected shape."""
    if t.ndim != ndim:
        raise ValueError(f"{name} must have shape {shape_text}, got shape {tuple(t.shape)}")
    return t


def check_energies(energies, name: str = "energies") -> torch.Tensor:
    """A 1-D, non-empty, finite tensor of energies, in float64 (exactness is the point)."""
    t = as_tensor(energies, name, dtype=torch.float64)
    check_ndim(t, name, 1, "(n_states,)")
    check_nonempty(t, name)
    return check_finite(t, name)


def check_generator(generator) -> torch.Generator | None:
    """Return ``generator``, or raise a TypeError naming it if it is neither None nor a torch.Generator."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return generator
