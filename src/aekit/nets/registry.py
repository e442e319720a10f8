"""Networks by name: every family builds its encoder and decoder through this registry.

A family knows its loss, not its network: ``VAE(arch="conv")`` is the VAE family with the
``conv`` network. A :class:`Network` owns what differs between networks — how the input is
reshaped before the encoder, the input dtype (float features or integer tokens), the
inference chunk size, and whether aekit's hand-written CPU training steps know it.

Built in: ``mlp`` (fully connected), ``conv`` (strided convolutions), ``resnet`` (residual
convolutional), for series windows (W, C) ``lstm``/``gru`` (recurrent), ``tcn`` (temporal
convolutional) and ``transformer`` (patch tokens), and ``sequential`` (the user's own
``nn.Sequential`` of stock layers, recorded in ``config.json`` layer by layer). A user adds
a network with :func:`register_network`; ``module`` stands for encoder and decoder modules
passed to a family directly (``aekit.AE(encoder=…, decoder=…)``), which are passed again at
load time.

The encoder of every network maps (B, *input_shape) to (B, code_dim) — code_dim is what the
family asks for: latent_dim for deterministic families, 2 × latent_dim (μ, log σ²) for the
VAE — and the decoder maps (B, latent_dim) to (B, *input_shape) before the family's output
activation or likelihood.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..errors import AekitError, close_matches
from .modes import eval_mode

Builder = Callable[[Any, int], "tuple[nn.Module, nn.Module]"]


@dataclasses.dataclass(frozen=True)
class Network:
    """A registered encoder/decoder network.

    ``build(config, code_dim)`` returns (encoder, decoder); ``check(config)`` raises an
    :class:`~aekit.errors.AekitError` for input shapes or options the network cannot take;
    ``widest(config)`` is the largest activation of one sample (numbers), which sets the
    inference chunk size — None measures it with a dummy batch at construction.
    """

    name: str
    build: Builder
    description: str = ""
    check: Callable[[Any], None] | None = None
    flat_input: bool = False  # the encoder takes (B, prod(input_shape))
    input_dtype: str = "float"  # "float" (features) or "long" (token ids)
    fast_path: bool = False  # aekit.accel's hand-written CPU training steps know this network
    widest: Callable[[Any], int] | None = None
    builtin: bool = False
    probe: bool = True  # check encoder/decoder shapes with a dummy batch at construction
    modules: bool = False  # built from user modules (``sequential``, ``module``)
    origin: str = "aekit"  # the module that registered it (a plug-in for the user's networks)
    options: tuple[str, ...] | None = None  # the net_options a built-in network takes (None: any)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """The batch as the encoder takes it: (B, *input_shape) → flat where the network wants."""
        return x.flatten(1) if self.flat_input else x


NETWORKS: dict[str, Network] = {}
RESERVED = ("mlp", "conv", "resnet", "lstm", "gru", "tcn", "transformer", "text-gru", "text-lstm",
            "text-transformer", "sequential", "module")


def _add(net: Network) -> Network:
    NETWORKS[net.name] = net
    return net


def register_network(name: str, *, flat_input: bool = False, input_dtype: str = "float",
                     description: str | None = None, widest: Callable[[Any], int] | None = None):
    """Decorator: register ``fn(input_shape, code_dim, latent_dim, **options) -> (encoder,
    decoder)`` as the network ``name``.

    ``options`` come from the family's ``net_options`` (JSON values only: they are written to
    ``config.json``), so a saved run rebuilds the network by name — once the module that
    registers it has been imported (``plugins=[…]`` / ``--plugin``). Shapes are checked with
    a dummy batch when a model is built.

        @aekit.register_network("small-conv")
        def small_conv(input_shape, code_dim, latent_dim, width=16):
            ...
            return encoder, decoder

        model = aekit.VAE(input_shape=(1, 28, 28), arch="small-conv", net_options={"width": 8})
    """
    if not isinstance(name, str) or not name or not name.replace("-", "").replace("_", "").isalnum():
        raise AekitError(f"register_network: the name must be letters, digits, '-' or '_', got {name!r}")
    if input_dtype not in ("float", "long"):
        raise AekitError(f"register_network: input_dtype must be 'float' or 'long', got {input_dtype!r}")

    def deco(fn):
        if name in RESERVED:
            raise AekitError(f"register_network: {name!r} is a built-in network; choose another name")
        old = NETWORKS.get(name)
        origin = (getattr(fn, "__module__", None), getattr(fn, "__qualname__", None))
        if old is not None and getattr(old.build, "origin", None) != origin:
            raise AekitError(
                f"register_network: {name!r} is already registered by {'.'.join(map(str, old.build.origin))}; "
                "choose another name"
            )
        params = inspect.signature(fn).parameters

        def build(cfg, code_dim):
            options = dict(cfg.net_options)
            takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
            unknown = [k for k in options if k not in params or k in ("input_shape", "code_dim", "latent_dim")]
            if unknown and not takes_any:
                known = [k for k in params if k not in ("input_shape", "code_dim", "latent_dim")]
                raise AekitError(
                    f"net_options: network {name!r} takes no option {unknown[0]!r}"
                    + close_matches(unknown[0], known) + f"; its options: {', '.join(known) or 'none'}"
                )
            pair = fn(tuple(cfg.input_shape), code_dim, cfg.latent_dim, **options)
            if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(m, nn.Module) for m in pair)):
                raise AekitError(f"network {name!r}: its builder must return (encoder, decoder) modules, "
                                 f"got {type(pair).__name__}")
            return pair

        build.origin = origin
        doc = description or (inspect.getdoc(fn) or "").split("\n")[0]
        _add(Network(name, build, doc, flat_input=flat_input, input_dtype=input_dtype, widest=widest,
                     origin=str(origin[0])))
        return fn

    return deco


def get_network(name: Any) -> Network:
    """The network registered as ``name``; a one-line error naming the fix otherwise."""
    if isinstance(name, str) and name in NETWORKS:
        return NETWORKS[name]
    choices = sorted(n for n in NETWORKS if not NETWORKS[n].modules)
    raise AekitError(
        f"arch: {name!r} is not a registered network{close_matches(str(name), choices)}; choose one of "
        f"{', '.join(choices)}, or register it (aekit.register_network) and import that module "
        "(plugins=[...] / --plugin MODULE)"
    )


def network_names() -> list[str]:
    return [n for n in NETWORKS if n != "module"]


def load_plugins(modules: Any) -> list[str]:
    """Import the user's plug-in modules (which register networks or families) by name.

    aekit imports a module only when the user names it here (``plugins=[…]``, ``--plugin``),
    never because a ``config.json`` names it."""
    import importlib

    if isinstance(modules, str):
        modules = [modules]
    done = []
    for m in modules or ():
        if not isinstance(m, str) or not m:
            raise AekitError(f"plugins: expected module names such as 'mypkg.nets', got {m!r}")
        try:
            importlib.import_module(m)
        except ImportError as e:
            raise AekitError(f"--plugin: cannot import {m!r} ({e}); check the module name and that its "
                             "package is installed or on PYTHONPATH") from None
        done.append(m)
    return done


def check_options(options: Any) -> None:
    """``net_options`` must survive config.json: a mapping of JSON values."""
    if not isinstance(options, dict):
        raise AekitError(f"net_options: expected a mapping of options, got {type(options).__name__}")
    try:
        json.dumps(options, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise AekitError(f"net_options: values must be JSON numbers, strings, lists or mappings ({e})") from None


# -- shapes checked once, with a dummy batch ----------------------------------------------------

def dummy_batch(shape: tuple[int, ...], dtype: str, n: int = 2) -> torch.Tensor:
    if dtype == "long":
        return torch.zeros(n, *shape, dtype=torch.long)
    return torch.zeros(n, *shape)


def _name(m: nn.Module) -> str:
    return type(m).__name__


def _encode_dummy(encoder: nn.Module, input_shape: tuple[int, ...], net: Network) -> torch.Tensor:
    x = net.prepare(dummy_batch(input_shape, net.input_dtype))
    p = next(encoder.parameters(), None)
    if p is not None:
        x = x.to(device=p.device, dtype=p.dtype if x.is_floating_point() else x.dtype)
    try:
        h = encoder(x)
    except Exception as e:  # noqa: BLE001 — any failure is a shape mismatch to report
        raise AekitError(
            f"encoder: {_name(encoder)} fails on a batch shaped {tuple(x.shape)} "
            f"({str(e).splitlines()[0] if str(e) else type(e).__name__}); it must take inputs of "
            f"input_shape={tuple(input_shape)}"
        ) from None
    if not isinstance(h, torch.Tensor) or h.dim() != 2:
        got = tuple(h.shape) if isinstance(h, torch.Tensor) else type(h).__name__
        raise AekitError(f"encoder: {_name(encoder)} maps {tuple(x.shape)} to {got}; it must output "
                         "(batch, features) — end it with nn.Flatten() and a linear layer")
    return h


@torch.no_grad()
def encoder_width(encoder: nn.Module, input_shape: tuple[int, ...], net: Network) -> int:
    """Numbers per sample the encoder outputs for a dummy batch (eval mode, no gradients)."""
    with eval_mode(encoder):
        return int(_encode_dummy(encoder, input_shape, net).shape[1])


@torch.no_grad()
def probe(encoder: nn.Module, decoder: nn.Module, input_shape: tuple[int, ...], dec_in: int, net: Network,
          code_dim: int | None = None) -> tuple[int, int]:
    """Run a dummy batch through both networks (eval mode, no gradients) and check their
    shapes: the encoder must give (B, features) — (B, code_dim) when ``code_dim`` is given —
    and the decoder, fed (B, dec_in), numbers that reshape to (B, *input_shape).
    Returns (encoder output width, widest activation of one sample)."""
    widest = [math.prod(input_shape)]

    def hook(_m, _i, out):
        if isinstance(out, torch.Tensor) and out.dim() >= 1:
            widest[0] = max(widest[0], out[0].numel())

    handles = [m.register_forward_hook(hook) for m in (*encoder.modules(), *decoder.modules())]
    modes = [(m, m.training) for m in (encoder, decoder)]
    try:
        for m, _ in modes:
            m.eval()
        h = _encode_dummy(encoder, input_shape, net)
        if code_dim is not None and h.shape[1] != code_dim:
            raise AekitError(f"encoder: {_name(encoder)} outputs {h.shape[1]} numbers per sample; this family "
                             f"needs {code_dim} (the code of latent_dim)")
        z = torch.zeros(2, dec_in, device=h.device, dtype=h.dtype)
        try:
            y = decoder(z)
        except Exception as e:  # noqa: BLE001
            raise AekitError(
                f"decoder: {_name(decoder)} fails on a code shaped {tuple(z.shape)} "
                f"({str(e).splitlines()[0] if str(e) else type(e).__name__}); it must take latent_dim={dec_in} inputs"
            ) from None
        if not isinstance(y, torch.Tensor) or y[0].numel() != math.prod(input_shape):
            got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise AekitError(f"decoder: {_name(decoder)} maps {tuple(z.shape)} to {got}; it must output "
                             f"(batch, {', '.join(map(str, input_shape))}) or (batch, {math.prod(input_shape)})")
    finally:
        for h_ in handles:
            h_.remove()
        for m, was in modes:
            m.train(was)
    return int(h.shape[1]), widest[0]


class Headed(nn.Module):
    """A user's encoder followed by the linear head aekit adds (features → the family's code:
    2 × latent_dim for μ and log σ² of a VAE)."""

    def __init__(self, body: nn.Module, features: int, code_dim: int):
        super().__init__()
        self.body = body
        self.head = nn.Linear(features, code_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))
