r"""Training: the one loop (:func:`fit`, on the library's one Adam), exact likelihood, replay-buffer EBMs.

``loop``          :func:`fit`, minibatches, a loss, an Adam step; stops or raises on :class:`NonFiniteError` only
``adam``          :class:`Adam` (written out: ``torch.optim.Adam`` costs seconds on first use) and :func:`cosine_lr`
``likelihood``    :func:`exact_log_likelihood`, a 2-D energy judged by its likelihood normalised on a grid
``replay_buffer`` :class:`ReplayBuffer` of persistent SGLD chains, :func:`uniform_init`
``neural_ebm``    :func:`train_ebm`, :func:`persistent_sgld`: neural EBMs trained with SGLD negatives from a buffer

Introduced in notebooks 04_contrastive_divergence (``fit``, ``exact_log_likelihood``) and 07_modern_ebms
(the replay buffer and ``train_ebm``).
"""

from ebmlib._validation import NonFiniteError
from ebmlib.training.adam import Adam, cosine_lr
from ebmlib.training.likelihood import exact_log_likelihood
from ebmlib.training.loop import fit
from ebmlib.training.neural_ebm import persistent_sgld, train_ebm
from ebmlib.training.replay_buffer import BufferDraw, ReplayBuffer, uniform_init

__all__ = [
    "Adam",
    "BufferDraw",
    "NonFiniteError",
    "ReplayBuffer",
    "cosine_lr",
    "exact_log_likelihood",
    "fit",
    "persistent_sgld",
    "train_ebm",
    "uniform_init",
]
