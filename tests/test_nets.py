"""Tests of ebmlib.nets: shapes, dtypes, smoothness (nonzero curvature), gradients, bad input."""

from __future__ import annotations

import pytest
import torch

from ebmlib.nets import ConvEnergy8x8, ConvNet8x8, MLPEnergy


def test_mlp_energy_maps_a_batch_to_one_energy_per_row_in_float32():
    energy = MLPEnergy(dim=3, hidden=16, depth=3, generator=torch.Generator().manual_seed(0))
    out = energy(torch.randn(7, 3, generator=torch.Generator().manual_seed(0)))
    assert out.shape == (7,)
    assert out.dtype == torch.float32
    assert sum(isinstance(m, torch.nn.Linear) for m in energy.modules()) == 4  # three hidden layers and the output


def test_mlp_energy_accepts_float64_data_and_agrees_with_its_float32_input():
    energy = MLPEnergy(generator=torch.Generator().manual_seed(0))
    x = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(energy(x), energy(x.float()))


def test_mlp_energy_has_nonzero_curvature_because_silu_is_smooth():
    # A ReLU network is piecewise linear: its Hessian in x is 0 almost everywhere, so score
    # matching's Laplacian term and Langevin's drift field would carry no curvature.
    energy = MLPEnergy(hidden=16, generator=torch.Generator().manual_seed(0)).double()
    hessian = torch.autograd.functional.hessian(lambda x: energy(x.unsqueeze(0)).sum(), torch.tensor([0.3, -0.2], dtype=torch.float64))
    assert hessian.abs().max() > 1e-4
    torch.testing.assert_close(hessian, hessian.T)


def test_mlp_energy_input_gradient_matches_finite_differences():
    energy = MLPEnergy(hidden=8, generator=torch.Generator().manual_seed(0)).double()
    x = torch.randn(4, 2, dtype=torch.float64, requires_grad=True, generator=torch.Generator().manual_seed(0))
    assert torch.autograd.gradcheck(lambda x: energy(x), (x,))


def test_convnet_maps_8x8_images_to_logits_and_conv_energy_to_one_energy():
    x = torch.randn(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert ConvNet8x8(n_outputs=10, generator=torch.Generator().manual_seed(0))(x).shape == (6, 10)
    assert ConvEnergy8x8(generator=torch.Generator().manual_seed(1))(x).shape == (6,)


def test_convnet_input_gradient_matches_finite_differences():
    net = ConvEnergy8x8(channels=(4, 4), hidden=8, generator=torch.Generator().manual_seed(0)).double()
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64, requires_grad=True, generator=torch.Generator().manual_seed(0))
    assert torch.autograd.gradcheck(lambda x: net(x), (x,), fast_mode=True)


@pytest.mark.parametrize("shape", [(3, 1, 7, 7), (3, 64), (3, 2, 8, 8), (1, 8, 8)])
def test_convnet_rejects_images_of_the_wrong_size_naming_x(shape):
    with pytest.raises(ValueError, match="x must have shape"):
        ConvNet8x8()(torch.zeros(shape))


@pytest.mark.parametrize("shape", [(5,), (5, 3), (5, 2, 1)])
def test_mlp_energy_rejects_the_wrong_shape_naming_x(shape):
    with pytest.raises(ValueError, match="x must have shape"):
        MLPEnergy(dim=2)(torch.zeros(shape))


def test_mlp_energy_init_scale_multiplies_only_the_first_layer_and_sharpens_it():
    # Same seed, same draws: the first layer is c times the default's, every later layer equal.
    default = MLPEnergy(hidden=8, generator=torch.Generator().manual_seed(3))
    sharp = MLPEnergy(hidden=8, init_scale=6.0, generator=torch.Generator().manual_seed(3))
    layers = [(a, b) for a, b in zip(default.net, sharp.net) if isinstance(a, torch.nn.Linear)]
    torch.testing.assert_close(layers[0][1].weight, 6.0 * layers[0][0].weight)
    torch.testing.assert_close(layers[0][1].bias, 6.0 * layers[0][0].bias)
    for a, b in layers[1:]:
        torch.testing.assert_close(b.weight, a.weight)
        torch.testing.assert_close(b.bias, a.bias)
    # Pre-activations 6(Wx + b): zero on the same hyperplanes, 6 times steeper across them.
    x = torch.randn(20, 2, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(sharp.net[0](x), 6.0 * default.net[0](x))


@pytest.mark.parametrize("init_scale", [0.0, -1.0, float("nan"), float("inf")])
def test_mlp_energy_rejects_a_nonpositive_init_scale_naming_it(init_scale):
    with pytest.raises(ValueError, match="init_scale"):
        MLPEnergy(init_scale=init_scale)


@pytest.mark.parametrize(("kwargs", "name"), [({"dim": 0}, "dim"), ({"hidden": 0}, "hidden"), ({"depth": 0}, "depth")])
def test_mlp_energy_rejects_nonpositive_sizes(kwargs, name):
    with pytest.raises(ValueError, match=name):
        MLPEnergy(**kwargs)


def test_convnet_rejects_zero_outputs():
    with pytest.raises(ValueError, match="n_outputs"):
        ConvNet8x8(n_outputs=0)


def test_residual_energy_maps_images_to_one_energy_each_independently_of_the_batch():
    # Per-image normalisation: E of an image is the same alone, in a batch, and beside other images.
    from ebmlib.nets import ResidualConvEnergy8x8

    energy = ResidualConvEnergy8x8(channels=8, n_blocks=1, generator=torch.Generator().manual_seed(0))
    x = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    batch = energy(x)
    assert batch.shape == (5,) and batch.dtype == torch.float32
    alone = torch.stack([energy(x[i : i + 1])[0] for i in range(5)])
    assert torch.allclose(batch, alone, atol=1e-6)
    assert torch.allclose(energy(torch.cat([x, 3 * x]))[:5], batch, atol=1e-6)


def test_batch_norm_would_make_the_energy_depend_on_the_batch():
    # The contrast the residual energy avoids: with BatchNorm, E(x_0) moves when its neighbours change.
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 1))
    x = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    assert not torch.allclose(net(x)[0], net(torch.cat([x[:1], 3 * x[1:]]))[0], atol=1e-3)


def test_residual_block_is_the_identity_plus_its_body_and_checks_groups():
    from ebmlib.nets import ResidualBlock

    block = ResidualBlock(8, groups=4)
    x = torch.randn(2, 8, 4, 4, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(block(x), x + block.body(x))
    with torch.no_grad():
        for p in block.body[-1].parameters():
            p.zero_()  # a last convolution of zeros: the block is exactly the identity
    assert torch.equal(block(x), x)
    with pytest.raises(ValueError, match="groups"):
        ResidualBlock(6, groups=4)


def test_residual_energy_input_gradient_matches_finite_differences():
    from ebmlib.nets import ResidualConvEnergy8x8

    energy = ResidualConvEnergy8x8(channels=8, generator=torch.Generator().manual_seed(4)).double()
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(5), requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: energy(v), (x,))
