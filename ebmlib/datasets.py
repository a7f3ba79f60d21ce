r"""Data sets: generated 2-D toys; bars-and-stripes; the 8 x 8 digits, binarized or scaled to [-1, 1].

2-D toys: eight Gaussians, two moons, rings, checkerboard, swiss roll.

Each function is ``f(n, *, generator=None)`` and returns an i.i.d. sample as a tensor of
shape (n, 2) in the default floating dtype: the same generator state gives the same data.
All sets live roughly in the box [-3, 3]^2. Nothing is downloaded.

``eight_gaussians`` samples from :func:`eight_gaussians_mixture`, whose exact density (and
exact noisy score) is known, so models fitted to it can be scored by exact log-likelihood.

References
----------
W. Grathwohl et al., "FFJORD: Free-form continuous dynamics for scalable reversible
generative models", ICLR 2019 (the eight Gaussians, rings and checkerboard toys).
F. Pedregosa et al., scikit-learn (2011): ``make_moons`` and ``make_swiss_roll``.

Introduced in notebook 04_contrastive_divergence (used again in 05, 07 and 08).

Binary data for Boltzmann machines (notebook 06_boltzmann_machines): :func:`bars_and_stripes`
(D. J. C. MacKay, *Information Theory, Inference, and Learning Algorithms*, 2003, ch. 43) and
:func:`binarized_digits`, the 1797 handwritten 8 x 8 digits that ship inside scikit-learn
(``sklearn.datasets.load_digits``; UCI "Optical Recognition of Handwritten Digits"), thresholded.
The same digits as real-valued images in [-1, 1], split at random into train and test, for the
classifiers and JEMs of notebook 07_modern_ebms: :func:`scaled_digits`.
"""

from __future__ import annotations

import math
from numbers import Real

import torch

from ebmlib._validation import check_int, check_positive
from ebmlib.energies import GaussianMixture

__all__ = [
    "eight_gaussians",
    "eight_gaussians_mixture",
    "two_moons",
    "rings",
    "checkerboard",
    "swiss_roll",
    "bars_and_stripes",
    "binarized_digits",
    "scaled_digits",
]

DIGITS_N_TRAIN = 1500  #: binarized_digits(split="train") is the first 1500 images, "test" the other 297


def _check_noise(noise) -> float:
    """Noise standard deviation: a finite number >= 0."""
    if isinstance(noise, bool) or not isinstance(noise, Real):
        raise TypeError(f"noise must be a real number, got {type(noise).__name__}")
    if not math.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be finite and >= 0, got {noise}")
    return float(noise)


def _uniform(n: int, generator) -> torch.Tensor:
    """n draws from U[0, 1), float64."""
    return torch.rand(n, generator=generator, dtype=torch.float64)


def _finish(x: torch.Tensor, noise: float, generator) -> torch.Tensor:
    """Add isotropic N(0, noise^2 I) noise and cast (n, 2) float64 points to the default dtype."""
    if noise > 0:
        x = x + noise * torch.randn(x.shape, generator=generator, dtype=torch.float64)
    return x.to(torch.get_default_dtype())


def eight_gaussians_mixture(radius: float = 2.0, std: float = 0.2) -> GaussianMixture:
    r"""The mixture behind :func:`eight_gaussians`: equal weights, means on a circle.

    .. math:: p(x) = \tfrac18 \sum_{k=0}^{7} \mathcal N\big(x;\ r(\cos\tfrac{2\pi k}{8}, \sin\tfrac{2\pi k}{8}),\ s^2 I\big)

    Its mean is 0 and its covariance :math:`(r^2/2 + s^2) I`. Parameters are float64.
    """
    radius = check_positive(radius, "radius")
    std = check_positive(std, "std")
    angles = 2 * math.pi * torch.arange(8, dtype=torch.float64) / 8
    means = radius * torch.stack([angles.cos(), angles.sin()], dim=1)  # (8, 2)
    return GaussianMixture(means, std)


