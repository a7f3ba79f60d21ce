r"""Energies with known structure: a Gaussian, an isotropic Gaussian mixture, a double well.

Each is a callable ``x -> E(x)`` from a batch ``x`` of shape (n, d) to energies of shape (n,),
in the dtype and on the device of ``x``. The density at temperature T is
:math:`p(x) = e^{-E(x)/T} / Z(T)` and the score is :math:`\nabla_x \log p = -\nabla_x E / T`.
Exact quantities (``log_partition``) are float64.

References
----------
C. M. Bishop, *Pattern Recognition and Machine Learning* (2006), sections 2.3 and 9.2.
P. Vincent, "A connection between score matching and denoising autoencoders",
Neural Computation 23 (2011): the score of a density convolved with Gaussian noise.

Introduced in notebook 01_energy_and_partition (used again in 03, 05 and 08).
"""

from __future__ import annotations

import math
from numbers import Real

import torch

from ebmlib._validation import (
    as_temperature,
    as_tensor,
    check_finite,
    check_int,
    check_ndim,
    check_nonempty,
    check_positive,
    check_temperature,
)

__all__ = ["Gaussian", "GaussianMixture", "DoubleWell"]


def _as_tensor_like(value, name: str, like: torch.Tensor) -> torch.Tensor:
    """``value`` as a tensor in the dtype and on the device of ``like``.

    Python numbers and lists go straight to that dtype, so 0.7 keeps its float64 digits.
    """
    if not isinstance(value, torch.Tensor):
        try:
            value = torch.as_tensor(value, dtype=like.dtype)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{name} must be a tensor or array of numbers, got {type(value).__name__}") from err
    return value.to(dtype=like.dtype, device=like.device)


def _check_x(x, dim: int) -> torch.Tensor:
    """A floating batch of shape (n, dim); NaNs pass through (samplers count them)."""
    x = as_tensor(x, "x")
    check_ndim(x, "x", 2, f"(n, {dim})")
    if x.shape[1] != dim:
        raise ValueError(f"x must have shape (n, {dim}), got shape {tuple(x.shape)}")
    return x


def _check_sigma(sigma, x: torch.Tensor) -> torch.Tensor:
    """Noise level sigma >= 0: a number, or a tensor of shape (n,) (one per point)."""
    if isinstance(sigma, Real) and not isinstance(sigma, bool):
        if not math.isfinite(sigma) or sigma < 0:
            raise ValueError(f"sigma must be finite and >= 0, got {sigma}")
        return torch.tensor(float(sigma), dtype=x.dtype, device=x.device)
    s = as_tensor(sigma, "sigma").to(x)
    if s.ndim > 1 or (s.ndim == 1 and s.shape[0] != x.shape[0]):
        raise ValueError(f"sigma must be a number or have shape ({x.shape[0]},), got shape {tuple(s.shape)}")
    if not torch.isfinite(s).all() or (s < 0).any():
        raise ValueError("sigma must be finite and >= 0 everywhere")
    return s.unsqueeze(-1) if s.ndim == 1 else s  # () or (n, 1)


