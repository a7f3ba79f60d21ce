"""Tests of ebmlib.energies against closed forms, scipy, torch.autograd and quadrature."""

import math

import pytest
import torch
from scipy import stats

from ebmlib.energies import DoubleWell, Gaussian, GaussianMixture
from ebmlib.partition import log_partition_grid

F64 = torch.float64


@pytest.fixture
def gaussian_3d():
    """A correlated 3-D Gaussian: cov = A A^T + 0.5 I with a fixed random A."""
    g = torch.Generator().manual_seed(1)
    a = torch.randn(3, 3, generator=g, dtype=F64)
    return Gaussian(torch.tensor([1.0, -2.0, 0.5], dtype=F64), a @ a.T + 0.5 * torch.eye(3, dtype=F64))


@pytest.fixture
def mixture_2d():
    """Three unequal, unequally weighted components in 2-D."""
    means = torch.tensor([[-1.5, 0.0], [1.0, 1.0], [0.5, -1.5]], dtype=F64)
    return GaussianMixture(means, torch.tensor([0.4, 0.7, 0.3], dtype=F64), torch.tensor([1.0, 2.0, 1.5], dtype=F64))


def _points(n, d, seed=0, scale=2.0):
    return scale * torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64)


# --- Gaussian -------------------------------------------------------------------------------


def test_gaussian_log_prob_matches_scipy_multivariate_normal(gaussian_3d):
    x = _points(50, 3)
    reference = stats.multivariate_normal(gaussian_3d.mean.numpy(), gaussian_3d.cov.numpy()).logpdf(x.numpy())
    got = -gaussian_3d(x) - gaussian_3d.log_partition()
    torch.testing.assert_close(got, torch.from_numpy(reference), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gaussian_3d.log_prob(x), got)


def test_gaussian_energy_is_half_the_mahalanobis_distance(gaussian_3d):
    x = _points(5, 3)
    diff = x - gaussian_3d.mean
    expected = 0.5 * (diff @ torch.linalg.inv(gaussian_3d.cov) * diff).sum(1)
    torch.testing.assert_close(gaussian_3d(x), expected, rtol=1e-12, atol=1e-12)
    assert gaussian_3d(gaussian_3d.mean[None]).item() == 0.0


def test_gaussian_log_partition_matches_closed_form_at_every_temperature(gaussian_3d):
    temps = torch.tensor([0.1, 1.0, 3.0], dtype=F64)
    expected = 1.5 * torch.log(2 * math.pi * temps) + 0.5 * torch.logdet(gaussian_3d.cov)
    torch.testing.assert_close(gaussian_3d.log_partition(temps), expected, rtol=1e-13, atol=1e-13)
    assert gaussian_3d.log_partition(3.0).item() == pytest.approx(expected[2].item(), rel=1e-13)
    assert gaussian_3d.log_partition().dtype == F64


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_gaussian_log_partition_matches_1d_quadrature(temperature):
    g = Gaussian(torch.tensor([0.3]), torch.tensor([[0.64]]))  # float32 parameters
    numeric = log_partition_grid(g, (-10.0, 10.0), 801, temperature)
    assert numeric.item() == pytest.approx(g.log_partition(temperature).item(), rel=1e-6)  # float32 cov


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_gaussian_log_partition_matches_2d_quadrature(temperature):
    g = Gaussian(torch.tensor([0.0, 1.0], dtype=F64), torch.tensor([[2.0, -0.9], [-0.9, 1.0]], dtype=F64))
    numeric = log_partition_grid(g, ((-20.0, 20.0), (-14.0, 16.0)), 301, temperature)
    assert numeric.item() == pytest.approx(g.log_partition(temperature).item(), rel=1e-10)


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_gaussian_score_matches_autograd(gaussian_3d, temperature):
    x = _points(7, 3).requires_grad_(True)
    (grad,) = torch.autograd.grad(gaussian_3d(x).sum(), x)
    torch.testing.assert_close(gaussian_3d.score(x, temperature=temperature), -grad / temperature, rtol=1e-12, atol=1e-12)


