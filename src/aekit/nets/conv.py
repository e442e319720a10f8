"""Convolutional encoder/decoder for images ``(C, H, W)``.

Down: 4×4 convolutions with stride 2 halve H and W while both stay even and the result is at
least 4 pixels (28 → 14 → 7, 32 → 16 → 8 → 4, 64 → … → 4), then a linear layer to the code.
Up: a linear layer back to the smallest feature map, then 4×4 transposed convolutions with
stride 2 that double it back to (C, H, W).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from ..errors import AekitError
from .mlp import Stack, _tracing, activation

SUPPORTED = "image shapes (C, H, W) whose height and width are even and at least 8, e.g. 1×28×28, 3×32×32, 3×64×64"


def conv_layout(input_shape: tuple[int, ...], channels: tuple[int, ...] = (),
                arch: str = "conv") -> tuple[tuple[int, ...], int, int]:
    """(channels per stage, final H, final W) for an input shape; raises for unsupported shapes
    (``arch`` names the network in the message: the resnet network stages the same way)."""
    if len(input_shape) != 3:
        raise AekitError(
            f"input_shape: arch={arch!r} needs {SUPPORTED}; got {tuple(input_shape)} "
            "(use arch='mlp' for flat or tabular data)"
        )
    c, h, w = input_shape
    n = 0
    while h % 2 == 0 and w % 2 == 0 and h // 2 >= 4 and w // 2 >= 4 and n < 4:
        h, w, n = h // 2, w // 2, n + 1
    if n == 0 or c < 1:
        raise AekitError(f"input_shape: arch={arch!r} needs {SUPPORTED}; got {tuple(input_shape)}")
    if channels:
        if len(channels) != n:
            raise AekitError(
                f"channels: input shape {tuple(input_shape)} has {n} downsampling stages, so "
                f"channels needs {n} values (got {len(channels)}); leave it empty for the default"
            )
        return tuple(channels), h, w
    return tuple(min(32 * 2**i, 256) for i in range(n)), h, w


class _NativeForward(torch.autograd.Function):
    """A transposed convolution computed forward by ATen's native kernel (a matrix product and
    col2im) and backward by ``convolution_backward`` (oneDNN's kernels where enabled)."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, output_padding, dilation):
        ctx.save_for_backward(x, weight)
        ctx.conf = (stride, padding, output_padding, dilation, bias is not None)
        return torch.ops.aten.slow_conv_transpose2d(
            x, weight, weight.shape[2:], bias, stride, padding, output_padding, dilation
        )

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        stride, padding, output_padding, dilation, has_bias = ctx.conf
        need = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], has_bias and ctx.needs_input_grad[2]]
        gx, gw, gb = torch.ops.aten.convolution_backward(
            grad, x, weight, [weight.shape[1]] if has_bias else None,
            stride, padding, dilation, True, output_padding, 1, need,
        )
        return gx, gw, gb, None, None, None, None


class ConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` (same parameters, same results) that on the CPU computes an output
    of at most 3 channels forward with ATen's native kernel.

    oneDNN's transposed-convolution kernel is slow for few output channels (the last layer of
    every grayscale or RGB decoder), where the native kernel (one matrix product and col2im)
    runs the forward pass in a fraction of its time. Its backward stays oneDNN's (the native
    one is slower), so a conv AE both trains and scores faster (BENCHMARKS.md, the conv AE
    target and "Scoring").
    For more output channels, other devices or dtypes, under autocast and while traced or
    compiled it is exactly ``nn.ConvTranspose2d``. Second derivatives through this layer are not supported.
    """

    def forward(self, x, output_size=None):
        if (
            self.out_channels > 3
            or x.dim() != 4
            or x.device.type != "cpu"
            or x.dtype != torch.float32
            or self.weight.dtype != torch.float32
            or torch.is_autocast_enabled("cpu")
            or self.groups != 1
            or self.padding_mode != "zeros"
            or output_size is not None
            or _tracing()
        ):
            return super().forward(x, output_size)
        conf = (list(self.stride), list(self.padding), list(self.output_padding), list(self.dilation))
        if torch.is_grad_enabled():
            return _NativeForward.apply(x, self.weight, self.bias, *conf)
        return torch.ops.aten.slow_conv_transpose2d(x, self.weight, self.kernel_size, self.bias, *conf)


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
