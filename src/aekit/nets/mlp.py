"""Fully connected stacks: Linear, act, Linear, act, …, Linear (no activation at the end)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import unknown_name

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise unknown_name("activation", name, ACTIVATIONS)
    return ACTIVATIONS[name]()


# activations that can overwrite their input, and the layers whose output is a fresh tensor
_IN_PLACE = {
    nn.ReLU: lambda m, x: x.relu_(),
    nn.LeakyReLU: lambda m, x: F.leaky_relu_(x, m.negative_slope),
    nn.ELU: lambda m, x: F.elu_(x, m.alpha),
    nn.Tanh: lambda m, x: x.tanh_(),
    nn.Sigmoid: lambda m, x: x.sigmoid_(),
}
_FRESH = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)
_VIEWS = (nn.Flatten, nn.Unflatten)


class Stack(nn.Sequential):
    """``nn.Sequential`` whose activations run in place when no gradient is recorded.

    In inference (``torch.no_grad``/``inference_mode``) an activation that follows a layer
    (or a reshape of its output) overwrites that fresh output instead of allocating another
    tensor of the same size: scoring a large file allocates half as much and runs about twice
    as fast on a CPU (BENCHMARKS.md). The caller's input is never modified, but a forward hook
    that keeps a layer's output sees it overwritten by the activation that follows (as with
    ``nn.ReLU(inplace=True)``); clone it in the hook. With gradients on it is exactly
    ``nn.Sequential``.
    """

    def forward(self, x):
        if torch.is_grad_enabled():
            return super().forward(x)
        owned = False  # does x belong to this forward (safe to overwrite)?
        for m in self:
            f = _IN_PLACE.get(type(m))
            if f is not None and owned:
                x = f(m, x)
            else:
                x = m(x)
                owned = f is not None or isinstance(m, _FRESH) or (owned and isinstance(m, _VIEWS))
        return x


def mlp(sizes: list[int], act: str) -> nn.Sequential:
    """``sizes = [784, 128, 64]`` → Linear(784, 128), act, Linear(128, 64)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i > 0:
            layers.append(activation(act))
        layers.append(nn.Linear(a, b))
    return Stack(*layers)
