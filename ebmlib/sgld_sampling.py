r""""SGLD" as neural EBMs run it: Langevin steps on x with the step size and the noise set apart.

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

JEM's recipe, :math:`a = 1`, :math:`\sigma = 0.01`, gives :math:`T = 5\cdot 10^{-5}`: a nearly
noiseless descent on the energy, not a sample of :math:`e^{-E}`. Only :math:`\sigma^2 = 2a` is
the proper (T = 1) Langevin step of :func:`ebmlib.samplers.langevin` with :math:`\varepsilon = 2a`.

Introduced in notebook 07_modern_ebms.

References
----------
.. [1] M. Welling and Y. W. Teh, "Bayesian learning via stochastic gradient Langevin dynamics",
   ICML 2011.
.. [2] Y. Du and I. Mordatch, "Implicit generation and modeling with energy-based models",
   NeurIPS 2019.
.. [3] W. Grathwohl et al., "Your classifier is secretly an energy based model and you should
   treat it like one", ICLR 2020 (step size 1, noise 0.01).
.. [4] E. Nijkamp, M. Hill, S.-C. Zhu and Y. N. Wu, "Learning non-convergent non-persistent
   short-run MCMC toward energy-based model", NeurIPS 2019 (on this mismatch).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ebmlib._validation import as_tensor, check_finite, check_generator, check_int, check_positive

__all__ = ["implied_temperature", "sgld", "sgld_step"]

Energy = Callable[[Tensor], Tensor]


def implied_temperature(step_size, noise_std):
    r"""The temperature :math:`T = \sigma^2 / (2a)` that the step :math:`x' = x - a\nabla E + \sigma z` samples.

    Parameters
    ----------
    step_size : float or Tensor
        a > 0, the coefficient of :math:`\nabla_x E`.
    noise_std : float or Tensor
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
    if isinstance(step_size, Tensor) or isinstance(noise_std, Tensor):
        a = as_tensor(step_size, "step_size", dtype=torch.float64)
        s = as_tensor(noise_std, "noise_std", dtype=torch.float64)
        if not torch.isfinite(a).all() or (a <= 0).any():
            raise ValueError("step_size must be finite and > 0 everywhere")
        if not torch.isfinite(s).all() or (s < 0).any():
            raise ValueError("noise_std must be finite and >= 0 everywhere")
        return s.square() / (2 * a)
    a = check_positive(step_size, "step_size")
    s = _check_noise_std(noise_std)
    return s * s / (2 * a)


def _check_noise_std(noise_std) -> float:
    if noise_std == 0 and not isinstance(noise_std, bool):
        return 0.0
    return check_positive(noise_std, "noise_std")


def _energy_and_grad(energy: Energy, x: Tensor, step: int) -> tuple[Tensor, Tensor]:
    """E(x) (n,) and ∇ₓE(x) (n, *event); a ValueError naming ``energy`` if any energy is not finite."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        e = energy(x)
        if not isinstance(e, Tensor) or e.shape != (x.shape[0],):
            shape = tuple(e.shape) if isinstance(e, Tensor) else type(e).__name__
            raise ValueError(f"energy must map x of shape {tuple(x.shape)} to shape ({x.shape[0]},), got {shape}")
        if not torch.isfinite(e).all():
            n_bad = int((~torch.isfinite(e)).sum())
            where = "at x0" if step == 0 else f"after {step} SGLD step(s); lower step_size"
            raise ValueError(f"energy returned {n_bad} non-finite value(s) (NaN or inf) {where}")
        (grad,) = torch.autograd.grad(e.sum(), x)  # rows independent: every chain's gradient at once
    return e.detach(), grad


def sgld_step(energy: Energy, x: Tensor, step_size: float, noise_std: float, noise: Tensor) -> Tensor:
    r"""One step :math:`x' = x - a\nabla_x E(x) + \sigma z` with the standard normal noise z handed in.

    Parameters
    ----------
    energy : callable ``(n, *event_shape) -> (n,)``
    x : Tensor of shape (n, *event_shape)
    step_size : float
        a.
    noise_std : float
        σ.
    noise : Tensor of shape (n, *event_shape)
        z.

    Returns
    -------
    Tensor of shape (n, *event_shape), detached. Only x is differentiated: the energy's
    parameters collect no gradient.

    Introduced in notebook 07_modern_ebms.
    """
    _, grad = _energy_and_grad(energy, x, 0)
    return (x - step_size * grad + noise_std * noise).detach()


def sgld(
    energy: Energy,
    x0,
    n_steps: int,
    step_size: float,
    noise_std: float,
    *,
    clamp: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Run ``n_steps`` of :math:`x_{t+1} = x_t - a\nabla_x E(x_t) + \sigma z_t` and return the last positions.

    The sampler of IGEBM and JEM. It targets (for small a) :math:`e^{-E(x)/T}` with
    :math:`T` = :func:`implied_temperature` ``(a, σ)``; with :math:`\sigma^2 = 2a` it is exactly
    the unadjusted Langevin step of :func:`ebmlib.samplers.langevin` at ε = 2a, T = 1, and with
    the same generator it draws the same noise, so both give the same chains.

    Parameters
    ----------
    energy : callable ``(n_chains, *event_shape) -> (n_chains,)``
    x0 : Tensor of shape (n_chains, *event_shape)
        Starting points (finite); not modified.
    n_steps : int
        Number of steps, ≥ 0 (0 returns a copy of x0).
    step_size : float
        a > 0.
    noise_std : float
        σ ≥ 0.
    clamp : (low, high), optional
        Clip x to this box after every step (IGEBM keeps images in their pixel range). Leaves
        the dynamics unchanged as long as the chains stay inside.
    generator : torch.Generator, optional
        Same seed, same chains.

    Returns
    -------
    Tensor of shape (n_chains, *event_shape), detached, in the dtype and on the device of x0.

    Raises
    ------
    ValueError
        Naming ``energy`` if an energy is not finite, at x0 or along the way (the step said).

    Examples
    --------
    >>> import torch
    >>> energy = lambda x: 0.5 * x.square().sum(1)
    >>> x = sgld(energy, torch.zeros(100, 2), 20, 1.0, 0.01, generator=torch.Generator().manual_seed(0))
    >>> x.shape
    torch.Size([100, 2])

    Introduced in notebook 07_modern_ebms.
    """
    x = as_tensor(x0, "x0")
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"x0 must have shape (n_chains, *event_shape) with n_chains >= 1, got {tuple(x.shape)}")
    check_finite(x, "x0")
    n_steps = check_int(n_steps, "n_steps", minimum=0)
    step_size = check_positive(step_size, "step_size")
    noise_std = _check_noise_std(noise_std)
    if clamp is not None:
        low, high = (float(c) for c in clamp)
        if not low < high:
            raise ValueError(f"clamp must be (low, high) with low < high, got {clamp!r}")
    check_generator(generator)
    x = x.detach().clone()  # (n_chains, *event_shape)
    for step in range(n_steps):
        # the noise first, then the gradient: the order of ebmlib.samplers.langevin_step
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        _, grad = _energy_and_grad(energy, x, step)
        x = x - step_size * grad + noise_std * noise
        if clamp is not None:
            x = x.clamp(low, high)
    if not torch.isfinite(x).all():
        raise ValueError(f"the SGLD chains of energy diverged (non-finite positions); lower step_size (got {step_size})")
    return x.detach()