class Gaussian:
    r"""Gaussian energy :math:`E(x) = \tfrac12 (x-\mu)^\top \Sigma^{-1} (x-\mu)`.

    At temperature T the density is :math:`\mathcal N(\mu, T\Sigma)`, with

    .. math:: \log Z(T) = \tfrac d2 \log(2\pi T) + \tfrac12 \log\det\Sigma .

    Parameters
    ----------
    mean : Tensor of shape (d,)
    cov : Tensor of shape (d, d)
        Symmetric positive definite.

    Attributes
    ----------
    mean, cov : the parameters, as tensors.
    dim : int, the dimension d.

    Introduced in notebook 01_energy_and_partition.
    """

    def __init__(self, mean, cov):
        mean = as_tensor(mean, "mean")
        check_ndim(mean, "mean", 1, "(d,)")
        check_finite(check_nonempty(mean, "mean"), "mean")
        d = mean.shape[0]
        cov = _as_tensor_like(cov, "cov", mean)
        if cov.shape != (d, d):
            raise ValueError(f"cov must have shape ({d}, {d}) to match mean, got shape {tuple(cov.shape)}")
        check_finite(cov, "cov")
        cov64 = cov.to(torch.float64)
        if not torch.allclose(cov64, cov64.T, rtol=1e-6, atol=1e-12):
            raise ValueError("cov must be symmetric, got a matrix with cov != cov.T")
        scale_tril, info = torch.linalg.cholesky_ex(cov64)
        if info != 0:
            eig_min = torch.linalg.eigvalsh(cov64).min().item()
            raise ValueError(f"cov must be positive definite, got smallest eigenvalue {eig_min:.3g}")
        self.mean, self.cov, self.dim = mean, cov, d
        self._scale_tril = scale_tril  # float64 Cholesky factor L, Sigma = L L^T

    def __repr__(self) -> str:
        return f"Gaussian(dim={self.dim})"

    def __call__(self, x) -> torch.Tensor:
        """Energy E(x) of shape (n,) for x of shape (n, d)."""
        x = _check_x(x, self.dim)
        diff = x - self.mean.to(x)  # (n, d)
        z = torch.linalg.solve_triangular(self._scale_tril.to(x), diff.T, upper=False)  # (d, n)
        return 0.5 * (z**2).sum(0)

    def log_partition(self, temperature=1.0) -> torch.Tensor:
        r"""Closed form :math:`\log Z(T) = \tfrac d2 \log(2\pi T) + \tfrac12\log\det\Sigma`, float64.

        ``temperature`` is a float (result of shape ()) or a 1-D tensor (result of shape (m,)).
        """
        t = as_temperature(temperature, self._scale_tril.device)
        half_log_det = self._scale_tril.diagonal().log().sum()
        return 0.5 * self.dim * torch.log(2 * math.pi * t) + half_log_det

    def log_prob(self, x) -> torch.Tensor:
        r"""Normalised log density at T = 1: :math:`-E(x) - \log Z`, shape (n,)."""
        energy = self(x)
        return -energy - self.log_partition().to(energy)

    def score(self, x, sigma=0.0, *, temperature=1.0) -> torch.Tensor:
        r"""Score of :math:`p_\sigma = p * \mathcal N(0, \sigma^2 I)` at temperature T, shape (n, d).

        .. math:: \nabla_x \log p_\sigma(x) / T = -(\Sigma + \sigma^2 I)^{-1}(x-\mu)/T,

        the same signature as every energy's ``score`` (:meth:`GaussianMixture.score`); ``sigma = 0``
        gives :math:`-\Sigma^{-1}(x-\mu)/T`. ``sigma`` is a number >= 0 or a tensor of shape (n,).
        """
        t = check_temperature(temperature)
        x = _check_x(x, self.dim)
        diff = x - self.mean.to(x)  # (n, d)
        if isinstance(sigma, (int, float)) and not isinstance(sigma, bool) and sigma == 0:
            return -torch.cholesky_solve(diff.T, self._scale_tril.to(x)).T / t
        s = _check_sigma(sigma, x).reshape(-1, 1, 1)  # (1 or n, 1, 1)
        cov = self.cov.to(x) + s**2 * torch.eye(self.dim, dtype=x.dtype, device=x.device)  # (1 or n, d, d)
        return -torch.linalg.solve(cov, diff.unsqueeze(-1)).squeeze(-1) / t

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        r"""Draw n samples :math:`\mu + L z`, :math:`z \sim \mathcal N(0, I)`, shape (n, d)."""
        n = check_int(n, "n")
        z = torch.randn(n, self.dim, generator=generator, dtype=self.mean.dtype, device=self.mean.device)
        return self.mean + z @ self._scale_tril.to(self.mean).T


