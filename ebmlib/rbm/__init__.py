r"""Restricted Boltzmann machines with binary units: free energy, block Gibbs, CD-k and PCD, log Z.

.. math::

    E(v, h) = -v^\top W h - b^\top v - c^\top h, \qquad p(v, h) = e^{-E(v, h)} / Z,

with :math:`v \in \{0,1\}^{n_v}`, :math:`h \in \{0,1\}^{n_h}`. No visible-visible or hidden-hidden
couplings, so both conditionals factorise, :math:`p(h_j = 1 \mid v) = \sigma(c_j + v^\top W_{:j})`
and :math:`p(v_i = 1 \mid h) = \sigma(b_i + W_{i:} h)`, and the hidden units sum out in closed form,

.. math::

    F(v) = -\log \sum_h e^{-E(v, h)} = -b^\top v - \sum_j \log\bigl(1 + e^{c_j + v^\top W_{:j}}\bigr),
    \qquad p(v) = e^{-F(v)} / Z.

:math:`\log Z` is exact by summing over the smaller layer (at most :data:`MAX_EXACT_STATES`
states) and estimated by annealed importance sampling otherwise (:func:`ais_rbm` in
:mod:`ebmlib.rbm.ais`, on the generic :func:`ebmlib.ais.ais` and the RBM's own conditionals).

A functional core (:mod:`ebmlib.rbm.functional`: ``energy``, ``free_energy``, ``p_h_given_v``,
``gradient``, ``log_partition_exact``, ``pseudo_likelihood``, plain functions of ``W, b, c``) sits
under the :class:`RBM` class (:mod:`ebmlib.rbm.model`), whose methods call them and add sampling
and training. Both are importable from ``ebmlib.rbm``, and so is
:class:`GaussianBernoulliRBM` (:mod:`ebmlib.rbm.gaussian`), with real-valued visible units.

Introduced in notebook 06_boltzmann_machines.

References
----------
.. [1] P. Smolensky, "Information processing in dynamical systems: foundations of harmony theory", 1986.
.. [2] G. E. Hinton, "Training products of experts by minimizing contrastive divergence",
   Neural Computation 14(8), 2002 (CD-k).
.. [3] T. Tieleman, "Training restricted Boltzmann machines using approximations to the likelihood
   gradient", ICML 2008 (PCD).
.. [4] G. E. Hinton, "A practical guide to training restricted Boltzmann machines", UTML TR 2010-003.
.. [5] R. Salakhutdinov and I. Murray, "On the quantitative analysis of deep belief networks", ICML 2008 (AIS).
"""

from ebmlib.rbm.functional import (
    MAX_EXACT_STATES,
    binary_states,
    check_binary,
    energy,
    free_energy,
    gradient,
    log_partition_exact,
    p_h_given_v,
    p_v_given_h,
    pseudo_likelihood,
    sample_bernoulli,
    softplus,
)
from ebmlib.rbm.ais import ais_rbm
from ebmlib.rbm.model import RBM
from ebmlib.rbm.gaussian import GaussianBernoulliRBM

__all__ = [
    "GaussianBernoulliRBM",
    "MAX_EXACT_STATES",
    "RBM",
    "ais_rbm",
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
