"""A hand-written forward and backward pass for fully connected autoencoders (the CPU fast path).

For an :class:`~aekit.AE` or :class:`~aekit.DenoisingAE` whose networks are stacks of
``Linear`` layers and activations, one training step is a fixed chain of matrix products. At
the batch sizes autoencoders train with, autograd's graph, a fresh allocation per operation and
separate bias/activation kernels cost about as much on a CPU as the products themselves.
:class:`MLPStep` computes the same loss and gradients (equal to autograd's up to float
rounding; tested) with ``addmm`` into buffers reused from step to step, writes the gradients
into each parameter's ``.grad`` and then calls the model's own optimizer, so optimizer state,
LR schedules, checkpoints and ``--resume`` are unchanged.

:func:`plan` decides whether a model qualifies: anything that changes the math (a penalty, a
code transform, an overridden ``forward``/``training_step``, a convolutional network, frozen or
non-fp32 parameters, several optimizers) trains through autograd as before.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

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


class Layer(NamedTuple):
    linear: nn.Linear
    act: Act | None  # activation after this layer; None for the code layer and the output layer


def _stack(seq: nn.Module) -> list[Layer] | None:
    """[Linear, act, Linear, …, Linear] → layers, or None for any other structure."""
    if not isinstance(seq, nn.Sequential) or len(seq) % 2 == 0:
        return None
    mods = list(seq)
    layers = []
    for i in range(0, len(mods), 2):
        if type(mods[i]) is not nn.Linear or mods[i].bias is None:
            return None
        act = _act(mods[i + 1]) if i + 1 < len(mods) else None
        if i + 1 < len(mods) and act is None:
            return None
        layers.append(Layer(mods[i], act))
    return layers


_SAME = ("forward", "training_step", "encode", "decode_logits", "code_transform", "penalty", "recon_loss")


def plan(model, optimizers: list) -> list[Layer] | str:
    """The model's layers when the hand-written step computes exactly its training loss,
    else the reason it does not (for the debug log)."""
    from ..models.ae import AE

    if not isinstance(model, AE):
        return f"{type(model).__name__} is not a plain AE/DAE"
    # a method replaced on the class or on this instance (a wrapper, a test's spy) changes the step
    changed = [n for n in _SAME if n in vars(model) or getattr(type(model), n) is not getattr(AE, n)]
    if changed:
        return f"{type(model).__name__} overrides {', '.join(changed)}"
    if model.config.arch != "mlp":
        return "convolutional network"
    enc, dec = _stack(model.encoder), _stack(model.decoder)
    if enc is None or dec is None:
        return "the networks are not Linear/activation stacks"
    params = list(model.parameters())
    if any(not p.requires_grad or p.dtype != torch.float32 or p.device.type != "cpu" for p in params):
        return "parameters are frozen, not float32 or not on the CPU"
    if len(optimizers) != 1 or sum(len(g["params"]) for g in optimizers[0].param_groups) != len(params):
        return "not one optimizer over all parameters"
    return enc + dec


class MLPStep:
    """One training step of a qualifying AE/DAE: corrupt, forward, loss, backward, clip, step."""

    def __init__(self, model, layers: list[Layer], optimizer: torch.optim.Optimizer, grad_clip: float = 0.0):
        self.model, self.layers, self.optimizer, self.grad_clip = model, layers, optimizer, grad_clip
        self.params = [p for lay in layers for p in (lay.linear.weight, lay.linear.bias)]
        self._buffers: dict[int, tuple[list[torch.Tensor], list[torch.Tensor]]] = {}
        c = model.config
        self.bce = c.recon_loss == "bce"
        self.sigmoid = c.output == "sigmoid"

    def buffers(self, b: int):
        """Per batch size: forward outputs and backward input-gradients, reused every step
        (a fresh large allocation each step costs page faults on the CPU)."""
        if b not in self._buffers:
            if len(self._buffers) >= 2:  # the full batch and the epoch's last partial batch
                self._buffers.clear()
            outs = [torch.empty(b, lay.linear.out_features) for lay in self.layers]
            grads = [torch.empty(b, lay.linear.in_features) for lay in self.layers[1:]]
            grads.append(torch.empty(b, self.layers[-1].linear.out_features))  # dL/d(output)
            self._buffers[b] = (outs, grads)
        return self._buffers[b]

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        target = x.flatten(1).to(torch.float32)
        h = self.model.corrupt(x).flatten(1).to(torch.float32)
        outs, gbufs = self.buffers(target.shape[0])
        for p in self.params:
            if p.grad is None:
                p.grad = torch.empty_like(p)
        # forward: keep each layer's input (and pre-activation where the backward needs it)
        ins, pres = [], []
        for lay, buf in zip(self.layers, outs):
            ins.append(h)
            h = torch.addmm(lay.linear.bias, h, lay.linear.weight.t(), out=buf)
            pres.append(h)
            if lay.act is not None:
                h = lay.act.forward(h)
        # loss and its gradient with respect to the last pre-activation, up to the factor s
        n = target.numel()
        if self.bce:
            loss = F.binary_cross_entropy_with_logits(h, target)
            g = h.sigmoid_().sub_(target)  # dL/dh = (σ(h) − x) / n
            s = 1.0 / n
        else:
            y = h.sigmoid_() if self.sigmoid else h
            g = torch.sub(y, target, out=gbufs[-1])
            loss = torch.dot(g.view(-1), g.view(-1)) / n
            if self.sigmoid:  # (y − x) · y (1 − y)
                g.mul_(y)
                g.addcmul_(g, y, value=-1)
            s = 2.0 / n
        # backward: s folds into the weight/bias gradients, not into every activation gradient
        for i in range(len(self.layers) - 1, -1, -1):
            w, b = self.layers[i].linear.weight, self.layers[i].linear.bias
            torch.addmm(w.grad, g.t(), ins[i], beta=0, alpha=s, out=w.grad)
            torch.sum(g, 0, out=b.grad)
            b.grad.mul_(s)
            if i > 0:
                g = torch.mm(g, w, out=gbufs[i - 1])
                act = self.layers[i - 1].act
                if act is not None:
                    g = act.backward(g, pres[i - 1], ins[i])
        if self.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip, foreach=True)
        self.optimizer.step()
        return {"loss": loss, "recon": loss}
