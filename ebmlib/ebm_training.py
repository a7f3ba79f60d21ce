r"""Training a neural energy with SGLD negatives from a replay buffer, stopping cleanly on a NaN.

The gradient of the log-likelihood needs samples of the model (notebook 04):

.. math:: -\nabla_\theta \log p_\theta(x^+) = \nabla_\theta E_\theta(x^+) - \mathbb E_{x^- \sim p_\theta}\big[\nabla_\theta E_\theta(x^-)\big].

Modern EBMs (Du and Mordatch 2019) take the negatives :math:`x^-` from a few SGLD steps
(:func:`ebmlib.sgld_sampling.sgld`) started in a replay buffer (:class:`ebmlib.buffer.ReplayBuffer`),
and minimise

.. math::

    L(\theta) = \overline{E_\theta(x^+)} - \overline{E_\theta(x^-)}
        + \alpha\,\big(\overline{E_\theta(x^+)^2} + \overline{E_\theta(x^-)^2}\big),

where the **energy-magnitude penalty** α keeps the energies near 0: the loss is unchanged when a
constant is added to E, and without the penalty the energies of data and negatives can drift
apart without bound until they overflow.

Such training can still diverge. :func:`train_ebm` (through :func:`ebmlib.training.fit` with
``on_nonfinite="stop"``) then stops with a clear message (a warning,
and ``history["stopped"]``) and puts back the *last good state*: the parameters at the last step
whose energies, loss and gradients were all finite. Nothing non-finite is ever written to the
buffer.

Introduced in notebook 07_modern_ebms.

References
----------
.. [1] Y. Du and I. Mordatch, "Implicit generation and modeling with energy-based models",
   NeurIPS 2019 (replay buffer, energy regularisation).
.. [2] W. Grathwohl et al., "Your classifier is secretly an energy based model and you should
   treat it like one", ICLR 2020.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ebmlib._validation import as_tensor, check_finite, check_int, check_positive
from ebmlib.buffer import ReplayBuffer
from ebmlib.sgld_sampling import sgld
from ebmlib.training import NonFiniteError, fit

__all__ = ["NonFiniteError", "energy_loss", "persistent_sgld", "train_ebm"]


def _module_like(model: torch.nn.Module, x: Tensor) -> Tensor:
    param = next(model.parameters(), None)
    return x if param is None else x.to(dtype=param.dtype, device=param.device)


def finite_energies(e: Tensor, name: str) -> Tensor:
    """Return ``e``, or raise :class:`NonFiniteError` naming ``name`` if an entry is NaN or inf."""
    if not torch.isfinite(e).all():
        n_bad = int((~torch.isfinite(e)).sum())
        raise NonFiniteError(f"{name} has {n_bad} non-finite value(s) (NaN or inf)")
    return e


def persistent_sgld(
    energy: Callable[[Tensor], Tensor],
    buffer: ReplayBuffer,
    n: int,
    n_steps: int,
    step_size: float,
    noise_std: float,
    *,
    clamp: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Negatives for one training step: draw ``n`` starts from ``buffer``, run SGLD, write them back.

    .. math:: x^- = \mathrm{SGLD}_{a,\sigma}^{k}(x_0), \quad x_0 \sim \text{buffer (a fraction } \rho \text{ fresh)}

    Returns
    -------
    Tensor of shape (n, *event_shape), detached; the buffer rows are updated only if SGLD
    stayed finite (else a ValueError naming ``energy`` is raised by :func:`~ebmlib.sgld_sampling.sgld`).

    Introduced in notebook 07_modern_ebms.
    """
    if not isinstance(buffer, ReplayBuffer):
        raise TypeError(f"buffer must be a ReplayBuffer, got {type(buffer).__name__}")
    x0, index, _ = buffer.sample(n, generator=generator)
    if isinstance(energy, torch.nn.Module):
        x0 = _module_like(energy, x0)
    x_neg = sgld(energy, x0, n_steps, step_size, noise_std, clamp=clamp, generator=generator)
    buffer.update(index, x_neg)
    return x_neg


