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

# oneDNN post-ops equal to an activation: (name, scalars, algorithm) for mkldnn._linear_pointwise
_POST_OPS = {
    nn.Identity: lambda m: ("none", [], ""),
    nn.ReLU: lambda m: ("relu", [], ""),
    nn.Sigmoid: lambda m: ("sigmoid", [], ""),
    nn.Tanh: lambda m: ("tanh", [], ""),
    nn.SiLU: lambda m: ("swish", [], ""),
    nn.LeakyReLU: lambda m: ("leaky_relu", [m.negative_slope], ""),
    nn.GELU: lambda m: ("gelu", [], m.approximate),
}
_onednn = {"ok": None}


def fused_linear(x: torch.Tensor, linear: nn.Module, act: nn.Module | None) -> torch.Tensor | None:
    """``act(linear(x))`` as one oneDNN matrix product with the bias and activation applied in
    its epilogue (no extra passes over the output), or None where that does not apply.

    For inference on the CPU in float32, where it makes scoring faster (BENCHMARKS.md,
    "Scoring"). Applies to ``nn.Linear`` followed by nothing, ReLU, sigmoid, tanh, SiLU,
    leaky ReLU or GELU; not under autocast, with gradients on, with oneDNN switched off or
    while the model is traced or compiled.
    """
    post = _POST_OPS.get(nn.Identity if act is None else type(act))
    if (
        post is None
        or type(linear) is not nn.Linear
        or torch.is_grad_enabled()
        or x.device.type != "cpu"
        or x.dtype != torch.float32
        or linear.weight.dtype != torch.float32
        or x.dim() < 2
        or torch.is_autocast_enabled("cpu")
        or not torch.backends.mkldnn.enabled
        or _tracing()
    ):
        return None
    if _onednn["ok"] is None:
        _onednn["ok"] = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    if not _onednn["ok"]:
        return None
    name, scalars, algorithm = post(act)
    try:
        return torch.ops.mkldnn._linear_pointwise(x, linear.weight, linear.bias, name, scalars, algorithm)
    except RuntimeError:  # a oneDNN build without this fusion: the stock path from now on
        _onednn["ok"] = False
        return None


def _tracing() -> bool:
    """Is the forward being traced or compiled (``torch.jit.trace``, ``torch.compile``,
    ``torch.export``, ONNX export)? Then the stock operators are recorded, not aekit's CPU
    kernels, so the captured graph stays portable."""
    return torch.jit.is_tracing() or torch.compiler.is_compiling()


def _hooked(m: nn.Module) -> bool:
    """Has this module forward hooks of its own (then it runs as itself, so they see it)?"""
    return bool(m._forward_hooks or m._forward_pre_hooks)


class Stack(nn.Sequential):
    """``nn.Sequential`` that, when no gradient is recorded, fuses and overwrites.

    In inference (``torch.no_grad``/``inference_mode``) a linear layer and the activation after
    it run as one oneDNN matrix product on the CPU (:func:`fused_linear`), and an activation
    that follows any other layer (or a reshape of its output) overwrites that fresh output
    instead of allocating another tensor of the same size, so scoring a large file allocates
    less and runs faster on a CPU (BENCHMARKS.md, "Scoring"). The caller's input is
    never modified, but a forward hook that keeps a layer's output sees it overwritten by the
    activation that follows (as with ``nn.ReLU(inplace=True)``); clone it in the hook. A layer
    or activation with hooks of its own is not fused, so its hooks run. With gradients on it is
    exactly ``nn.Sequential``.

    ``then``: an activation module applied to the result (the model's output activation), so
    that inference can fuse it into the last layer too.
    """

    def forward(self, x, then: nn.Module | None = None):
        if torch.is_grad_enabled():
            x = super().forward(x)
            return x if then is None else then(x)
        mods = [*self, then] if then is not None else list(self)
        owned = False  # does x belong to this forward (safe to overwrite)?
        i = 0
        while i < len(mods):
            m = mods[i]
            if type(m) is nn.Linear and not _hooked(m):
                nxt = mods[i + 1] if i + 1 < len(mods) else None
                fuse = nxt is not None and type(nxt) in _POST_OPS and not _hooked(nxt)
                y = fused_linear(x, m, nxt if fuse else None)
                if y is not None:
                    x, owned = y, True
                    i += 2 if fuse else 1
                    continue
            f = _IN_PLACE.get(type(m))
            if f is not None and owned and not _hooked(m):
                x = f(m, x)
            else:
                x = m(x)
                owned = f is not None or isinstance(m, _FRESH) or (owned and isinstance(m, _VIEWS))
            i += 1
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
