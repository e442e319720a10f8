"""What every hand-written step shares: the qualification checks, the parameters' ``.grad``
buffers, the reconstruction loss and its gradient, clipping and the model's own optimizer."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..nets.mlp import TiedLinear
from .chain import Chain, Layer, stack, through_sigmoid_


def qualifies(model, base, names, what: str) -> str | None:
    """Why ``model`` cannot take a step written for ``base`` (not one, or a method of ``names``
    replaced on its class or on the instance — a wrapper, a test's spy), or None."""
    if not isinstance(model, base):
        return f"{type(model).__name__} is not {what}"
    changed = [n for n in names if n in vars(model) or getattr(type(model), n) is not getattr(base, n)]
    return f"{type(model).__name__} overrides {', '.join(changed)}" if changed else None


def networks(model, optimizers: list) -> tuple[list[Layer], list[Layer]] | str:
    """(encoder layers, decoder layers) when the model's network is one these steps know
    (``Network.fast_path``: the built-in ``mlp``) and both networks are Linear/activation
    stacks of trainable fp32 CPU parameters under one optimizer, else the reason they are
    not. A network of the user's may be a stack of the same layers and still differ (an
    input reshaping, a hook), so it is the registry, not the layers, that vouches for it."""
    net = getattr(model, "network", None)
    arch = getattr(net, "name", None) or model.config.arch
    if not getattr(net, "fast_path", True):
        return f"the {arch!r} network is not one the hand-written steps know (Network.fast_path)"
    if model.config.arch != "mlp":
        return f"the {arch!r} network is not the fully connected mlp"
    enc, dec = stack(model.encoder), stack(model.decoder)
    if enc is None or dec is None:
        return "the networks are not Linear/activation stacks"
    params = list(model.parameters())
    if any(not p.requires_grad or p.dtype != torch.float32 or p.device.type != "cpu" for p in params):
        return "parameters are frozen, not float32 or not on the CPU"
    if len(optimizers) != 1 or sum(len(g["params"]) for g in optimizers[0].param_groups) != len(params):
        return "not one optimizer over all parameters"
    return enc, dec


class Step:
    """Gradients into ``.grad``, clipping, then the model's own optimizer.

    A family's step defines :meth:`gradients` (loss, logged terms, every parameter's
    ``.grad``); calling the step also clips and steps the optimizer. The trainer calls
    :meth:`gradients` alone on a fit's first batch, to check it against autograd
    (:func:`aekit.accel.check.verify`) before any optimizer step."""

    def __init__(self, model, chains: list[Chain], optimizer: torch.optim.Optimizer, grad_clip: float):
        self.model, self.optimizer, self.grad_clip = model, optimizer, grad_clip
        # the parameters once each (a tied layer owns only its bias; its weight is the encoder's)
        self.params = [p for c in chains for lay in c.layers
                       for p in ((lay.linear.bias,) if type(lay.linear) is TiedLinear else (lay.linear.weight, lay.linear.bias))]
        c = model.config
        self.bce = getattr(c, "recon_loss", "mse") == "bce"
        self.sigmoid = getattr(c, "output", "sigmoid") == "sigmoid"
        self._out: dict[int, torch.Tensor] = {}

    def zero_grads(self) -> None:
        for p in self.params:
            if p.grad is None:
                p.grad = torch.empty_like(p)  # every element is overwritten by the backward

    def recon(self, h: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
        """The AE reconstruction loss (mean over all elements) of decoder pre-activation ``h``
        and its gradient with respect to ``h``, up to the factor s: (loss, g, s). ``h`` is
        overwritten."""
        n = target.numel()
        if self.bce:
            loss = F.binary_cross_entropy_with_logits(h, target)
            return loss, h.sigmoid_().sub_(target), 1.0 / n  # dL/dh = (σ(h) − x) / n
        y = h.sigmoid_() if self.sigmoid else h
        if target.shape[0] not in self._out:
            self._out = {target.shape[0]: torch.empty_like(target)}
        g = torch.sub(y, target, out=self._out[target.shape[0]])
        loss = torch.dot(g.view(-1), g.view(-1)) / n
        if self.sigmoid:  # (y − x) · y (1 − y)
            through_sigmoid_(g, y)
        return loss, g, 2.0 / n

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        terms = self.gradients(x)
        self.update()
        return terms

    def gradients(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Forward and backward on batch ``x``: the logged terms (with ``loss``); every
        parameter's gradient written into its ``.grad``."""
        raise NotImplementedError

    def update(self) -> None:
        if self.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip, foreach=True)
        self.optimizer.step()
