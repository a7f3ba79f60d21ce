r"""Contrastive divergence: maximum likelihood with model samples from short or persistent chains.

For :math:`p_\theta(x) = e^{-E_\theta(x)}/Z_\theta` the gradient of the log-likelihood of one point is

.. math::

    \nabla_\theta \log p_\theta(x) = -\nabla_\theta E_\theta(x)
        + \mathbb E_{x^- \sim p_\theta}\big[\nabla_\theta E_\theta(x^-)\big],

since :math:`\nabla_\theta \log Z_\theta = \mathbb E_{p_\theta}[-\nabla_\theta E_\theta]`. The first
term (the *positive phase*) lowers the energy of the data; the second (the *negative phase*)
raises the energy where the model puts its mass, and needs samples from the model, not the data.
The surrogate loss

.. math:: L(\theta) = \frac1n \sum_i E_\theta(x_i^+) - \frac1m \sum_j E_\theta(x_j^-)

with the negatives held fixed (no gradient flows through the sampler) has exactly minus that
gradient, estimated. Where the negatives come from is the method:

* **CD-k** (Hinton 2002): k Langevin steps started *at the data*. Cheap, but the chains have not
  reached :math:`p_\theta`, so the gradient is biased; the bias does not go away with more data.
* **Persistent CD** (Tieleman 2008): chains kept between parameter updates
  (:class:`PersistentChains`), each update continuing where the last stopped; as the parameters
  move slowly the chains stay close to :math:`p_\theta`.

Introduced in notebook 04_contrastive_divergence.

References
----------
.. [1] G. E. Hinton, "Training products of experts by minimizing contrastive divergence",
   Neural Computation 14(8), 2002.
.. [2] T. Tieleman, "Training restricted Boltzmann machines using approximations to the
   likelihood gradient", ICML 2008.
.. [3] Y. Du and I. Mordatch, "Implicit generation and modeling with energy-based models",
   NeurIPS 2019 (Langevin negatives and the energy-magnitude penalty).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebmlib._validation import Energy, check_data, check_generator, check_int, check_positive, evaluate, finite_loss
from ebmlib.samplers import langevin

__all__ = ["PersistentChains", "contrastive_divergence", "contrastive_loss", "short_run_langevin"]


class PersistentChains:
    """Negative-phase chains kept between training steps, for persistent contrastive divergence.

    Parameters
    ----------
    x0 : Tensor of shape (n_chains, *event_shape)
        Where the chains start (often noise, or a batch of data); copied, never modified.

    Attributes
    ----------
    x : Tensor of shape (n_chains, *event_shape)
        The chains' current positions; :func:`contrastive_divergence` moves them on every call.
    n_updates : int
        How many times the chains have been moved.

    Examples
    --------
    >>> import torch
    >>> chains = PersistentChains.uniform(256, ((-3, 3), (-3, 3)), generator=torch.Generator().manual_seed(0))
    >>> chains.x.shape
    torch.Size([256, 2])

    Introduced in notebook 04_contrastive_divergence.
    """

    def __init__(self, x0):
        self.x = check_data(x0, "x0").clone()
        self.n_updates = 0

    @classmethod
    def uniform(cls, n_chains: int, bounds, *, generator: torch.Generator | None = None, dtype=None, device=None):
        """Chains started uniformly on the box ``bounds = ((low_1, high_1), ..., (low_d, high_d))``, on ``device``."""
        n_chains = check_int(n_chains, "n_chains")
        b = torch.as_tensor(bounds, dtype=torch.float64, device=device)
        if b.ndim != 2 or b.shape[1] != 2 or not torch.isfinite(b).all() or (b[:, 0] >= b[:, 1]).any():
            raise ValueError(f"bounds must be finite pairs (low, high) with low < high, one per axis, got {bounds!r}")
        generator = check_generator(generator, b.device)
        u = torch.rand(n_chains, b.shape[0], generator=generator, dtype=torch.float64, device=b.device)
        x0 = b[:, 0] + u * (b[:, 1] - b[:, 0])  # (n_chains, d)
        return cls(x0.to(dtype or torch.get_default_dtype()))

    def __len__(self) -> int:
        return self.x.shape[0]

    def __repr__(self) -> str:
        return f"PersistentChains(n_chains={len(self)}, event_shape={tuple(self.x.shape[1:])}, n_updates={self.n_updates})"


def short_run_langevin(
    energy: Energy, x0: Tensor, n_steps: int, step_size: float, *, generator: torch.Generator | None = None
) -> Tensor:
    r"""Run ``n_steps`` unadjusted Langevin steps from ``x0`` and return only the last positions.

    .. math:: x_{t+1} = x_t - \frac{\varepsilon}{2}\nabla_x E(x_t) + \sqrt{\varepsilon}\, z_t

    This is :func:`ebmlib.samplers.langevin` at T = 1 with ``keep="last"`` and
    ``on_divergence="raise"``: the library's one Langevin loop, not a copy of it.

    Returns
    -------
    Tensor of shape (n_chains, *event_shape), detached.

    Raises
    ------
    NonFiniteError (a ValueError)
        If a chain diverges (a non-finite position): the caller's step size is too large.
    """
    x0 = check_data(x0, "x0", like=energy)
    x, _ = langevin(energy, x0, n_steps, step_size, keep="last", on_divergence="raise", generator=generator)
    return x.detach()


def contrastive_loss(
    energy: Energy, x_pos: Tensor, x_neg: Tensor, *, regularization: float = 0.0, return_energies: bool = False
):
    r"""Positive minus negative phase: :math:`\overline{E(x^+)} - \overline{E(x^-)}`, a scalar.

    .. math::

        L = \frac1n\sum_i E(x_i^+) - \frac1m\sum_j E(x_j^-)
            + \alpha\Big(\frac1n\sum_i E(x_i^+)^2 + \frac1m\sum_j E(x_j^-)^2\Big)

    Its gradient in θ is minus the estimated log-likelihood gradient (the negatives are detached).
    The optional penalty α (``regularization``, as in Du and Mordatch 2019) keeps energies near 0;
    the data alone never fix the additive constant of E.

    Parameters
    ----------
    energy : callable ``(n, *event_shape) -> (n,)``
    x_pos : Tensor of shape (n, *event_shape)
        Data.
    x_neg : Tensor of shape (m, *event_shape)
        Samples from (an approximation of) the model; not differentiated.
    regularization : float
        α ≥ 0.
    return_energies : bool
        Also return the energies ``E(x_pos)`` (n,) and ``E(x_neg)`` (m,), with their graphs.

    Returns
    -------
    loss : Tensor of shape (), ready for ``.backward()``
    e_pos, e_neg : Tensors of shape (n,) and (m,), only if ``return_energies``

    Raises
    ------
    NonFiniteError (a ValueError)
        If an energy or the loss is not finite.

    Introduced in notebook 04_contrastive_divergence (used again for the replay-buffer EBMs and JEM of 07).
    """
    x_pos = check_data(x_pos, "x_pos", like=energy)
    x_neg = check_data(x_neg, "x_neg", like=energy)
    if x_neg.shape[1:] != x_pos.shape[1:]:
        raise ValueError(
            f"x_neg must have the event shape of x_pos {tuple(x_pos.shape[1:])}, got shape {tuple(x_neg.shape)}"
        )
    if regularization != 0.0:
        regularization = check_positive(regularization, "regularization")
    e_pos, e_neg = evaluate(energy, x_pos), evaluate(energy, x_neg)
    loss = e_pos.mean() - e_neg.mean()
    if regularization:
        loss = loss + regularization * (e_pos.square().mean() + e_neg.square().mean())
    loss = finite_loss(loss, "contrastive")
    return (loss, e_pos, e_neg) if return_energies else loss


def contrastive_divergence(
    energy: Energy,
    x: Tensor,
    *,
    n_steps: int = 10,
    step_size: float = 0.01,
    chains: PersistentChains | None = None,
    regularization: float = 0.0,
    generator: torch.Generator | None = None,
    return_samples: bool = False,
):
    r"""Contrastive divergence loss (CD-k), or persistent CD when ``chains`` is given.

    Draws negatives by ``n_steps`` Langevin steps (:func:`short_run_langevin`), started at the
    data ``x`` (CD-k) or at the persistent chains (PCD, which are then moved on), and returns
    :func:`contrastive_loss` of the data and those negatives:

    .. math:: L = \frac1n \sum_i E(x_i) - \frac1m \sum_j E(x^-_j), \qquad
              -\nabla_\theta L \approx \nabla_\theta \tfrac1n \textstyle\sum_i \log p_\theta(x_i).

    Parameters
    ----------
    energy : callable ``(n, *event_shape) -> (n,)``
        Usually a ``torch.nn.Module`` such as :class:`ebmlib.nets.MLPEnergy`.
    x : Tensor of shape (n, *event_shape)
        A batch of data (finite).
    n_steps : int
        k, Langevin steps per call (≥ 0; k = 0 gives a loss of exactly 0 for CD).
    step_size : float
        ε of the Langevin step, > 0.
    chains : PersistentChains, optional
        Persistent chains; their number need not equal the batch size. Updated in place.
    regularization : float
        Energy-magnitude penalty α ≥ 0 (see :func:`contrastive_loss`).
    generator : torch.Generator, optional
    return_samples : bool
        Also return the negatives.

    Returns
    -------
    loss : Tensor of shape ()
    x_neg : Tensor of shape (m, *event_shape), only if ``return_samples``

    Examples
    --------
    >>> import torch
    >>> from ebmlib.nets import MLPEnergy
    >>> g = torch.Generator().manual_seed(0)
    >>> energy, x = MLPEnergy(), torch.randn(64, 2, generator=g)
    >>> loss = contrastive_divergence(energy, x, n_steps=5, step_size=0.01, generator=g)
    >>> loss.backward()

    Introduced in notebook 04_contrastive_divergence.
    """
    x = check_data(x, "x", like=energy)
    generator = check_generator(generator, x.device)
    if chains is not None:
        if not isinstance(chains, PersistentChains):
            raise TypeError(f"chains must be a PersistentChains or None, got {type(chains).__name__}")
        if chains.x.shape[1:] != x.shape[1:]:
            raise ValueError(
                f"chains must have the event shape of x {tuple(x.shape[1:])}, got shape {tuple(chains.x.shape)}"
            )
        start = chains.x.to(x)
    else:
        start = x
    x_neg = short_run_langevin(energy, start, n_steps, step_size, generator=generator)
    if chains is not None:
        chains.x = x_neg.clone()
        chains.n_updates += 1
    loss = contrastive_loss(energy, x, x_neg, regularization=regularization)
    return (loss, x_neg) if return_samples else loss
