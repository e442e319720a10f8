"""The residual convolutional network (aekit.nets.resnet): shapes, errors, gradients, the skip."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import aekit
from aekit.errors import AekitError
from aekit.nets.resnet import ResBlock, resnet_decoder, resnet_encoder, resnet_layout

TINY = {(1, 28, 28): (4, 8), (3, 32, 32): (4, 4, 8), (3, 64, 64): (4, 4, 4, 8)}


@pytest.mark.parametrize("shape", list(TINY), ids=lambda s: "x".join(map(str, s)))
def test_shapes(shape):
    torch.manual_seed(0)
    enc = resnet_encoder(shape, TINY[shape], 6, "relu")
    dec = resnet_decoder(shape, TINY[shape], 5, "silu")
    x = torch.rand(3, *shape)
    assert enc(x).shape == (3, 6)
    assert dec(torch.randn(3, 5)).shape == (3, *shape)
    with torch.no_grad():  # the inference path (aekit's Stack) gives the same numbers
        z = torch.randn(3, 5)
        assert torch.allclose(dec(z), torch.enable_grad()(dec)(z), atol=1e-6)


def test_layout():
    assert resnet_layout((1, 28, 28)) == ((32, 64), 7, 7)
    assert resnet_layout((3, 32, 32)) == ((32, 64, 128), 4, 4)
    assert resnet_layout((3, 64, 64)) == ((32, 64, 128, 256), 4, 4)
    assert resnet_layout((3, 32, 16), (8, 16)) == ((8, 16), 8, 4)


@pytest.mark.parametrize("shape", [(784,), (1, 6, 6), (1, 28, 27), (0, 8, 8), (1, 2, 28, 28)])
def test_bad_shape(shape):
    with pytest.raises(AekitError, match=r"^input_shape: arch='resnet' needs image shapes") as e:
        resnet_encoder(shape, (), 4, "relu")
    assert "\n" not in str(e.value)


def test_wrong_channels_and_options():
    with pytest.raises(AekitError, match=r"^channels: .* has 2 downsampling stages, so channels needs 2 values \(got 3\)"):
        resnet_decoder((1, 28, 28), (4, 8, 16), 4, "relu")
    with pytest.raises(AekitError, match="norm: the resnet network takes one of none, group"):
        resnet_encoder((1, 28, 28), (), 4, "relu", norm="batch")
    with pytest.raises(AekitError, match="blocks:"):
        resnet_decoder((1, 28, 28), (), 4, "relu", blocks=0)
    with pytest.raises(AekitError, match="activation"):
        resnet_encoder((1, 28, 28), (), 4, "relux")
    with pytest.raises(AekitError, match="channels"):  # through a family's config, before any layer is built
        aekit.AE(input_shape=(1, 28, 28), arch="resnet", channels=(4,))


@pytest.mark.parametrize("norm", ["none", "group"])
def test_gradients_reach_every_parameter(norm):
    """One backward of the reconstruction error gives every parameter a finite, nonzero gradient."""
    torch.manual_seed(0)
    shape = (3, 32, 32)
    enc = resnet_encoder(shape, TINY[shape], 4, "relu", norm=norm, blocks=2)
    dec = resnet_decoder(shape, TINY[shape], 4, "relu", norm=norm, blocks=2)
    assert sum(isinstance(m, ResBlock) for m in [*enc, *dec]) == 12
    params = [*enc.named_parameters(prefix="enc"), *dec.named_parameters(prefix="dec")]
    x = torch.rand(4, *shape)
    F.mse_loss(dec(enc(x)), x).backward()
    dead = [n for n, p in params if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0]
    assert not dead


@pytest.mark.parametrize("a,b", [(6, 6), (4, 8)])
def test_block_is_skip_plus_branch(a, b):
    """With the branch's last convolution zeroed a shape-keeping block is exactly the identity
    (a down block exactly its 1×1 strided projection); with it set, the block adds the branch
    to the skip (so the output is not the branch alone)."""
    torch.manual_seed(0)
    x = torch.randn(2, a, 8, 8)
    for resample in ("none", "down", "up"):
        blk = ResBlock(a, b, "relu", "group", resample)
        skip = blk.skip(F.interpolate(x, scale_factor=2.0) if resample == "up" else x)
        with torch.no_grad():
            nn.init.zeros_(blk.conv2.weight)
            nn.init.zeros_(blk.conv2.bias)
            if a == b and resample == "none":
                assert isinstance(blk.skip, nn.Identity) and torch.equal(blk(x), x)
            assert torch.allclose(blk(x), skip, atol=1e-6)
            nn.init.normal_(blk.conv2.weight)
            branch = blk.conv2(blk.act2(blk.norm2(blk.conv1(blk._up(blk.act1(blk.norm1(x)))))))
            assert branch.abs().mean() > 0.1
            assert torch.allclose(blk(x), skip + branch, atol=1e-5)


def test_rows_are_independent():
    """With GroupNorm a row's code and reconstruction do not depend on the rest of its batch,
    in training mode too (BatchNorm's would); the default has no normalization layers."""
    torch.manual_seed(0)
    shape = (1, 28, 28)
    enc = resnet_encoder(shape, (8, 8), 4, "relu", norm="group")
    dec = resnet_decoder(shape, (8, 8), 4, "relu", norm="group")
    assert sum(isinstance(m, nn.GroupNorm) for m in [*enc.modules(), *dec.modules()]) == 10
    x = torch.rand(5, *shape)
    alone, together = dec(enc(x[:1])), dec(enc(x))[:1]
    assert torch.allclose(alone, together, atol=1e-5)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in [*enc.modules(), *dec.modules()])
    assert not any(isinstance(m, nn.GroupNorm) for m in resnet_encoder(shape, (8, 8), 4, "relu").modules())


def test_family_builds_it_by_name(tmp_path):
    """aekit.AE(arch='resnet') trains a step, and a saved run reloads to the same outputs."""
    torch.manual_seed(0)
    model = aekit.AE(input_shape=(1, 28, 28), arch="resnet", channels=(4, 8), latent_dim=3)
    assert any(isinstance(m, ResBlock) for m in model.encoder.modules())
    x = torch.rand(4, 1, 28, 28)
    out = model(x)
    assert out.recon.shape == x.shape and out.z.shape == (4, 3)
    out.loss.backward()
    model.save_pretrained(tmp_path / "run")
    again = aekit.load(tmp_path / "run")
    model.eval()
    assert torch.allclose(again.reconstruct(x), model.reconstruct(x), atol=1e-6)
