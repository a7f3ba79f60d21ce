r"""The Gaussian–Bernoulli RBM: real-valued visible units of unit variance, binary hidden units.

.. math::

    E(v, h) = \tfrac12 \lVert v - b \rVert^2 - v^\top W h - c^\top h, \qquad v \in \mathbb R^{n_v},\ h \in \{0, 1\}^{n_h},

so that :math:`p(h_j = 1 \mid v) = \sigma(c_j + v^\top W_{:j})`, exactly as for binary visible
units, and :math:`p(v \mid h) = \mathcal N(b + W h, I)`: each pixel is a Gaussian whose mean the
hidden units move. Summing out the hidden units gives the free energy
:math:`F(v) = \tfrac12 \lVert v - b\rVert^2 - \sum_j \operatorname{softplus}(c_j + v^\top W_{:j})`;
integrating out the visible units gives :math:`p(h) \propto \exp(c^\top h + b^\top W h + \tfrac12 \lVert W h\rVert^2)`,
so :math:`p(v) = \sum_h p(h)\, \mathcal N(v;\, b + W h, I)` is a mixture of :math:`2^{n_h}` Gaussians
with shared covariance, and

.. math:: \log Z = \tfrac{n_v}{2} \log 2\pi + \log \sum_h \exp\big(c^\top h + b^\top W h + \tfrac12 \lVert W h \rVert^2\big).

Data should be standardised (zero mean, unit variance per coordinate) to match the unit variance.
The learning rule is the binary RBM's, :math:`\Delta W = \langle v\, p(h{=}1 \mid v)^\top \rangle_{\rm pos}
- \langle v\, p(h{=}1 \mid v)^\top \rangle_{\rm neg}` and so on, with real-valued :math:`v`.

Introduced in notebook 06_boltzmann_machines.

References
----------
.. [1] G. E. Hinton and R. R. Salakhutdinov, "Reducing the dimensionality of data with neural
   networks", Science 313 (2006) (Gaussian visible units).
.. [2] K. Cho, A. Ilin and T. Raiko, "Improved learning of Gaussian-Bernoulli restricted Boltzmann
   machines", ICANN 2011.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebmlib._validation import check_data, check_generator, check_int, check_positive
from ebmlib.rbm.functional import MAX_EXACT_STATES, binary_states, sample_bernoulli, softplus

__all__ = ["GaussianBernoulliRBM"]


class GaussianBernoulliRBM:
    """A Gaussian–Bernoulli RBM with ``n_visible`` real units of unit variance and ``n_hidden`` binary units.

    Weights start at :math:`\\mathcal N(0, 0.01^2)`, biases at 0; ``generator`` draws them and is the
    default generator of later random calls. Attributes ``W`` (n_visible, n_hidden), ``b``, ``c``.
    """

    def __init__(self, n_visible: int, n_hidden: int, generator: torch.Generator | None = None, *, dtype=None):
        n_visible, n_hidden = check_int(n_visible, "n_visible"), check_int(n_hidden, "n_hidden")
        dtype = dtype or torch.get_default_dtype()
        self.generator = generator
        self.W = 0.01 * torch.randn(n_visible, n_hidden, generator=generator, dtype=dtype)
        self.b, self.c = torch.zeros(n_visible, dtype=dtype), torch.zeros(n_hidden, dtype=dtype)

    def _visible(self, v, name: str = "v") -> Tensor:
        v = check_data(v, name).to(self.W)
        if v.ndim != 2 or v.shape[1] != self.W.shape[0]:
            raise ValueError(f"{name} must have shape (n, {self.W.shape[0]}), got {tuple(v.shape)}")
        return v

    def p_h_given_v(self, v) -> Tensor:
        r""":math:`p(h_j = 1 \mid v) = \sigma(c_j + v^\top W_{:j})`, shape (n, n_hidden)."""
        return torch.sigmoid(self.c + self._visible(v) @ self.W)

    def mean_v_given_h(self, h) -> Tensor:
        r"""The mean :math:`b + W h` of :math:`p(v \mid h) = \mathcal N(b + W h, I)`, shape (n, n_visible)."""
        return self.b + torch.as_tensor(h).to(self.W) @ self.W.T

    def free_energy(self, v) -> Tensor:
        r""":math:`F(v) = \tfrac12 \lVert v - b\rVert^2 - \sum_j \operatorname{softplus}(c_j + v^\top W_{:j})`, shape (n,)."""
        v = self._visible(v)
        return 0.5 * (v - self.b).square().sum(1) - softplus(self.c + v @ self.W).sum(1)

    def log_partition(self) -> Tensor:
        r"""Exact :math:`\log Z`, summing over the :math:`2^{n_h}` hidden states (float64)."""
        n_visible, n_hidden = self.W.shape
        if 2**n_hidden > MAX_EXACT_STATES:
            raise ValueError(f"exact log Z sums over 2^{n_hidden} hidden states, more than {MAX_EXACT_STATES}: use fewer hidden units")
        W, b, c = (t.to(torch.float64) for t in (self.W, self.b, self.c))
        h = binary_states(n_hidden, dtype=torch.float64, device=W.device)
        mean_shift = h @ W.T  # (2^n_h, n_visible): W h
        log_weights = h @ c + mean_shift @ b + 0.5 * mean_shift.square().sum(1)
        return 0.5 * n_visible * math.log(2 * math.pi) + torch.logsumexp(log_weights, dim=0)

    def log_likelihood(self, v) -> Tensor:
        r"""Exact :math:`\log p(v) = -F(v) - \log Z`, float64, shape (n,)."""
        return -self.free_energy(v).to(torch.float64) - self.log_partition()

    def gibbs(self, v, k: int = 1, *, generator: torch.Generator | None = None) -> Tensor:
        r"""``k`` block Gibbs steps :math:`h \sim p(h \mid v)`, :math:`v \sim \mathcal N(b + W h, I)` for each row of ``v``."""
        v, k = self._visible(v), check_int(k, "k")
        generator = check_generator(generator or self.generator, self.W.device)
        for _ in range(k):
            h = sample_bernoulli(torch.sigmoid(self.c + v @ self.W), generator)
            v = self.mean_v_given_h(h) + torch.randn(v.shape, generator=generator, dtype=v.dtype, device=v.device)
        return v

    def fit(self, v, epochs: int, batch_size: int, lr: float, k: int = 1, *, generator: torch.Generator | None = None) -> GaussianBernoulliRBM:
        r"""CD-k on real-valued data ``v`` (standardise it first), in place; returns ``self``.

        Each minibatch: :math:`\Delta W = \langle v\, p(h{=}1 \mid v)^\top \rangle_{\rm data} - \langle v\, p(h{=}1 \mid v)^\top \rangle_{\rm CD}`,
        :math:`\Delta b = \langle v \rangle_{\rm data} - \langle v \rangle_{\rm CD}`,
        :math:`\Delta c = \langle p(h{=}1 \mid v) \rangle_{\rm data} - \langle p(h{=}1 \mid v) \rangle_{\rm CD}`,
        the negatives ``k`` :meth:`gibbs` steps from the minibatch; :math:`\theta \leftarrow \theta + \text{lr}\,\Delta\theta`.
        """
        v = self._visible(v)
        epochs, batch_size = check_int(epochs, "epochs"), check_int(batch_size, "batch_size")
        lr, generator = check_positive(lr, "lr"), check_generator(generator or self.generator, self.W.device)
        for _ in range(epochs):
            for v_pos in v[torch.randperm(v.shape[0], generator=generator)].split(batch_size):
                v_neg = self.gibbs(v_pos, k, generator=generator)
                p_pos, p_neg = self.p_h_given_v(v_pos), self.p_h_given_v(v_neg)
                n = v_pos.shape[0]
                self.W = self.W + lr * (v_pos.T @ p_pos - v_neg.T @ p_neg) / n
                self.b = self.b + lr * (v_pos - v_neg).mean(0)
                self.c = self.c + lr * (p_pos - p_neg).mean(0)
        return self
