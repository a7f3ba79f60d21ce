r"""Small smooth energy networks: an MLP for low-dimensional data, a CNN for 8×8 digits.

Why smooth activations. Every sampler and most losses of the course differentiate the energy
in x: Langevin moves along :math:`-\nabla_x E`, score matching needs :math:`\Delta_x E`. With ReLU
the network is piecewise linear, so :math:`\nabla_x E` is piecewise constant (it jumps across
the kinks and carries no curvature) and :math:`\Delta_x E = 0` almost everywhere. SiLU
(:math:`x\,\sigma(x)`, also called Swish) is smooth, so the gradient field and the Hessian are
continuous and informative.

Networks are built in the default dtype (float32 unless changed); inputs are cast to the
parameters' dtype, so float64 data can be fed directly.

Why per-image normalisation. An energy must be a function of one input, E(x), so that
:math:`p(x) \propto e^{-E(x)}` means anything and SGLD's gradient in x is the gradient of that
function. Batch normalisation breaks this: it normalises by statistics of the whole batch, so
E(x) changes with the other images beside x (and between training and evaluation modes).
:class:`ResidualBlock` normalises each image over its own channels and pixels (group
normalisation, Wu and He 2018), which keeps E a function of x alone.

Introduced in notebook 04_contrastive_divergence (MLP) and 07_modern_ebms (CNN, residual CNN).

References
----------
.. [1] S. Elfwing, E. Uchibe and K. Doya, "Sigmoid-weighted linear units for neural network
   function approximation in reinforcement learning", Neural Networks 107, 2018 (SiLU).
.. [2] Y. Du and I. Mordatch, "Implicit generation and modeling with energy-based models",
   NeurIPS 2019; W. Grathwohl et al., "Your classifier is secretly an energy based model and you
   should treat it like one", ICLR 2020 (smooth activations in EBMs).
.. [3] N. Rahaman et al., "On the spectral bias of neural networks", ICML 2019 (smooth functions
   are learned first; why :class:`MLPEnergy` offers ``init_scale``).
.. [4] K. He, X. Zhang, S. Ren and J. Sun, "Deep residual learning for image recognition", CVPR 2016;
   Y. Wu and K. He, "Group normalization", ECCV 2018.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ebmlib._validation import as_tensor, check_generator, check_int, check_positive

__all__ = ["MLPEnergy", "ConvNet8x8", "ConvEnergy8x8", "ResidualBlock", "ResidualConvEnergy8x8", "init_parameters", "mlp"]


@torch.no_grad()
def init_parameters(module: nn.Module, generator: torch.Generator | None = None) -> nn.Module:
    r"""Draw every linear and convolutional layer's parameters afresh from ``generator``.

    PyTorch's default initialisation, written out so that it can take a generator: weights and
    biases :math:`\sim \mathcal U(-1/\sqrt{\text{fan-in}}, 1/\sqrt{\text{fan-in}})` (what
    ``kaiming_uniform_(a=√5)`` gives). With ``generator=None`` the module is left as PyTorch built it
    (from the global seed). A network built with a generator needs no ``torch.manual_seed``.
    Returns the module.
    """
    if generator is None:
        return module
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            bound = 1.0 / layer.weight[0].numel() ** 0.5  # 1 / sqrt(fan_in)
            layer.weight.uniform_(-bound, bound, generator=generator)
            if layer.bias is not None:
                layer.bias.uniform_(-bound, bound, generator=generator)
    return module


def mlp(n_inputs: int, n_outputs: int, hidden: int, depth: int, *, generator: torch.Generator | None = None) -> nn.Sequential:
    """The library's one MLP builder: (Linear -> SiLU) ``depth`` times, then a linear read-out.

    Parameters
    ----------
    n_inputs, n_outputs : int
    hidden : int
        Units per hidden layer.
    depth : int
        Number of hidden layers (≥ 1).
    generator : torch.Generator, optional
        Draws the initial parameters (:func:`init_parameters`).

    Shapes
    ------
    (n, n_inputs) -> (n, n_outputs)
    """
    n_inputs, n_outputs = check_int(n_inputs, "n_inputs"), check_int(n_outputs, "n_outputs")
    hidden, depth = check_int(hidden, "hidden"), check_int(depth, "depth")
    layers: list[nn.Module] = []
    width = n_inputs
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.SiLU()]
        width = hidden
    layers.append(nn.Linear(width, n_outputs))
    return init_parameters(nn.Sequential(*layers), check_generator(generator))


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
    generator : torch.Generator, optional
        Draws the initial parameters; without one, PyTorch's global seed does.
    init_scale : float
        Multiplies the first layer's initial weights and biases (> 0; default 1, PyTorch's own
        initialisation). A first-layer unit :math:`\mathrm{silu}(w^\top x + b)` switches on
        across the hyperplane :math:`w^\top x = -b` over a width of about :math:`1/\lVert w\rVert`;
        scaling :math:`(w, b)` by c keeps the hyperplanes where they were and makes the switch
        c times sharper. With the default, :math:`\lVert w\rVert \lesssim 1`, so details of the
        density narrower than about 1 (in the units of x) are learned slowly: networks fit smooth
        functions first (the spectral bias, Rahaman et al. 2019). For eight Gaussians of width 0.2,
        ``init_scale=6`` fits in 2 000 steps what the default needs tens of thousands for.

    Shapes
    ------
    x : (n, dim) -> E(x) : (n,)

    Examples
    --------
    >>> import torch
    >>> energy = MLPEnergy(dim=2, hidden=32, depth=2, init_scale=6.0)
    >>> energy(torch.zeros(5, 2)).shape
    torch.Size([5])

    Introduced in notebook 04_contrastive_divergence.
    """

    def __init__(
        self, dim: int = 2, hidden: int = 64, depth: int = 2, init_scale: float = 1.0, *, generator: torch.Generator | None = None
    ):
        super().__init__()
        self.dim = check_int(dim, "dim")
        init_scale = check_positive(init_scale, "init_scale")
        self.net = mlp(self.dim, 1, hidden, depth, generator=generator)
        with torch.no_grad():
            self.net[0].weight.mul_(init_scale)
            self.net[0].bias.mul_(init_scale)

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

    def __init__(
        self, n_outputs: int = 10, channels: tuple[int, int] = (32, 64), hidden: int = 128, *, generator: torch.Generator | None = None
    ):
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
        init_parameters(self, check_generator(generator))

    def forward(self, x) -> Tensor:
        x = _input(self, x, (1, 8, 8))
        return self.head(self.features(x))  # (n, n_outputs)


