"""Convolutional encoder/decoder for images ``(C, H, W)``.

Down: 4×4 convolutions with stride 2 halve H and W while both stay even and the result is at
least 4 pixels (28 → 14 → 7, 32 → 16 → 8 → 4, 64 → … → 4), then a linear layer to the code.
Up: a linear layer back to the smallest feature map, then 4×4 transposed convolutions with
stride 2 that double it back to (C, H, W).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import AekitError
from .mlp import Stack, activation

SUPPORTED = "image shapes (C, H, W) whose height and width are even and at least 8, e.g. 1×28×28, 3×32×32, 3×64×64"


def conv_layout(input_shape: tuple[int, ...], channels: tuple[int, ...] = ()) -> tuple[tuple[int, ...], int, int]:
    """(channels per stage, final H, final W) for an input shape; raises for unsupported shapes."""
    if len(input_shape) != 3:
        raise AekitError(
            f"input_shape: arch='conv' needs {SUPPORTED}; got {tuple(input_shape)} "
            "(use arch='mlp' for flat or tabular data)"
        )
    c, h, w = input_shape
    n = 0
    while h % 2 == 0 and w % 2 == 0 and h // 2 >= 4 and w // 2 >= 4 and n < 4:
        h, w, n = h // 2, w // 2, n + 1
    if n == 0 or c < 1:
        raise AekitError(f"input_shape: arch='conv' needs {SUPPORTED}; got {tuple(input_shape)}")
    if channels:
        if len(channels) != n:
            raise AekitError(
                f"channels: input shape {tuple(input_shape)} has {n} downsampling stages, so "
                f"channels needs {n} values (got {len(channels)}); leave it empty for the default"
            )
        return tuple(channels), h, w
    return tuple(min(32 * 2**i, 256) for i in range(n)), h, w


class ConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` (same parameters, same results) whose inference forward on the CPU
    computes a one-channel output as one matrix product and a ``fold`` (col2im).

    oneDNN's transposed-convolution kernel is slow for a single output channel (the last layer
    of every grayscale decoder): this form is about twice as fast for that layer and scores a
    1×28×28 conv AE about a third faster (BENCHMARKS.md). In training (gradients on), for
    several output channels, other devices or dtypes it is exactly ``nn.ConvTranspose2d``.
    """

    def forward(self, x, output_size=None):
        if (
            self.out_channels != 1
            or torch.is_grad_enabled()
            or x.dim() != 4
            or x.device.type != "cpu"
            or x.dtype != torch.float32
            or torch.is_autocast_enabled("cpu")
            or self.groups != 1
            or output_size is not None
        ):
            return super().forward(x, output_size)
        n, c, h, w = x.shape
        size = [
            (i - 1) * s - 2 * p + d * (k - 1) + o + 1
            for i, s, p, d, k, o in zip(
                (h, w), self.stride, self.padding, self.dilation, self.kernel_size, self.output_padding
            )
        ]
        cols = torch.matmul(self.weight.view(c, -1).t(), x.reshape(n, c, h * w))  # (N, k·k, H·W)
        y = F.fold(cols, size, self.kernel_size, dilation=self.dilation, padding=self.padding, stride=self.stride)
        return y if self.bias is None else y.add_(self.bias.view(1, -1, 1, 1))


def conv_encoder(input_shape, channels, out_dim: int, act: str) -> nn.Sequential:
    chans, h, w = conv_layout(input_shape, channels)
    layers: list[nn.Module] = []
    prev = input_shape[0]
    for c in chans:  # (B, prev, H, W) → (B, c, H/2, W/2)
        layers += [nn.Conv2d(prev, c, 4, stride=2, padding=1), activation(act)]
        prev = c
    layers += [nn.Flatten(), nn.Linear(prev * h * w, out_dim)]
    return Stack(*layers)


def conv_decoder(input_shape, channels, latent_dim: int, act: str) -> nn.Sequential:
    chans, h, w = conv_layout(input_shape, channels)
    chans = tuple(reversed(chans))
    layers: list[nn.Module] = [
        nn.Linear(latent_dim, chans[0] * h * w),
        activation(act),
        nn.Unflatten(1, (chans[0], h, w)),
    ]
    outs = (*chans[1:], input_shape[0])
    for i, (a, b) in enumerate(zip(chans, outs)):  # (B, a, h, w) → (B, b, 2h, 2w)
        layers.append(ConvTranspose2d(a, b, 4, stride=2, padding=1))
        if i < len(outs) - 1:
            layers.append(activation(act))
    return Stack(*layers)


def n_params(module: nn.Module) -> int:
    return sum(math.prod(p.shape) for p in module.parameters())
