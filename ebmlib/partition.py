r"""The partition function and the thermodynamics of a Boltzmann distribution.

For a finite set of states with energies :math:`E_i` at temperature :math:`T` (``k_B = 1``):

.. math::

    Z(T) = \sum_i e^{-E_i/T}, \qquad p_i = \frac{e^{-E_i/T}}{Z}, \qquad
    F = -T \log Z = \langle E \rangle - T S, \qquad
    S = -\sum_i p_i \log p_i, \qquad C = \frac{\operatorname{Var}(E)}{T^2}.

Everything is computed in log space (log-sum-exp), so energies in the thousands are fine.
For a continuous state space, :func:`log_partition_grid` integrates :math:`e^{-E(x)/T}` on a
grid by the trapezoid rule, again in log space, and :func:`log_partition_importance` estimates
it by importance sampling with a Gaussian proposal, with its standard error.

``temperature`` is a float, or a 1-D tensor of temperatures (a sweep): outputs then gain a
leading axis of that length. Results are float64.

References
----------
D. J. C. MacKay, *Information Theory, Inference, and Learning Algorithms* (2003), ch. 31.
J. P. Sethna, *Statistical Mechanics: Entropy, Order Parameters, and Complexity* (2006), ch. 6.

Introduced in notebooks 01_energy_and_partition and 02_boltzmann_and_temperature.
"""

from __future__ import annotations

import torch

import math

from ebmlib._validation import as_temperature, check_bounds, check_energies, check_generator, check_int, check_positive

__all__ = [
    "log_partition_exact",
    "log_partition_grid",
    "log_partition_importance",
    "grid",
    "boltzmann",
    "free_energy",
    "mean_energy",
    "entropy",
    "heat_capacity",
]



def _log_weights(energies, temperature) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validated energies (n,), T of shape () or (m,), and -E/T of shape (n,) or (m, n)."""
    energies = check_energies(energies)
    t = as_temperature(temperature, energies.device)
    return energies, t, -energies / t.unsqueeze(-1)


def log_partition_exact(energies, temperature=1.0) -> torch.Tensor:
    r"""Log partition function of finitely many states, by log-sum-exp.

    .. math:: \log Z(T) = \log \sum_i e^{-E_i/T}
              = -\frac{E_{\min}}{T} + \log \sum_i e^{-(E_i - E_{\min})/T}.

    Parameters
    ----------
    energies : Tensor of shape (n_states,)
        Finite energies of every state.
    temperature : float or Tensor of shape (m,)
        T > 0, or a sweep of temperatures.

    Returns
    -------
    Tensor, float64, of shape () or (m,).

    Introduced in notebook 01_energy_and_partition.
    """
    _, _, logits = _log_weights(energies, temperature)
    return torch.logsumexp(logits, dim=-1)


def boltzmann(energies, temperature=1.0) -> torch.Tensor:
    r"""Boltzmann probabilities :math:`p_i = e^{-E_i/T} / Z`, a softmax of :math:`-E/T`.

    Returns a float64 tensor of shape (n_states,), or (m, n_states) for a sweep of m temperatures.

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    _, _, logits = _log_weights(energies, temperature)
    return torch.softmax(logits, dim=-1)


def free_energy(energies, temperature=1.0) -> torch.Tensor:
    r"""Thermodynamic free energy :math:`F = -T \log Z = \langle E \rangle - T S`.

    Not the free energy of one state, which is :math:`-T \log p_i = E_i + T \log Z`.
    Shape () or (m,), float64.

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    _, t, logits = _log_weights(energies, temperature)
    return -t * torch.logsumexp(logits, dim=-1)


def mean_energy(energies, temperature=1.0) -> torch.Tensor:
    r"""Mean energy :math:`\langle E \rangle = \sum_i p_i E_i = -\partial \log Z / \partial \beta`,
    with :math:`\beta = 1/T`. Shape () or (m,), float64.

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    e, _, logits = _log_weights(energies, temperature)
    return (torch.softmax(logits, dim=-1) * e).sum(-1)


