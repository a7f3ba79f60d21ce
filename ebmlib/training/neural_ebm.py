r"""Training a neural energy with SGLD negatives from a replay buffer, stopping cleanly on a NaN.

The gradient of the log-likelihood needs samples of the model (notebook 04):

.. math:: -\nabla_\theta \log p_\theta(x^+) = \nabla_\theta E_\theta(x^+) - \mathbb E_{x^- \sim p_\theta}\big[\nabla_\theta E_\theta(x^-)\big].

Modern EBMs (Du and Mordatch 2019) take the negatives :math:`x^-` from a few SGLD steps
(:func:`ebmlib.samplers.sgld`) started in a replay buffer (:class:`ebmlib.training.ReplayBuffer`),
and minimise the contrastive loss of notebook 04 (:func:`ebmlib.losses.contrastive_loss`)

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

from ebmlib._validation import Energy, as_tensor, check_finite, check_int, check_positive, like_module
from ebmlib.losses import contrastive_loss
from ebmlib.samplers import sgld
from ebmlib.training.loop import fit
from ebmlib.training.replay_buffer import ReplayBuffer

__all__ = ["persistent_sgld", "train_ebm"]


def persistent_sgld(
    energy: Energy,
    buffer: ReplayBuffer,
    n: int,
    n_steps: int,
    drift: float,
    noise_scale: float,
    *,
    clamp: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Negatives for one training step: draw ``n`` starts from ``buffer``, run SGLD, write them back.

    .. math:: x^- = \mathrm{SGLD}_{a,\sigma}^{k}(x_0), \quad x_0 \sim \text{buffer (a fraction } \rho \text{ fresh)}

    Returns
    -------
    Tensor of shape (n, *event_shape), detached; the buffer rows are updated only if SGLD
    stayed finite (else :func:`~ebmlib.samplers.sgld` raises a :class:`~ebmlib.training.NonFiniteError`).

    Introduced in notebook 07_modern_ebms.
    """
    if not isinstance(buffer, ReplayBuffer):
        raise TypeError(f"buffer must be a ReplayBuffer, got {type(buffer).__name__}")
    x0, index, _ = buffer.sample(n, generator=generator)
    x_neg = sgld(energy, like_module(energy, x0), n_steps, drift, noise_scale, clamp=clamp, generator=generator)
    buffer.update(index, x_neg)
    return x_neg


def train_ebm(
    energy: torch.nn.Module,
    data: Tensor,
    buffer: ReplayBuffer,
    n_steps: int,
    *,
    batch_size: int = 128,
    lr: float = 1e-3,
    sgld_steps: int = 20,
    drift: float = 0.01,
    noise_scale: float = 0.005,
    regularization: float = 0.1,
    clamp: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
    progress: bool = False,
    callback: Callable | None = None,
) -> dict:
    r"""Train a neural energy by maximum likelihood with SGLD negatives from a replay buffer.

    Every step: a batch :math:`x^+` of ``data``; negatives :math:`x^-` from
    :func:`persistent_sgld` (``sgld_steps`` steps of :math:`x' = x - a\nabla E + \sigma z` with
    a = ``drift``, σ = ``noise_scale``, started in ``buffer``); one Adam step on
    :func:`ebmlib.losses.contrastive_loss` with α = ``regularization``. Stops cleanly on non-finite values
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
    batch_size, lr, sgld_steps, drift, noise_scale, regularization, clamp, generator, progress
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
        n = x_pos.shape[0]
        x_neg = persistent_sgld(model, buffer, n, sgld_steps, drift, noise_scale, clamp=clamp, generator=generator)
        loss, e_pos, e_neg = contrastive_loss(model, x_pos, x_neg, regularization=regularization, return_energies=True)
        return loss, {"energy_pos": e_pos.mean().detach(), "energy_neg": e_neg.mean().detach()}

    options = dict(generator=generator, progress=progress, callback=callback, desc="EBM", on_nonfinite="stop")
    return fit(energy, loss_fn, data, n_steps, batch_size, lr, **options)