def test_gaussian_sample_mean_and_cov_within_monte_carlo_error(gaussian_3d):
    n = 20000
    x = gaussian_3d.sample(n, generator=torch.Generator().manual_seed(2))
    assert x.shape == (n, 3) and x.dtype == F64
    cov = gaussian_3d.cov
    var = cov.diagonal()
    se_mean = (var / n).sqrt()
    assert ((x.mean(0) - gaussian_3d.mean).abs() < 5 * se_mean).all()
    # for a Gaussian, Var[(x_i - mu_i)(x_j - mu_j)] = S_ii S_jj + S_ij^2
    centred = x - gaussian_3d.mean
    se_cov = ((var[:, None] * var[None, :] + cov**2) / n).sqrt()
    assert ((centred.T @ centred / n - cov).abs() < 5 * se_cov).all()


def test_gaussian_sample_is_reproducible_with_a_generator(gaussian_3d):
    a = gaussian_3d.sample(10, generator=torch.Generator().manual_seed(3))
    b = gaussian_3d.sample(10, generator=torch.Generator().manual_seed(3))
    c = gaussian_3d.sample(10, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_gaussian_energy_follows_dtype_of_x(gaussian_3d):
    x = _points(4, 3)
    e32 = gaussian_3d(x.float())
    assert e32.dtype == torch.float32 and gaussian_3d(x).dtype == F64
    torch.testing.assert_close(e32.double(), gaussian_3d(x), rtol=1e-5, atol=1e-5)
    assert gaussian_3d.log_prob(x.float()).dtype == torch.float32
    assert gaussian_3d.score(x.float()).dtype == torch.float32


@pytest.mark.parametrize(
    "cov",
    [
        [[1.0, 2.0], [2.0, 1.0]],  # eigenvalues 3 and -1
        [[1.0, 0.0], [0.0, 0.0]],  # singular
        [[1.0, 0.5], [0.0, 1.0]],  # not symmetric
        [[1.0, 0.0], [0.0, math.nan]],
    ],
)
def test_gaussian_rejects_a_covariance_that_is_not_positive_definite(cov):
    with pytest.raises(ValueError, match="cov"):
        Gaussian(torch.zeros(2), torch.tensor(cov))


def test_gaussian_wrong_shapes_raise_naming_the_argument():
    with pytest.raises(ValueError, match="mean"):
        Gaussian(torch.zeros(2, 1), torch.eye(2))
    with pytest.raises(ValueError, match="mean"):
        Gaussian(torch.zeros(0), torch.eye(0))
    with pytest.raises(ValueError, match="cov"):
        Gaussian(torch.zeros(2), torch.eye(3))
    with pytest.raises(ValueError, match="cov"):
        Gaussian(torch.zeros(2), torch.ones(2))
    g = Gaussian(torch.zeros(2), torch.eye(2))
    with pytest.raises(ValueError, match="x"):
        g(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="x"):
        g(torch.zeros(2))
    with pytest.raises(ValueError, match="temperature"):
        g.score(torch.zeros(1, 2), temperature=0.0)
    with pytest.raises(ValueError, match="sigma"):
        g.score(torch.zeros(1, 2), -0.1)
    with pytest.raises(ValueError, match="n must"):
        g.sample(0)


# --- Gaussian mixture -----------------------------------------------------------------------


def test_mixture_log_prob_matches_scipy_sum_of_components(mixture_2d):
    x = _points(40, 2)
    dens = sum(
        w * stats.multivariate_normal(m.numpy(), s**2 * torch.eye(2, dtype=F64).numpy()).pdf(x.numpy())
        for m, s, w in zip(mixture_2d.means, mixture_2d.stds.tolist(), mixture_2d.weights.tolist())
    )
    torch.testing.assert_close(mixture_2d.log_prob(x), torch.from_numpy(dens).log(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(mixture_2d(x), -mixture_2d.log_prob(x))


def test_mixture_weights_are_normalised(mixture_2d):
    torch.testing.assert_close(mixture_2d.weights, torch.tensor([1.0, 2.0, 1.5], dtype=F64) / 4.5)


@pytest.mark.parametrize("sigma", [0.0, 0.5])
def test_mixture_log_prob_integrates_to_one_on_a_grid(mixture_2d, sigma):
    log_z = log_partition_grid(lambda x: -mixture_2d.log_prob(x, sigma), ((-7.0, 7.0), (-7.0, 7.0)), 201)
    assert log_z.item() == pytest.approx(0.0, abs=1e-9)
    assert mixture_2d.log_partition().item() == 0.0


def test_mixture_with_one_component_is_an_isotropic_gaussian():
    mixture = GaussianMixture(torch.tensor([[1.0, -1.0]], dtype=F64), 0.7)
    gaussian = Gaussian(torch.tensor([1.0, -1.0], dtype=F64), 0.49 * torch.eye(2, dtype=F64))
    x = _points(6, 2)
    torch.testing.assert_close(mixture.log_prob(x), gaussian.log_prob(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(mixture.score(x), gaussian.score(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("x0", [(0.3, -0.2), (2.0, 1.5), (-2.5, 0.5)])
@pytest.mark.parametrize("sigma", [0.25, 0.8])
def test_mixture_log_prob_with_noise_is_the_convolution_by_quadrature(mixture_2d, x0, sigma):
    # log p_sigma(x0) = log int p(y) N(x0 - y; 0, sigma^2 I) dy, integrated on a 2-D grid
    x0 = torch.tensor([x0], dtype=F64)

    def integrand_energy(y):
        log_noise = -((x0 - y) ** 2).sum(1) / (2 * sigma**2) - math.log(2 * math.pi * sigma**2)
        return -(mixture_2d.log_prob(y) + log_noise)

    numeric = log_partition_grid(integrand_energy, ((-8.0, 8.0), (-8.0, 8.0)), 321)
    assert mixture_2d.log_prob(x0, sigma).item() == pytest.approx(numeric.item(), abs=1e-8)


@pytest.mark.parametrize("sigma", [0.0, 0.1, 1.0])
def test_mixture_score_matches_autograd_of_log_prob(mixture_2d, sigma):
    x = _points(30, 2).requires_grad_(True)
    (grad,) = torch.autograd.grad(mixture_2d.log_prob(x, sigma).sum(), x)
    torch.testing.assert_close(mixture_2d.score(x, sigma), grad, rtol=1e-10, atol=1e-12)


def test_mixture_accepts_one_noise_level_per_point(mixture_2d):
    x = _points(3, 2)
    sigmas = torch.tensor([0.0, 0.3, 2.0], dtype=F64)
    for i, s in enumerate(sigmas.tolist()):
        torch.testing.assert_close(mixture_2d.score(x, sigmas)[i], mixture_2d.score(x[i : i + 1], s)[0])
        torch.testing.assert_close(mixture_2d.log_prob(x, sigmas)[i], mixture_2d.log_prob(x[i : i + 1], s)[0])


def test_mixture_sample_matches_weights_and_means_within_monte_carlo_error(mixture_2d):
    n = 30000
    x, labels = mixture_2d.sample(n, generator=torch.Generator().manual_seed(5), return_labels=True)
    assert x.shape == (n, 2) and labels.shape == (n,)
    w = mixture_2d.weights
    freq = torch.bincount(labels, minlength=3).to(F64) / n
    assert ((freq - w).abs() < 5 * (w * (1 - w) / n).sqrt()).all()
    for k in range(3):
        xk = x[labels == k]
        se = mixture_2d.stds[k] / math.sqrt(len(xk))
        assert ((xk.mean(0) - mixture_2d.means[k]).abs() < 5 * se).all()
        assert ((xk.var(0) - mixture_2d.stds[k] ** 2).abs() < 5 * mixture_2d.stds[k] ** 2 * math.sqrt(2 / len(xk))).all()
    # overall mean: sum_k w_k mu_k, with the mixture's own variance per coordinate
    mean = (w[:, None] * mixture_2d.means).sum(0)
    second = (w[:, None] * (mixture_2d.means**2 + mixture_2d.stds[:, None] ** 2)).sum(0)
    assert ((x.mean(0) - mean).abs() < 5 * ((second - mean**2) / n).sqrt()).all()


def test_mixture_sample_is_reproducible_with_a_generator(mixture_2d):
    a = mixture_2d.sample(10, generator=torch.Generator().manual_seed(6))
    b = mixture_2d.sample(10, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b)


def test_mixture_log_partition_away_from_t_equal_one_is_not_implemented(mixture_2d):
    with pytest.raises(NotImplementedError, match="log_partition_grid"):
        mixture_2d.log_partition(2.0)


def test_mixture_energy_follows_dtype_of_x(mixture_2d):
    x = _points(4, 2).float()
    assert mixture_2d(x).dtype == torch.float32 and mixture_2d.score(x, 0.3).dtype == torch.float32


def test_mixture_bad_arguments_raise_naming_the_argument(mixture_2d):
    with pytest.raises(ValueError, match="means"):
        GaussianMixture(torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match="stds"):
        GaussianMixture(torch.zeros(3, 2), torch.tensor([1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="stds"):
        GaussianMixture(torch.zeros(3, 2), torch.ones(2))
    with pytest.raises(ValueError, match="weights"):
        GaussianMixture(torch.zeros(3, 2), 1.0, torch.tensor([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="weights"):
        GaussianMixture(torch.zeros(3, 2), 1.0, torch.ones(4))
    with pytest.raises(ValueError, match="sigma"):
        mixture_2d.log_prob(torch.zeros(2, 2), -0.1)
    with pytest.raises(ValueError, match="sigma"):
        mixture_2d.score(torch.zeros(2, 2), torch.ones(3))
    with pytest.raises(ValueError, match="x"):
        mixture_2d.score(torch.zeros(2, 3))


# --- double well ----------------------------------------------------------------------------


def test_double_well_has_minima_at_plus_and_minus_one_and_barrier_at_zero():
    well = DoubleWell(barrier=2.5, dim=3)
    x = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 2.0, -1.0]], dtype=F64)
    torch.testing.assert_close(well(x), torch.tensor([0.0, 0.0, 2.5, 2.5], dtype=F64))
    torch.testing.assert_close(well.score(x[:2]), torch.zeros(2, 3, dtype=F64))


@pytest.mark.parametrize("dim", [1, 3])
def test_double_well_score_matches_autograd(dim):
    well = DoubleWell(barrier=1.7, dim=dim)
    x = _points(9, dim, scale=1.5).requires_grad_(True)
    (grad,) = torch.autograd.grad(well(x).sum(), x)
    torch.testing.assert_close(well.score(x, temperature=0.5), -grad / 0.5, rtol=1e-12, atol=1e-12)


def test_double_well_bad_arguments_raise_naming_the_argument():
    with pytest.raises(ValueError, match="barrier"):
        DoubleWell(barrier=0.0)
    with pytest.raises(ValueError, match="dim"):
        DoubleWell(dim=0)
    with pytest.raises(ValueError, match="x"):
        DoubleWell(dim=2)(torch.zeros(4, 1))
    with pytest.raises(NotImplementedError, match="log_partition_grid"):
        DoubleWell().log_partition()


def test_every_energy_has_one_score_signature_the_score_of_p_sigma_at_temperature_t():
    # Gaussian: p_σ = N(μ, Σ + σ²I) exactly, so its score is that Gaussian's, divided by T
    mean = torch.tensor([0.5, -1.0], dtype=torch.float64)
    cov = torch.tensor([[2.0, 0.6], [0.6, 1.0]], dtype=torch.float64)
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    blurred = Gaussian(mean, cov + 0.49 * torch.eye(2, dtype=torch.float64))
    torch.testing.assert_close(Gaussian(mean, cov).score(x, 0.7, temperature=2.0), blurred.score(x) / 2.0)
    per_point = torch.tensor([0.7, 0.0, 0.7, 0.0, 0.7, 0.0], dtype=torch.float64)
    got = Gaussian(mean, cov).score(x, per_point)
    torch.testing.assert_close(got[0::2], blurred.score(x[0::2]))
    torch.testing.assert_close(got[1::2], Gaussian(mean, cov).score(x[1::2]))
    # GaussianMixture: the same convention, the noised mixture's score divided by T
    mixture = GaussianMixture(torch.tensor([[1.0, 0.0], [-1.0, 0.5]], dtype=torch.float64), 0.4)
    torch.testing.assert_close(mixture.score(x, 0.3, temperature=0.5), 2.0 * mixture.score(x, 0.3))
    # DoubleWell has no blurred closed form: sigma must be 0
    with pytest.raises(NotImplementedError, match="sigma"):
        DoubleWell().score(torch.zeros(1, 1), 0.5)
