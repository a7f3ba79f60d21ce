r"""The one training loop of the library: minibatches, a loss, an Adam step, a record.

:func:`fit` draws a minibatch, evaluates a loss ``loss_fn(model, batch)``, takes one step of the
library's Adam (:mod:`ebmlib.training.adam`) and records the loss. The loss decides the method:
:mod:`ebmlib.losses` in notebooks 04 and 05; the replay-buffer EBMs and JEM of notebook 07
(:mod:`ebmlib.training.neural_ebm`, :mod:`ebmlib.jem`); the score models and noisy classifiers of
notebook 08 (:mod:`ebmlib.score`) all train through it.

Introduced in notebook 04_contrastive_divergence (used again in 05, 07 and 08).

References
----------
.. [1] D. P. Kingma and J. Ba, "Adam: a method for stochastic optimization", ICLR 2015.
.. [2] I. Loshchilov and F. Hutter, "SGDR: stochastic gradient descent with warm restarts", ICLR 2017.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterable

import torch
from torch import Tensor

from ebmlib._validation import NonFiniteError, check_data, check_finite, check_generator, check_int, check_positive
from ebmlib.training.adam import Adam, cosine_lr

__all__ = ["NonFiniteError", "fit"]


def _training_data(data) -> tuple[Tensor, ...]:
    """``data`` as a tuple of finite, non-empty tensors of equal length (one tensor, or several)."""
    if isinstance(data, (tuple, list)):
        tensors = tuple(check_finite(torch.as_tensor(t), "data") for t in data)  # labels keep their integer dtype
        if not tensors or any(t.ndim == 0 or t.shape[0] != tensors[0].shape[0] for t in tensors) or tensors[0].shape[0] == 0:
            shapes = [tuple(t.shape) for t in tensors]
            raise ValueError(f"data must be non-empty tensors of equal length, got shapes {shapes}")
        return tuple(t.detach() for t in tensors)
    return (check_data(data, "data"),)


def fit(
    model: torch.nn.Module,
    loss_fn: Callable,
    data,
    n_steps: int,
    batch_size: int,
    lr: float,
    *,
    params: Iterable[Tensor] | None = None,
    generator: torch.Generator | None = None,
    progress: bool = False,
    callback: Callable[[int, torch.nn.Module, dict], None] | None = None,
    schedule: str | None = None,
    betas: tuple[float, float] = (0.9, 0.999),
    on_nonfinite: str = "raise",
    desc: str = "fit",
) -> dict:
    r"""Minimise ``loss_fn(model, batch)`` by Adam on minibatches drawn from ``data``.

    Each step draws ``batch_size`` rows of ``data`` uniformly with replacement (from
    ``generator``), computes the loss, and takes one Adam step

    .. math:: \theta \leftarrow \theta - \mathrm{lr}\cdot \mathrm{Adam}\big(\nabla_\theta L(\theta; x_{\text{batch}})\big).

    Nothing non-finite is ever stepped on. A :class:`NonFiniteError` raised inside ``loss_fn`` (an
    energy or a loss that became NaN, a sampler diverging), a non-finite loss or a non-finite
    gradient ends training at that step, before the update, in one of two ways (``on_nonfinite``).
    Any other error (a bug in the loss, a wrong shape) is raised as it is, never turned into a
    warning.

    * ``"raise"``: a ``ValueError`` naming the step; the parameters are those the failing step
      was evaluated at. For the losses of notebooks 04 and 05, where a NaN is a bug to see.
    * ``"stop"``: a ``RuntimeWarning``, ``history["stopped"]`` holds the message, and the
      parameters are put back to the last state at which loss and gradients were all finite.
      For the long, fragile runs of neural EBMs (notebook 07), where the run so far is worth keeping.

    Parameters
    ----------
    model : torch.nn.Module
        Trained in place: the energy, or any module the loss trains (a JEM).
    loss_fn : callable ``(model, batch) -> loss`` or ``-> (loss, record)``
        ``loss`` a tensor of shape (); ``record`` an optional dict of numbers to log every step.
        E.g. ``lambda e, x: contrastive_divergence(e, x, n_steps=10, step_size=0.01, generator=g)``
        or ``functools.partial(denoising_score_matching, sigma=0.1)``.
    data : Tensor of shape (n, *event_shape), or a tuple of tensors of equal length n
        The training set; with a tuple (images, labels) each batch is the tuple of their rows.
    n_steps : int
        Number of parameter updates.
    batch_size : int
    lr : float
        Adam's learning rate (:class:`ebmlib.training.adam.Adam`, the library's one optimiser).
    params : iterable of Tensors, optional
        Parameters to optimise; default the model's parameters that require gradients. Pass
        ``[*energy.parameters(), log_z]`` to learn NCE's log Z too.
    generator : torch.Generator, optional
        Draws the minibatches, on the device of ``data``; same seed, same run (if the loss uses the
        same generator too).
    progress : bool
        Show a ``tqdm.auto`` progress bar (a widget in JupyterLab) with the running loss.
    callback : callable ``(step, model, history) -> None``, optional
        Called after every step (``step`` counts from 1), e.g. to keep snapshots of the landscape,
        or a :class:`ebmlib.losses.NoiseAnnealing` schedule.
    schedule : {None, "cosine"}
        ``None`` keeps ``lr`` constant; ``"cosine"`` lowers it from ``lr`` to 0 along half a cosine
        (Loshchilov and Hutter 2017), which lets the last steps settle instead of jitter.
    betas : (float, float)
        Adam's averaging constants for the gradient and its square. Sampling-based losses
        (persistent CD) often train more stably without momentum, ``betas=(0.0, 0.999)``
        (Du and Mordatch 2019).
    on_nonfinite : {"raise", "stop"}
        What a failing step does, as above.
    desc : str
        The progress bar's label.

    Returns
    -------
    history : dict
        ``"loss"`` and every key of ``record``: lists, one float per completed step;
        ``"stopped"``: None, or the message of a stop.

    Introduced in notebook 04_contrastive_divergence (used again in 05 and 07).
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a callable (model, batch) -> loss, got {type(loss_fn).__name__}")
    tensors = _training_data(data)
    n_steps = check_int(n_steps, "n_steps")
    batch_size = check_int(batch_size, "batch_size")
    lr = check_positive(lr, "lr")
    generator = check_generator(generator, tensors[0].device)
    params = list([p for p in model.parameters() if p.requires_grad] if params is None else params)
    if not params:
        raise ValueError("params must hold at least one tensor to optimise, got none")
    if schedule not in (None, "cosine"):
        raise ValueError(f"schedule must be None or 'cosine', got {schedule!r}")
    if on_nonfinite not in ("raise", "stop"):
        raise ValueError(f"on_nonfinite must be 'raise' or 'stop', got {on_nonfinite!r}")
    optimizer = Adam(params, lr, betas=betas)
    history: dict = {"loss": [], "stopped": None}
    keep_good_state = on_nonfinite == "stop"
    good_state = copy.deepcopy(model.state_dict()) if keep_good_state else None
    n_data = tensors[0].shape[0]
    steps = range(1, n_steps + 1)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        steps = bar = tqdm(steps, total=n_steps, desc=desc, leave=False)
    for step in steps:
        index = torch.randint(n_data, (batch_size,), generator=generator, device=tensors[0].device)
        batch = tuple(t[index.to(t.device)] for t in tensors)  # each (batch_size, ...)
        batch = batch if len(batch) > 1 else batch[0]
        optimizer.zero_grad()
        try:
            out = loss_fn(model, batch)
            loss, record = out if isinstance(out, tuple) else (out, {})
            if not isinstance(loss, Tensor) or loss.numel() != 1:
                raise TypeError(f"loss_fn must return a scalar tensor (or a pair (loss, record)), got {type(out).__name__}")
            if not torch.isfinite(loss.detach()).all():
                raise NonFiniteError(f"the loss is not finite ({float(loss.detach())})")
            loss.backward()
            if not all(torch.isfinite(p.grad).all() for p in params if p.grad is not None):
                raise NonFiniteError("a gradient of the loss is not finite")
        except NonFiniteError as err:  # only the library's own non-finite error: a bug is never a warning
            message = f"training stopped at step {step}: {err}"
            if not keep_good_state:
                if bar is not None:
                    bar.close()
                err.args = (message, *err.args[1:])  # the same error, its message naming the step
                raise
            history["stopped"] = f"{message}; the last good state is kept"
            model.load_state_dict(good_state)
            warnings.warn(history["stopped"], RuntimeWarning, stacklevel=2)
            break
        if keep_good_state:
            good_state = copy.deepcopy(model.state_dict())  # the parameters at which all was finite
        optimizer.step(cosine_lr(lr, step - 1, n_steps) if schedule == "cosine" else None)
        history["loss"].append(float(loss.detach()))
        for key, value in record.items():
            history.setdefault(key, []).append(float(value))
        if bar is not None and (step % 25 == 0 or step == n_steps):
            bar.set_postfix(loss=f"{history['loss'][-1]:.4g}")
        if callback is not None:
            callback(step, model, history)
    if bar is not None:
        bar.close()
    return history
