"""aekit's own networks, registered by name: ``mlp``, ``conv``, ``resnet``, and the two
forms of the user's modules (``sequential``, ``module``)."""

from __future__ import annotations

import math

from ..errors import AekitError
from .conv import conv_decoder, conv_encoder, conv_layout
from .mlp import mlp, tied_mlp
from .registry import Network, _add


def _mlp(cfg, code_dim: int):
    tied = getattr(cfg, "tied", False)  # the config has checked arch='mlp'
    if tied and code_dim != cfg.latent_dim:
        raise AekitError(
            "tied: tied weights need a decoder that takes the encoder's output "
            f"(code size {code_dim}, decoder input {cfg.latent_dim}); set tied=False"
        )
    d = math.prod(cfg.input_shape)
    enc = mlp([d, *cfg.hidden, code_dim], cfg.activation)
    dec = tied_mlp(enc, cfg.activation) if tied else mlp([cfg.latent_dim, *reversed(cfg.hidden), d], cfg.activation)
    return enc, dec


def _mlp_widest(cfg) -> int:
    return max(math.prod(cfg.input_shape), *cfg.hidden, 1)


def _conv(cfg, code_dim: int):
    return (
        conv_encoder(cfg.input_shape, cfg.channels, code_dim, cfg.activation),
        conv_decoder(cfg.input_shape, cfg.channels, cfg.latent_dim, cfg.activation),
    )


def _conv_widest(cfg) -> int:
    chans, _, _ = conv_layout(cfg.input_shape, cfg.channels)
    h, w = cfg.input_shape[1:]
    return max(math.prod(cfg.input_shape), *(ch * (h >> (i + 1)) * (w >> (i + 1)) for i, ch in enumerate(chans)))


RESNET_OPTIONS = ("norm", "blocks")


def _resnet(cfg, code_dim: int):
    from .resnet import resnet_decoder, resnet_encoder

    opts = dict(cfg.net_options)
    return (
        resnet_encoder(cfg.input_shape, cfg.channels, code_dim, cfg.activation, **opts),
        resnet_decoder(cfg.input_shape, cfg.channels, cfg.latent_dim, cfg.activation, **opts),
    )


def _resnet_check(cfg) -> None:
    from .resnet import _check, resnet_layout

    resnet_layout(cfg.input_shape, cfg.channels)
    opts = dict(getattr(cfg, "net_options", {}) or {})
    _check(opts.get("norm", "group"), opts.get("blocks", 1))


def _modules_only(cfg, code_dim: int):  # the model builds these from its modules (models.base)
    raise AekitError("arch: this network is built from encoder/decoder modules; pass encoder= and decoder=")


_add(Network("mlp", _mlp, "fully connected layers (any input shape, flattened)", flat_input=True,
             fast_path=True, widest=_mlp_widest, builtin=True, probe=False))
_add(Network("conv", _conv, "strided convolutions down, transposed convolutions up (images C×H×W)",
             check=lambda c: conv_layout(c.input_shape, c.channels), widest=_conv_widest, builtin=True, probe=False))
_add(Network("resnet", _resnet, "residual convolutional blocks down and up (larger colour images C×H×W); "
             "net_options: norm (group, none), blocks per stage", check=_resnet_check, builtin=True,
             options=RESNET_OPTIONS))
_add(Network("sequential", _modules_only, "the user's nn.Sequential of stock torch.nn layers, "
             "recorded layer by layer in config.json", builtin=True, modules=True))
_add(Network("module", _modules_only, "the user's own encoder and decoder modules, passed again at load time",
             builtin=True, modules=True))
