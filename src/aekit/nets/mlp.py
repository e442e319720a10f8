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


class TiedLinear(nn.Module):
    """The transpose of an encoder's ``nn.Linear``: y = x W + b with W shared with ``source``
    (tied weights: the decoder has no weight of its own, only its bias).

    ``source`` is held as a plain reference, not a submodule, so W is one parameter of the
    model, saved once (under the encoder's name) and updated once per step.
    """

    def __init__(self, source: nn.Linear):
        super().__init__()
        self._tied = (source,)
        self.in_features, self.out_features = source.out_features, source.in_features
        bound = 1 / self.in_features**0.5  # nn.Linear's bias initialization for this fan-in
        self.bias = nn.Parameter(torch.empty(self.out_features).uniform_(-bound, bound))

    @property
    def weight(self) -> torch.Tensor:
        """Wᵀ of the source layer, shaped (out_features, in_features) like ``nn.Linear.weight``."""
        return self._tied[0].weight.t()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, weight tied to the encoder"


# activations that can overwrite their input, and the layers whose output is a fresh tensor
_IN_PLACE = {
    nn.ReLU: lambda m, x: x.relu_(),
    nn.LeakyReLU: lambda m, x: F.leaky_relu_(x, m.negative_slope),
    nn.ELU: lambda m, x: F.elu_(x, m.alpha),
    nn.Tanh: lambda m, x: x.tanh_(),
    nn.Sigmoid: lambda m, x: x.sigmoid_(),
}
_FRESH = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, TiedLinear)
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


def tied_mlp(encoder: nn.Sequential, act: str) -> Stack:
    """The decoder mirroring an :func:`mlp` encoder with tied weights: its Linear layers in
    reverse order as :class:`TiedLinear`, with the same activations between them."""
    linears = [m for m in encoder if isinstance(m, nn.Linear)]
    layers: list[nn.Module] = []
    for i, lin in enumerate(reversed(linears)):
        if i > 0:
            layers.append(activation(act))
        layers.append(TiedLinear(lin))
    return Stack(*layers)
