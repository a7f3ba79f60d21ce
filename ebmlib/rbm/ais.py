r"""Annealed importance sampling of a binary RBM's log Z, from independent visible units (Salakhutdinov and Murray 2008).

The generic sampler is :func:`ebmlib.ais.ais`; this file gives it the RBM's path and the RBM's own
block Gibbs step (:mod:`ebmlib.rbm.functional`), so no conditional is written twice.

Introduced in notebook 06_boltzmann_machines.

References
----------
.. [1] R. M. Neal, "Annealed importance sampling", Statistics and Computing 11(2), 125-139, 2001.
.. [2] R. Salakhutdinov and I. Murray, "On the quantitative analysis of deep belief networks", ICML 2008.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebmlib._validation import as_tensor, check_finite, check_generator, check_int
from ebmlib.ais import AISResult, ais
from ebmlib.rbm.functional import free_energy, p_h_given_v, p_v_given_h, sample_bernoulli, softplus

__all__ = ["ais_rbm"]


def ais_rbm(W, b, c, n_chains: int = 100, betas=1000, *, n_runs: int = 4, base_bias=None,
            generator: torch.Generator | None = None, progress: bool = False) -> AISResult:
    r"""AIS estimate of the log partition function of a binary RBM :math:`E(v,h) = -v^\top W h - b^\top v - c^\top h`.

    The base is the RBM with :math:`W = 0`, :math:`c = 0` and visible bias :math:`b_A` =
    ``base_bias`` (default :math:`b`), so :math:`\log Z_A = \sum_i \operatorname{softplus}(b_{A,i}) + n_h \log 2`
    and its visible units are independent. The intermediate RBMs (Salakhutdinov and Murray 2008)
    have weights :math:`\beta W`, hidden bias :math:`\beta c` and visible bias
    :math:`(1-\beta) b_A + \beta b`; with the hidden units summed out,

    .. math:: \log f_\beta(v) = \big((1-\beta) b_A + \beta b\big)^\top v + \sum_j \operatorname{softplus}\big(\beta (c_j + v^\top W_{:j})\big),

    and each transition is one block Gibbs step of that RBM, drawn with the RBM's own conditionals
    (:func:`~ebmlib.rbm.p_h_given_v`, :func:`~ebmlib.rbm.p_v_given_h`); :math:`\log f_\beta = -F_\beta(v)`
    is its free energy (:func:`~ebmlib.rbm.free_energy`). Computed in float64.

    Parameters
    ----------
    W : Tensor of shape (n_visible, n_hidden); b : (n_visible,); c : (n_hidden,)
    n_chains, n_runs : int
    betas : int or Tensor
    base_bias : Tensor of shape (n_visible,) or None
        The logits of the training data's pixel means make a base close to the target.
    generator : torch.Generator or None
    progress : bool
    """
    W, b, c = (as_tensor(t, name, dtype=torch.float64) for t, name in ((W, "W"), (b, "b"), (c, "c")))
    n_chains, n_runs = check_int(n_chains, "n_chains"), check_int(n_runs, "n_runs")
    b_base = b if base_bias is None else check_finite(as_tensor(base_bias, "base_bias", dtype=torch.float64), "base_bias")
    if b_base.shape != b.shape:
        raise ValueError(f"base_bias must have shape {tuple(b.shape)}, got shape {tuple(b_base.shape)}")
    b_base = b_base.to(b.device)
    check_generator(generator, W.device)

    def rbm_at(beta: float) -> tuple[Tensor, Tensor, Tensor]:
        """The intermediate RBM: weights βW, visible bias (1 - β) b_A + β b, hidden bias βc."""
        return beta * W, (1 - beta) * b_base + beta * b, beta * c

    def log_density(v: Tensor, beta: float) -> Tensor:
        return -free_energy(v, *rbm_at(beta))  # log f_β(v) = -F_β(v)

    def transition(v: Tensor, beta: float, generator) -> Tensor:
        W_beta, b_beta, c_beta = rbm_at(beta)
        h = sample_bernoulli(p_h_given_v(v, W_beta, c_beta), generator)
        return sample_bernoulli(p_v_given_h(h, W_beta, b_beta), generator)

    log_z_base = softplus(b_base).sum() + W.shape[1] * math.log(2.0)
    x0 = sample_bernoulli(torch.sigmoid(b_base).expand(n_runs, n_chains, -1).contiguous(), generator)  # exact base draws
    return ais(log_density, transition, x0, log_z_base, betas, generator=generator, progress=progress)