def eight_gaussians(n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """n points from ``eight_gaussians_mixture()`` (radius 2, std 0.2), shape (n, 2).

    Exactly ``eight_gaussians_mixture().sample(n, generator=generator)`` cast to the default dtype.
    """
    n = check_int(n, "n")
    return eight_gaussians_mixture().sample(n, generator=generator).to(torch.get_default_dtype())


def two_moons(n: int, *, noise: float = 0.1, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Two interleaved half circles, each point on either with probability 1/2, shape (n, 2).

    Before scaling, the upper moon is :math:`(\cos t, \sin t)` and the lower
    :math:`(1 - \cos t, \tfrac12 - \sin t)` with :math:`t \sim U[0, \pi]`; the points are then
    centred, :math:`x \mapsto 2\,(x - (\tfrac12, \tfrac14))`, and N(0, noise^2 I) is added.
    """
    n = check_int(n, "n")
    noise = _check_noise(noise)
    t = math.pi * _uniform(n, generator)
    lower = _uniform(n, generator) < 0.5
    upper_moon = torch.stack([t.cos(), t.sin()], dim=1)
    lower_moon = torch.stack([1 - t.cos(), 0.5 - t.sin()], dim=1)
    x = torch.where(lower.unsqueeze(1), lower_moon, upper_moon)
    x = 2 * (x - torch.tensor([0.5, 0.25], dtype=torch.float64))
    return _finish(x, noise, generator)


def rings(n: int, *, noise: float = 0.08, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Three concentric circles of radii 1, 2 and 3, shape (n, 2).

    A ring is chosen with probability proportional to its radius (1/6, 2/6, 3/6), so the
    points are uniform along the total arc length; the angle is uniform on :math:`[0, 2\pi)`,
    and N(0, noise^2 I) is added.
    """
    n = check_int(n, "n")
    noise = _check_noise(noise)
    probs = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64) / 6
    radius = (torch.multinomial(probs, n, replacement=True, generator=generator) + 1).to(torch.float64)
    angle = 2 * math.pi * _uniform(n, generator)
    x = radius.unsqueeze(1) * torch.stack([angle.cos(), angle.sin()], dim=1)
    return _finish(x, noise, generator)


def checkerboard(n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Uniform on the 8 dark squares of a 4 x 4 board of unit squares covering [-2, 2]^2.

    A square :math:`[i, i+1) \times [j, j+1)` is dark when :math:`i + j` is even; each of the 8
    has probability 1/8, so the density is 1/8 on the dark squares and 0 elsewhere. Shape (n, 2).
    """
    n = check_int(n, "n")
    column = torch.randint(0, 4, (n,), generator=generator)
    row = 2 * torch.randint(0, 2, (n,), generator=generator) + column % 2  # column + row even
    corner = torch.stack([column, row], dim=1).to(torch.float64) - 2
    x = corner + torch.rand(n, 2, generator=generator, dtype=torch.float64)
    return x.to(torch.get_default_dtype())


def swiss_roll(n: int, *, noise: float = 0.1, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""A 2-D spiral, shape (n, 2): :math:`\tfrac15 (t\cos t,\ t \sin t)`, :math:`t \sim U[\tfrac32\pi, \tfrac92\pi]`.

    The radius grows with the angle, :math:`\|x\| = t/5`, from about 0.94 to 2.83; then
    N(0, noise^2 I) is added.
    """
    n = check_int(n, "n")
    noise = _check_noise(noise)
    t = 1.5 * math.pi * (1 + 2 * _uniform(n, generator))
    x = torch.stack([t * t.cos(), t * t.sin()], dim=1) / 5
    return _finish(x, noise, generator)


def bars_and_stripes(n: int | None = None, *, size: int = 4, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Binary ``size x size`` images in which every row is all on or all off, or every column is.

    There are :math:`2 \cdot 2^{\text{size}} - 2` distinct patterns (the blank and the full image
    are both bars and stripes); each row of the result is one image flattened row by row, shape
    (m, size * size), entries 0. or 1. in the default dtype.

    ``n=None`` returns every distinct pattern once (stripes first, then bars, each ordered by the
    binary number of its lines); an int ``n`` draws ``n`` patterns uniformly from them, so the best
    possible average log-likelihood is :math:`-\log(2^{\text{size}+1} - 2)`.
    """
    size = check_int(size, "size")
    lines = ((torch.arange(2**size)[:, None] >> torch.arange(size)) & 1).bool()  # (2^size, size)
    stripes = lines[:, :, None].expand(-1, size, size)  # row r all equal to lines[k, r]
    bars = lines[:, None, :].expand(-1, size, size)  # column c all equal to lines[k, c]
    patterns = torch.cat([stripes, bars[1:-1]]).reshape(-1, size * size).to(torch.get_default_dtype())
    if n is None:
        return patterns
    n = check_int(n, "n")
    return patterns[torch.randint(0, patterns.shape[0], (n,), generator=generator)]


def binarized_digits(
    split: str | None = None, *, threshold: float = 0.5, return_labels: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    r"""scikit-learn's bundled 8 x 8 digits as binary vectors: pixel on when its intensity / 16 > ``threshold``.

    Shape (n, 64), entries 0. or 1. in the default dtype, pixels row by row. Read from the copy
    inside scikit-learn (``sklearn.datasets.load_digits``): nothing is downloaded.

    ``split``: None (all 1797 images), ``"train"`` (the first 1500) or ``"test"`` (the last 297);
    the digits cycle through the classes, so both hold every class about equally.
    With ``return_labels`` also the digit of each image, an int64 tensor of shape (n,).
    """
    from sklearn.datasets import load_digits

    if isinstance(threshold, bool) or not isinstance(threshold, Real) or not 0 <= threshold < 1:
        raise ValueError(f"threshold must be a number in [0, 1), got {threshold!r}")
    rows = {None: slice(None), "train": slice(0, DIGITS_N_TRAIN), "test": slice(DIGITS_N_TRAIN, None)}
    if split not in rows:
        raise ValueError(f"split must be None, 'train' or 'test', got {split!r}")
    digits = load_digits()
    x = torch.as_tensor(digits.data[rows[split]] / 16.0 > threshold).to(torch.get_default_dtype())
    if return_labels:
        return x, torch.as_tensor(digits.target[rows[split]], dtype=torch.int64)
    return x


def scaled_digits(n_test: int = 360, *, generator: torch.Generator | None = None):
    r"""The 8×8 handwritten digits of scikit-learn, real-valued in [−1, 1], split into train and test.

    1 797 images of 8×8 pixels with 17 grey levels 0…16, mapped to :math:`x = v/8 - 1`.
    Nothing is downloaded: the data ship inside scikit-learn.

    Parameters
    ----------
    n_test : int
        Size of the test set (a random subset, from ``generator``).

    Returns
    -------
    x_train : Tensor of shape (1797 − n_test, 1, 8, 8), float32
    y_train : Tensor of shape (1797 − n_test,), int64, labels 0…9
    x_test, y_test : likewise, n_test rows.

    Introduced in notebook 07_modern_ebms.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 8.0 - 1.0  # (1797, 1, 8, 8)
    y = torch.as_tensor(bunch.target, dtype=torch.int64)  # (1797,)
    n_test = check_int(n_test, "n_test")
    if n_test >= x.shape[0]:
        raise ValueError(f"n_test must be smaller than the {x.shape[0]} images, got {n_test}")
    order = torch.randperm(x.shape[0], generator=generator)
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]
