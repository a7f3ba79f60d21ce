r"""Deep Boltzmann machines with binary units: mean-field inference, exact log Z for tiny models, pretraining.

Layers :math:`x_0 = v, x_1 = h^1, \dots, x_L = h^L`, each connected to its neighbours only:

.. math::

    E(v, h^1, \dots, h^L) = -\sum_{l=0}^{L-1} x_l^\top W_l\, x_{l+1} - \sum_{l=0}^{L} b_l^\top x_l .

Given its two neighbours a layer's units are independent,
:math:`p(x_{l,j} = 1 \mid x_{l-1}, x_{l+1}) = \sigma(b_{l,j} + (x_{l-1}^\top W_{l-1})_j + (W_l x_{l+1})_j)`,
so the even and the odd layers are each sampled in one block. Unlike the RBM, the posterior
:math:`p(h \mid v)` does not factorise: the mean-field approximation
:math:`q(h) = \prod_{l,j} \mu_{l,j}^{h_{l,j}} (1 - \mu_{l,j})^{1 - h_{l,j}}` maximises the
evidence lower bound

.. math::

    \log \sum_h e^{-E(v, h)} \;\ge\; \mathbb E_q[-E(v, h)] + H(q) = \mathrm{ELBO}(v, \mu),

whose stationary points satisfy :math:`\mu_l = \sigma(b_l + \mu_{l-1}^\top W_{l-1} + W_l \mu_{l+1})`
(with :math:`\mu_0 = v`). So :math:`\log p(v) \ge \mathrm{ELBO}(v, \mu) - \log Z`.

Introduced in notebook 06_boltzmann_machines.

References
----------
.. [1] R. Salakhutdinov and G. E. Hinton, "Deep Boltzmann machines", AISTATS 2009.
.. [2] R. Salakhutdinov and G. E. Hinton, "An efficient learning procedure for deep Boltzmann
   machines", Neural Computation 24(8), 2012 (pretraining with doubled inputs).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebmlib._validation import as_tensor, check_int, check_positive
from ebmlib.rbm import MAX_EXACT_STATES, RBM, binary_states, check_binary, sample_bernoulli, softplus

__all__ = ["DBM", "elbo", "joint_gradient", "mean_field"]


def _layer_input(W: list, b: list, layers: list, l: int) -> Tensor:
    """:math:`b_l + x_{l-1}^\\top W_{l-1} + W_l x_{l+1}` from the neighbours present (not None) in ``layers``."""
    a = b[l]
    if l > 0 and layers[l - 1] is not None:
        a = a + layers[l - 1] @ W[l - 1]
    if l < len(W) and layers[l + 1] is not None:
        a = a + layers[l + 1] @ W[l].T
    return a


def joint_gradient(layers_pos: list, layers_neg: list) -> tuple[list, list]:
    r"""The DBM's likelihood gradient from the two phases: :math:`\Delta W_l = \langle x_l x_{l+1}^\top \rangle_{\rm pos}
    - \langle x_l x_{l+1}^\top \rangle_{\rm neg}`, :math:`\Delta b_l = \langle x_l \rangle_{\rm pos} - \langle x_l \rangle_{\rm neg}`.

    ``layers_pos`` and ``layers_neg`` list the layers ``[x_0, ..., x_L]`` (means or samples), each (n, sizes[l]);
    the two may have different numbers of rows. Returns ``([dW_0, ..., dW_{L-1}, None], [db_0, ..., db_L])``.
    """
    if len(layers_pos) != len(layers_neg):
        raise ValueError(f"layers_pos and layers_neg must hold the same layers, got {len(layers_pos)} and {len(layers_neg)}")
    n_pos, n_neg = layers_pos[0].shape[0], layers_neg[0].shape[0]
    dW = [x.T @ y / n_pos - u.T @ w / n_neg for x, y, u, w in zip(layers_pos, layers_pos[1:], layers_neg, layers_neg[1:])]
    db = [x.mean(0) - u.mean(0) for x, u in zip(layers_pos, layers_neg)]
    return dW + [None], db


def mean_field(v, W: list, b: list, n_steps: int = 100, tol: float = 1e-7) -> list[Tensor]:
    r"""Mean-field posterior means :math:`[\mu_1, \dots, \mu_L]`, each (n, sizes[l]), of a DBM given data ``v``.

    Starts from a bottom-up pass, :math:`\mu_l = \sigma(b_l + \mu_{l-1}^\top W_{l-1})`, then sweeps
    the layers in order, :math:`\mu_l \leftarrow \sigma(b_l + \mu_{l-1}^\top W_{l-1} + W_l \mu_{l+1})`
    (:math:`\mu_0 = v`), until no mean moves by more than ``tol`` or after ``n_steps`` sweeps. Each
    layer update maximises the ELBO over that layer exactly (its units do not interact), so the
    ELBO never decreases. ``W[l]`` has shape (sizes[l], sizes[l + 1]); ``b[l]`` (sizes[l],).
    """
    v = check_binary(v, "v", W[0].shape[0], W[0])
    n_steps, tol = check_int(n_steps, "n_steps"), check_positive(tol, "tol")
    mu = [v] + [None] * len(W)
    for l in range(1, len(mu)):  # bottom-up start
        mu[l] = torch.sigmoid(_layer_input(W, b, mu, l))
    for _ in range(n_steps):
        change = 0.0
        for l in range(1, len(mu)):
            new = torch.sigmoid(_layer_input(W, b, mu, l))
            change = max(change, (new - mu[l]).abs().max().item())
            mu[l] = new
        if change < tol:
            break
    return mu[1:]


def elbo(v, W: list, b: list, mu=None) -> Tensor:
    r"""The mean-field lower bound on :math:`\log \sum_h e^{-E(v, h)}`, shape (n,).

    .. math:: \mathrm{ELBO} = \sum_l b_l^\top \mu_l + \sum_l \mu_l^\top W_l \mu_{l+1} + \sum_{l \ge 1} H(\mu_l),
        \quad H(\mu) = -\sum_j \mu_j \log \mu_j + (1 - \mu_j) \log(1 - \mu_j),

    with :math:`\mu_0 = v` and ``mu`` the hidden means (default :func:`mean_field`).
    Subtract :math:`\log Z` for a lower bound on :math:`\log p(v)`.
    """
    v = check_binary(v, "v", W[0].shape[0], W[0])
    mu = mean_field(v, W, b) if mu is None else [as_tensor(m, "mu").to(v) for m in mu]
    layers = [v] + list(mu)
    out = sum(x @ bias for x, bias in zip(layers, b)) + sum(((x @ w) * y).sum(-1) for x, w, y in zip(layers, W, layers[1:]))
    for m in mu:
        out = out - (torch.xlogy(m, m) + torch.xlogy(1 - m, 1 - m)).sum(-1)
    return out


class DBM:
    r"""A binary deep Boltzmann machine with layer sizes ``sizes = [n_visible, n_hidden_1, ..., n_hidden_L]``.

    Parameters
    ----------
    sizes : sequence of int
        At least two layer sizes, each > 0; ``sizes[0]`` is the visible layer.
    generator : torch.Generator or None
        Draws the initial weights :math:`\mathcal N(0, 0.01^2)` (biases start at 0); kept as the
        default generator of later random calls.

    Attributes
    ----------
    W : list of Tensor
        ``W[l]`` of shape (sizes[l], sizes[l + 1]) couples layer l to layer l + 1.
    b : list of Tensor
        ``b[l]`` of shape (sizes[l],); ``b[0]`` is the visible bias.
    """

    def __init__(self, sizes, generator: torch.Generator | None = None, *, dtype=None, device=None):
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"sizes must list at least two layer sizes (visible, hidden...), got {sizes}")
        self.sizes = [check_int(n, f"sizes[{i}]") for i, n in enumerate(sizes)]
        dtype = dtype or torch.get_default_dtype()
        self.generator = generator
        self.W = [0.01 * torch.randn(m, n, generator=generator, dtype=dtype, device=device) for m, n in zip(sizes, sizes[1:])]
        self.b = [torch.zeros(n, dtype=dtype, device=device) for n in sizes]
        self.chains = None  # the persistent chains of :meth:`fit`

    def __repr__(self) -> str:
        return f"DBM(sizes={self.sizes})"

    @property
    def n_layers(self) -> int:
        """Number of hidden layers L."""
        return len(self.sizes) - 1

    def _visible(self, v, name: str = "v") -> Tensor:
        return check_binary(v, name, self.sizes[0], self.W[0])

    def _layers(self, layers) -> list[Tensor]:
        layers = list(layers)
        if len(layers) != len(self.sizes):
            raise ValueError(f"layers must hold {len(self.sizes)} tensors, one per layer, got {len(layers)}")
        layers = [check_binary(x, f"layers[{l}]", n, self.W[0]) for l, (x, n) in enumerate(zip(layers, self.sizes))]
        if len({x.shape[0] for x in layers}) != 1:
            raise ValueError(f"layers must all have the same number of rows, got {[x.shape[0] for x in layers]}")
        return layers

    def _layer_input(self, layers: list, l: int) -> Tensor:
        return _layer_input(self.W, self.b, layers, l)

    def energy(self, layers) -> Tensor:
        r""":math:`E = -\sum_l x_l^\top W_l x_{l+1} - \sum_l b_l^\top x_l` for ``layers = [v, h1, ..., hL]``, each (n, sizes[l]); shape (n,)."""
        layers = self._layers(layers)
        biases = sum(x @ b for x, b in zip(layers, self.b))
        return -biases - sum(((x @ W) * y).sum(-1) for x, W, y in zip(layers, self.W, layers[1:]))

    def mean_field(self, v, n_steps: int = 100, tol: float = 1e-7) -> list[Tensor]:
        """:func:`mean_field` of this DBM: the hidden layers' means [mu_1, ..., mu_L]."""
        return mean_field(v, self.W, self.b, n_steps, tol)

    def elbo(self, v, mu=None) -> Tensor:
        """:func:`elbo` of this DBM, shape (n,): a lower bound on -F(v) = log sum_h exp(-E(v, h))."""
        return elbo(v, self.W, self.b, mu)

    # --- exact sums for tiny models --------------------------------------------------------------
    def _log_sum(self, layers: list) -> Tensor:
        r"""Sum out the layers that are None, given the others (never two neighbours, so no coupling
        term is left): :math:`\sum_{l \text{ given}} b_l^\top x_l + \sum_{l \text{ summed}} \sum_j
        \operatorname{softplus}(b_l + x_{l-1}^\top W_{l-1} + W_l x_{l+1})_j`."""
        out = 0.0
        for l, x in enumerate(layers):
            out = out + (x @ self.b[l] if x is not None else softplus(self._layer_input(layers, l)).sum(-1))
        return out

    def _enumerated(self, parity: int, fixed_v: Tensor | None = None):
        """Yield chunks of ``layers`` lists enumerating every layer of the given parity (v fixed when given)."""
        enumerate_ids = [l for l in range(len(self.sizes)) if l % 2 == parity and not (l == 0 and fixed_v is not None)]
        n_bits = sum(self.sizes[l] for l in enumerate_ids)
        if n_bits > math.log2(MAX_EXACT_STATES):
            raise ValueError(f"method='exact' would sum over 2^{n_bits} states, more than 2^{int(math.log2(MAX_EXACT_STATES))}; "
                             "exact sums are for tiny models: use AIS (ebmlib.ais) or a smaller model")
        chunk = max(1, 2**20 // max(1, sum(self.sizes)) // (1 if fixed_v is None else fixed_v.shape[0]))
        for start in range(0, 2**n_bits, chunk):
            states = binary_states(n_bits, start, min(2**n_bits, start + chunk), dtype=torch.float64, device=self.W[0].device)
            layers, column = [None] * len(self.sizes), 0
            for l in enumerate_ids:
                layers[l] = states[:, column:column + self.sizes[l]]
                column += self.sizes[l]
            if fixed_v is not None:
                layers = [x[None] if x is not None else None for x in layers]  # (1, n_states, size)
                layers[0] = fixed_v[:, None, :]  # (n, 1, n_visible)
            yield layers

    def _as_float64(self) -> DBM:
        copy = DBM.__new__(DBM)
        copy.sizes, copy.generator = self.sizes, self.generator
        copy.W, copy.b = [w.to(torch.float64) for w in self.W], [b.to(torch.float64) for b in self.b]
        return copy

    def log_partition(self, method: str = "exact") -> Tensor:
        r""":math:`\log Z` exactly, in float64: enumerate the even or the odd layers (whichever has
        fewer units; at most 2^25 states) and sum the others out in closed form."""
        if method != "exact":
            raise ValueError(f"method must be 'exact' (the DBM has no AIS here), got {method!r}")
        model = self._as_float64()
        even, odd = sum(self.sizes[0::2]), sum(self.sizes[1::2])
        parts = [torch.logsumexp(model._log_sum(layers), dim=0) for layers in model._enumerated(0 if even <= odd else 1)]
        return torch.logsumexp(torch.stack(parts), dim=0)

    def free_energy(self, v) -> Tensor:
        r"""Exact :math:`F(v) = -\log \sum_h e^{-E(v, h)}`, float64, shape (n,): enumerate the even hidden layers."""
        model = self._as_float64()
        v = self._visible(v).to(torch.float64)
        if self.n_layers == 1:
            return -model._log_sum([v, None])
        parts = [torch.logsumexp(model._log_sum(layers), dim=1) for layers in model._enumerated(0, fixed_v=v)]
        return -torch.logsumexp(torch.stack(parts, dim=1), dim=1)

    def log_likelihood(self, v) -> Tensor:
        r"""Exact :math:`\log p(v) = -F(v) - \log Z`, float64, shape (n,) (tiny models only)."""
        return -self.free_energy(v) - self.log_partition()

    # --- sampling -------------------------------------------------------------------------------
    def gibbs(self, layers, k: int = 1, *, clamp_visible: bool = False, generator: torch.Generator | None = None) -> list[Tensor]:
        r"""``k`` sweeps of block Gibbs sampling: the odd layers given the even ones, then the even given the odd.

        ``layers = [v, h1, ..., hL]`` (each (n, sizes[l]), binary) is not modified; returns the new
        list. With ``clamp_visible`` the visible layer stays fixed: a sampler of :math:`p(h \mid v)`.
        """
        layers = self._layers(layers)
        k = check_int(k, "k")
        generator = generator or self.generator
        for _ in range(k):
            for parity in (1, 0):
                for l in range(parity, len(self.sizes), 2):
                    if not (l == 0 and clamp_visible):
                        layers[l] = sample_bernoulli(torch.sigmoid(self._layer_input(layers, l)), generator)
        return layers

    def sample(self, n: int, k: int = 100, *, generator: torch.Generator | None = None) -> list[Tensor]:
        """``n`` chains of ``k`` Gibbs sweeps from uniformly random states: approximate draws ``[v, h1, ..., hL]``."""
        n = check_int(n, "n")
        generator = generator or self.generator
        start = [sample_bernoulli(torch.full((n, m), 0.5, dtype=self.W[0].dtype, device=self.W[0].device), generator)
                 for m in self.sizes]
        return self.gibbs(start, k, generator=generator)

    # --- joint training -------------------------------------------------------------------------
    def fit(self, v, n_steps: int, batch_size: int, lr: float, *, n_chains: int = 100, k: int = 1,
            mean_field_steps: int = 10, generator: torch.Generator | None = None, progress: bool = False) -> DBM:
        r"""Joint maximum-likelihood training of all layers (Salakhutdinov and Hinton 2009), in place; returns ``self``.

        Each of the ``n_steps`` updates draws ``batch_size`` rows of ``v`` with replacement and

        * **positive phase**: the mean-field means :math:`\mu = [v, \mu_1, \dots, \mu_L]` of the
          minibatch (:func:`mean_field`, at most ``mean_field_steps`` sweeps), standing in for
          :math:`p(h \mid v)`, which no longer factorises;
        * **negative phase**: ``n_chains`` persistent chains ``[v, h1, ..., hL]`` kept in
          :attr:`chains` across calls, moved ``k`` block Gibbs sweeps (:meth:`gibbs`) per update;

        .. math:: W_l \leftarrow W_l + \text{lr}\,\big(\langle x_l x_{l+1}^\top \rangle_{\rm pos}
                  - \langle x_l x_{l+1}^\top \rangle_{\rm neg}\big), \qquad
                  b_l \leftarrow b_l + \text{lr}\,\big(\langle x_l \rangle_{\rm pos} - \langle x_l \rangle_{\rm neg}\big).

        This ascends the variational lower bound :math:`\langle \mathrm{ELBO}(v, \mu) \rangle_{\rm data} - \log Z`
        on the log-likelihood. Start from :meth:`pretrain`; from random weights it is slow.
        """
        v = self._visible(v)
        n_steps, batch_size = check_int(n_steps, "n_steps"), check_int(batch_size, "batch_size")
        n_chains, k = check_int(n_chains, "n_chains"), check_int(k, "k")
        mean_field_steps, lr = check_int(mean_field_steps, "mean_field_steps"), check_positive(lr, "lr")
        generator = generator or self.generator
        if self.chains is None or self.chains[0].shape[0] != n_chains:
            like = self.W[0]
            self.chains = [sample_bernoulli(torch.full((n_chains, m), 0.5, dtype=like.dtype, device=like.device), generator)
                           for m in self.sizes]
        steps = range(n_steps)
        if progress:
            from tqdm.auto import tqdm

            steps = tqdm(steps, desc="DBM.fit", leave=False)
        with torch.no_grad():
            for _ in steps:
                batch = v[torch.randint(0, v.shape[0], (batch_size,), generator=generator, device=v.device)]
                positive = [batch, *mean_field(batch, self.W, self.b, mean_field_steps)]
                self.chains = self.gibbs(self.chains, k, generator=generator)
                for l, (dW, db) in enumerate(zip(*joint_gradient(positive, self.chains))):
                    if dW is not None:
                        self.W[l] = self.W[l] + lr * dW
                    self.b[l] = self.b[l] + lr * db
        return self

    # --- greedy layer-wise pretraining -----------------------------------------------------------
    def pretrain(self, v, epochs: int, batch_size: int, lr: float, k: int = 1, *,
                 generator: torch.Generator | None = None, progress: bool = False) -> DBM:
        r"""Greedy layer-wise pretraining from RBMs (Salakhutdinov and Hinton 2009), in place; returns ``self``.

        The RBM of layers l, l + 1 is trained by CD-k on the mean activities of layer l (the data
        for l = 0). In the DBM a middle layer hears both neighbours, so to avoid counting evidence
        twice the bottom RBM is trained with its visible layer counted twice going up
        (:math:`p(h \mid v) = \sigma(2 v^\top W + c)`), the top RBM with its hidden layer counted
        twice going down, and middle RBMs have their weights halved. A middle layer's bias is the
        average of the biases the two RBMs that share it learned.
        """
        x = self._visible(v)
        generator = generator or self.generator
        hidden_biases = []
        for l in range(self.n_layers):
            up = 2.0 if l == 0 and self.n_layers > 1 else 1.0
            down = 2.0 if l == self.n_layers - 1 and self.n_layers > 1 else 1.0
            rbm = RBM(self.sizes[l], self.sizes[l + 1], generator, dtype=x.dtype, device=x.device)
            _fit_doubled(rbm, x, epochs, batch_size, lr, k, up, down, generator, progress)
            middle = 0 < l < self.n_layers - 1
            self.W[l] = rbm.W / 2 if middle else rbm.W.clone()
            if l == 0:
                self.b[0] = rbm.b.clone()
            else:
                self.b[l] = (hidden_biases[-1] + rbm.b) / 2
            hidden_biases.append(rbm.c)
            x = torch.sigmoid(up * (x @ rbm.W) + rbm.c)  # this layer's mean activity, as the RBM infers it
        self.b[-1] = hidden_biases[-1].clone()
        return self


def _fit_doubled(rbm: RBM, x: Tensor, epochs, batch_size, lr, k, up: float, down: float, generator, progress) -> None:
    """CD-k on an RBM whose inputs are counted ``up`` times going up and ``down`` times going down."""
    epochs, batch_size, k = check_int(epochs, "epochs"), check_int(batch_size, "batch_size"), check_int(k, "k")
    lr = check_positive(lr, "lr")
    W, b, c = rbm.W, rbm.b, rbm.c
    epoch_range = range(epochs)
    if progress:
        from tqdm.auto import tqdm

        epoch_range = tqdm(epoch_range, desc=f"DBM.pretrain {tuple(W.shape)}", leave=False)
    with torch.no_grad():
        for _ in epoch_range:
            for v_pos in x[torch.randperm(x.shape[0], generator=generator, device=x.device)].split(batch_size):
                p_pos = torch.sigmoid(up * (v_pos @ W) + c)
                h = sample_bernoulli(p_pos, generator)
                for _ in range(k):
                    v_neg = sample_bernoulli(torch.sigmoid(down * (h @ W.T) + b), generator)
                    p_neg = torch.sigmoid(up * (v_neg @ W) + c)
                    h = sample_bernoulli(p_neg, generator)
                n = v_pos.shape[0]
                W.add_(v_pos.T @ p_pos - v_neg.T @ p_neg, alpha=lr / n)
                b.add_((v_pos - v_neg).sum(0), alpha=lr / n)
                c.add_((p_pos - p_neg).sum(0), alpha=lr / n)