def energy_loss(e_pos: Tensor, e_neg: Tensor, regularization: float = 0.0) -> Tensor:
    r""":math:`\overline{E(x^+)} - \overline{E(x^-)} + \alpha(\overline{E(x^+)^2} + \overline{E(x^-)^2})`, a scalar.

    Parameters
    ----------
    e_pos : Tensor of shape (n,)
        Energies of the data.
    e_neg : Tensor of shape (m,)
        Energies of the negatives (computed with a graph in θ, but from detached samples).
    regularization : float
        α ≥ 0.

    Introduced in notebook 07_modern_ebms.
    """
    finite_energies(e_pos, "the energy of the data")
    finite_energies(e_neg, "the energy of the negatives")
    loss = e_pos.mean() - e_neg.mean()
    if regularization:
        loss = loss + regularization * (e_pos.square().mean() + e_neg.square().mean())
    return loss


def train_ebm(
    energy: torch.nn.Module,
    data: Tensor,
    buffer: ReplayBuffer,
    n_steps: int,
    *,
    batch_size: int = 128,
    lr: float = 1e-3,
    sgld_steps: int = 20,
    step_size: float = 0.01,
    noise_std: float = 0.005,
    regularization: float = 0.1,
    clamp: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
    progress: bool = True,
    callback: Callable | None = None,
) -> dict:
    r"""Train a neural energy by maximum likelihood with SGLD negatives from a replay buffer.

    Every step: a batch :math:`x^+` of ``data``; negatives :math:`x^-` from
    :func:`persistent_sgld` (``sgld_steps`` steps of :math:`x' = x - a\nabla E + \sigma z` with
    a = ``step_size``, σ = ``noise_std``, started in ``buffer``); one Adam step on
    :func:`energy_loss` with α = ``regularization``. Stops cleanly on non-finite values
    (:func:`ebmlib.training.fit` with ``on_nonfinite="stop"``).

    Parameters
    ----------
    energy : torch.nn.Module ``(n, *event_shape) -> (n,)``
        E.g. :class:`ebmlib.nets.MLPEnergy`.
    data : Tensor of shape (N, *event_shape)
    buffer : ReplayBuffer
        Of the same event shape; moved on in place.
    n_steps : int
        Parameter updates.
    batch_size, lr, sgld_steps, step_size, noise_std, regularization, clamp, generator, progress
        As above; the SGLD negatives number ``batch_size`` too.
    callback : callable ``(step, energy, history) -> None``, optional

    Returns
    -------
    history : dict
        ``"loss"``, ``"energy_pos"`` and ``"energy_neg"`` (batch means), one float per step;
        ``"stopped"`` (None or the reason).

    Introduced in notebook 07_modern_ebms.
    """
    data = check_finite(as_tensor(data, "data"), "data")
    if data.ndim < 2 or data.shape[0] == 0:
        raise ValueError(f"data must have shape (N, *event_shape) with N >= 1, got {tuple(data.shape)}")
    if not isinstance(buffer, ReplayBuffer):
        raise TypeError(f"buffer must be a ReplayBuffer, got {type(buffer).__name__}")
    if tuple(data.shape[1:]) != buffer.event_shape:
        raise ValueError(f"buffer must have the event shape of data {tuple(data.shape[1:])}, got {buffer.event_shape}")
    sgld_steps = check_int(sgld_steps, "sgld_steps")
    regularization = 0.0 if regularization == 0 else check_positive(regularization, "regularization")

    def loss_fn(model, x_pos):
        x_pos = _module_like(model, x_pos)
        n = x_pos.shape[0]
        x_neg = persistent_sgld(model, buffer, n, sgld_steps, step_size, noise_std, clamp=clamp, generator=generator)
        e_pos, e_neg = model(x_pos), model(x_neg)
        loss = energy_loss(e_pos, e_neg, regularization)
        return loss, {"energy_pos": e_pos.mean().detach(), "energy_neg": e_neg.mean().detach()}

    options = dict(generator=generator, progress=progress, callback=callback, desc="EBM", on_nonfinite="stop")
    return fit(energy, loss_fn, data, n_steps, batch_size, lr, **options)
