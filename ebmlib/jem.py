r"""JEM: a classifier read as an energy-based model of both the inputs and the labels.

A classifier with logits :math:`f_\theta(x) \in \mathbb R^K` defines, besides
:math:`p(y \mid x) = \operatorname{softmax}(f(x))_y`, a joint energy and its marginal

.. math::

    E(x, y) = -f(x)[y], \qquad
    E(x) = -\log \sum_y e^{-E(x, y)} = -\operatorname{logsumexp}_y f(x)[y],

so that :math:`p(x, y) = e^{-E(x,y)}/Z`, :math:`p(x) = e^{-E(x)}/Z` and

.. math:: p(y \mid x) = \frac{p(x, y)}{p(x)} = e^{-E(x, y) + E(x)} = \operatorname{softmax}(f(x))_y :

the normaliser Z cancels, and the usual classifier is recovered exactly. Shifting all logits by
the same function c(x) leaves the classifier unchanged but changes E(x); JEM uses this freedom to
fit :math:`p(x)` as well, minimising

.. math:: L = \underbrace{-\log p(y \mid x)}_{\text{cross-entropy}}
          + \underbrace{\overline{E(x^+)} - \overline{E(x^-)}}_{\text{generative term}}
          \;(+\ \alpha\,(\overline{E(x^+)^2} + \overline{E(x^-)^2}))

with negatives :math:`x^-` from SGLD in a replay buffer. The same network then classifies,
generates (SGLD on :math:`E(x, y)` for a chosen y), and scores how typical an input is
(:math:`-E(x) = \log p(x) + \log Z`, for out-of-distribution detection).

Introduced in notebook 07_modern_ebms.

References
----------
.. [1] W. Grathwohl, K.-C. Wang, J.-H. Jacobsen, D. Duvenaud, M. Norouzi and K. Swersky, "Your
   classifier is secretly an energy based model and you should treat it like one", ICLR 2020.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebmlib._validation import NonFiniteError, as_tensor, check_finite, check_int, check_positive, like_module
from ebmlib.losses import contrastive_loss
from ebmlib.samplers import sgld
from ebmlib.training import ReplayBuffer, fit, persistent_sgld

__all__ = ["JEM", "auroc", "train_jem"]


class JEM(nn.Module):
    r"""A classifier :math:`f: x \mapsto` logits (n, K), read as :math:`E(x, y) = -f(x)[y]`, :math:`E(x) = -\operatorname{logsumexp}_y f(x)[y]`.

    Calling the model gives the marginal energy E(x), shape (n,), so a JEM is an energy for
    :func:`ebmlib.samplers.sgld` and :func:`ebmlib.training.persistent_sgld`.

    Parameters
    ----------
    classifier : torch.nn.Module
        x of shape (n, *event_shape) -> logits of shape (n, K), e.g.
        :class:`ebmlib.nets.ConvNet8x8`.
    event_shape : tuple of int, optional
        If given, inputs of another shape raise a ValueError naming x.

    Introduced in notebook 07_modern_ebms.
    """

    def __init__(self, classifier: nn.Module, event_shape: tuple[int, ...] | None = None):
        super().__init__()
        if not isinstance(classifier, nn.Module):
            raise TypeError(f"classifier must be a torch.nn.Module, got {type(classifier).__name__}")
        self.classifier = classifier
        self.event_shape = None if event_shape is None else tuple(check_int(k, "event_shape") for k in event_shape)

    def logits(self, x) -> Tensor:
        """f(x), shape (n, K)."""
        x = as_tensor(x, "x")
        if x.ndim < 2 or (self.event_shape is not None and tuple(x.shape[1:]) != self.event_shape):
            expected = "(n, *event_shape)" if self.event_shape is None else f"(n, {', '.join(map(str, self.event_shape))})"
            raise ValueError(f"x must have shape {expected}, got shape {tuple(x.shape)}")
        out = self.classifier(like_module(self, x))
        if out.ndim != 2 or out.shape[0] != x.shape[0]:
            raise ValueError(f"classifier must return logits of shape ({x.shape[0]}, K), got {tuple(out.shape)}")
        return out

    def forward(self, x) -> Tensor:
        r"""The marginal energy :math:`E(x) = -\operatorname{logsumexp}_y f(x)[y]`, shape (n,)."""
        return -torch.logsumexp(self.logits(x), dim=1)

    def energy(self, x, y=None) -> Tensor:
        """E(x, y) = −f(x)[y] of shape (n,) for labels y (n,); E(x, ·) of shape (n, K) if y is None."""
        logits = self.logits(x)
        if y is None:
            return -logits
        y = self._labels(y, logits)
        return -logits.gather(1, y[:, None]).squeeze(1)

    def log_conditional(self, x) -> Tensor:
        r""":math:`\log p(y \mid x) = -E(x, y) + E(x)` for every y, shape (n, K): the log-softmax of f(x)."""
        return F.log_softmax(self.logits(x), dim=1)

    def predict(self, x) -> Tensor:
        """The most probable class, shape (n,), int64."""
        with torch.no_grad():
            return self.logits(x).argmax(1)

    def accuracy(self, x, y) -> float:
        """Fraction of ``x`` classified as ``y``."""
        y = torch.as_tensor(y)
        return float((self.predict(x) == y.to(self._device())).double().mean())

    def loss(self, x, y, x_neg=None, *, generative_weight: float = 1.0, regularization: float = 0.0):
        r"""JEM's loss :math:`\mathrm{CE}(f(x), y) + w\,[\overline{E(x)} - \overline{E(x^-)} + \alpha(\ldots)]`.

        Parameters
        ----------
        x : Tensor of shape (n, *event_shape)
        y : Tensor of shape (n,), int64
        x_neg : Tensor of shape (m, *event_shape), optional
            Model samples (detached); required when ``generative_weight`` > 0.
        generative_weight : float
            w ≥ 0; w = 0 is a plain classifier.
        regularization : float
            α ≥ 0, the energy-magnitude penalty of :func:`ebmlib.losses.contrastive_loss`.

        Returns
        -------
        loss : Tensor of shape ()
        record : dict of 0-d Tensors: ``"cross_entropy"``, ``"energy_pos"``, ``"energy_neg"``
        """
        logits = self.logits(x)  # (n, K)
        if not torch.isfinite(logits).all():
            n_bad = int((~torch.isfinite(logits)).sum())
            raise NonFiniteError(f"the logits of the data have {n_bad} non-finite value(s) (NaN or inf)")
        y = self._labels(y, logits)
        cross_entropy = F.cross_entropy(logits, y)
        record = {"cross_entropy": cross_entropy.detach()}
        if not generative_weight:
            record["energy_pos"] = -torch.logsumexp(logits.detach(), dim=1).mean()
            return cross_entropy, record
        if x_neg is None:
            raise ValueError("x_neg must be given when generative_weight > 0 (the generative term needs model samples)")
        generative, e_pos, e_neg = contrastive_loss(self, x, x_neg, regularization=regularization, return_energies=True)
        record["energy_pos"], record["energy_neg"] = e_pos.mean().detach(), e_neg.mean().detach()
        return cross_entropy + generative_weight * generative, record

    def conditional_samples(self, y, x0, n_steps: int, drift: float, noise_scale: float, **kwargs) -> Tensor:
        r"""SGLD on :math:`E(x, y) = -f(x)[y]` for fixed labels: samples of :math:`p(x \mid y)`, shape of x0.

        ``y`` (n,) gives the class of each chain; ``x0`` (n, *event_shape) the starts;
        ``drift`` a and ``noise_scale`` σ as in :func:`ebmlib.samplers.sgld`, where ``kwargs``
        (``clamp``, ``generator``) go.
        """
        x0 = like_module(self, as_tensor(x0, "x0"))
        y = torch.as_tensor(y)
        if y.shape != (x0.shape[0],):
            raise ValueError(f"y must have shape ({x0.shape[0]},), one label per chain, got {tuple(y.shape)}")
        return sgld(lambda x: self.energy(x, y), x0, n_steps, drift, noise_scale, **kwargs)

    def _device(self) -> torch.device:
        param = next(self.parameters(), None)
        return torch.device("cpu") if param is None else param.device

    @staticmethod
    def _labels(y, logits: Tensor) -> Tensor:
        y = torch.as_tensor(y).to(logits.device)
        if y.shape != (logits.shape[0],) or y.is_floating_point():
            raise ValueError(f"y must be integer labels of shape ({logits.shape[0]},), got {tuple(y.shape)} {y.dtype}")
        if y.numel() and (y.min() < 0 or y.max() >= logits.shape[1]):
            raise ValueError(f"y must lie in [0, {logits.shape[1]}), got values in [{y.min()}, {y.max()}]")
        return y.long()


def train_jem(
    jem: JEM,
    x,
    y,
    n_steps: int,
    *,
    buffer: ReplayBuffer | None = None,
    batch_size: int = 64,
    lr: float = 1e-3,
    generative_weight: float = 1.0,
    sgld_steps: int = 20,
    drift: float = 1.0,
    noise_scale: float = 0.01,
    regularization: float = 0.0,
    clamp: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
    progress: bool = False,
    callback: Callable | None = None,
) -> dict:
    r"""Train a :class:`JEM` on labelled data: cross-entropy plus the generative term, by Adam.

    Every step: a batch (x, y); if ``generative_weight`` w > 0, ``batch_size`` negatives from
    :func:`~ebmlib.training.persistent_sgld` (``sgld_steps`` steps of
    :math:`x' = x - a\nabla E(x) + \sigma z`, a = ``drift``, σ = ``noise_scale``; JEM's recipe
    a = 1, σ = 0.01, 20 steps, buffer re-initialisation 5 %); then one Adam step on
    :meth:`JEM.loss`. With w = 0 the same call trains the plain classifier (no buffer needed).
    Stops cleanly, keeping the last good state, if anything becomes non-finite.

    Returns
    -------
    history : dict
        ``"loss"``, ``"cross_entropy"``, ``"energy_pos"`` (and ``"energy_neg"`` if w > 0), one
        float per step; ``"stopped"``.

    Introduced in notebook 07_modern_ebms.
    """
    if not isinstance(jem, JEM):
        raise TypeError(f"jem must be a JEM, got {type(jem).__name__}")
    x = check_finite(as_tensor(x, "x"), "x")
    jem.logits(x[:1])  # the shape of x checked once, at the door
    y = torch.as_tensor(y)
    if y.shape != (x.shape[0],) or y.is_floating_point():
        raise ValueError(f"y must be integer labels of shape ({x.shape[0]},), got {tuple(y.shape)} {y.dtype}")
    generative_weight = 0.0 if generative_weight == 0 else check_positive(generative_weight, "generative_weight")
    regularization = 0.0 if regularization == 0 else check_positive(regularization, "regularization")
    if generative_weight:
        if not isinstance(buffer, ReplayBuffer):
            raise TypeError(f"buffer must be a ReplayBuffer when generative_weight > 0, got {type(buffer).__name__}")
        if buffer.event_shape != tuple(x.shape[1:]):
            raise ValueError(f"buffer must have the event shape of x {tuple(x.shape[1:])}, got {buffer.event_shape}")
    sgld_steps = check_int(sgld_steps, "sgld_steps")

    def loss_fn(model, batch):
        x_pos, y_pos = batch
        x_neg = None
        if generative_weight:
            n = x_pos.shape[0]
            x_neg = persistent_sgld(model, buffer, n, sgld_steps, drift, noise_scale, clamp=clamp, generator=generator)
        return model.loss(x_pos, y_pos, x_neg, generative_weight=generative_weight, regularization=regularization)

    desc = "JEM" if generative_weight else "classifier"
    options = dict(generator=generator, progress=progress, callback=callback, desc=desc, on_nonfinite="stop")
    return fit(jem, loss_fn, (x, y), n_steps, batch_size, lr, **options)


def auroc(scores_in, scores_out) -> float:
    r"""Area under the ROC curve for telling ``scores_in`` (positives) from ``scores_out``.

    .. math:: \mathrm{AUROC} = P(s_{\text{in}} > s_{\text{out}}) + \tfrac12 P(s_{\text{in}} = s_{\text{out}}),

    over independent draws of one score from each set: 1 separates perfectly, 0.5 is chance.
    Computed exactly from ranks (the Mann–Whitney U statistic), equal to
    ``sklearn.metrics.roc_auc_score``.

    Parameters
    ----------
    scores_in : Tensor of shape (n,)
        Scores of in-distribution inputs (higher = more typical, e.g. :math:`-E(x)`).
    scores_out : Tensor of shape (m,)

    Introduced in notebook 07_modern_ebms.
    """
    s_in = check_finite(as_tensor(scores_in, "scores_in", dtype=torch.float64).flatten(), "scores_in")
    s_out = check_finite(as_tensor(scores_out, "scores_out", dtype=torch.float64).flatten(), "scores_out")
    if s_in.numel() == 0 or s_out.numel() == 0:
        raise ValueError(f"scores_in and scores_out must not be empty, got {s_in.numel()} and {s_out.numel()}")
    both = torch.cat([s_in, s_out.to(s_in.device)])
    values, inverse, counts = torch.unique(both, return_inverse=True, return_counts=True)
    # mid-ranks (1-based) of each distinct value, so ties count one half
    upper = counts.cumsum(0).to(torch.float64)
    mid_rank = upper - (counts.to(torch.float64) - 1) / 2
    rank_sum_in = mid_rank[inverse[: s_in.numel()]].sum()
    n, m = s_in.numel(), s_out.numel()
    return float((rank_sum_in - n * (n + 1) / 2) / (n * m))
