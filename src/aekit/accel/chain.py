"""A Linear/activation stack run forward and backward by hand, with buffers reused every step.

For a fully connected network one training step is a fixed chain of matrix products. At the
batch sizes autoencoders train with, autograd's graph, a fresh allocation per operation and
separate bias/activation kernels cost about as much on a CPU as the products themselves
(BENCHMARKS.md). :class:`Chain` computes the same products with ``addmm`` into buffers kept
from step to step and writes each weight's and bias's gradient into its ``.grad``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..nets.mlp import TiedLinear

aten = torch.ops.aten


class Act(NamedTuple):
    """An activation: forward from the pre-activation (in place where ``keep_pre`` is False)
    and backward from (grad, pre-activation, output)."""

    forward: object
    backward: object
    keep_pre: bool


def _act(m: nn.Module) -> Act | None:
    if type(m) is nn.ReLU:
        return Act(torch.relu_, lambda g, pre, out: aten.threshold_backward(g, out, 0), False)
    if type(m) is nn.LeakyReLU:
        s = m.negative_slope
        return Act(lambda t: F.leaky_relu_(t, s), lambda g, pre, out: aten.leaky_relu_backward(g, out, s, True), False)
    if type(m) is nn.ELU:
        a = m.alpha
        return Act(lambda t: F.elu_(t, a), lambda g, pre, out: aten.elu_backward(g, a, 1, 1, True, out), False)
    if type(m) is nn.Tanh:
        return Act(torch.tanh_, lambda g, pre, out: aten.tanh_backward(g, out), False)
    if type(m) is nn.Sigmoid:
        return Act(torch.sigmoid_, lambda g, pre, out: aten.sigmoid_backward(g, out), False)
    if type(m) is nn.GELU:
        ap = m.approximate
        return Act(lambda t: F.gelu(t, approximate=ap), lambda g, pre, out: aten.gelu_backward(g, pre, approximate=ap), True)
    if type(m) is nn.SiLU:
        return Act(F.silu, lambda g, pre, out: aten.silu_backward(g, pre), True)
    return None


def through_sigmoid_(g: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """g · y (1 − y) in place: a gradient through y = σ(h), from the output y."""
    return g.mul_(y).addcmul_(g, y, value=-1)


class Layer(NamedTuple):
    linear: nn.Linear | TiedLinear
    act: Act | None  # activation after this layer; None for the code layer and the output layer


def stack(seq: nn.Module) -> list[Layer] | None:
    """[Linear, act, Linear, …, Linear] → layers, or None for any other structure."""
    if not isinstance(seq, nn.Sequential) or len(seq) % 2 == 0:
        return None
    mods = list(seq)
    layers = []
    for i in range(0, len(mods), 2):
        if type(mods[i]) not in (nn.Linear, TiedLinear) or mods[i].bias is None:
            return None
        act = _act(mods[i + 1]) if i + 1 < len(mods) else None
        if i + 1 < len(mods) and act is None:
            return None
        layers.append(Layer(mods[i], act))
    return layers


class Chain:
    """Forward and backward of one Linear/activation stack with buffers reused every step."""

    def __init__(self, layers: list[Layer], input_grad: bool = False):
        self.layers, self.input_grad = layers, input_grad
        self._buffers: dict[int, tuple[list[torch.Tensor], list[torch.Tensor]]] = {}
        self.ins: list[torch.Tensor] = []
        self.pres: list[torch.Tensor] = []

    def buffers(self, b: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per batch size: each layer's output and each layer's input gradient (the first
        layer's only with ``input_grad``), reused every step (a fresh large allocation each step
        costs page faults on the CPU)."""
        if b not in self._buffers:
            if len(self._buffers) >= 2:  # the full batch and the epoch's last partial batch
                self._buffers.clear()
            outs = [torch.empty(b, lay.linear.out_features) for lay in self.layers]
            grads = [torch.empty(b, lay.linear.in_features) if i or self.input_grad else None
                     for i, lay in enumerate(self.layers)]
            self._buffers[b] = (outs, grads)
        return self._buffers[b]

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """The last layer's pre-activation; keeps each layer's input and pre-activation."""
        outs, _ = self.buffers(h.shape[0])
        self.ins, self.pres = [], []
        for lay, buf in zip(self.layers, outs):
            self.ins.append(h)
            h = torch.addmm(lay.linear.bias, h, lay.linear.weight.t(), out=buf)
            self.pres.append(h)
            if lay.act is not None:
                h = lay.act.forward(h)
        return h

    def backward(self, g: torch.Tensor, s: float, written: set[int]) -> torch.Tensor | None:
        """From ``g`` = dL/d(last pre-activation) / s: writes every weight and bias gradient
        (s folds into those, not into every activation gradient) and returns dL/d(input) / s
        with ``input_grad``. ``written``: ids of the weights whose gradient this step has
        written already — a weight shared by a tied layer gets the second gradient added."""
        _, gbufs = self.buffers(g.shape[0])
        for i in range(len(self.layers) - 1, -1, -1):
            lin = self.layers[i].linear
            if type(lin) is TiedLinear:  # y = x Wᵀᵀ: the shared W (in × out here) gets xᵀ g
                w = lin._tied[0].weight
                torch.addmm(w.grad, self.ins[i].t(), g, beta=int(id(w) in written), alpha=s, out=w.grad)
            else:
                w = lin.weight
                torch.addmm(w.grad, g.t(), self.ins[i], beta=int(id(w) in written), alpha=s, out=w.grad)
            written.add(id(w))
            torch.sum(g, 0, out=lin.bias.grad)
            lin.bias.grad.mul_(s)
            if i > 0 or self.input_grad:
                g = torch.mm(g, lin.weight, out=gbufs[i])
                act = self.layers[i - 1].act if i > 0 else None
                if act is not None:
                    g = act.backward(g, self.pres[i - 1], self.ins[i])
        return g if self.input_grad else None
