r"""Onsager's exact solution of the infinite 2-D Ising lattice: log Z per site, energy, magnetisation.

Below :math:`T_c = 2 / \log(1 + \sqrt 2)` (Kramers and Wannier 1941) the lattice orders; Onsager
(1944) found the free energy, Yang (1952) the spontaneous magnetisation. Conventions as in
:mod:`ebmlib.ising` (J = k_B = 1, every bond counted once).

References
----------
.. [1] L. Onsager, "Crystal statistics. I. A two-dimensional model with an order-disorder
   transition", Phys. Rev. 65, 117-149 (1944).
.. [2] C. N. Yang, "The spontaneous magnetization of a two-dimensional Ising model", Phys. Rev. 85,
   808-816 (1952).
.. [3] K. Huang, *Statistical Mechanics*, 2nd ed., Wiley (1987), ch. 15.

Introduced in notebook 02_boltzmann_and_temperature.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import integrate, special

from ebmlib._validation import check_positive_tensor

__all__ = ["TC", "onsager_log_z", "onsager_energy", "onsager_magnetization"]

TC = 2.0 / math.log(1.0 + math.sqrt(2.0))
"""Critical temperature :math:`T_c = 2 / \\log(1 + \\sqrt 2) \\approx 2.269185` (J = k_B = 1)."""


def _onsager_temperature(temperature) -> tuple[np.ndarray, torch.Tensor]:
    """``temperature`` T (float or tensor of any shape) as a float64 numpy array, and the validated tensor."""
    t = check_positive_tensor(temperature, "temperature")
    return t.detach().cpu().numpy(), t


def _sech(x: np.ndarray) -> np.ndarray:
    """1 / cosh(x) for x >= 0, without overflow."""
    e = np.exp(-x)
    return 2.0 * e / (1.0 + e * e)


def _kappa(beta: np.ndarray) -> np.ndarray:
    """Onsager's modulus k = 2 sinh(2β) / cosh²(2β) = 2 tanh(2β) sech(2β), in [0, 1], 1 only at T_c."""
    return np.minimum(2.0 * np.tanh(2.0 * beta) * _sech(2.0 * beta), 1.0)


