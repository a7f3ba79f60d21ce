r"""Training an energy by minibatch gradient descent, and judging a 2-D energy by exact likelihood.

:func:`fit` is the loop every method of notebooks 04 and 05 shares: draw a minibatch, evaluate a
loss ``loss_fn(energy, batch)``, take an Adam step, record the loss. The loss decides the method
(:mod:`ebmlib.losses`).

:func:`exact_log_likelihood` scores a 2-D model the way no training loss can: normalise
:math:`e^{-E(x)}` on a grid (:func:`ebmlib.partition.log_partition_grid`) and average
:math:`\log p(x) = -E(x) - \log Z` over held-out data. Different methods, one yardstick.

Introduced in notebook 04_contrastive_divergence (used again in 05).

References
----------
.. [1] D. P. Kingma and J. Ba, "Adam: a method for stochastic optimization", ICLR 2015.
.. [2] I. Loshchilov and F. Hutter, "SGDR: stochastic gradient descent with warm restarts", ICLR 2017.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor

from ebmlib._validation import check_int, check_positive
from ebmlib.losses._checks import check_data, check_generator, evaluate
from ebmlib.partition import log_partition_grid

__all__ = ["fit", "exact_log_likelihood"]


def fit(
    energy: torch.nn.Module,
    loss_fn: Callable[[torch.nn.Module, Tensor], Tensor],
    data: Tensor,
    n_steps: int,
    batch_size: int,
    lr: float,
    *,
    params: Iterable[Tensor] | None = None,
    generator: torch.Generator | None = None,
    progress: bool = True,
    callback: Callable[[int, torch.nn.Module], None] | None = None,
    schedule: str | None = None,
    betas: tuple[float, float] = (0.9, 0.999),
) -> dict:
    r"""Minimise ``loss_fn(energy, batch)`` by Adam on minibatches drawn from ``data``.

    Each step draws ``batch_size`` rows of ``data`` uniformly with replacement (from
    ``generator``), computes the loss, and takes one Adam step

    .. math:: \theta \leftarrow \theta - \mathrm{lr}\cdot \mathrm{Adam}\big(\nabla_\theta L(\theta; x_{\text{batch}})\big).

    A loss that becomes non-finite raises (the losses check), naming the step; the parameters
    are left as they were after the last good step.

    Parameters
    ----------
    energy : torch.nn.Module
        The model, trained in place.
    loss_fn : callable ``(energy, batch) -> Tensor of shape ()``
        E.g. ``lambda e, x: contrastive_divergence(e, x, n_steps=10, step_size=0.01, generator=g)``
        or ``functools.partial(denoising_score_matching, sigma=0.1)``.
    data : Tensor of shape (n, *event_shape)
        The training set.
    n_steps : int
        Number of parameter updates.
    batch_size : int
    lr : float
        Adam's learning rate.
    params : iterable of Tensors, optional
        Parameters to optimise; default ``energy.parameters()``. Pass
        ``[*energy.parameters(), log_z]`` to learn NCE's log Z too.
    generator : torch.Generator, optional
        Draws the minibatches; same seed, same run (if the loss uses the same generator too).
    progress : bool
        Show a ``tqdm.auto`` progress bar (a widget in JupyterLab) with the running loss.
    callback : callable ``(step, energy) -> None``, optional
        Called after every step (``step`` counts from 1), e.g. to keep snapshots of the landscape.
    schedule : {None, "cosine"}
        ``None`` keeps ``lr`` constant; ``"cosine"`` lowers it from ``lr`` to 0 along half a cosine
        (Loshchilov and Hutter 2017), which lets the last steps settle instead of jitter.
    betas : (float, float)
        Adam's averaging constants for the gradient and its square. Sampling-based losses
        (persistent CD) often train more stably without momentum, ``betas=(0.0, 0.999)``
        (Du and Mordatch 2019).

    Returns
    -------
    history : dict
        ``"loss"``: list of the n_steps loss values (floats).

    Introduced in notebook 04_contrastive_divergence.
    """
    if not isinstance(energy, torch.nn.Module):
        raise TypeError(f"energy must be a torch.nn.Module, got {type(energy).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a callable (energy, batch) -> loss, got {type(loss_fn).__name__}")
    data = check_data(data, "data")
    n_steps = check_int(n_steps, "n_steps")
    batch_size = check_int(batch_size, "batch_size")
    lr = check_positive(lr, "lr")
    generator = check_generator(generator)
    params = list(energy.parameters() if params is None else params)
    if not params:
        raise ValueError("params must hold at least one tensor to optimise, got none")
    if schedule not in (None, "cosine"):
        raise ValueError(f"schedule must be None or 'cosine', got {schedule!r}")
    optimizer = torch.optim.Adam(params, lr=lr, betas=betas)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, n_steps) if schedule == "cosine" else None
    history: dict = {"loss": []}
    steps = range(1, n_steps + 1)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        steps = bar = tqdm(steps, total=n_steps, desc="fit", leave=False)
    for step in steps:
        index = torch.randint(data.shape[0], (batch_size,), generator=generator)
        batch = data[index.to(data.device)]  # (batch_size, *event_shape)
        optimizer.zero_grad(set_to_none=True)
        try:
            loss = loss_fn(energy, batch)
        except ValueError as err:
            raise ValueError(f"training stopped at step {step}: {err}") from err
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            raise ValueError(f"loss_fn must return a scalar tensor, got {type(loss).__name__}")
        if not torch.isfinite(loss):
            raise ValueError(f"training stopped at step {step}: the loss is not finite ({float(loss.detach())})")
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        history["loss"].append(float(loss.detach()))
        if bar is not None and (step % 25 == 0 or step == n_steps):
            bar.set_postfix(loss=f"{history['loss'][-1]:.4g}")
        if callback is not None:
            callback(step, energy)
    return history


def exact_log_likelihood(energy: Callable[[Tensor], Tensor], x: Tensor, bounds, n: int = 200) -> Tensor:
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
