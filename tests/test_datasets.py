"""Tests of ebmlib.datasets: shapes, reproducibility, and each set's exact geometry."""

import math

import pytest
import torch

from ebmlib.datasets import (
    bars_and_stripes,
    binarized_digits,
    checkerboard,
    eight_gaussians,
    eight_gaussians_mixture,
    rings,
    scaled_digits,
    swiss_roll,
    two_moons,
)

DATASETS = [eight_gaussians, two_moons, rings, checkerboard, swiss_roll]


def _gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("dataset", DATASETS, ids=lambda f: f.__name__)
def test_dataset_is_an_n_by_2_float_tensor_of_finite_points(dataset):
    x = dataset(257, generator=_gen(0))
    assert x.shape == (257, 2)
    assert x.dtype == torch.get_default_dtype()
    assert torch.isfinite(x).all()
    assert (x.abs() < 4.5).all()  # every set lives in about [-3, 3]^2


@pytest.mark.parametrize("dataset", DATASETS, ids=lambda f: f.__name__)
def test_same_seed_gives_same_data_and_different_seeds_differ(dataset):
    assert torch.equal(dataset(100, generator=_gen(1)), dataset(100, generator=_gen(1)))
    assert not torch.equal(dataset(100, generator=_gen(1)), dataset(100, generator=_gen(2)))


