"""What the sequence networks share: the window shape, their options, the encoder → decoder
hand-off, and the switches that keep their encoders twice differentiable.

A series window is one sample of ``input_shape=(W, C)``: W steps of C channels, channels
last, as :class:`aekit.data.windows.Windows` yields them. The sequence networks (``lstm``,
``gru``: :mod:`.recurrent`; ``tcn``: :mod:`.tcn`; ``transformer``: :mod:`.transformer`)
take exactly that shape; every one of their encoders maps (B, W, C) → (B, code_dim) and every
decoder (B, latent_dim) → (B, W, C), before the family's output activation.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch

from ..errors import AekitError

# An option's (default, test, what it must be); the tests take the value and say yes or no.
Spec = dict[str, tuple[Any, Callable[[Any], bool], str]]


def is_int(lo: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= lo


def is_number(lo: float, hi: float, *, open_lo: bool = False, open_hi: bool = False) -> Callable[[Any], bool]:
    def ok(v: Any) -> bool:
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            return False
        return (v > lo if open_lo else v >= lo) and (v < hi if open_hi else v <= hi)

    return ok


def is_bool(v: Any) -> bool:
    return isinstance(v, bool)


DROPOUT = (0.0, is_number(0.0, 1.0, open_hi=True), "a probability in [0, 1)")


def window_shape(cfg: Any, name: str) -> tuple[int, int]:
    """(W, C) of a series window; a one-line error for any other input shape."""
    shape = tuple(cfg.input_shape)
    if len(shape) != 2:
        raise AekitError(
            f"arch: the {name} network takes series windows, input_shape=(W, C) (steps, channels), "
            f"got {shape}; window the series (aekit.data.windows.Windows) or use arch='mlp' for other data"
        )
    return shape[0], shape[1]


def resolve(cfg: Any, name: str, spec: Spec) -> dict[str, Any]:
    """The network's options: ``net_options`` over the defaults in ``spec``, each checked.
    (Unknown names are refused earlier, by the config, from the network's ``options``.)"""
    given = dict(getattr(cfg, "net_options", None) or {})
    out = {}
    for key, (default, ok, want) in spec.items():
        value = given.get(key, default)
        if not ok(value):
            raise AekitError(f"net_options: the {name} network's {key} must be {want}, got {value!r}")
        out[key] = value
    return out


class Handoff:
    """The window an encoder read, left for its decoder (teacher forcing, :mod:`.recurrent`).

    The family contract gives the decoder only the code (``decode(z)``), but a decoder trained
    with teacher forcing reads the true window too. The encoder ``put``s its input (detached:
    the window is data, not a path for gradients) when training, and the decoder ``take``s it
    (clearing it, so a window is used once); with nothing there the decoder runs free. Not a
    module and not state: it is never saved, and a copy of a model starts empty.
    """

    __slots__ = ("x",)

    def __init__(self) -> None:
        self.x: torch.Tensor | None = None

    def put(self, x: torch.Tensor) -> None:
        self.x = x.detach()

    def take(self) -> torch.Tensor | None:
        x, self.x = self.x, None
        return x

    def __deepcopy__(self, memo: dict) -> Handoff:
        return Handoff()  # the copy's encoder and decoder share this new one (deepcopy's memo)

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.x = None


@contextlib.contextmanager
def twice_differentiable(x: torch.Tensor) -> Iterator[None]:
    """Kernels with a double backward while ``x`` requires a gradient.

    A contractive penalty differentiates the code with respect to the input and then back
    through that gradient. cuDNN's RNNs and the fused attention kernels have no double
    backward; the plain RNN and the math attention kernel do. Other calls keep the fast ones."""
    if not (x.requires_grad and torch.is_grad_enabled()):
        yield
        return
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with torch.backends.cudnn.flags(enabled=False), sdpa_kernel(SDPBackend.MATH):
        yield