class GaussianMixture:
    r"""Isotropic Gaussian mixture, with energy :math:`E(x) = -\log p(x)` (so :math:`\log Z = 0`).

    .. math:: p(x) = \sum_k w_k\, \mathcal N(x; \mu_k, s_k^2 I).

    Convolving with noise :math:`\mathcal N(0, \sigma^2 I)` (adding noise to the samples) gives
    again a mixture, with components :math:`\mathcal N(\mu_k, (s_k^2+\sigma^2) I)`, whose exact score is

    .. math:: \nabla_x \log p_\sigma(x) = -\sum_k r_k(x)\, \frac{x - \mu_k}{s_k^2 + \sigma^2},
              \qquad r_k(x) = \frac{w_k \mathcal N(x; \mu_k, (s_k^2+\sigma^2) I)}{p_\sigma(x)} .

    Parameters
    ----------
    means : Tensor of shape (k, d)
    stds : float or Tensor of shape (k,)
        Standard deviation s_k > 0 of each isotropic component.
    weights : Tensor of shape (k,), optional
        Positive; normalised to sum to one. Uniform by default.

    Attributes
    ----------
    means, stds, weights : tensors of shapes (k, d), (k,), (k,), weights normalised.
    dim : int, the dimension d.
    n_components : int, k.

    Introduced in notebook 01_energy_and_partition; the noisy score in 08_score_models_and_diffusion.
    """

    def __init__(self, means, stds, weights=None):
        means = as_tensor(means, "means")
        check_ndim(means, "means", 2, "(k, d)")
        check_finite(check_nonempty(means, "means"), "means")
        k, d = means.shape
        stds = _as_tensor_like(stds, "stds", means)
        if stds.ndim == 0:
            stds = stds.expand(k).clone()
        if stds.shape != (k,):
            raise ValueError(f"stds must be a number or have shape ({k},), got shape {tuple(stds.shape)}")
        if not torch.isfinite(stds).all() or (stds <= 0).any():
            raise ValueError(f"stds must be finite and > 0, got {stds.tolist()}")
        if weights is None:
            weights = torch.full((k,), 1.0 / k, dtype=means.dtype, device=means.device)
        weights = _as_tensor_like(weights, "weights", means)
        if weights.shape != (k,):
            raise ValueError(f"weights must have shape ({k},), got shape {tuple(weights.shape)}")
        if not torch.isfinite(weights).all() or (weights <= 0).any():
            raise ValueError(f"weights must be finite and > 0, got {weights.tolist()}")
        self.means, self.stds, self.weights = means, stds, weights / weights.sum()
        self.dim, self.n_components = d, k

    def __repr__(self) -> str:
        return f"GaussianMixture(n_components={self.n_components}, dim={self.dim})"

    def _components(self, x, sigma):
        """diff (n, k, d), variances (k,) or (n, k), log w_k N(x; mu_k, var_k I) of shape (n, k)."""
        x = _check_x(x, self.dim)
        sigma = _check_sigma(sigma, x)
        var = self.stds.to(x) ** 2 + sigma**2
        diff = x.unsqueeze(1) - self.means.to(x)  # (n, k, d)
        log_joint = (
            self.weights.to(x).log() - 0.5 * (diff**2).sum(-1) / var - 0.5 * self.dim * torch.log(2 * math.pi * var)
        )
        return diff, var, log_joint

    def __call__(self, x) -> torch.Tensor:
        r"""Energy :math:`E(x) = -\log p(x)`, shape (n,)."""
        return -self.log_prob(x)

    def log_partition(self, temperature=1.0) -> torch.Tensor:
        """0 at T = 1, since E = -log p. Other temperatures have no closed form."""
        if check_temperature(temperature) != 1.0:
            raise NotImplementedError(
                "GaussianMixture.log_partition has a closed form only at temperature 1; "
                "use ebmlib.partition.log_partition_grid(mixture, bounds, n, temperature)"
            )
        return torch.tensor(0.0, dtype=torch.float64, device=self.means.device)

    def log_prob(self, x, sigma=0.0) -> torch.Tensor:
        r"""Log density of the mixture convolved with :math:`\mathcal N(0, \sigma^2 I)`, shape (n,).

        ``sigma`` is a number >= 0 or a tensor of shape (n,); ``sigma = 0`` gives :math:`\log p(x)`.
        """
        _, _, log_joint = self._components(x, sigma)
        return torch.logsumexp(log_joint, dim=1)

    def score(self, x, sigma=0.0, *, temperature=1.0) -> torch.Tensor:
        r"""Exact score of :math:`p_\sigma = p * \mathcal N(0, \sigma^2 I)` at temperature T, shape (n, d).

        .. math:: \nabla_x \log p_\sigma(x) / T = -\frac1T \sum_k r_k(x)\,\frac{x-\mu_k}{s_k^2+\sigma^2},

        with responsibilities :math:`r_k(x)`; ``sigma`` is a number >= 0 or a tensor of shape (n,).
        As a noise-conditional score callable ``(x, sigma)`` it is the reference of notebook 08.
        """
        t = check_temperature(temperature)
        diff, var, log_joint = self._components(x, sigma)
        resp = torch.softmax(log_joint, dim=1)  # (n, k), responsibilities r_k(x)
        return -((resp / var).unsqueeze(-1) * diff).sum(1) / t

    def sample(self, n: int, *, generator: torch.Generator | None = None, return_labels: bool = False):
        r"""Draw n samples: a component :math:`k \sim w`, then :math:`\mu_k + s_k z`.

        Returns x of shape (n, d), and the labels of shape (n,) if ``return_labels``.
        """
        n = check_int(n, "n")
        labels = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=self.means.dtype, device=self.means.device)
        x = self.means[labels] + self.stds[labels].unsqueeze(-1) * z
        return (x, labels) if return_labels else x


