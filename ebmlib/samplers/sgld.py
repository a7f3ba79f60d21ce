r""""SGLD" as neural EBMs run it: Langevin steps on x with the drift and the noise set apart.

Two different algorithms share the name. **Welling and Teh's SGLD** (2011) samples a Bayesian
posterior over *parameters* with Langevin dynamics whose gradient is estimated on a minibatch;
its noise is tied to its step, :math:`\theta' = \theta + \frac{\varepsilon}{2}\nabla\log p + \sqrt{\varepsilon}\,z`,
so it targets the posterior itself. The **"SGLD" of neural EBMs** (IGEBM, JEM) moves *inputs* x
and chooses the step :math:`a` and the noise :math:`\sigma` separately:

.. math:: x' = x - a\,\nabla_x E(x) + \sigma z, \qquad z \sim \mathcal N(0, I).

Matching this to the Langevin step at temperature T,
:math:`x' = x - \frac{\varepsilon}{2T}\nabla E + \sqrt{\varepsilon}\,z`, gives
:math:`\varepsilon = \sigma^2` and :math:`\varepsilon/(2T) = a`, so the pair :math:`(a, \sigma)`
samples (for small steps) :math:`p_T(x) \propto e^{-E(x)/T}` at the *implied temperature*

.. math:: T = \frac{\sigma^2}{2a}.

So this module holds no loop of its own: :func:`sgld` is :func:`ebmlib.samplers.langevin` run at
:math:`\varepsilon = \sigma^2` and :math:`T = \sigma^2/(2a)` (:func:`sgld_to_langevin`), keeping only
the last positions. The drift :math:`a` is called ``drift`` and the noise :math:`\sigma` ``noise_scale``:
in this library ``step_size`` is always the ε of the Langevin step.

JEM's recipe, :math:`a = 1`, :math:`\sigma = 0.01`, gives :math:`T = 5\cdot 10^{-5}`: a nearly
noiseless descent on the energy, not a sample of :math:`e^{-E}`. Only :math:`\sigma^2 = 2a` is
the proper (T = 1) Langevin step of :func:`ebmlib.samplers.langevin` with :math:`\varepsilon = 2a`.
(σ = 0, plain gradient descent, is T = 0 and no Langevin step: ``noise_scale`` must be > 0.)

Introduced in notebook 07_modern_ebms.

References
----------
.. [1] M. Welling and Y. W. Teh, "Bayesian learning via stochastic gradient Langevin dynamics",
   ICML 2011.
.. [2] Y. Du and I. Mordatch, "Implicit generation and modeling with energy-based models",
   NeurIPS 2019.
.. [3] W. Grathwohl et al., "Your classifier is secretly an energy based model and you should
   treat it like one", ICLR 2020 (drift 1, noise 0.01).
.. [4] E. Nijkamp, M. Hill, S.-C. Zhu and Y. N. Wu, "Learning non-convergent non-persistent
   short-run MCMC toward energy-based model", NeurIPS 2019 (on this mismatch).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebmlib._validation import Energy, as_tensor, check_positive
from ebmlib.samplers.langevin_family import langevin, langevin_move
from ebmlib.samplers.state import energy_and_grad

__all__ = ["implied_temperature", "sgld", "sgld_step", "sgld_to_langevin"]


def implied_temperature(drift, noise_scale):
    r"""The temperature :math:`T = \sigma^2 / (2a)` that the step :math:`x' = x - a\nabla E + \sigma z` samples.

    Parameters
    ----------
    drift : float or Tensor
        a > 0, the coefficient of :math:`\nabla_x E`.
    noise_scale : float or Tensor
        σ ≥ 0, the standard deviation of the added noise (σ = 0 is gradient descent, T = 0).

    Returns
    -------
    float (or a Tensor, if either argument is one, broadcast).

    Examples
    --------
    >>> implied_temperature(1.0, 0.01)  # JEM's recipe
    5e-05
    >>> implied_temperature(0.05, 0.1 ** 0.5)  # σ² = 2a: proper Langevin
    1.0

    Introduced in notebook 07_modern_ebms.
    """
    if isinstance(drift, Tensor) or isinstance(noise_scale, Tensor):
        a = as_tensor(drift, "drift", dtype=torch.float64)
        s = as_tensor(noise_scale, "noise_scale", dtype=torch.float64)
        if not torch.isfinite(a).all() or (a <= 0).any():
            raise ValueError("drift must be finite and > 0 everywhere")
        if not torch.isfinite(s).all() or (s < 0).any():
            raise ValueError("noise_scale must be finite and >= 0 everywhere")
        return s.square() / (2 * a)
    a = check_positive(drift, "drift")
    s = 0.0 if (noise_scale == 0 and not isinstance(noise_scale, bool)) else check_positive(noise_scale, "noise_scale")
    return s * s / (2 * a)


def sgld_to_langevin(drift: float, noise_scale: float) -> tuple[float, float]:
    r"""The Langevin parameters of the pair (a, σ): step size :math:`\varepsilon = \sigma^2`, temperature :math:`T = \sigma^2/(2a)`.

    Since :math:`x - \frac{\varepsilon}{2T}\nabla E + \sqrt{\varepsilon} z = x - a\nabla E + \sigma z`.

    Returns
    -------
    step_size, temperature : float, float
    """
    a = check_positive(drift, "drift")
    s = check_positive(noise_scale, "noise_scale")
    return s * s, s * s / (2 * a)


def sgld_step(energy: Energy, x: Tensor, drift: float, noise_scale: float, noise: Tensor) -> Tensor:
    r"""One step :math:`x' = x - a\nabla_x E(x) + \sigma z` with the standard normal noise z handed in.

    The Langevin move :func:`~ebmlib.samplers.langevin_move` at ε = σ², T = σ²/(2a).

    Parameters
    ----------
    energy : callable ``(n, *event_shape) -> (n,)``
    x : Tensor of shape (n, *event_shape)
    drift : float
        a > 0.
    noise_scale : float
        σ > 0.
    noise : Tensor of shape (n, *event_shape)
        z.

    Returns
    -------
    Tensor of shape (n, *event_shape), detached. Only x is differentiated: the energy's
    parameters collect no gradient.

    Introduced in notebook 07_modern_ebms.
    """
    step_size, temperature = sgld_to_langevin(drift, noise_scale)
    _, grad = energy_and_grad(energy, x)
    return langevin_move(x, -grad / temperature, step_size, noise=noise).detach()


def sgld(
    energy: Energy,
    x0,
    n_steps: int,
    drift: float,
    noise_scale: float,
    *,
    clamp: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Run ``n_steps`` of :math:`x_{t+1} = x_t - a\nabla_x E(x_t) + \sigma z_t` and return the last positions.

    The sampler of IGEBM and JEM, as a parametrisation of the Langevin core:
    :func:`ebmlib.samplers.langevin` at step size ε = σ² and temperature
    :math:`T` = :func:`implied_temperature` ``(a, σ)`` (:func:`sgld_to_langevin`), keeping only the last
    positions and raising if a chain diverges. With :math:`\sigma^2 = 2a` it is the proper (T = 1)
    Langevin step at ε = 2a.

    Parameters
    ----------
    energy : callable ``(n_chains, *event_shape) -> (n_chains,)``
    x0 : Tensor of shape (n_chains, *event_shape)
        Starting points (finite); not modified.
    n_steps : int
        Number of steps, ≥ 0 (0 returns a copy of x0).
    drift : float
        a > 0.
    noise_scale : float
        σ > 0.
    clamp : (low, high), optional
        Clip x to this box after every step (IGEBM keeps images in their pixel range). Leaves
        the dynamics unchanged as long as the chains stay inside.
    generator : torch.Generator, optional
        On the device of x0. Same seed, same chains.

    Returns
    -------
    Tensor of shape (n_chains, *event_shape), detached, in the dtype and on the device of x0.

    Raises
    ------
    NonFiniteError (a ValueError)
        If the energy is not finite at x0 or a chain diverges along the way.

    Examples
    --------
    >>> import torch
    >>> energy = lambda x: 0.5 * x.square().sum(1)
    >>> x = sgld(energy, torch.zeros(100, 2), 20, 1.0, 0.01, generator=torch.Generator().manual_seed(0))
    >>> x.shape
    torch.Size([100, 2])

    Introduced in notebook 07_modern_ebms.
    """
    step_size, temperature = sgld_to_langevin(drift, noise_scale)
    x, _ = langevin(
        energy, x0, n_steps, step_size, temperature=temperature, keep="last", clamp=clamp,
        on_divergence="raise", generator=generator,
    )  # fmt: skip
    return x.detach()