class ConvEnergy8x8(ConvNet8x8):
    r""":class:`ConvNet8x8` with one output read as an energy: x of shape (n, 1, 8, 8) -> E(x) of shape (n,).

    Introduced in notebook 07_modern_ebms.
    """

    def __init__(self, channels: tuple[int, int] = (32, 64), hidden: int = 128, *, generator: torch.Generator | None = None):
        super().__init__(n_outputs=1, channels=channels, hidden=hidden, generator=generator)

    def forward(self, x) -> Tensor:
        return super().forward(x).squeeze(-1)  # (n, 1) -> (n,)


class ResidualBlock(nn.Module):
    r"""A residual block of two 3×3 convolutions, :math:`x + \mathrm{conv}(\mathrm{SiLU}(\mathrm{GN}(\mathrm{conv}(\mathrm{SiLU}(\mathrm{GN}(x))))))`.

    The skip connection lets the block start near the identity and keeps gradients (in θ and
    in x) flowing through deep stacks (He et al. 2016). The normalisation is per image (group
    normalisation with ``groups`` groups), never over the batch, so an energy built from it is a
    function of each input alone.

    Shapes
    ------
    x : (n, channels, h, w) -> (n, channels, h, w)

    Introduced in notebook 07_modern_ebms.
    """

    def __init__(self, channels: int, groups: int = 4):
        super().__init__()
        channels, groups = check_int(channels, "channels"), check_int(groups, "groups")
        if channels % groups:
            raise ValueError(f"groups must divide channels, got channels={channels}, groups={groups}")
        self.body = nn.Sequential(
            nn.GroupNorm(groups, channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1),
            nn.GroupNorm(groups, channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)  # (n, channels, h, w)


class ResidualConvEnergy8x8(nn.Module):
    r"""An energy on 8×8 images from residual blocks: x of shape (n, 1, 8, 8) -> E(x) of shape (n,).

    A 3×3 convolution to ``channels`` channels at 8×8, a strided one to 4×4, ``n_blocks``
    :class:`ResidualBlock` at 4×4, then the mean over the pixels and a linear layer to one number. SiLU throughout and per-image normalisation, so that E is smooth in x and a
    function of each image alone.

    Introduced in notebook 07_modern_ebms.
    """

    def __init__(self, channels: int = 16, n_blocks: int = 1, *, generator: torch.Generator | None = None):
        super().__init__()
        channels, n_blocks = check_int(channels, "channels"), check_int(n_blocks, "n_blocks")
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1), nn.SiLU(),  # (n, c, 8, 8)
            nn.Conv2d(channels, channels, 3, stride=2, padding=1),  # (n, c, 4, 4)
            *[ResidualBlock(channels) for _ in range(n_blocks)], nn.SiLU(),  # (n, c, 4, 4)
        )  # fmt: skip
        self.head = nn.Linear(channels, 1)
        init_parameters(self, check_generator(generator))

    def forward(self, x) -> Tensor:
        x = _input(self, x, (1, 8, 8))
        return self.head(self.features(x).mean((2, 3))).squeeze(-1)  # (n, c) -> (n,)
