r"""Forward noising as in diffusion models (variance exploding and variance preserving) and the reverse process.

Variance exploding (VE; the noise of score matching, Song and Ermon 2019): data are blurred by
ever larger Gaussian noise,

.. math:: x_\sigma = x_0 + \sigma z, \qquad p_\sigma = p_0 * \mathcal N(0, \sigma^2 I).

Variance preserving (VP; DDPM, Ho et al. 2020): each of N steps shrinks and adds noise,
:math:`x_t = \sqrt{1-\beta_t}\, x_{t-1} + \sqrt{\beta_t}\, z_t`; composing Gaussians gives one jump

.. math:: x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, z,
          \qquad \bar\alpha_t = \prod_{s \le t} (1 - \beta_s),

so a unit-variance input keeps unit variance and :math:`x_N \approx \mathcal N(0, I)`. The two are
one process seen in two coordinates: :math:`x_t / \sqrt{\bar\alpha_t}` is a VE point at
:math:`\sigma^2 = (1-\bar\alpha_t)/\bar\alpha_t`, so one noise-conditional score serves both
(:func:`vp_score_from_ve`). For a Gaussian mixture every forward marginal is again a mixture
(:func:`ve_marginal`, :func:`vp_marginal`), with an exact score.

The reverse process runs the noise backwards with the score (Anderson 1982; Song et al. 2021).
For VE, between levels :math:`\sigma_i > \sigma_{i+1}`,

.. math:: x \leftarrow x + (\sigma_i^2 - \sigma_{i+1}^2)\, s(x, \sigma_i) + \sqrt{\sigma_i^2 - \sigma_{i+1}^2}\; z,

the Euler–Maruyama step of the reverse-time SDE (:func:`reverse_diffusion`). It is not a Langevin
step: its drift :math:`\Delta\sigma^2 s` is twice the :math:`\frac{\varepsilon}{2} s` of a Langevin step
with the same noise :math:`\varepsilon = \Delta\sigma^2`, because it transports the chains from one level
to the next rather than sampling one level, so it cannot call :func:`ebmlib.samplers.langevin_move`.

References
----------
.. [1] J. Ho, A. Jain, P. Abbeel, "Denoising diffusion probabilistic models", NeurIPS 2020.
.. [2] Y. Song, J. Sohl-Dickstein, D. P. Kingma, A. Kumar, S. Ermon, B. Poole, "Score-based generative
   modeling through stochastic differential equations", ICLR 2021.
.. [3] B. D. O. Anderson, "Reverse-time diffusion equation models", Stoch. Proc. Appl. 12(3), 1982.

Introduced in notebook 08_score_models_and_diffusion.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebmlib._validation import check_generator, as_tensor, check_finite, check_int, check_ndim, check_noise_schedule, check_nonempty, check_x, sigma_column
from ebmlib.energies import GaussianMixture
from ebmlib.samplers import langevin_move

__all__ = [
    "ve_forward",
    "vp_forward",
    "linear_beta_schedule",
    "vp_alpha_bar",
    "ve_marginal",
    "vp_marginal",
    "vp_score_from_ve",
    "reverse_diffusion",
    "predictor_corrector",
]


def _noise(x: Tensor, noise, generator) -> Tensor:
    """The given standard normal draws (checked against x's shape), or fresh ones."""
    if noise is None:
        check_generator(generator, x.device)
        return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    noise = check_x(noise, "noise").to(x)
    if noise.shape != x.shape:
        raise ValueError(f"noise must have the shape of x0, {tuple(x.shape)}; got {tuple(noise.shape)}")
    return noise


def _alpha_bar_column(alpha_bar, x: Tensor) -> Tensor:
    """alpha_bar in (0, 1], a number or a tensor (n,), as a tensor (n, 1)."""
    a = as_tensor(alpha_bar, "alpha_bar").to(dtype=x.dtype, device=x.device)
    if a.ndim == 0:
        a = a.expand(x.shape[0])
    if a.shape != (x.shape[0],):
        raise ValueError(f"alpha_bar must be a number or have shape ({x.shape[0]},), got shape {tuple(a.shape)}")
    if not torch.isfinite(a).all() or (a <= 0).any() or (a > 1).any():
        raise ValueError("alpha_bar must lie in (0, 1] everywhere")
    return a.unsqueeze(1)  # (n, 1)


def ve_forward(x0: Tensor, sigma, *, noise: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
    r"""Variance-exploding noising :math:`x_\sigma = x_0 + \sigma z`, shape (n, d).

    ``sigma`` is a number > 0 or a tensor (n,); ``noise`` (n, d) the draws z, or None to draw them.
    """
    x0 = check_x(x0, "x0")
    return x0 + sigma_column(sigma, x0) * _noise(x0, noise, generator)


def vp_forward(
    x0: Tensor, alpha_bar, *, noise: Tensor | None = None, generator: torch.Generator | None = None
) -> Tensor:
    r"""Variance-preserving noising :math:`x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1-\bar\alpha_t}\, z`, shape (n, d).

    ``alpha_bar`` is :math:`\bar\alpha_t \in (0, 1]`, a number or a tensor (n,) (one time per point);
    ``noise`` (n, d) the draws z, or None to draw them.
    """
    x0 = check_x(x0, "x0")
    a = _alpha_bar_column(alpha_bar, x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * _noise(x0, noise, generator)


def linear_beta_schedule(beta_min: float = 1e-4, beta_max: float = 0.02, n_steps: int = 1000) -> Tensor:
    r"""DDPM's linear schedule :math:`\beta_t` from beta_min to beta_max, float64 tensor (n_steps,)."""
    n_steps = check_int(n_steps, "n_steps", minimum=2)
    for name, value in (("beta_min", beta_min), ("beta_max", beta_max)):
        if not (isinstance(value, (int, float)) and 0 < value < 1):
            raise ValueError(f"{name} must lie in (0, 1), got {value}")
    if beta_min > beta_max:
        raise ValueError(f"beta_min must be <= beta_max, got beta_min={beta_min}, beta_max={beta_max}")
    return torch.linspace(beta_min, beta_max, n_steps, dtype=torch.float64)


def vp_alpha_bar(betas) -> Tensor:
    r""":math:`\bar\alpha_t = \prod_{s \le t}(1 - \beta_s)` for t = 1..N, shape (N,), from betas (N,) in (0, 1)."""
    b = as_tensor(betas, "betas")
    check_ndim(b, "betas", 1, "(n_steps,)")
    check_finite(check_nonempty(b, "betas"), "betas")
    if (b <= 0).any() or (b >= 1).any():
        raise ValueError("betas must lie in (0, 1) at every step")
    return torch.cumprod(1 - b, dim=0)


def ve_marginal(mixture: GaussianMixture, sigma: float) -> GaussianMixture:
    r"""The law of :math:`x_0 + \sigma z` for :math:`x_0` from ``mixture``: stds :math:`\sqrt{s_k^2 + \sigma^2}`."""
    sigma = float(sigma_column(sigma, mixture.means[:1]).squeeze())
    return GaussianMixture(mixture.means, torch.sqrt(mixture.stds**2 + sigma**2), mixture.weights)


def vp_marginal(mixture: GaussianMixture, alpha_bar: float) -> GaussianMixture:
    r"""The law of :math:`x_t` for :math:`x_0` from ``mixture``.

    Means :math:`\sqrt{\bar\alpha}\,\mu_k`, stds :math:`\sqrt{\bar\alpha s_k^2 + 1 - \bar\alpha}`, the same weights.
    """
    a = float(_alpha_bar_column(alpha_bar, mixture.means[:1]).squeeze())
    return GaussianMixture(math.sqrt(a) * mixture.means, torch.sqrt(a * mixture.stds**2 + 1 - a), mixture.weights)


def vp_score_from_ve(score: Score, x: Tensor, alpha_bar) -> Tensor:
    r"""The score of the VP marginal at ``alpha_bar``, from a VE score callable ``score(x, sigma)``; shape (n, d):

    .. math:: \nabla\log p_t(x) = \frac{1}{\sqrt{\bar\alpha}}\, s\Big(\frac{x}{\sqrt{\bar\alpha}},\
              \sqrt{\frac{1-\bar\alpha}{\bar\alpha}}\Big).

    Follows from :math:`p_t(x) = \bar\alpha^{-d/2}\, p_\sigma(x/\sqrt{\bar\alpha})` with
    :math:`\sigma^2 = (1-\bar\alpha)/\bar\alpha`. Requires :math:`\bar\alpha < 1`.
    """
    x = check_x(x)
    a = _alpha_bar_column(alpha_bar, x)
    if (a >= 1).any():
        raise ValueError("alpha_bar must be < 1 (no noise means no noise-conditional score)")
    sigma = ((1 - a) / a).sqrt().squeeze(1)  # (n,)
    return score(x / a.sqrt(), sigma) / a.sqrt()


def reverse_diffusion(
    score: Score,
    x0: Tensor,
    sigmas,
    *,
    denoise: bool = True,
    return_trajectory: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, dict]:
    r"""Sample by running the VE forward process backwards (Euler–Maruyama on the reverse SDE).

    Parameters
    ----------
    score : callable ``(x, sigma) -> (n_chains, d)``, sigma a tensor (n_chains,).
    x0 : Tensor of shape (n_chains, d)
        Draws from (approximately) :math:`p_{\sigma_1}`: :math:`\sigma_1 z` when :math:`\sigma_1` is far
        above the data's scale, otherwise better the Gaussian with the mean and covariance of
        :math:`p_{\sigma_1}` (the data's mean; the data's covariance plus :math:`\sigma_1^2 I`). The
        process never corrects its start.
    sigmas : Tensor of shape (n_levels,)
        Strictly decreasing; finer schedules (hundreds of levels) discretise the SDE better.
    denoise : bool
        Finish with Tweedie's step :math:`x + \sigma_L^2 s(x, \sigma_L)`.
    return_trajectory : bool
        Also return ``info["trajectory"]`` of shape (n_chains, n_levels, d): the chains at each level.
    generator : torch.Generator, optional

    Returns
    -------
    x : Tensor of shape (n_chains, d)
    info : dict with ``"divergences"`` (n_chains,) and, if asked, ``"trajectory"``.
    """
    x = check_x(x0, "x0").detach().clone()
    check_generator(generator, x.device)
    sigmas = check_noise_schedule(sigmas).to(dtype=x.dtype, device=x.device)
    n_chains = x.shape[0]
    trajectory = [x.clone()] if return_trajectory else None
    with torch.no_grad():
        for i in range(sigmas.numel() - 1):
            variance = sigmas[i] ** 2 - sigmas[i + 1] ** 2  # noise removed between the two levels
            z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            x = x + variance * score(x, sigmas[i].expand(n_chains)) + variance.sqrt() * z
            if return_trajectory:
                trajectory.append(x)
        if denoise:
            x = x + sigmas[-1] ** 2 * score(x, sigmas[-1].expand(n_chains))
    info = {"divergences": (~torch.isfinite(x).all(1)).long()}
    if return_trajectory:
        info["trajectory"] = torch.stack(trajectory, dim=1)  # (n_chains, n_levels, d)
    return x, info


def predictor_corrector(
    score: Score,
    x0: Tensor,
    sigmas,
    *,
    n_corrector: int = 1,
    snr: float = 0.16,
    denoise: bool = True,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, dict]:
    r"""Predictor–corrector sampling (Song et al. 2021, algorithm 2, VE): a reverse-SDE step, then Langevin at the new level.

    At each level :math:`i`, the **predictor** is the Euler–Maruyama step of :func:`reverse_diffusion`
    from :math:`\sigma_i` to :math:`\sigma_{i+1}`; the **corrector** is ``n_corrector`` Langevin steps
    (:func:`ebmlib.samplers.langevin_move`) on :math:`p_{\sigma_{i+1}}`, which pull the chains back
    toward that level's law and so repair the predictor's discretisation error. The corrector's
    step is set by a signal-to-noise ratio ``snr`` r, as in the paper's code, from the norms of the
    noise and of the score averaged over the chains (a single chain's ratio is far too noisy in
    low dimension, and near a mode, where the score vanishes, it would explode):

    .. math:: \varepsilon = 2\Big(r\,\frac{\overline{\lVert z \rVert}}{\overline{\lVert s(x, \sigma_{i+1}) \rVert}}\Big)^2, \qquad
              x \leftarrow x + \varepsilon\, s(x, \sigma_{i+1}) + \sqrt{2\varepsilon}\, z,

    that is ``langevin_move`` at step size :math:`2\varepsilon`.

    Parameters
    ----------
    score, x0, sigmas, denoise, generator
        As for :func:`reverse_diffusion`.
    n_corrector : int
        Langevin steps per level, ≥ 0 (0 is :func:`reverse_diffusion`).
    snr : float
        r > 0.

    Returns
    -------
    x : Tensor of shape (n_chains, d)
    info : dict with ``"divergences"`` (n_chains,).
    """
    x = check_x(x0, "x0").detach().clone()
    check_generator(generator, x.device)
    sigmas = check_noise_schedule(sigmas).to(dtype=x.dtype, device=x.device)
    n_corrector = check_int(n_corrector, "n_corrector", minimum=0)
    if not (isinstance(snr, (int, float)) and math.isfinite(snr) and snr > 0):
        raise ValueError(f"snr must be a finite number > 0, got {snr}")
    n_chains = x.shape[0]
    with torch.no_grad():
        for i in range(sigmas.numel() - 1):
            variance = sigmas[i] ** 2 - sigmas[i + 1] ** 2
            z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            x = x + variance * score(x, sigmas[i].expand(n_chains)) + variance.sqrt() * z  # predictor
            for _ in range(n_corrector):
                s = score(x, sigmas[i + 1].expand(n_chains))
                z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
                epsilon = 2 * (snr * z.flatten(1).norm(dim=1).mean() / s.flatten(1).norm(dim=1).mean()) ** 2  # one for all
                x = langevin_move(x, s, 2 * epsilon, noise=z)
        if denoise:
            x = x + sigmas[-1] ** 2 * score(x, sigmas[-1].expand(n_chains))
    return x, {"divergences": (~torch.isfinite(x).all(1)).long()}
