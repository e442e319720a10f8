"""Encoder/decoder networks shared by every family, registered by name (:mod:`.registry`):
``mlp``, ``conv``, ``resnet``, for series windows ``lstm``, ``gru``, ``tcn`` and
``transformer``, for token rows ``text-gru``, ``text-lstm`` and ``text-transformer``, the
user's ``nn.Sequential`` and the user's own modules."""

from . import builtin  # noqa: F401  (registers mlp, conv, resnet, lstm, gru, tcn, transformer, sequential, module,

#                                     text-gru, text-lstm, text-transformer)
from .conv import ConvTranspose2d, conv_decoder, conv_encoder, conv_layout
from .mlp import Stack, TiedLinear, activation, mlp, tied_mlp
from .modes import eval_mode
from .registry import Network, get_network, load_plugins, network_names, register_network

__all__ = ["Stack", "TiedLinear", "tied_mlp", "ConvTranspose2d", "activation", "mlp", "conv_layout", "conv_encoder",
           "conv_decoder", "build_pair", "eval_mode", "Network", "get_network", "network_names", "register_network", "load_plugins"]


def build_pair(cfg, code_dim: int):
    """Encoder mapping ``input_shape`` → ``code_dim`` and decoder mapping ``latent_dim`` →
    ``input_shape`` (pre-activation: the model applies its output activation/likelihood),
    built by the network ``cfg.arch`` names."""
    return get_network(cfg.arch).build(cfg, code_dim)
