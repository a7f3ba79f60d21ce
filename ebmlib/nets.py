r"""Small smooth energy networks: an MLP for low-dimensional data, a CNN for 8×8 digits.

Why smooth activations. Every sampler and most losses of the course differentiate the energy
in x: Langevin moves along :math:`-\nabla_x E`, score matching needs :math:`\Delta_x E`. With ReLU
the network is piecewise linear, so :math:`\nabla_x E` is piecewise constant (it jumps across
the kinks and carries no curvature) and :math:`\Delta_x E = 0` almost everywhere. SiLU
(:math:`x\,\sigma(x)`, also called Swish) is smooth, so the gradient field and the Hessian are
continuous and informative.

Networks are built in the default dtype (float32 unless changed); inputs are cast to the
parameters' dtype, so float64 data can be fed directly.

Introduced in notebook 04_contrastive_divergence (MLP) and 07_modern_ebms (CNN).

References
----------
.. [1] S. Elfwing, E. Uchibe and K. Doya, "Sigmoid-weighted linear units for neural network
   function approximation in reinforcement learning", Neural Networks 107, 2018 (SiLU).
.. [2] Y. Du and I. Mordatch, "Implicit generation and modeling with energy-based models",
   NeurIPS 2019; W. Grathwohl et al., "Your classifier is secretly an energy based model and you
   should treat it like one", ICLR 2020 (smooth activations in EBMs).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ebmlib._validation import as_tensor, check_int

__all__ = ["MLPEnergy", "ConvNet8x8", "ConvEnergy8x8"]


def _input(module: nn.Module, x, event_shape: tuple[int, ...]) -> Tensor:
    """x as a tensor of shape (n, *event_shape) in the module's dtype and device, or a ValueError naming x."""
    x = as_tensor(x, "x")
    if x.ndim != 1 + len(event_shape) or tuple(x.shape[1:]) != event_shape:
        expected = ", ".join(str(k) for k in event_shape)
        raise ValueError(f"x must have shape (n, {expected}), got shape {tuple(x.shape)}")
    param = next(module.parameters())
    return x.to(dtype=param.dtype, device=param.device)


class MLPEnergy(nn.Module):
    r"""A fully connected energy :math:`E_\theta: \mathbb R^d \to \mathbb R` with SiLU activations.

    .. math:: E(x) = w_{L}^\top\, \mathrm{silu}(W_{L-1} \cdots \mathrm{silu}(W_1 x + b_1) \cdots) + b_L

    Parameters
    ----------
    dim : int
        d, the dimension of x.
    hidden : int
        Units per hidden layer.
    depth : int
        Number of hidden layers (≥ 1).

    Shapes
    ------
    x : (n, dim) -> E(x) : (n,)

    Examples
    --------
    >>> import torch
    >>> energy = MLPEnergy(dim=2, hidden=32, depth=2)
    >>> energy(torch.zeros(5, 2)).shape
    torch.Size([5])

    Introduced in notebook 04_contrastive_divergence.
    """

    def __init__(self, dim: int = 2, hidden: int = 64, depth: int = 2):
        super().__init__()
        self.dim = check_int(dim, "dim")
        hidden = check_int(hidden, "hidden")
        depth = check_int(depth, "depth")
        layers: list[nn.Module] = []
        width = self.dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x) -> Tensor:
        x = _input(self, x, (self.dim,))
        return self.net(x).squeeze(-1)  # (n, 1) -> (n,)


class ConvNet8x8(nn.Module):
    r"""A small convolutional network on 8×8 one-channel images, with SiLU activations.

    Three 3×3 convolutions (8×8 → 8×8 → 4×4 → 2×2) and two linear layers. Its outputs are
    logits f(x) of shape (n, n_outputs); a classifier reads them through a softmax, JEM reads them
    as :math:`E(x, y) = -f(x)[y]` and :math:`E(x) = -\operatorname{logsumexp}_y f(x)[y]`.

    Parameters
    ----------
    n_outputs : int
        Number of outputs (10 for the digits' classes).
    channels : (int, int)
        Channels of the first and of the two later convolutions.
    hidden : int
        Width of the hidden linear layer.

    Shapes
    ------
    x : (n, 1, 8, 8) -> f(x) : (n, n_outputs)

    Introduced in notebook 07_modern_ebms.
    """

    def __init__(self, n_outputs: int = 10, channels: tuple[int, int] = (32, 64), hidden: int = 128):
        super().__init__()
        self.n_outputs = check_int(n_outputs, "n_outputs")
        c1, c2 = (check_int(c, "channels") for c in channels)
        hidden = check_int(hidden, "hidden")
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.SiLU(),  # (n, c1, 8, 8)
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.SiLU(),  # (n, c2, 4, 4)
            nn.Conv2d(c2, c2, 3, stride=2, padding=1), nn.SiLU(),  # (n, c2, 2, 2)
        )  # fmt: skip
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * c2, hidden), nn.SiLU(), nn.Linear(hidden, self.n_outputs))

    def forward(self, x) -> Tensor:
        x = _input(self, x, (1, 8, 8))
        return self.head(self.features(x))  # (n, n_outputs)


class ConvEnergy8x8(ConvNet8x8):
    r""":class:`ConvNet8x8` with one output read as an energy: x of shape (n, 1, 8, 8) -> E(x) of shape (n,).

    Introduced in notebook 07_modern_ebms.
    """

    def __init__(self, channels: tuple[int, int] = (32, 64), hidden: int = 128):
        super().__init__(n_outputs=1, channels=channels, hidden=hidden)

    def forward(self, x) -> Tensor:
        return super().forward(x).squeeze(-1)  # (n, 1) -> (n,)
