r"""Annealed Langevin dynamics: Langevin sampling through a decreasing sequence of noise levels.

At level i of the schedule :math:`\sigma_1 > \dots > \sigma_L`, run T unadjusted Langevin steps on
:math:`p_{\sigma_i}` with step size :math:`\alpha_i = \varepsilon\, \sigma_i^2/\sigma_L^2`,

.. math:: x \leftarrow x + \frac{\alpha_i}{2}\, s(x, \sigma_i) + \sqrt{\alpha_i}\, z,
          \qquad z \sim \mathcal N(0, I),

(the library's one Langevin move, :func:`ebmlib.samplers.langevin_move`, with a learned score),
and hand the chains to the next, smaller level (Song and Ermon 2019, Algorithm 1). Coarse levels
mix fast and spread the chains over the modes in proportion to their mass; fine levels sharpen
them. Scaling the step with :math:`\sigma_i^2` keeps the signal-to-noise ratio of every step the
same, since :math:`\|s(\cdot, \sigma)\| \sim 1/\sigma`.

Tweedie's formula gives the posterior mean of clean data given a noisy point,
:math:`\mathbb E[x \mid \tilde x] = \tilde x + \sigma^2 \nabla \log p_\sigma(\tilde x)` (Efron 2011); applied
after the last level it removes the leftover noise :math:`\sigma_L` (Jolicoeur-Martineau et al. 2021).

References
----------
.. [1] Y. Song and S. Ermon, "Generative modeling by estimating gradients of the data distribution",
   NeurIPS 2019.
.. [2] B. Efron, "Tweedie's formula and selection bias", JASA 106(496), 2011.
.. [3] A. Jolicoeur-Martineau, R. Piché-Taillefer, R. Tachet des Combes, I. Mitliagkas,
   "Adversarial score matching and improved sampling for image generation", ICLR 2021.

Introduced in notebook 08_score_models_and_diffusion.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebmlib._validation import Score, check_generator, check_int, check_noise_schedule, check_positive, check_x, sigma_column
from ebmlib.samplers import langevin_move

__all__ = ["annealed_langevin", "tweedie_denoise"]


def tweedie_denoise(score: Score, x: Tensor, sigma) -> Tensor:
    r"""Tweedie's posterior mean :math:`\mathbb E[x_0 \mid x] = x + \sigma^2 s(x, \sigma)`, shape (n, d).

    ``score`` is a callable ``(x, sigma) -> (n, d)``; ``sigma`` a number > 0 or a tensor (n,).
    """
    x = check_x(x)
    sigma = sigma_column(sigma, x)  # (n, 1)
    return x + sigma**2 * score(x, sigma.squeeze(1))


def annealed_langevin(
    score: Score,
    x0: Tensor,
    sigmas,
    n_steps_per_level: int,
    step_size: float,
    *,
    denoise: bool = False,
    return_trajectory: bool = False,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> tuple[Tensor, dict]:
    r"""Annealed Langevin dynamics (Song and Ermon 2019, Algorithm 1) for a batch of chains.

    Parameters
    ----------
    score : callable ``(x, sigma) -> (n_chains, d)``
        The noise-conditional score, e.g. ``model.score`` or ``GaussianMixture.score``;
        sigma is passed as a tensor of shape (n_chains,).
    x0 : Tensor of shape (n_chains, d)
        Starting points, usually broad (uniform, or :math:`\mathcal N(0, \sigma_1^2 I)`).
    sigmas : Tensor of shape (n_levels,)
        Strictly decreasing noise levels > 0. A single level gives plain Langevin on :math:`p_{\sigma}`.
    n_steps_per_level : int
        T, the Langevin steps at each level.
    step_size : float
        ε, the step at the last level; level i uses :math:`\alpha_i = \varepsilon\sigma_i^2/\sigma_L^2`.
    denoise : bool
        Finish with Tweedie's step :math:`x + \sigma_L^2 s(x, \sigma_L)`.
    return_trajectory : bool
        Also return every step in ``info["trajectory"]``.
    generator : torch.Generator, optional
    progress : bool
        Show a progress bar over the levels.

    Returns
    -------
    x : Tensor of shape (n_chains, d)
        The chains after the last level (and the denoising step, if asked).
    info : dict
        ``"level_ends"``: (n_chains, n_levels, d), the chains at the end of each level;
        ``"step_sizes"``: (n_levels,), the :math:`\alpha_i`;
        ``"divergences"``: (n_chains,) int, steps whose result was not finite (kept, never hidden);
        ``"trajectory"``: (n_chains, n_levels * n_steps_per_level + 1, d), the start and every step,
        if ``return_trajectory``.
    """
    x = check_x(x0, "x0").detach().clone()
    check_generator(generator, x.device)
    sigmas = check_noise_schedule(sigmas).to(dtype=x.dtype, device=x.device)
    n_steps = check_int(n_steps_per_level, "n_steps_per_level")
    eps = check_positive(step_size, "step_size")
    step_sizes = eps * (sigmas / sigmas[-1]) ** 2  # α_i, (n_levels,)
    n_chains, n_levels = x.shape[0], sigmas.numel()
    level_ends = x.new_empty(n_chains, n_levels, x.shape[1])
    trajectory = [x.clone()] if return_trajectory else None
    divergences = torch.zeros(n_chains, dtype=torch.long, device=x.device)
    levels = range(n_levels)
    if progress:
        from tqdm.auto import tqdm

        levels = tqdm(levels, desc="annealed Langevin")
    with torch.no_grad():
        for i in levels:
            sigma = sigmas[i].expand(n_chains)  # (n_chains,)
            alpha = float(step_sizes[i])
            for _ in range(n_steps):
                x = langevin_move(x, score(x, sigma), alpha, generator=generator)  # (n_chains, d)
                divergences += (~torch.isfinite(x).all(1)).long()
                if return_trajectory:
                    trajectory.append(x)
            level_ends[:, i] = x
        if denoise:
            x = x + sigmas[-1] ** 2 * score(x, sigmas[-1].expand(n_chains))  # Tweedie, NaNs kept
    info = {"level_ends": level_ends, "step_sizes": step_sizes, "divergences": divergences}
    if return_trajectory:
        info["trajectory"] = torch.stack(trajectory, dim=1)  # (n_chains, n_levels * T + 1, d)
    return x, info