def onsager_log_z(temperature) -> torch.Tensor:
    r"""Log partition function per site of the infinite square-lattice Ising model, :math:`\log Z / N`.

    Onsager's double integral,

    .. math::

        \frac{\log Z}{N} = \log 2 + \frac{1}{2\pi^2} \int_0^\pi\!\!\int_0^\pi
            \log\bigl[\cosh^2 2\beta - \sinh 2\beta\,(\cos\theta_1 + \cos\theta_2)\bigr]\,
            d\theta_1\, d\theta_2, \qquad \beta = 1/T,

    reduces, doing the inner integral in closed form, to one integral (Huang, eq. 15.128)

    .. math::

        \frac{\log Z}{N} = \log(2\cosh 2\beta) + \frac{1}{\pi} \int_0^{\pi/2}
            \log \frac{1 + \sqrt{1 - k^2 \sin^2\phi}}{2}\, d\phi,
        \qquad k = \frac{2 \sinh 2\beta}{\cosh^2 2\beta},

    which is computed here by adaptive quadrature (``scipy.integrate.quad_vec``, absolute error
    below 1e-13) in float64, all temperatures at once. The integrand is written as
    :math:`\operatorname{log1p}(-x / (2 (1 + \sqrt{1-x})))`, :math:`x = k^2 \sin^2\phi`, and
    :math:`\log(2\cosh 2\beta) = 2\beta + \operatorname{log1p}(e^{-4\beta})`, so both limits are
    accurate: :math:`\log 2` as :math:`T \to \infty`, :math:`2\beta` (the ground state, energy
    :math:`-2` per site) as :math:`T \to 0`. At :math:`T_c` (:math:`k = 1`) the integrand has a
    square-root kink at :math:`\phi = \pi/2`, which the adaptive rule resolves.

    Parameters
    ----------
    temperature : float or Tensor of any shape
        T > 0.
        Temperatures, finite and > 0.

    Returns
    -------
    Tensor, float64, of the shape of ``temperature`` (0-d for a float), on its device.

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    t_np, t = _onsager_temperature(temperature)
    beta = 1.0 / t_np.reshape(-1)
    k2 = _kappa(beta) ** 2

    def integrand(phi: float) -> np.ndarray:
        x = k2 * math.sin(phi) ** 2
        return np.log1p(-x / (2.0 * (1.0 + np.sqrt(1.0 - x))))

    integral, _ = integrate.quad_vec(integrand, 0.0, math.pi / 2, epsabs=1e-14, epsrel=1e-13, norm="max", limit=2000)
    log_z = 2.0 * beta + np.log1p(np.exp(-4.0 * beta)) + integral / math.pi
    return torch.as_tensor(log_z.reshape(t_np.shape), dtype=torch.float64, device=t.device)


def _k_minus_half_pi(m: np.ndarray) -> np.ndarray:
    r"""K(m) - π/2 for 0 <= m < 1/4, without cancellation: (π/2) Σ_{n≥1} [(2n-1)!!/(2n)!!]² mⁿ."""
    total, term, c = np.zeros_like(m), np.ones_like(m), 1.0
    for n in range(1, 41):  # (1/4)^40 ~ 1e-24: far below float64 resolution
        c *= (2 * n - 1) / (2 * n)
        term = term * m
        total = total + c * c * term
    return (math.pi / 2) * total


def onsager_energy(temperature) -> torch.Tensor:
    r"""Mean energy per site of the infinite lattice, :math:`u = -\partial (\log Z / N) / \partial \beta`.

    .. math::

        u(T) = -\coth 2\beta \Bigl[1 + \frac{2}{\pi} (2 \tanh^2 2\beta - 1)\, K(k)\Bigr],
        \qquad k = \frac{2 \sinh 2\beta}{\cosh^2 2\beta},

    with :math:`K(k) = \int_0^{\pi/2} d\phi / \sqrt{1 - k^2 \sin^2\phi}` the complete elliptic
    integral of the first kind (``scipy.special.ellipk`` takes :math:`m = k^2`).

    At :math:`T_c`, :math:`k = 1` and :math:`K` diverges logarithmically while
    :math:`2\tanh^2 2\beta - 1` vanishes linearly; the product tends to 0, so :math:`u` is continuous
    with :math:`u(T_c) = -\coth 2\beta_c = -\sqrt 2`, which is returned there (for
    :math:`|T - T_c| \le 10^{-12} T_c`). At high temperature the bracket is a small difference of
    terms near 1; there (:math:`k^2 < 1/4`) it is rewritten as
    :math:`-\tfrac{2}{\pi}(K - \tfrac{\pi}{2}) + \tfrac{4}{\pi}\tanh^2(2\beta) K` with
    :math:`K - \pi/2` from its power series, so :math:`u \approx -2/T` stays accurate.

    Parameters
    ----------
    temperature : float or Tensor of any shape
        T > 0.
        Temperatures, finite and > 0.

    Returns
    -------
    Tensor, float64, of the shape of ``temperature``, on its device.

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    t_np, t = _onsager_temperature(temperature)
    beta = 1.0 / t_np
    tanh2 = np.tanh(2.0 * beta)
    m = _kappa(beta) ** 2
    at_tc = (np.abs(t_np - TC) <= 1e-12 * TC) | (m >= 1.0)
    small = m < 0.25
    with np.errstate(divide="ignore", invalid="ignore"):
        k = special.ellipk(np.where(at_tc, 0.0, m))
        near_one = 1.0 + (2.0 / math.pi) * np.where(at_tc, 0.0, (2.0 * tanh2**2 - 1.0) * k)
        series = -(2.0 / math.pi) * _k_minus_half_pi(np.where(small, m, 0.0)) + (4.0 / math.pi) * tanh2**2 * k
    bracket = np.where(small, series, near_one)
    u = -bracket / tanh2
    return torch.as_tensor(u, dtype=torch.float64, device=t.device)


def onsager_magnetization(temperature) -> torch.Tensor:
    r"""Spontaneous magnetisation per site of the infinite lattice (Yang 1952).

    .. math::

        m(T) = \bigl(1 - \sinh^{-4} 2\beta\bigr)^{1/8} \quad (T < T_c), \qquad m(T) = 0 \quad (T \ge T_c).

    It vanishes as :math:`(T_c - T)^{1/8}` at :math:`T_c` and tends to 1 as :math:`T \to 0`.

    Parameters
    ----------
    temperature : float or Tensor of any shape
        T > 0.
        Temperatures, finite and > 0.

    Returns
    -------
    Tensor, float64, of the shape of ``temperature``, on its device.

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    t_np, t = _onsager_temperature(temperature)
    with np.errstate(over="ignore"):
        inv_sinh4 = np.sinh(2.0 / t_np) ** -4.0  # 0 when sinh overflows (T < 0.003)
    m = np.where(t_np < TC, np.clip(1.0 - inv_sinh4, 0.0, 1.0) ** 0.125, 0.0)
    return torch.as_tensor(m, dtype=torch.float64, device=t.device)


