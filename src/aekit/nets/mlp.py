"""Fully connected stacks: Linear, act, Linear, act, …, Linear (no activation at the end)."""

from __future__ import annotations

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


def mlp(sizes: list[int], act: str) -> nn.Sequential:
    """``sizes = [784, 128, 64]`` → Linear(784, 128), act, Linear(128, 64)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i > 0:
            layers.append(activation(act))
        layers.append(nn.Linear(a, b))
    return nn.Sequential(*layers)
