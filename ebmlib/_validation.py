"""Argument checks shared by every public function: validate at the door, once.

Each check raises a ``ValueError`` (or ``TypeError``) whose message names the argument,
says what was expected and shows what came. A value that *becomes* NaN or infinite while the
library runs (an energy, a loss, a diverged chain) raises :class:`NonFiniteError`, the one error
that :func:`ebmlib.training.fit` catches.

This is the library's only validation module: the type aliases (``Energy``, ``Score``), the
checks of data, noise levels, labels and generators, and the non-finite error all live here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Integral, Real

import torch
from torch import Tensor

Energy = Callable[[Tensor], Tensor]
"""An energy: a callable ``x -> E(x)`` mapping a batch ``(n, *event_shape)`` to ``(n,)``."""

Score = Callable[[Tensor, Tensor], Tensor]
"""A noise-conditional score: a callable ``(x, sigma) -> s(x, sigma)``, x ``(n, d)``, sigma ``(n,)``."""


class NonFiniteError(ValueError):
    """A loss, an energy, a gradient or a chain became NaN or infinite while the library ran."""


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


def check_generator(generator, device: torch.device | str | None = None) -> torch.Generator | None:
    """Return ``generator``, or raise if it is neither None nor a torch.Generator on ``device``.

    The rule for randomness, everywhere: draws happen on the device of the inputs, from a
    generator on that device. A generator on another device raises a ``ValueError`` that says
    which device it must be on (``torch.Generator(device=x.device)``).
    """
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if generator is not None and device is not None:
        want, have = torch.device(device), torch.device(generator.device)
        if want.type != have.type or (want.index is not None and have.index is not None and want.index != have.index):
            raise ValueError(
                f"generator must be on the device of the inputs, {want} (torch.Generator(device='{want}')), "
                f"got a generator on {have}"
            )
    return generator


# Temperatures, boxes and spins


def as_temperature(temperature, device=None) -> torch.Tensor:
    """A float64 tensor of shape () for one temperature, or (m,) for a sweep; all T > 0.

    A tensor given in float64 keeps its autograd graph, so derivatives in T (or in 1/T) work.
    """
    if isinstance(temperature, Real):
        return torch.tensor(check_temperature(temperature), dtype=torch.float64, device=device)
    t = torch.as_tensor(temperature)
    if t.ndim > 1:
        raise ValueError(
            f"temperature must be a number or a 1-D tensor of temperatures, got shape {tuple(t.shape)}"
        )
    t = check_positive_tensor(t, "temperature")
    return t if device is None else t.to(device)


def check_bounds(bounds) -> torch.Tensor:
    """Bounds as a float64 tensor of shape (d, 2): rows (low, high), finite, low < high."""
    expected = "(low, high) for 1-D or ((x_low, x_high), (y_low, y_high)) for 2-D"
    try:
        b = torch.as_tensor(bounds, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"bounds must be {expected}, got {bounds!r}") from err
    if b.ndim == 1:
        b = b.unsqueeze(0)
    if b.ndim != 2 or b.shape[0] < 1 or b.shape[1] != 2:
        raise ValueError(f"bounds must be {expected}, got {bounds!r}")
    if not torch.isfinite(b).all() or (b[:, 0] >= b[:, 1]).any():
        raise ValueError(f"bounds must be finite with low < high on every axis, got {b.tolist()}")
    return b


def check_spins(spins, name: str = "spins", *, even: bool = False) -> torch.Tensor:
    """A floating tensor (n, L, L) with entries ±1; L even when ``even``."""
    s = as_tensor(spins, name)
    check_ndim(s, name, 3, "(n, L, L)")
    if s.shape[-1] != s.shape[-2] or s.shape[-1] == 0:
        raise ValueError(f"{name} must have shape (n, L, L) with L >= 1, got shape {tuple(s.shape)}")
    if not ((s == 1) | (s == -1)).all():
        raise ValueError(f"{name} must hold only +1 and -1 entries")
    if even and s.shape[-1] % 2:
        raise ValueError(
            f"{name} must have an even side L (the checkerboard needs two colours), got L = {s.shape[-1]}"
        )
    return s


# Data, energies and losses: a NaN is never hidden


def like_module(model, x: Tensor) -> Tensor:
    """``x`` in the dtype and on the device of ``model``'s parameters (unchanged if it has none)."""
    param = next(model.parameters(), None) if isinstance(model, torch.nn.Module) else None
    return x if param is None else x.to(dtype=param.dtype, device=param.device)


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
    return like_module(like, x).detach()


def check_energy_values(e, x: Tensor, name: str = "energy", where: str = "") -> Tensor:
    """``e = E(x)`` checked: a tensor of shape (n,) (a ``ValueError``), finite (a :class:`NonFiniteError`)."""
    if not isinstance(e, Tensor) or e.shape != (x.shape[0],):
        shape = tuple(e.shape) if isinstance(e, Tensor) else type(e).__name__
        raise ValueError(f"{name} must map x of shape {tuple(x.shape)} to shape ({x.shape[0]},), got {shape}")
    if not torch.isfinite(e).all():
        n_bad = int((~torch.isfinite(e)).sum())
        raise NonFiniteError(f"{name} returned {n_bad} non-finite value(s) (NaN or inf){where}")
    return e


def evaluate(energy: Energy, x: Tensor, name: str = "energy") -> Tensor:
    """``energy(x)``, checked to have shape (n,) and to be finite (:func:`check_energy_values`)."""
    if not callable(energy):
        raise TypeError(f"{name} must be a callable x -> E(x), got {type(energy).__name__}")
    return check_energy_values(energy(x), x, name, "; a loss never hides them")



def finite_loss(loss: Tensor, name: str) -> Tensor:
    """Return ``loss`` unchanged, or raise if it is NaN or infinite."""
    if not torch.isfinite(loss).all():
        raise NonFiniteError(f"{name} loss is not finite ({float(loss.detach())}); a loss never hides a NaN")
    return loss


# Noise levels (notebook 08), fractions, labels


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


def check_fraction(value, name: str) -> float:
    """Return ``value`` as a float, or raise if it is not a number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number in [0, 1], got {type(value).__name__}")
    value = float(value)
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


def check_labels(labels, n_classes: int, n: int | None = None, name: str = "labels") -> Tensor:
    """Integer class labels in [0, n_classes): an int, or a tensor of shape (n,)."""
    if isinstance(labels, Integral) and not isinstance(labels, bool):
        labels = torch.tensor(int(labels))
    if not isinstance(labels, Tensor) or labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(f"{name} must be an int or an integer tensor, got {type(labels).__name__}")
    if labels.ndim > 1 or (labels.ndim == 1 and n is not None and labels.shape[0] != n):
        raise ValueError(f"{name} must be an int or have shape ({n},), got shape {tuple(labels.shape)}")
    if labels.numel() and ((labels < 0).any() or (labels >= n_classes).any()):
        raise ValueError(
            f"{name} must lie in [0, {n_classes}), got values from {int(labels.min())} to {int(labels.max())}"
        )
    return labels
