r"""Classifier guidance: steer a score model toward a class with a noise-conditional classifier.

Bayes' rule for the noised densities, :math:`p_\sigma(x \mid y) \propto p_\sigma(x)\, p_\sigma(y \mid x)`, gives

.. math:: \nabla_x \log p_\sigma(x \mid y) = \nabla_x \log p_\sigma(x) + \nabla_x \log p_\sigma(y \mid x),

so a classifier trained on *noised* inputs turns an unconditional score model into a conditional
one without retraining it (Song et al. 2021; Dhariwal and Nichol 2021). A guidance scale
:math:`w \ge 0` sharpens the class,

.. math:: s_w(x, \sigma) = \nabla_x \log p_\sigma(x) + w\, \nabla_x \log p_\sigma(y \mid x)
          = \nabla_x \log \big[p_\sigma(x)\, p_\sigma(y \mid x)^w\big] + \text{const}:

w = 0 ignores the label, w = 1 samples :math:`p(x \mid y)`, w > 1 samples a tilted density that
puts still more mass where the classifier is sure.

For a Gaussian mixture labelled by component, the exact noisy classifier is the posterior over
components of the noised mixture (:class:`MixtureClassifier`), the reference a learned
:class:`NoiseConditionalClassifier` is checked against.

References
----------
.. [1] Y. Song, J. Sohl-Dickstein, D. P. Kingma, A. Kumar, S. Ermon, B. Poole, "Score-based generative
   modeling through stochastic differential equations", ICLR 2021 (controllable generation).
.. [2] P. Dhariwal and A. Nichol, "Diffusion models beat GANs on image synthesis", NeurIPS 2021.

Introduced in notebook 08_score_models_and_diffusion.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real

import torch
from torch import Tensor, nn

from ebmlib._validation import Score, check_generator, check_int, check_labels, check_noise_schedule, check_x, sigma_column
from ebmlib.energies import GaussianMixture
from ebmlib.nets import mlp
from ebmlib.score.models import noise_features
from ebmlib.training import fit

__all__ = [
    "NoiseConditionalClassifier",
    "MixtureClassifier",
    "classifier_loss",
    "train_classifier",
    "classifier_log_prob_grad",
    "guided_score",
]



class NoiseConditionalClassifier(nn.Module):
    r"""Classifier :math:`p_\theta(y \mid x, \sigma) = \operatorname{softmax}(f_\theta(\tilde x, \log\sigma))_y`,
    :math:`\tilde x = x/\sqrt{1+\sigma^2}`.

    A small SiLU MLP; ``forward(x, sigma)`` returns the logits, shape (n, n_classes).

    Parameters
    ----------
    dim : int
    n_classes : int, >= 2.
    hidden, depth : int
        Width and number of hidden layers (:func:`ebmlib.nets.mlp`).
    generator : torch.Generator, optional
        Draws the initial parameters.

    Introduced in notebook 08_score_models_and_diffusion.
    """

    def __init__(
        self, dim: int = 2, n_classes: int = 2, hidden: int = 64, depth: int = 2, *, generator: torch.Generator | None = None
    ):
        super().__init__()
        self.dim = check_int(dim, "dim")
        self.n_classes = check_int(n_classes, "n_classes", minimum=2)
        self.net = mlp(self.dim + 1, self.n_classes, hidden, depth, generator=generator)

    def forward(self, x: Tensor, sigma) -> Tensor:
        """Logits of shape (n, n_classes) for x (n, d) at noise level sigma (> 0, a number or (n,))."""
        x = check_x(x, finite=False)
        return self.net(noise_features(x, sigma_column(sigma, x)))


class MixtureClassifier:
    r"""The exact noisy classifier of a mixture labelled by component: logits
    :math:`\log w_k + \log \mathcal N(x; \mu_k, (s_k^2 + \sigma^2) I)`, so that
    :math:`\operatorname{softmax}` gives :math:`p_\sigma(y = k \mid x)`.

    ``MixtureClassifier(mixture)(x, sigma)`` -> (n, k); sigma >= 0, a number or a tensor (n,).
    """

    def __init__(self, mixture: GaussianMixture):
        if not isinstance(mixture, GaussianMixture):
            raise TypeError(f"mixture must be a GaussianMixture, got {type(mixture).__name__}")
        self.mixture, self.n_classes = mixture, mixture.n_components

    def __call__(self, x: Tensor, sigma) -> Tensor:
        x = check_x(x, finite=False)
        if isinstance(sigma, Real) and not isinstance(sigma, bool) and sigma == 0:
            sigma2 = torch.zeros(x.shape[0], 1, dtype=x.dtype, device=x.device)
        else:
            sigma2 = sigma_column(sigma, x) ** 2  # (n, 1)
        m = self.mixture
        var = m.stds.to(x) ** 2 + sigma2  # (n, k)
        sq_dist = (x.unsqueeze(1) - m.means.to(x)).square().sum(-1)  # (n, k)
        return m.weights.to(x).log() - 0.5 * sq_dist / var - 0.5 * m.dim * torch.log(2 * math.pi * var)


def classifier_loss(
    classifier: Callable, x: Tensor, labels: Tensor, sigmas, *, generator: torch.Generator | None = None
) -> Tensor:
    r"""Cross-entropy :math:`-\log p_\theta(y \mid x + \sigma z, \sigma)`, one level per point drawn from sigmas."""
    x = check_x(x)
    labels = check_labels(labels, classifier.n_classes, x.shape[0])
    sigmas = check_noise_schedule(sigmas).to(dtype=x.dtype, device=x.device)
    generator = check_generator(generator, x.device)
    sigma = sigmas[torch.randint(0, sigmas.numel(), (x.shape[0],), generator=generator, device=x.device)]
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return nn.functional.cross_entropy(classifier(x + sigma.unsqueeze(1) * noise, sigma), labels)


def train_classifier(
    classifier: nn.Module,
    data: Tensor,
    labels: Tensor,
    sigmas,
    *,
    n_steps: int,
    batch_size: int = 256,
    lr: float = 2e-3,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> Tensor:
    """Fit a noise-conditional classifier on :func:`classifier_loss` through :func:`ebmlib.training.fit`.

    Adam at a constant learning rate ``lr``; ``generator`` draws the minibatches, the levels and the
    noise. Returns the losses, shape (n_steps,).
    """
    data = check_x(data, "data")
    labels = check_labels(labels, classifier.n_classes, data.shape[0])
    sigmas = check_noise_schedule(sigmas)
    generator = check_generator(generator, data.device)

    def loss_fn(model, batch):
        x, y = batch
        return classifier_loss(model, x, y, sigmas, generator=generator)

    classifier.train()
    history = fit(classifier, loss_fn, (data, labels), n_steps, batch_size, lr, generator=generator,
                  progress=progress, desc="noisy classifier")  # fmt: skip
    classifier.eval()
    return torch.tensor(history["loss"])


def classifier_log_prob_grad(classifier: Callable, x: Tensor, labels, sigma) -> Tensor:
    r""":math:`\nabla_x \log p(y \mid x, \sigma)` of shape (n, d), by autograd through the log-softmax.

    ``labels`` is an int (one class for all) or a tensor (n,); ``classifier(x, sigma)`` returns logits
    (n, n_classes) and has an attribute ``n_classes``.
    """
    x = check_x(x, finite=False)
    labels = check_labels(labels, classifier.n_classes, x.shape[0]).to(x.device).expand(x.shape[0])
    with torch.enable_grad():
        x_in = x.detach().requires_grad_(True)
        log_probs = torch.log_softmax(classifier(x_in, sigma), dim=1)  # (n, n_classes)
        chosen = log_probs.gather(1, labels.unsqueeze(1)).sum()
        (grad,) = torch.autograd.grad(chosen, x_in)
    return grad


def guided_score(score: Score, classifier: Callable, labels, guidance_scale: float) -> Score:
    r"""The guided score :math:`s(x, \sigma) + w\,\nabla_x \log p(y \mid x, \sigma)` as a callable ``(x, sigma)``.

    Parameters
    ----------
    score : callable ``(x, sigma) -> (n, d)``, the unconditional score.
    classifier : callable ``(x, sigma) -> logits (n, n_classes)`` with an attribute ``n_classes``.
    labels : int or Tensor of shape (n,)
        The target class y, in [0, n_classes).
    guidance_scale : float
        w >= 0 (0: unconditional; 1: exactly conditional for exact ingredients).

    Returns
    -------
    callable ``(x, sigma) -> (n, d)``, to hand to :func:`~ebmlib.score.annealed_langevin`.
    """
    if isinstance(guidance_scale, bool) or not isinstance(guidance_scale, Real) or not math.isfinite(guidance_scale):
        raise ValueError(f"guidance_scale (w) must be a finite number >= 0, got {guidance_scale!r}")
    if guidance_scale < 0:
        raise ValueError(f"guidance_scale (w) must be >= 0, got {guidance_scale}")
    labels = check_labels(labels, classifier.n_classes)
    w = float(guidance_scale)

    def guided(x: Tensor, sigma) -> Tensor:
        base = score(x, sigma)
        if w == 0:
            return base
        return base + w * classifier_log_prob_grad(classifier, x, labels, sigma)

    return guided
