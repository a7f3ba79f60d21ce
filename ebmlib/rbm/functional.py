r"""The functional core of the binary RBM: plain functions of the parameters (W, b, c).

.. math:: E(v, h) = -v^\top W h - b^\top v - c^\top h, \qquad
          F(v) = -b^\top v - \sum_j \log\bigl(1 + e^{c_j + v^\top W_{:j}}\bigr).

Energies, free energies, the two factorised conditionals, the log-likelihood gradient from
positive and negative samples, the exact :math:`\log Z` by summing over the smaller layer, and the
pseudo-likelihood. :class:`ebmlib.rbm.RBM` calls them.

Introduced in notebook 06_boltzmann_machines.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ebmlib._validation import as_tensor, check_nonempty

__all__ = [
    "MAX_EXACT_STATES",
    "binary_states",
    "check_binary",
    "energy",
    "free_energy",
    "gradient",
    "log_partition_exact",
    "p_h_given_v",
    "p_v_given_h",
    "pseudo_likelihood",
    "sample_bernoulli",
    "softplus",
]

MAX_EXACT_STATES = 2**25  #: the most states an exact log Z sums over


def softplus(x: Tensor) -> Tensor:
    r""":math:`\log(1 + e^x)`, exact to the last bit in float64 (``F.softplus`` returns x above 20 by default)."""
    return F.softplus(x, threshold=40.0)


def binary_states(n: int, start: int = 0, stop: int | None = None, *, dtype=None, device=None) -> Tensor:
    """The binary vectors with indices ``start, ..., stop - 1`` of all ``2**n``, shape (stop - start, n).

    Row ``k`` holds the bits of ``k``, least significant first; the default is all ``2**n`` rows.
    """
    stop = 2**n if stop is None else stop
    index = torch.arange(start, stop, device=device)
    bits = torch.arange(n, device=device)
    return ((index[:, None] >> bits) & 1).to(dtype or torch.get_default_dtype())


def sample_bernoulli(p: Tensor, generator: torch.Generator | None = None) -> Tensor:
    r"""Independent draws :math:`x = [u < p]`, :math:`u \sim U[0, 1)` by ``torch.rand``, as 0./1. in ``p``'s dtype.

    (Several times faster than ``torch.bernoulli`` on the CPU, and reproducible by hand.)
    """
    return torch.rand(p.shape, generator=generator, dtype=p.dtype, device=p.device).lt_(p)


def check_binary(v, name: str, n_columns: int, like: Tensor) -> Tensor:
    """``v`` as a non-empty (n, n_columns) tensor of 0s and 1s in the dtype and device of ``like``."""
    v = as_tensor(v, name)
    if v.ndim != 2:
        raise ValueError(f"{name} must have shape (n, {n_columns}), got shape {tuple(v.shape)}")
    check_nonempty(v, name)
    if v.shape[1] != n_columns:
        raise ValueError(f"{name} must have {n_columns} columns, one per unit, got {v.shape[1]}")
    if not ((v == 0) | (v == 1)).all():
        raise ValueError(f"{name} must be binary: every entry 0 or 1 (binarize the data first)")
    return v.to(dtype=like.dtype, device=like.device)


# --- the functional core: plain functions of the parameters (W, b, c) ------------------------------
def energy(v, h, W: Tensor, b: Tensor, c: Tensor) -> Tensor:
    r""":math:`E(v, h) = -v^\top W h - b^\top v - c^\top h` for v (n, n_visible), h (n, n_hidden): shape (n,)."""
    v, h = check_binary(v, "v", W.shape[0], W), check_binary(h, "h", W.shape[1], W)
    if v.shape[0] != h.shape[0]:
        raise ValueError(f"v and h must have the same number of rows, got {v.shape[0]} and {h.shape[0]}")
    return -((v @ W) * h).sum(1) - v @ b - h @ c


def free_energy(v, W: Tensor, b: Tensor, c: Tensor) -> Tensor:
    r""":math:`F(v) = -\log \sum_h e^{-E(v,h)} = -b^\top v - \sum_j \operatorname{softplus}(c_j + v^\top W_{:j})`, shape (n,)."""
    return _free_energy(check_binary(v, "v", W.shape[0], W), W, b, c)


def _free_energy(v: Tensor, W: Tensor, b: Tensor, c: Tensor) -> Tensor:
    return -v @ b - softplus(torch.addmm(c, v, W)).sum(-1)


def p_h_given_v(v, W: Tensor, c: Tensor) -> Tensor:
    r""":math:`p(h_j = 1 \mid v) = \sigma(c_j + v^\top W_{:j})`, shape (n, n_hidden); ``v`` may hold means."""
    return torch.sigmoid(torch.addmm(c, as_tensor(v, "v").to(W), W))


def p_v_given_h(h, W: Tensor, b: Tensor) -> Tensor:
    r""":math:`p(v_i = 1 \mid h) = \sigma(b_i + W_{i:} h)`, shape (n, n_visible); ``h`` may hold means."""
    return torch.sigmoid(torch.addmm(b, as_tensor(h, "h").to(W), W.T))


def gradient(v_pos, v_neg, W: Tensor, b: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    r"""The log-likelihood gradient estimate from data ``v_pos`` and model samples ``v_neg``: (dW, db, dc).

    .. math::

        \Delta W = \langle v\, p(h{=}1 \mid v)^\top \rangle_{\rm pos} - \langle v\, p(h{=}1 \mid v)^\top \rangle_{\rm neg},\quad
        \Delta b = \langle v \rangle_{\rm pos} - \langle v \rangle_{\rm neg},\quad
        \Delta c = \langle p(h{=}1 \mid v) \rangle_{\rm pos} - \langle p(h{=}1 \mid v) \rangle_{\rm neg},

    averages over the rows of each batch: :math:`-\nabla_\theta` of
    :math:`\langle F(v) \rangle_{\rm pos} - \langle F(v) \rangle_{\rm neg}`. The exact
    gradient of :math:`\langle \log p(v) \rangle_{\rm data}` when ``v_neg`` are exact model draws
    (in expectation); CD-k and PCD plug in chains that are only approximately so.
    """
    v_pos, v_neg = check_binary(v_pos, "v_pos", W.shape[0], W), check_binary(v_neg, "v_neg", W.shape[0], W)
    p_pos, p_neg = p_h_given_v(v_pos, W, c), p_h_given_v(v_neg, W, c)
    dW = v_pos.T @ p_pos / v_pos.shape[0] - v_neg.T @ p_neg / v_neg.shape[0]  # (n_visible, n_hidden)
    return dW, v_pos.mean(0) - v_neg.mean(0), p_pos.mean(0) - p_neg.mean(0)


def log_partition_exact(W: Tensor, b: Tensor, c: Tensor, sum_over: str | None = None) -> Tensor:
    r"""Exact :math:`\log Z`, float64: enumerate one layer, sum the other out in closed form.

    Over the hidden states (the default when ``n_hidden <= n_visible``, or ``sum_over="hidden"``),

    .. math:: \log Z = \log \sum_h \exp\Bigl(c^\top h + \sum_i \operatorname{softplus}(b_i + W_{i:} h)\Bigr),

    and over the visible states :math:`\log \sum_v e^{-F(v)}`; by log-sum-exp in chunks of states.
    More than :data:`MAX_EXACT_STATES` states: a ``ValueError`` (use AIS).
    """
    n_visible, n_hidden = W.shape
    if sum_over is None:
        sum_over = "hidden" if n_hidden <= n_visible else "visible"
    if sum_over not in ("hidden", "visible"):
        raise ValueError(f"sum_over must be 'hidden', 'visible' or None, got {sum_over!r}")
    W, b, c = (t.to(torch.float64) for t in (W, b, c))
    if sum_over == "visible":  # enumerate v and sum h out: the same sum with the layers' roles swapped
        W, b, c = W.T, c, b
    n, m = W.shape  # m units enumerated, n summed out
    if 2**m > MAX_EXACT_STATES:
        raise ValueError(f"method='exact' would sum over 2^{m} {sum_over} states, more than 2^25; use AIS: method='ais'")
    chunk = max(1, 2**22 // n)
    total = []
    for start in range(0, 2**m, chunk):
        h = binary_states(m, start, min(2**m, start + chunk), dtype=torch.float64, device=W.device)
        total.append(torch.logsumexp(h @ c + softplus(torch.addmm(b, h, W.T)).sum(1), dim=0))
    return torch.logsumexp(torch.stack(total), dim=0)


def pseudo_likelihood(v, W: Tensor, b: Tensor, c: Tensor, *, index=None, generator: torch.Generator | None = None) -> Tensor:
    r"""The log pseudo-likelihood estimate of scikit-learn's ``BernoulliRBM.score_samples``, shape (n,).

    For each row flip one bit :math:`i` to get :math:`\tilde v`, and return
    :math:`n_v \log \sigma\bigl(F(\tilde v) - F(v)\bigr) = n_v \log p(v_i \mid v_{-i})`, an
    unbiased estimate of :math:`\sum_i \log p(v_i \mid v_{-i})` when :math:`i` is uniform.
    ``index``: None (draw :math:`i` uniformly with ``generator``), a tensor of shape (n,) of bit
    indices (to match scikit-learn: ``RandomState(seed).randint(0, n_visible, n)``), or ``"all"``
    for the exact sum :math:`\sum_i \log p(v_i \mid v_{-i})`.
    """
    v = check_binary(v, "v", W.shape[0], W)
    n, n_v = v.shape
    if isinstance(index, str):
        if index != "all":
            raise ValueError(f"index must be None, a tensor of shape (n,) or 'all', got {index!r}")
        flip = 1 - 2 * v  # (n, n_v): +1 where a bit turns on, -1 where it turns off
        a = torch.addmm(c, v, W)  # (n, n_hidden)
        a_flipped = a[:, None, :] + flip[:, :, None] * W[None]  # (n, n_v, n_hidden)
        delta = -flip * b - softplus(a_flipped).sum(-1) + softplus(a).sum(-1, keepdim=True)  # F(v~_i) - F(v)
        return -softplus(-delta).sum(1)
    if index is None:
        index = torch.randint(0, n_v, (n,), generator=generator, device=v.device)
    index = torch.as_tensor(index, device=v.device)
    if index.shape != (n,) or index.is_floating_point() or (index < 0).any() or (index >= n_v).any():
        raise ValueError(f"index must hold {n} integers in [0, {n_v}), got shape {tuple(index.shape)}, {index.dtype}")
    rows = torch.arange(n, device=v.device)
    v_flipped = v.clone()
    v_flipped[rows, index] = 1 - v_flipped[rows, index]
    return -n_v * softplus(-(_free_energy(v_flipped, W, b, c) - _free_energy(v, W, b, c)))