@pytest.mark.parametrize("dataset", DATASETS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("n", [0, -3])
def test_non_positive_n_raises_naming_n(dataset, n):
    with pytest.raises(ValueError, match="n must"):
        dataset(n)


@pytest.mark.parametrize("dataset", [two_moons, rings, swiss_roll], ids=lambda f: f.__name__)
def test_negative_noise_raises_naming_noise(dataset):
    with pytest.raises(ValueError, match="noise"):
        dataset(10, noise=-0.1)


def test_eight_gaussians_are_the_mixture_samples():
    mixture = eight_gaussians_mixture()
    x = eight_gaussians(500, generator=_gen(3))
    assert torch.equal(x, mixture.sample(500, generator=_gen(3)).to(x.dtype))


def test_eight_gaussians_mixture_has_eight_means_on_a_circle():
    mixture = eight_gaussians_mixture(radius=2.0, std=0.2)
    assert mixture.means.shape == (8, 2)
    torch.testing.assert_close(mixture.means.norm(dim=1), torch.full((8,), 2.0, dtype=torch.float64))
    torch.testing.assert_close(mixture.means[2], torch.tensor([0.0, 2.0], dtype=torch.float64))
    torch.testing.assert_close(mixture.stds, torch.full((8,), 0.2, dtype=torch.float64))
    torch.testing.assert_close(mixture.weights, torch.full((8,), 1 / 8, dtype=torch.float64))


def test_eight_gaussians_mean_and_covariance_match_the_mixture_within_monte_carlo_error():
    # The mixture has mean 0 and covariance (r^2/2 + s^2) I = 2.04 I.
    n = 20000
    x = eight_gaussians(n, generator=_gen(4)).double()
    var = 2.0**2 / 2 + 0.2**2
    assert (x.mean(0).abs() < 5 * math.sqrt(var / n)).all()
    products = torch.stack([x[:, 0] ** 2, x[:, 1] ** 2, x[:, 0] * x[:, 1]], dim=1)  # E = (var, var, 0)
    se = products.std(0) / math.sqrt(n)
    assert ((products.mean(0) - torch.tensor([var, var, 0.0], dtype=torch.float64)).abs() < 5 * se).all()


def test_two_moons_without_noise_lie_on_two_unit_half_circles():
    x = two_moons(2000, noise=0.0, generator=_gen(5)).double() / 2 + torch.tensor([0.5, 0.25], dtype=torch.float64)
    upper = ((x.norm(dim=1) - 1).abs() < 1e-6) & (x[:, 1] >= -1e-6)
    lower = (((x - torch.tensor([1.0, 0.5], dtype=torch.float64)).norm(dim=1) - 1).abs() < 1e-6) & (x[:, 1] <= 0.5 + 1e-6)
    assert (upper | lower).all()
    # each moon with probability 1/2 (the two circles meet in no point of the half-circles)
    share = upper.double().mean().item()
    assert abs(share - 0.5) < 5 * math.sqrt(0.25 / 2000)


def test_rings_without_noise_have_radii_one_two_three_in_proportion_to_length():
    n = 6000
    x = rings(n, noise=0.0, generator=_gen(6)).double()
    radius = x.norm(dim=1)
    nearest = radius.round()
    assert ((radius - nearest).abs() < 1e-6).all()
    for r in (1, 2, 3):
        p = r / 6
        share = (nearest == r).double().mean().item()
        assert abs(share - p) < 5 * math.sqrt(p * (1 - p) / n)
    # uniform angle: E[cos] = E[sin] = 0, each with variance 1/2
    angle_mean = (x / radius[:, None]).mean(0)
    assert (angle_mean.abs() < 5 * math.sqrt(0.5 / n)).all()


def test_checkerboard_fills_the_eight_dark_squares_uniformly():
    n = 8000
    x = checkerboard(n, generator=_gen(7)).double()
    assert ((x >= -2) & (x < 2)).all()
    corner = x.floor()
    assert ((corner[:, 0] + corner[:, 1]) % 2 == 0).all()  # dark squares only
    index = (corner[:, 0] + 2) * 4 + (corner[:, 1] + 2)
    counts = torch.bincount(index.long(), minlength=16).double()
    dark = counts[counts > 0]
    assert len(dark) == 8
    assert ((dark / n - 1 / 8).abs() < 5 * math.sqrt((1 / 8) * (7 / 8) / n)).all()
    # uniform within a square: the offset from the corner has mean 1/2, variance 1/12
    assert ((x - corner).mean(0) - 0.5).abs().max() < 5 * math.sqrt(1 / 12 / n)


def test_swiss_roll_without_noise_has_radius_t_over_five_at_angle_t():
    x = swiss_roll(1000, noise=0.0, generator=_gen(8)).double()
    t = 5 * x.norm(dim=1)
    assert (t >= 1.5 * math.pi - 1e-5).all() and (t <= 4.5 * math.pi + 1e-5).all()
    torch.testing.assert_close(x, torch.stack([t * t.cos(), t * t.sin()], dim=1) / 5, rtol=0, atol=2e-5)


def test_noise_spreads_points_by_its_standard_deviation():
    # rings with noise s: the difference from the noiseless points (same generator stream for
    # ring and angle) is N(0, s^2 I), so its sample variance is s^2 within Monte Carlo error
    n, s = 4000, 0.3
    clean = rings(n, noise=0.0, generator=_gen(9)).double()
    noisy = rings(n, noise=s, generator=_gen(9)).double()
    diff = noisy - clean
    assert (diff.var(0) - s**2).abs().max() < 5 * s**2 * math.sqrt(2 / n)


@pytest.mark.parametrize("size", [2, 3, 4])
def test_bars_and_stripes_lists_every_pattern_once(size):
    x = bars_and_stripes(size=size)
    assert x.shape == (2 ** (size + 1) - 2, size * size) and x.dtype == torch.get_default_dtype()
    assert len({tuple(row.tolist()) for row in x}) == len(x)  # distinct
    images = x.reshape(-1, size, size)
    rows_constant = (images == images[:, :, :1]).all(dim=(1, 2))  # stripes: each row all on or all off
    columns_constant = (images == images[:, :1, :]).all(dim=(1, 2))  # bars
    assert (rows_constant | columns_constant).all()
    # and every image with constant rows or constant columns is there: 2^size of each, blank and full shared
    assert int(rows_constant.sum()) == 2**size and int(columns_constant.sum()) == 2**size


def test_bars_and_stripes_samples_are_uniform_over_the_patterns():
    n = 6000
    patterns = bars_and_stripes(size=3)
    x = bars_and_stripes(n, size=3, generator=_gen(10))
    index = (x[:, None, :] == patterns[None]).all(-1).double().argmax(1)
    assert ((x[:, None, :] == patterns[None]).all(-1).sum(1) == 1).all()  # every draw is one of the patterns
    share = torch.bincount(index, minlength=14).double() / n
    p = 1 / 14
    assert ((share - p).abs() < 5 * math.sqrt(p * (1 - p) / n)).all()
    assert torch.equal(x, bars_and_stripes(n, size=3, generator=_gen(10)))


def test_binarized_digits_threshold_scikit_learns_bundled_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = binarized_digits(return_labels=True)
    assert x.shape == (1797, 64) and y.shape == (1797,) and y.dtype == torch.int64
    assert torch.equal(x, torch.as_tensor(digits.data / 16 > 0.5).to(x.dtype))
    assert torch.equal(y, torch.as_tensor(digits.target))
    train, test = binarized_digits("train"), binarized_digits("test")
    assert train.shape == (1500, 64) and test.shape == (297, 64)
    assert torch.equal(torch.cat([train, test]), x)
    assert binarized_digits(threshold=0.0).sum() > x.sum()  # a lower threshold turns more pixels on


def test_binary_data_bad_arguments_raise_naming_them():
    with pytest.raises(ValueError, match="size"):
        bars_and_stripes(size=0)
    with pytest.raises(ValueError, match="n must"):
        bars_and_stripes(0)
    with pytest.raises(ValueError, match="split"):
        binarized_digits("validation")
    with pytest.raises(ValueError, match="threshold"):
        binarized_digits(threshold=1.5)


def test_scaled_digits_are_the_sklearn_images_scaled_to_minus_one_one_and_split_without_overlap():
    from collections import Counter

    from sklearn.datasets import load_digits

    x_train, y_train, x_test, y_test = scaled_digits(300, generator=torch.Generator().manual_seed(0))
    assert x_train.shape == (1497, 1, 8, 8) and x_test.shape == (300, 1, 8, 8)
    assert y_train.shape == (1497,) and y_test.dtype == torch.int64
    # the two halves together are exactly sklearn's images, pixel v -> v/8 - 1, with their labels
    bunch = load_digits()
    expected = Counter((tuple(v / 8 - 1 for v in image.flatten()), int(t)) for image, t in zip(bunch.images, bunch.target))
    x, y = torch.cat([x_train, x_test]).flatten(1).double(), torch.cat([y_train, y_test])
    got = Counter((tuple(row.tolist()), int(t)) for row, t in zip(x, y))
    assert got == expected
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0




def test_scaled_digits_reject_a_test_set_as_large_as_the_data_naming_n_test():
    with pytest.raises(ValueError, match="n_test"):
        scaled_digits(1797)
