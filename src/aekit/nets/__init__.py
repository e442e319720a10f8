"""Encoder/decoder networks shared by every family: MLP and convolutional."""

from .conv import ConvTranspose2d, conv_decoder, conv_encoder, conv_layout
from .mlp import Stack, TiedLinear, activation, mlp, tied_mlp

__all__ = ["Stack", "TiedLinear", "tied_mlp", "ConvTranspose2d", "activation", "mlp", "conv_layout", "conv_encoder", "conv_decoder", "build_pair"]


def build_pair(cfg, code_dim: int):
    """Encoder mapping ``input_shape`` → ``code_dim`` and decoder mapping ``latent_dim`` →
    ``input_shape`` (pre-activation: the model applies its output activation/likelihood).

    ``cfg`` has ``input_shape``, ``arch``, ``hidden``, ``channels``, ``activation``,
    ``latent_dim`` and optionally ``tied`` (the decoder reuses the encoder's weights, transposed).
    """
    import math

    from ..errors import AekitError

    tied = getattr(cfg, "tied", False)  # the config has checked arch='mlp'
    if tied and code_dim != cfg.latent_dim:
        raise AekitError(
            "tied: tied weights need a decoder that takes the encoder's output "
            f"(code size {code_dim}, decoder input {cfg.latent_dim}); set tied=False"
        )
    if cfg.arch == "mlp":
        d = math.prod(cfg.input_shape)
        enc = mlp([d, *cfg.hidden, code_dim], cfg.activation)
        dec = tied_mlp(enc, cfg.activation) if tied else mlp([cfg.latent_dim, *reversed(cfg.hidden), d], cfg.activation)
        return enc, dec
    return (
        conv_encoder(cfg.input_shape, cfg.channels, code_dim, cfg.activation),
        conv_decoder(cfg.input_shape, cfg.channels, cfg.latent_dim, cfg.activation),
    )
