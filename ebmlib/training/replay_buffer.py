r"""A replay buffer of persistent sampler states, as used to train neural EBMs with short SGLD runs.

Short-run Langevin from noise is too short to reach the model; persistent chains (notebook 04)
are too few to cover it. The recipe of Du and Mordatch (IGEBM) and Grathwohl et al. (JEM) keeps a
large *buffer* of past negative samples. Each training step

1. draws ``n`` rows of the buffer at random;
2. replaces each drawn row, independently with probability :math:`\rho` (``reinit_fraction``,
   typically 0.05), by a fresh draw from the initial distribution (usually uniform noise), so
   that new modes can still be found;
3. runs a few SGLD steps from these starts (:func:`ebmlib.samplers.sgld`);
4. writes the moved samples back into the same rows (:meth:`ReplayBuffer.update`).

So each chain advances a few steps whenever it is drawn, and the buffer as a whole is a
population of long, restarted chains.

Introduced in notebook 07_modern_ebms.

References
----------
.. [1] Y. Du and I. Mordatch, "Implicit generation and modeling with energy-based models",
   NeurIPS 2019, section 3.1 (the sample replay buffer).
.. [2] W. Grathwohl, K.-C. Wang, J.-H. Jacobsen, D. Duvenaud, M. Norouzi and K. Swersky, "Your
   classifier is secretly an energy based model and you should treat it like one", ICLR 2020,
   algorithm 1 (buffer of 10 000, re-initialisation 5%).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from ebmlib._validation import as_tensor, check_finite, check_fraction, check_generator, check_int

__all__ = ["BufferDraw", "ReplayBuffer", "uniform_init"]

Init = Callable[..., Tensor]  # init(n, *, generator=None) -> Tensor of shape (n, *event_shape)



def uniform_init(
    event_shape, low: float = -1.0, high: float = 1.0, *, dtype: torch.dtype | None = None, device=None
) -> Init:
    r"""An initial distribution: independent :math:`\mathcal U(\text{low}, \text{high})` entries.

    Returns a callable ``init(n, *, generator=None) -> Tensor of shape (n, *event_shape)``, the
    form :class:`ReplayBuffer` expects. JEM uses ``uniform_init((1, 8, 8))`` for images scaled
    to [−1, 1]; a 2-D toy uses a box a little larger than the data. The draws are made on
    ``device`` (the CPU by default), from a generator on that device.
    """
    event_shape = tuple(check_int(k, "event_shape") for k in event_shape)
    low, high = float(low), float(high)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"low and high must be finite with low < high, got low={low}, high={high}")

    def init(n: int, *, generator: torch.Generator | None = None) -> Tensor:
        check_generator(generator, device or "cpu")
        u = torch.rand((n, *event_shape), generator=generator, dtype=dtype or torch.get_default_dtype(), device=device)
        return low + (high - low) * u  # (n, *event_shape)

    return init


class BufferDraw(NamedTuple):
    """What :meth:`ReplayBuffer.sample` returns.

    Attributes
    ----------
    x : Tensor of shape (n, *event_shape)
        The starting points: buffer rows, some replaced by fresh draws (a copy; the buffer is
        not changed until :meth:`ReplayBuffer.update`).
    index : Tensor of shape (n,), int64
        The rows drawn; pass them back to :meth:`ReplayBuffer.update`.
    reinitialized : Tensor of shape (n,), bool
        Which starts are fresh draws from the initial distribution.
    """

    x: Tensor
    index: Tensor
    reinitialized: Tensor


class ReplayBuffer:
    r"""A fixed-size store of negative samples, drawn from and written back to at every training step.

    Parameters
    ----------
    capacity : int
        Number of stored samples (JEM: 10 000; a 2-D toy needs a few thousand).
    init : callable ``init(n, *, generator=None) -> Tensor of shape (n, *event_shape)``
        The initial distribution, e.g. :func:`uniform_init`; it fills the buffer at construction
        and supplies every re-initialised start.
    reinit_fraction : float
        :math:`\rho \in [0, 1]`: each drawn row is replaced by a fresh draw independently with
        this probability, so on average a fraction :math:`\rho` of every draw is new.
    generator : torch.Generator, optional
        Used to fill the buffer at construction.

    Attributes
    ----------
    samples : Tensor of shape (capacity, *event_shape)
    n_draws : int
        How many times :meth:`sample` has been called.

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> buffer = ReplayBuffer(1000, uniform_init((2,), -3, 3), reinit_fraction=0.05, generator=g)
    >>> x0, index, fresh = buffer.sample(64, generator=g)
    >>> buffer.update(index, x0 + 0.1)  # in training: the samples after SGLD
    >>> x0.shape, buffer.samples.shape
    (torch.Size([64, 2]), torch.Size([1000, 2]))

    Introduced in notebook 07_modern_ebms.
    """

    def __init__(self, capacity: int, init: Init, *, reinit_fraction: float = 0.05, generator=None):
        self.capacity = check_int(capacity, "capacity")
        if not callable(init):
            raise TypeError(f"init must be a callable (n, *, generator) -> Tensor, got {type(init).__name__}")
        self.init = init
        self.reinit_fraction = check_fraction(reinit_fraction, "reinit_fraction")
        self.samples = self._fresh(self.capacity, check_generator(generator))
        self.n_draws = 0

    def _fresh(self, n: int, generator) -> Tensor:
        x = as_tensor(self.init(n, generator=generator), "init(n)")
        if x.ndim < 2 or x.shape[0] != n:
            raise ValueError(f"init(n) must return a tensor of shape (n, *event_shape), got shape {tuple(x.shape)}")
        return check_finite(x, "init(n)").detach()

    @property
    def event_shape(self) -> tuple[int, ...]:
        return tuple(self.samples.shape[1:])

    def __len__(self) -> int:
        return self.capacity

    def __repr__(self) -> str:
        return (
            f"ReplayBuffer(capacity={self.capacity}, event_shape={self.event_shape}, "
            f"reinit_fraction={self.reinit_fraction}, n_draws={self.n_draws})"
        )

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> BufferDraw:
        r"""Draw ``n`` starting points: random rows, each re-initialised with probability :math:`\rho`.

        Rows are drawn uniformly with replacement. Returns a :class:`BufferDraw`
        ``(x, index, reinitialized)``; unpack it as ``x0, index, fresh = buffer.sample(n)``.
        """
        n = check_int(n, "n")
        device = self.samples.device
        generator = check_generator(generator, device)
        index = torch.randint(self.capacity, (n,), generator=generator, device=device)  # (n,)
        reinitialized = torch.rand(n, generator=generator, device=device) < self.reinit_fraction  # (n,) bool
        x = self.samples[index].clone()  # (n, *event_shape)
        n_fresh = int(reinitialized.sum())
        if n_fresh:
            fresh = self._fresh(n_fresh, generator).to(x)
            x[reinitialized] = fresh
        self.n_draws += 1
        return BufferDraw(x, index, reinitialized)

    def update(self, index, x) -> None:
        """Write the moved samples ``x`` (n, *event_shape) back into rows ``index`` (n,), detached."""
        index = torch.as_tensor(index)
        if index.ndim != 1 or index.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"index must be a 1-D integer tensor, got shape {tuple(index.shape)} of {index.dtype}")
        if index.numel() and (index.min() < 0 or index.max() >= self.capacity):
            raise ValueError(f"index must lie in [0, {self.capacity}), got values in [{index.min()}, {index.max()}]")
        x = as_tensor(x, "x")
        if tuple(x.shape) != (index.shape[0], *self.event_shape):
            raise ValueError(
                f"x must have shape ({index.shape[0]}, {', '.join(map(str, self.event_shape))}), got {tuple(x.shape)}"
            )
        check_finite(x, "x")
        self.samples[index.to(self.samples.device)] = x.detach().to(self.samples)

    def state_dict(self) -> dict:
        """Everything needed to resume: the samples (a copy), ``reinit_fraction`` and ``n_draws``."""
        return {"samples": self.samples.clone(), "reinit_fraction": self.reinit_fraction, "n_draws": self.n_draws}

    def load_state_dict(self, state: dict) -> None:
        """Restore a state from :meth:`state_dict`; the capacity must match (the init is kept)."""
        missing = {"samples", "reinit_fraction", "n_draws"} - set(state)
        if missing:
            raise ValueError(f"state must hold the keys samples, reinit_fraction, n_draws; missing {sorted(missing)}")
        samples = as_tensor(state["samples"], "state['samples']")
        if samples.ndim < 2 or samples.shape[0] != self.capacity:
            raise ValueError(
                f"state['samples'] must have shape ({self.capacity}, *event_shape), got {tuple(samples.shape)}"
            )
        self.samples = check_finite(samples, "state['samples']").detach().clone()
        self.reinit_fraction = check_fraction(state["reinit_fraction"], "reinit_fraction")
        self.n_draws = check_int(state["n_draws"], "n_draws", minimum=0)
