r"""Losses that train an energy-based model without computing its partition function.

Each is called as ``loss(energy, x, ...)`` with a batch ``x`` of shape (n, *event_shape) and an
energy ``x -> E(x)`` of shape (n,), and returns the batch mean as a scalar tensor ready for
``.backward()``. Every random one takes ``generator=``. Bad data (NaN, wrong shapes) raise a
``ValueError`` naming the argument; a loss or energy that becomes non-finite raises, never
hidden.

``contrastive``            :func:`contrastive_divergence` (CD-k and persistent CD), :func:`contrastive_loss` (the one
                           positive-minus-negative loss, also of notebook 07's replay-buffer EBMs and JEM),
                           :class:`PersistentChains`, :func:`short_run_langevin`
``score_matching_family``  :func:`score_matching`, :func:`sliced_score_matching`, :func:`denoising_score_matching`
                           (on :func:`dsm_loss`, the one DSM formula, also behind :mod:`ebmlib.score`), :func:`score_of`
``noise_contrastive``      :func:`nce`, with a learned log Z
``noise_annealing``        :class:`NoiseAnnealing` (a falling data-noise schedule), :func:`blur_cost`

Introduced in notebooks 04_contrastive_divergence and 05_score_matching_and_nce.
"""

from ebmlib.losses.contrastive import PersistentChains, contrastive_divergence, contrastive_loss, short_run_langevin
from ebmlib.losses.noise_annealing import NoiseAnnealing, blur_cost
from ebmlib.losses.noise_contrastive import nce
from ebmlib.losses.score_matching_family import (
    denoising_score_matching,
    dsm_loss,
    score_matching,
    score_of,
    sliced_score_matching,
)

__all__ = [
    "NoiseAnnealing",
    "PersistentChains",
    "blur_cost",
    "contrastive_divergence",
    "contrastive_loss",
    "denoising_score_matching",
    "dsm_loss",
    "nce",
    "score_matching",
    "score_of",
    "short_run_langevin",
    "sliced_score_matching",
]