def entropy(energies, temperature=1.0) -> torch.Tensor:
    r"""Gibbs entropy :math:`S = -\sum_i p_i \log p_i = (\langle E \rangle - F) / T`.

    Computed as :math:`-\sum_i p_i \log p_i` with :math:`\log p` from log-softmax, which avoids
    the cancellation of :math:`\langle E \rangle - F` at low temperature. Shape () or (m,), float64.

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    _, _, logits = _log_weights(energies, temperature)
    log_p = torch.log_softmax(logits, dim=-1)
    return -(log_p.exp() * log_p).sum(-1)


def heat_capacity(energies, temperature=1.0) -> torch.Tensor:
    r"""Heat capacity :math:`C = \operatorname{Var}(E) / T^2 = \partial \langle E \rangle / \partial T`.

    The variance is taken about the mean, :math:`\sum_i p_i (E_i - \langle E\rangle)^2`, which stays
    accurate when the energies are large. Shape () or (m,), float64.

    Introduced in notebook 02_boltzmann_and_temperature.
    """
    e, t, logits = _log_weights(energies, temperature)
    p = torch.softmax(logits, dim=-1)
    mean = (p * e).sum(-1, keepdim=True)
    return (p * (e - mean) ** 2).sum(-1) / t**2



def grid(bounds, n: int) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
    r"""A regular grid of ``n`` points per axis and its trapezoid-rule weights.

    With spacing :math:`h_j = (\text{high}_j - \text{low}_j)/(n-1)`, the 1-D weights are
    :math:`h (\tfrac12, 1, \dots, 1, \tfrac12)` and the d-D weights their product, so
    :math:`\int f \approx \sum_k w_k f(x_k)`.

    Parameters
    ----------
    bounds : (low, high) or ((x_low, x_high), (y_low, y_high))
        The box to cover; one pair per axis.
    n : int
        Points per axis, n >= 2.

    Returns
    -------
    points : Tensor of shape (n**d, d), float64
        Ordered as ``meshgrid(..., indexing="ij")``: ``values.reshape(n, n)[i, j]`` belongs to
        ``(axes[0][i], axes[1][j])``.
    weights : Tensor of shape (n**d,), float64
        Trapezoid weights; they sum to the volume of the box.
    axes : tuple of d Tensors of shape (n,)
        The coordinates along each axis.

    Introduced in notebook 01_energy_and_partition.
    """
    b = check_bounds(bounds)
    n = check_int(n, "n", minimum=2)
    axes = tuple(torch.linspace(float(lo), float(hi), n, dtype=torch.float64) for lo, hi in b)
    trap = []
    for lo, hi in b:
        w = torch.full((n,), float(hi - lo) / (n - 1), dtype=torch.float64)
        w[0] = w[-1] = w[0] / 2
        trap.append(w)
    points = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(axes))
    weights = torch.stack(torch.meshgrid(*trap, indexing="ij"), dim=-1).prod(-1).reshape(-1)
    return points, weights, axes


def energy_on_grid(energy, points: torch.Tensor) -> torch.Tensor:
    """E(points) as float64 of shape (m,); a torch Module gets points in its parameters' dtype."""
    if isinstance(energy, torch.nn.Module):
        param = next(energy.parameters(), None)
        if param is not None:
            points = points.to(dtype=param.dtype, device=param.device)
    values = energy(points)
    if not isinstance(values, torch.Tensor) or values.shape != (points.shape[0],):
        shape = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__
        raise ValueError(f"energy must map points of shape (m, d) to shape (m,), got {shape}")
    if torch.isnan(values).any():
        raise ValueError("energy returned NaN on the grid")
    return values.to(torch.float64)


def log_partition_grid(energy, bounds, n: int, temperature=1.0) -> torch.Tensor:
    r"""Log partition function of a continuous density by trapezoid quadrature in log space.

    .. math:: \log Z(T) = \log \int e^{-E(x)/T}\,dx \approx
              \operatorname{logsumexp}_k \big(-E(x_k)/T + \log w_k\big).

    The trapezoid rule converges very fast (faster than any power of 1/n) for smooth
    integrands that vanish at the edges of the box, so the box must hold nearly all the mass.

    Parameters
    ----------
    energy : callable
        Maps points of shape (m, d) to energies of shape (m,). Energies of +inf are allowed
        (zero weight); NaN is an error.
    bounds : (low, high) or ((x_low, x_high), (y_low, y_high))
        Integration box; see :func:`grid`.
    n : int
        Points per axis (n >= 2); the energy is evaluated at n**d points.
    temperature : float or Tensor of shape (m,)

    Returns
    -------
    Tensor, float64, of shape () or (m,).

    Introduced in notebook 01_energy_and_partition.
    """
    points, weights, _ = grid(bounds, n)
    t = as_temperature(temperature)
    values = energy_on_grid(energy, points)
    t = t.to(values.device)
    return torch.logsumexp(-values / t.unsqueeze(-1) + weights.to(values.device).log(), dim=-1)


def log_partition_importance(energy, dim, n, std=1.0, temperature=1.0, *, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Log partition function by importance sampling from :math:`q = \mathcal N(0, s^2 I_d)`, with its standard error.

    .. math::

        \log w_k = -\frac{E(x_k)}{T} - \log q(x_k), \quad x_k \sim q, \qquad
        \log \hat Z = \operatorname{logsumexp}_k \log w_k - \log n, \qquad
        \operatorname{SE}(\log \hat Z) \approx \frac{\operatorname{sd}(w)}{\sqrt n\,\overline{w}},

    the standard error by the delta method (the relative standard error of :math:`\hat Z`),
    computed from the log-weights shifted by their maximum, so that nothing overflows.
    :math:`\hat Z` is unbiased; :math:`\log \hat Z` is biased low by about
    :math:`\operatorname{SE}^2/2`. The error is only as good as the sample: when the weights' variance
    :math:`(\rho - 1) Z^2` is dominated by rare draws (high dimension, narrow proposal;
    for :math:`s^2 \le T\sigma^2/2` around a Gaussian target of variance :math:`T\sigma^2` it is infinite), both
    the estimate and its error come out too small.

    Parameters
    ----------
    energy : callable
        Maps x of shape (n, dim) to energies of shape (n,); a torch Module gets x in its dtype.
    dim : int
        d, the dimension of x.
    n : int >= 2
        Number of proposals.
    std : float
        s > 0, the proposal's standard deviation.
    temperature : float
        T > 0.
    generator : torch.Generator, optional

    Returns
    -------
    (log_z, standard_error) : two 0-d float64 Tensors

    Introduced in notebook 01_energy_and_partition.
    """
    dim, n = check_int(dim, "dim"), check_int(n, "n", minimum=2)
    std, t = check_positive(std, "std"), check_positive(temperature, "temperature")
    check_generator(generator)
    x = std * torch.randn(n, dim, generator=generator, dtype=torch.float64)  # (n, dim)
    log_q = -(x**2).sum(1) / (2 * std**2) - 0.5 * dim * math.log(2 * math.pi * std**2)
    log_w = -energy_on_grid(energy, x) / t - log_q  # (n,)
    log_z = torch.logsumexp(log_w, dim=0) - math.log(n)
    w = torch.exp(log_w - log_w.max())  # the weights up to a common factor, the largest = 1
    return log_z, w.std() / (w.mean() * math.sqrt(n))