class DoubleWell:
    r"""Double-well energy :math:`E(x) = b\,(x_1^2 - 1)^2 + \tfrac12 \sum_{i \ge 2} x_i^2`.

    Two minima at :math:`x_1 = \pm 1` (the other coordinates 0), separated by a barrier of
    height b at :math:`x_1 = 0`. There is no elementary closed form for Z: compute it with
    :func:`ebmlib.partition.log_partition_grid`.

    Parameters
    ----------
    barrier : float
        Barrier height b > 0.
    dim : int
        Dimension d >= 1.

    Introduced in notebook 01_energy_and_partition (a multimodal target again in 03_mcmc).
    """

    def __init__(self, barrier: float = 1.0, dim: int = 1):
        self.barrier = check_positive(barrier, "barrier")
        self.dim = check_int(dim, "dim")

    def __repr__(self) -> str:
        return f"DoubleWell(barrier={self.barrier}, dim={self.dim})"

    def __call__(self, x) -> torch.Tensor:
        """Energy of shape (n,) for x of shape (n, dim)."""
        x = _check_x(x, self.dim)
        return self.barrier * (x[:, 0] ** 2 - 1) ** 2 + 0.5 * (x[:, 1:] ** 2).sum(1)

    def score(self, x, sigma=0.0, *, temperature=1.0) -> torch.Tensor:
        r"""Score :math:`-\nabla E / T`, with :math:`\partial_1 E = 4 b x_1 (x_1^2 - 1)`, :math:`\partial_i E = x_i`.

        The signature of every energy's ``score``; the double well blurred by noise has no closed
        form, so ``sigma`` must be 0.
        """
        if not (isinstance(sigma, (int, float)) and not isinstance(sigma, bool) and sigma == 0):
            raise NotImplementedError("DoubleWell.score has a closed form only at sigma = 0 (no blurring)")
        t = check_temperature(temperature)
        x = _check_x(x, self.dim)
        grad_first = 4 * self.barrier * x[:, :1] * (x[:, :1] ** 2 - 1)
        return -torch.cat([grad_first, x[:, 1:]], dim=1) / t

    def log_partition(self, temperature=1.0):
        """No closed form; raises NotImplementedError pointing to log_partition_grid."""
        raise NotImplementedError(
            "DoubleWell has no closed-form log partition function; "
            "use ebmlib.partition.log_partition_grid(energy, bounds, n, temperature)"
        )
