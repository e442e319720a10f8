"""aekit's own networks, registered by name: ``mlp``, ``conv``, ``resnet``, the sequence
networks for series windows (W, C) ``lstm``, ``gru``, ``tcn``, ``transformer``, and the two
forms of the user's modules (``sequential``, ``module``)."""

from __future__ import annotations

import math

from ..errors import AekitError
from .conv import conv_decoder, conv_encoder, conv_layout
from .mlp import mlp, tied_mlp
from .recurrent import OPTIONS as RECURRENT_OPTIONS
from .recurrent import recurrent_options, recurrent_pair
from .registry import Network, _add
from .tcn import OPTIONS as TCN_OPTIONS
from .tcn import tcn_layout, tcn_pair
from .transformer import OPTIONS as TRANSFORMER_OPTIONS
from .transformer import transformer_options, transformer_pair


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


def _recurrent(cell: str):
    def build(cfg, code_dim: int):
        return recurrent_pair(cfg, code_dim, cell)

    return build


def _modules_only(cfg, code_dim: int):  # the model builds these from its modules (models.base)
    raise AekitError("arch: this network is built from encoder/decoder modules; pass encoder= and decoder=")


_add(Network("mlp", _mlp, "fully connected layers (any input shape, flattened)", flat_input=True,
             fast_path=True, widest=_mlp_widest, builtin=True, probe=False))
_add(Network("conv", _conv, "strided convolutions down, transposed convolutions up (images C×H×W)",
             check=lambda c: conv_layout(c.input_shape, c.channels), widest=_conv_widest, builtin=True, probe=False))
_add(Network("resnet", _resnet, "residual convolutional blocks down and up (larger colour images C×H×W); "
             "net_options: norm (group, none), blocks per stage", check=_resnet_check, builtin=True,
             options=RESNET_OPTIONS))
_add(Network("lstm", _recurrent("lstm"), "LSTM encoder-decoder for series windows W×C, reconstructing in "
             "reverse with teacher forcing (EncDec-AD); net_options: layers, dropout, teacher_forcing, "
             "teacher_decay", check=lambda c: recurrent_options(c, "lstm"), builtin=True, options=RECURRENT_OPTIONS))
_add(Network("gru", _recurrent("gru"), "GRU encoder-decoder for series windows W×C (as lstm, GRU cells); "
             "net_options: layers, dropout, teacher_forcing, teacher_decay",
             check=lambda c: recurrent_options(c, "gru"), builtin=True, options=RECURRENT_OPTIONS))
_add(Network("tcn", tcn_pair, "temporal convolutional network for series windows W×C: dilated residual blocks, "
             "stride-2 stages down, transposed convolutions up (the fast one on CPUs); net_options: "
             "kernel_size, causal, blocks, dropout", check=tcn_layout, builtin=True, options=TCN_OPTIONS))
_add(Network("transformer", transformer_pair, "transformer over patches of series windows W×C; net_options: patch, "
             "d_model, heads, layers, dropout", check=transformer_options, builtin=True, options=TRANSFORMER_OPTIONS))
_add(Network("sequential", _modules_only, "the user's nn.Sequential of stock torch.nn layers, "
             "recorded layer by layer in config.json", builtin=True, modules=True))
_add(Network("module", _modules_only, "the user's own encoder and decoder modules, passed again at load time",
             builtin=True, modules=True))

from . import text, text_transformer  # noqa: E402,F401  (register text-gru, text-lstm, text-transformer last)
