"""Residual convolutional encoder/decoder for images ``(C, H, W)``.

The encoder is a pre-activation ResNet (He, Zhang, Ren & Sun 2016, *Identity Mappings in Deep
Residual Networks*): a 3×3 stem convolution, then one strided residual block per stage, each
halving H and W, then a linear layer to the code::

    block(x) = skip(x) + conv₂(act(norm(conv₁(act(norm(x))))))

conv₁ is a 3×3 convolution with stride 2 and conv₂ a 3×3 convolution; ``skip`` is a 1×1
convolution with stride 2 (the projection shortcut, option B of He et al. 2016a), or the
identity where a block keeps the shape. Because the activations sit inside the residual branch,
the skip path from the input to the last block is a chain of identities and projections only.

The decoder mirrors it: a linear layer to the smallest feature map, then one up-block per stage
as in the residual generators of BigGAN (Brock, Donahue & Simonyan 2019): the residual branch
upsamples by nearest-neighbour interpolation before its first 3×3 convolution, and the skip
upsamples too (with a 1×1 convolution where the channels change). Nearest-neighbour upsampling
followed by a convolution avoids the checkerboard artefacts of strided transposed convolutions
(Odena, Dumoulin & Olah 2016). A last norm, activation and 3×3 convolution give (C, H, W)
before the family's output activation or likelihood.

The number of stages follows :func:`aekit.nets.conv.conv_layout`: H and W are halved while
both stay even and the result is at least 4 pixels, at most four times (28 → 14 → 7,
32 → 16 → 8 → 4, 64 → … → 4). With one block per stage the network is shallow (at most nine
convolutions deep each way), and it trains stably with PyTorch's default initialization and
no normalization layers. Starting every residual branch at zero (Goyal et al. 2017; Fixup,
Zhang, Dauphin & Ma 2019), which deep residual networks need without normalization, fitted
the training faces more slowly here and generalized worse (RESULTS.md), so it is not done.

Normalization is none by default, or GroupNorm (Wu & He 2018, ``norm="group"``). On the
validation split of Olivetti faces (benchmarks/resnet_vs_conv.py, RESULTS.md) GroupNorm
fitted the training faces about as well and generalized worse, with the groups at their default
size, wider, or left out before the code and the output. BatchNorm would make a
sample's reconstruction depend on the other samples of its batch during training and on
running statistics at inference: an autoencoder scores single rows (anomaly scores, denoising
one image), and its training batches are not the rows it will score, so the score of a row
would change with what it is batched with, or with the drift between batch and running
statistics. GroupNorm normalizes each sample on its own and behaves the same in training and
evaluation; so does no normalization.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import AekitError
from .conv import conv_layout
from .mlp import Stack, activation

NORMS = ("none", "group")


def resnet_layout(input_shape: tuple[int, ...], channels: tuple[int, ...] = ()) -> tuple[tuple[int, ...], int, int]:
    """(channels per stage, final H, final W) for an input shape; raises for unsupported shapes.

    The stages are conv's: halve while H and W are even and the halves are at least 4, at most
    four times. The default channels double from 32 per stage, at most 256."""
    return conv_layout(input_shape, channels, arch="resnet")


def _norm(kind: str, c: int) -> nn.Module:
    # 32 groups where the channels allow (Wu & He 2018's default), else the largest divisor
    return nn.GroupNorm(math.gcd(32, c), c) if kind == "group" else nn.Identity()


class ResBlock(nn.Module):
    """Pre-activation residual block, (B, a, H, W) → (B, b, H', W').

    ``resample``: "down" (stride-2 first convolution, stride-2 1×1 projection skip: H' = H/2),
    "up" (nearest-neighbour ×2 before the first convolution and on the skip: H' = 2H), or
    "none". The skip is the identity where the shape is kept, else a 1×1 projection.
    """

    def __init__(self, a: int, b: int, act: str, norm: str = "none", resample: str = "none"):
        super().__init__()
        self.resample = resample
        stride = 2 if resample == "down" else 1
        self.norm1, self.act1 = _norm(norm, a), activation(act)
        self.conv1 = nn.Conv2d(a, b, 3, stride=stride, padding=1)
        self.norm2, self.act2 = _norm(norm, b), activation(act)
        self.conv2 = nn.Conv2d(b, b, 3, padding=1)
        self.skip = nn.Conv2d(a, b, 1, stride=stride) if (a != b or resample == "down") else nn.Identity()

    def _up(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="nearest") if self.resample == "up" else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act1(self.norm1(x))                       # (B, a, H, W)
        h = self.conv1(self._up(h))                        # (B, b, H', W')
        h = self.conv2(self.act2(self.norm2(h)))           # (B, b, H', W')
        return self.skip(self._up(x)) + h                  # skip: identity or 1×1 projection


def resnet_encoder(input_shape, channels, out_dim: int, act: str, *, norm: str = "none",
                   blocks: int = 1) -> nn.Sequential:
    """(B, C, H, W) → (B, out_dim): stem, one strided residual block per stage (and
    ``blocks`` − 1 shape-keeping blocks after each), norm, act, linear."""
    chans, h, w = resnet_layout(input_shape, channels)
    _check(norm, blocks)
    layers: list[nn.Module] = [nn.Conv2d(input_shape[0], chans[0], 3, padding=1)]  # (B, c0, H, W)
    prev = chans[0]
    for c in chans:  # (B, prev, H, W) → (B, c, H/2, W/2)
        layers.append(ResBlock(prev, c, act, norm, "down"))
        layers += [ResBlock(c, c, act, norm) for _ in range(blocks - 1)]
        prev = c
    layers += [_norm(norm, prev), activation(act), nn.Flatten(), nn.Linear(prev * h * w, out_dim)]
    return Stack(*layers)


def resnet_decoder(input_shape, channels, latent_dim: int, act: str, *, norm: str = "none",
                   blocks: int = 1) -> nn.Sequential:
    """(B, latent_dim) → (B, C, H, W) pre-activation: linear to the smallest feature map, one
    upsampling residual block per stage (and ``blocks`` − 1 shape-keeping blocks before
    each), norm, act, 3×3 convolution to C channels."""
    chans, h, w = resnet_layout(input_shape, channels)
    _check(norm, blocks)
    chans = tuple(reversed(chans))
    layers: list[nn.Module] = [nn.Linear(latent_dim, chans[0] * h * w), nn.Unflatten(1, (chans[0], h, w))]
    outs = (*chans[1:], chans[-1])
    for a, b in zip(chans, outs):  # (B, a, h, w) → (B, b, 2h, 2w)
        layers += [ResBlock(a, a, act, norm) for _ in range(blocks - 1)]
        layers.append(ResBlock(a, b, act, norm, "up"))
    layers += [_norm(norm, outs[-1]), activation(act), nn.Conv2d(outs[-1], input_shape[0], 3, padding=1)]
    return Stack(*layers)


def _check(norm: str, blocks: int) -> None:
    if norm not in NORMS:
        raise AekitError(f"norm: the resnet network takes one of {', '.join(NORMS)}, got {norm!r}")
    if not isinstance(blocks, int) or blocks < 1:
        raise AekitError(f"blocks: residual blocks per stage must be a positive integer, got {blocks!r}")
