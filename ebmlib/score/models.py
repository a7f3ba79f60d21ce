r"""Noise-conditional score models for low-dimensional data, and their energy-parameterised twin.

A noise-conditional score model :math:`s_\theta(x, \sigma)` estimates the score of the data
density convolved with Gaussian noise,

.. math:: s_\theta(x, \sigma) \approx \nabla_x \log p_\sigma(x), \qquad
          p_\sigma = p_{\text{data}} * \mathcal N(0, \sigma^2 I),

one network for every noise level (the level enters as an input). Two parameterisations:

* :class:`NoiseConditionalScore` outputs the score directly, as
  :math:`s_\theta(x, \sigma) = f_\theta(x, \log\sigma) / \sigma`: dividing by :math:`\sigma`
  lets :math:`f_\theta` stay of order one at every level, since :math:`\|\nabla \log p_\sigma\| \sim 1/\sigma`
  (Song and Ermon 2020, technique 3).
* :class:`NoiseConditionalEnergy` outputs an energy :math:`E_\theta(x, \sigma) = g_\theta(x, \log\sigma)/\sigma`
  and its score is :math:`-\nabla_x E_\theta(x, \sigma)` by automatic differentiation, so the learned
  vector field is a gradient field at every noise level (Salimans and Ho 2021). It trains with the
  same losses through the same ``score(x, sigma)`` method, at the price of a double backward pass.

Both are small SiLU multilayer perceptrons on ``(x / sqrt(1 + sigma^2), log sigma)``; the input
scaling keeps the noised data of order one for data of order one (Karras et al. 2022, ``c_in``).

References
----------
.. [1] Y. Song and S. Ermon, "Generative modeling by estimating gradients of the data distribution",
   NeurIPS 2019.
.. [2] Y. Song and S. Ermon, "Improved techniques for training score-based generative models",
   NeurIPS 2020.
.. [3] T. Salimans and J. Ho, "Should EBMs model the energy or the score?", ICLR 2021 EBM workshop.
.. [4] T. Karras, M. Aittala, T. Aila, S. Laine, "Elucidating the design space of diffusion-based
   generative models", NeurIPS 2022.

Introduced in notebook 08_score_models_and_diffusion.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ebmlib._validation import check_int, check_x, sigma_column
from ebmlib.nets import mlp

__all__ = ["NoiseConditionalScore", "NoiseConditionalEnergy", "noise_features"]


def noise_features(x: Tensor, sigma: Tensor) -> Tensor:
    """Network input ``(x / sqrt(1 + sigma^2), log sigma)`` of shape (n, d + 1); sigma is (n, 1)."""
    return torch.cat([x / torch.sqrt(1 + sigma**2), sigma.log()], dim=1)


class NoiseConditionalScore(nn.Module):
    r"""Score network :math:`s_\theta(x, \sigma) = f_\theta\big(x/\sqrt{1+\sigma^2}, \log\sigma\big) / \sigma`.

    Parameters
    ----------
    dim : int
        Data dimension d (2 in the course).
    hidden : int
        Width of the hidden layers.
    depth : int
        Number of hidden SiLU layers (:func:`ebmlib.nets.mlp`).
    generator : torch.Generator, optional
        Draws the initial parameters.

    Examples
    --------
    >>> model = NoiseConditionalScore(dim=2)
    >>> model(torch.zeros(5, 2), 0.5).shape
    torch.Size([5, 2])

    Introduced in notebook 08_score_models_and_diffusion.
    """

    def __init__(self, dim: int = 2, hidden: int = 128, depth: int = 3, *, generator: torch.Generator | None = None):
        super().__init__()
        self.dim = check_int(dim, "dim")
        self.net = mlp(self.dim + 1, self.dim, hidden, depth, generator=generator)

    def forward(self, x: Tensor, sigma) -> Tensor:
        """Score estimate of shape (n, d) for x of shape (n, d) at noise level sigma (> 0, a number or (n,))."""
        x = check_x(x, finite=False)
        sigma = sigma_column(sigma, x)  # (n, 1)
        return self.net(noise_features(x, sigma)) / sigma

    def score(self, x: Tensor, sigma) -> Tensor:
        r""":math:`s_\theta(x, \sigma)`, shape (n, d): the same as calling the model."""
        return self(x, sigma)


class NoiseConditionalEnergy(nn.Module):
    r"""Energy network :math:`E_\theta(x, \sigma) = g_\theta\big(x/\sqrt{1+\sigma^2}, \log\sigma\big)/\sigma`.

    Its score is :math:`s_\theta(x, \sigma) = -\nabla_x E_\theta(x, \sigma)`, computed by autograd in
    :meth:`score`. The density at level :math:`\sigma` is :math:`p_\sigma \propto e^{-E_\theta(\cdot, \sigma)}`
    (temperature 1), so the model is an energy-based model at every noise level.

    Parameters
    ----------
    dim, hidden, depth, generator : as for :class:`NoiseConditionalScore`.

    Introduced in notebook 08_score_models_and_diffusion.
    """

    def __init__(self, dim: int = 2, hidden: int = 128, depth: int = 3, *, generator: torch.Generator | None = None):
        super().__init__()
        self.dim = check_int(dim, "dim")
        self.net = mlp(self.dim + 1, 1, hidden, depth, generator=generator)

    def forward(self, x: Tensor, sigma) -> Tensor:
        """Energy of shape (n,) for x of shape (n, d) at noise level sigma (> 0, a number or (n,))."""
        x = check_x(x, finite=False)
        sigma = sigma_column(sigma, x)  # (n, 1)
        return (self.net(noise_features(x, sigma)) / sigma).squeeze(1)

    def score(self, x: Tensor, sigma) -> Tensor:
        r"""Score :math:`-\nabla_x E_\theta(x, \sigma)` of shape (n, d).

        When gradients are enabled (training), the graph is kept (``create_graph=True``) so that a
        loss on the score can be differentiated with respect to the parameters; under
        ``torch.no_grad()`` (sampling) only the gradient with respect to x is computed.
        """
        create_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            x_in = x if (create_graph and x.requires_grad) else check_x(x, finite=False).detach().requires_grad_(True)
            energy = self(x_in, sigma)  # (n,)
            (grad,) = torch.autograd.grad(energy.sum(), x_in, create_graph=create_graph)
        return -grad
