r"""The :class:`RBM` class: parameters, block Gibbs sampling, CD-k and PCD training, exact and AIS log Z.

Its methods call the functional core (:mod:`ebmlib.rbm.functional`) and add sampling and training.

Introduced in notebook 06_boltzmann_machines.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebmlib._validation import as_tensor, check_finite, check_generator, check_int, check_positive
from ebmlib.ais import AISResult
from ebmlib.rbm.ais import ais_rbm
from ebmlib.rbm.functional import (
    _free_energy,
    check_binary,
    energy,
    free_energy,
    gradient,
    log_partition_exact,
    p_h_given_v,
    p_v_given_h,
    pseudo_likelihood,
    sample_bernoulli,
)

__all__ = ["RBM"]


class RBM:
    r"""A binary restricted Boltzmann machine, :math:`E(v, h) = -v^\top W h - b^\top v - c^\top h`.

    Parameters
    ----------
    n_visible, n_hidden : int
        Numbers of visible and hidden units (> 0).
    generator : torch.Generator or None
        Draws the initial weights :math:`W_{ij} \sim \mathcal N(0, 0.01^2)` (biases start at 0);
        kept as the default generator of every later random call (sampling, ``fit``, AIS).
    dtype, device :
        Of the parameters; default: torch's default dtype, CPU.

    Attributes
    ----------
    W : Tensor of shape (n_visible, n_hidden)
    b : Tensor of shape (n_visible,), the visible biases
    c : Tensor of shape (n_hidden,), the hidden biases
    chains : Tensor of shape (n_chains, n_hidden) or None
        The persistent chains of PCD (their hidden states), kept between calls of ``fit``.

    With scikit-learn's ``BernoulliRBM``: ``W = components_.T``, ``b = intercept_visible_``,
    ``c = intercept_hidden_``.
    """

    def __init__(self, n_visible: int, n_hidden: int, generator: torch.Generator | None = None, *, dtype=None, device=None):
        n_visible = check_int(n_visible, "n_visible")
        n_hidden = check_int(n_hidden, "n_hidden")
        dtype = dtype or torch.get_default_dtype()
        self.generator = generator
        self.W = 0.01 * torch.randn(n_visible, n_hidden, generator=generator, dtype=dtype, device=device)
        self.b = torch.zeros(n_visible, dtype=dtype, device=device)
        self.c = torch.zeros(n_hidden, dtype=dtype, device=device)
        self.chains = None

    @classmethod
    def from_parameters(cls, W, b, c, generator: torch.Generator | None = None) -> RBM:
        """An RBM with the given ``W`` (n_visible, n_hidden), ``b`` (n_visible,) and ``c`` (n_hidden,)."""
        W = check_finite(as_tensor(W, "W"), "W")
        if W.ndim != 2 or W.numel() == 0:
            raise ValueError(f"W must have shape (n_visible, n_hidden) with both > 0, got shape {tuple(W.shape)}")
        rbm = cls(W.shape[0], W.shape[1], dtype=W.dtype, device=W.device)
        rbm.generator = generator
        for name, value, size in [("b", b, W.shape[0]), ("c", c, W.shape[1])]:
            value = check_finite(as_tensor(value, name).to(W), name)
            if value.shape != (size,):
                raise ValueError(f"{name} must have shape ({size},), got shape {tuple(value.shape)}")
            setattr(rbm, name, value.clone())
        rbm.W = W.clone()
        return rbm

    @property
    def n_visible(self) -> int:
        return self.W.shape[0]

    @property
    def n_hidden(self) -> int:
        return self.W.shape[1]

    def __repr__(self) -> str:
        return f"RBM(n_visible={self.n_visible}, n_hidden={self.n_hidden})"

    def _visible(self, v, name: str = "v") -> Tensor:
        return check_binary(v, name, self.n_visible, self.W)

    def energy(self, v, h) -> Tensor:
        """:func:`energy` of this RBM, shape (n,)."""
        return energy(v, h, self.W, self.b, self.c)

    def free_energy(self, v) -> Tensor:
        """:func:`free_energy` of this RBM, shape (n,)."""
        return free_energy(v, self.W, self.b, self.c)

    # --- conditionals and block Gibbs -------------------------------------------------------------
    def p_h_given_v(self, v) -> Tensor:
        """:func:`p_h_given_v` of this RBM, shape (n, n_hidden)."""
        return p_h_given_v(v, self.W, self.c)

    def p_v_given_h(self, h) -> Tensor:
        """:func:`p_v_given_h` of this RBM, shape (n, n_visible)."""
        return p_v_given_h(h, self.W, self.b)

    def sample_h(self, v, *, generator: torch.Generator | None = None) -> Tensor:
        """Draw :math:`h \\sim p(h \\mid v)`, every unit at once (:func:`sample_bernoulli`), shape (n, n_hidden)."""
        return sample_bernoulli(self.p_h_given_v(self._visible(v)), generator or self.generator)

    def sample_v(self, h, *, generator: torch.Generator | None = None) -> Tensor:
        """Draw :math:`v \\sim p(v \\mid h)`, every unit at once (:func:`sample_bernoulli`), shape (n, n_visible)."""
        return sample_bernoulli(self.p_v_given_h(check_binary(h, "h", self.n_hidden, self.W)), generator or self.generator)

    def gibbs(self, v, k: int = 1, *, generator: torch.Generator | None = None, return_chain: bool = False) -> Tensor:
        r"""``k`` steps of block Gibbs sampling :math:`v \to h \sim p(h\mid v) \to v' \sim p(v \mid h)`.

        Returns the visible states after ``k`` steps, shape (n, n_visible), or with
        ``return_chain`` every step's visible state, shape (n_chains, k, n_visible).
        """
        v = self._visible(v)
        k = check_int(k, "k")
        generator = check_generator(generator or self.generator, self.W.device)
        chain = []
        for _ in range(k):
            h = sample_bernoulli(torch.sigmoid(torch.addmm(self.c, v, self.W)), generator=generator)
            v = sample_bernoulli(torch.sigmoid(torch.addmm(self.b, h, self.W.T)), generator=generator)
            chain.append(v)
        return torch.stack(chain, dim=1) if return_chain else v

    # --- learning -------------------------------------------------------------------------------
    def gradient(self, v_pos, v_neg) -> tuple[Tensor, Tensor, Tensor]:
        """:func:`gradient` at this RBM's parameters: (dW, db, dc)."""
        return gradient(v_pos, v_neg, self.W, self.b, self.c)

    def cd_update(self, v_pos, lr: float, k: int = 1, *, h_start=None, generator=None) -> Tensor:
        r"""One CD-k (or PCD) update :math:`\theta \leftarrow \theta + \text{lr} \cdot \Delta\theta`, in place.

        Named ``cd_update``, not ``contrastive_divergence``: it updates the parameters, whereas
        :func:`ebmlib.losses.contrastive_divergence` returns a loss.

        The negative chain starts at :math:`h_0 \sim p(h \mid v_{\rm pos})` (CD-k) or at the
        hidden states ``h_start`` (PCD's persistent chains), takes ``k`` steps
        :math:`v_t \sim p(v \mid h_{t-1})`, :math:`h_t \sim p(h \mid v_t)`, and :math:`v_k` enters
        :meth:`gradient`. Draws, in order: :math:`h_0` (CD only), then :math:`v_t, h_t` for each step,
        each by :func:`sample_bernoulli`. Returns :math:`h_k`, shape (n_chains, n_hidden).
        """
        v_pos = self._visible(v_pos, "v_pos")
        h = None if h_start is None else check_binary(h_start, "h_start", self.n_hidden, self.W)
        with torch.inference_mode():  # no autograd bookkeeping: this loop is bound by per-op overhead
            generator = check_generator(generator or self.generator, self.W.device)
            h = self._cd_update(v_pos, h, check_positive(lr, "lr"), check_int(k, "k"), generator)
        return h.clone()  # a normal tensor again, usable outside inference mode

    def _cd_update(self, v_pos: Tensor, h: Tensor | None, lr: float, k: int, generator) -> Tensor:
        W, b, c = self.W, self.b, self.c
        p_pos = torch.addmm(c, v_pos, W).sigmoid_()  # p(h = 1 | v_pos), (n_pos, n_hidden)
        if h is None:
            h = sample_bernoulli(p_pos, generator)
        for _ in range(k):
            v_neg = sample_bernoulli(torch.addmm(b, h, W.T).sigmoid_(), generator)  # (n_chains, n_visible)
            p_neg = torch.addmm(c, v_neg, W).sigmoid_()  # (n_chains, n_hidden)
            h = sample_bernoulli(p_neg, generator)
        n_pos, n_neg = v_pos.shape[0], v_neg.shape[0]
        W.addmm_(v_pos.T, p_pos, alpha=lr / n_pos).addmm_(v_neg.T, p_neg, alpha=-lr / n_neg)
        if n_pos == n_neg:  # one op fewer per bias: this loop is bound by per-op overhead
            b.add_((v_pos - v_neg).sum(0), alpha=lr / n_pos)
            c.add_((p_pos - p_neg).sum(0), alpha=lr / n_pos)
        else:
            b.add_(v_pos.mean(0) - v_neg.mean(0), alpha=lr)
            c.add_(p_pos.mean(0) - p_neg.mean(0), alpha=lr)
        return h

    def fit(self, v, epochs: int, batch_size: int, lr: float, k: int = 1, persistent: bool = False, *,
            shuffle: bool = True, generator: torch.Generator | None = None, progress: bool = False) -> RBM:
        r"""Train by CD-k (``persistent=False``) or PCD-k (``persistent=True``), continuing from the current weights.

        Each epoch visits the rows of ``v`` in minibatches of ``batch_size`` (shuffled unless
        ``shuffle=False``) and applies :meth:`cd_update` with learning rate ``lr``.
        PCD keeps ``batch_size`` persistent chains in :attr:`chains` (started from the data).
        Shows a ``tqdm.auto`` progress bar over epochs unless ``progress=False``. Returns ``self``.
        """
        v = self._visible(v)
        epochs = check_int(epochs, "epochs")
        batch_size = check_int(batch_size, "batch_size")
        lr, k = check_positive(lr, "lr"), check_int(k, "k")
        generator = check_generator(generator or self.generator, self.W.device)
        n = v.shape[0]
        if persistent and (self.chains is None or self.chains.shape[0] != batch_size):
            start = v[torch.randint(0, n, (batch_size,), generator=generator, device=v.device)]
            self.chains = sample_bernoulli(self.p_h_given_v(start), generator=generator)
        epoch_range = range(epochs)
        if progress:
            from tqdm.auto import tqdm

            epoch_range = tqdm(epoch_range, desc="RBM.fit", leave=False)
        with torch.inference_mode():  # no autograd bookkeeping: this loop is bound by per-op overhead
            for _ in epoch_range:
                data = v[torch.randperm(n, generator=generator, device=v.device)] if shuffle else v
                for batch in data.split(batch_size):
                    h = self._cd_update(batch, self.chains if persistent else None, lr, k, generator)
                    if persistent:
                        self.chains = h
        if persistent:
            self.chains = self.chains.clone()  # a normal tensor again, usable outside inference mode
        return self

    # --- log Z and likelihoods ------------------------------------------------------------------
    def log_partition(self, method: str = "exact", *, sum_over: str | None = None, n_chains: int = 100,
                      betas=1000, n_runs: int = 4, base_bias=None, generator=None, progress: bool = False):
        r"""The log partition function :math:`\log Z = \log \sum_{v,h} e^{-E(v,h)}`, in float64.

        ``method="exact"``: :func:`log_partition_exact`, summing over the smaller layer (or
        ``sum_over="hidden"`` / ``"visible"``), a float64 0-d tensor.

        ``method="ais"`` returns an :class:`ebmlib.ais.AISResult` (``log_z``, ``std`` over
        ``n_runs`` runs of ``n_chains`` chains, ...) from :func:`ebmlib.rbm.ais_rbm`, annealing from
        independent visible units with bias ``base_bias`` (default :math:`b`; the logits of the
        data's pixel means are better). ``betas`` is a count (evenly spaced) or a schedule from 0 to 1.
        """
        if method == "exact":
            return log_partition_exact(self.W, self.b, self.c, sum_over)
        if method == "ais":
            return ais_rbm(self.W, self.b, self.c, n_chains, betas, n_runs=n_runs, base_bias=base_bias,
                           generator=generator or self.generator, progress=progress)
        raise ValueError(f"method must be 'exact' or 'ais', got {method!r}")

    def log_likelihood(self, v, method: str = "exact", *, log_z=None, **ais_options) -> Tensor:
        r""":math:`\log p(v) = -F(v) - \log Z`, shape (n,), float64.

        ``log_z`` reuses a value already computed; otherwise :meth:`log_partition` with ``method``
        (and ``ais_options`` for AIS). With AIS, :math:`\log \hat Z` is biased low, so the
        log-likelihood is biased high.
        """
        v = self._visible(v)
        if log_z is None:
            log_z = self.log_partition(method, **ais_options)
            log_z = log_z.log_z if isinstance(log_z, AISResult) else log_z
        return -_free_energy(v, self.W, self.b, self.c).to(torch.float64) - torch.as_tensor(log_z, dtype=torch.float64)

    def pseudo_likelihood(self, v, *, index=None, generator: torch.Generator | None = None) -> Tensor:
        """:func:`pseudo_likelihood` of this RBM (scikit-learn's ``score_samples``), shape (n,)."""
        return pseudo_likelihood(v, self.W, self.b, self.c, index=index, generator=generator or self.generator)
