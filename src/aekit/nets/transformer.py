"""Transformer encoder–decoder over patches of a series window: the ``transformer`` network.

The window (B, W, C) is cut into N = ⌈W / P⌉ patches of P steps (``patch``; the end padded
with zeros when W is not a multiple of P, and cropped off again after decoding), each patch
flattened to P·C numbers and embedded linearly, plus a learned positional embedding: tokens
as in the Vision Transformer (Dosovitskiy et al. 2021) and PatchTST (Nie, Nguyen, Sinthong &
Kalagnanam 2023, "A Time Series is Worth 64 Words"). A stack of Transformer encoder layers
(Vaswani et al. 2017; pre-norm, as in Xiong et al. 2020) mixes the tokens; their mean
(B, d_model) is mapped linearly to the code:

    t_n = E · vec(x[nP : (n+1)P]) + p_n,   h = TransformerEncoder(t_1 … t_N),
    z = A · mean_n h_n + a

The decoder maps the code linearly to N tokens, adds its own positional embedding, runs its
own encoder layers (self-attention over the N tokens: the decoder sees every position at
once, no masking, as a code-to-window map needs), and projects each token back to a patch of
P·C numbers: (B, N·P, C), cropped to (B, W, C), pre-activation.

Options (``net_options``): ``patch`` P (8), ``d_model`` (64), ``heads`` (4; must divide
d_model), ``layers`` per stack (2), ``dropout`` (0). The feed-forward width of each layer is
``hidden[0]`` (the families' default 256, 4 × d_model as in the paper; 4 × d_model when
``hidden=()``); ``activation`` is the feed-forward's.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import AekitError
from .mlp import activation
from .sequence import DROPOUT, Spec, is_int, resolve, twice_differentiable, window_shape

SPEC: Spec = {
    "patch": (8, is_int(1), "an integer ≥ 1 (steps per token)"),
    "d_model": (64, is_int(1), "an integer ≥ 1"),
    "heads": (4, is_int(1), "an integer ≥ 1"),
    "layers": (2, is_int(1), "an integer ≥ 1"),
    "dropout": DROPOUT,
}
OPTIONS = tuple(SPEC)


def transformer_options(cfg: Any) -> dict[str, Any]:
    """Checked options, with the token count ``n`` and the feed-forward width ``ffn``."""
    w, _ = window_shape(cfg, "transformer")
    o = resolve(cfg, "transformer", SPEC)
    if o["d_model"] % o["heads"]:
        raise AekitError(f"net_options: the transformer network's heads ({o['heads']}) must divide "
                         f"d_model ({o['d_model']}); e.g. d_model={o['heads'] * 16}")
    hidden = tuple(cfg.hidden)
    return {**o, "n": math.ceil(w / o["patch"]), "ffn": hidden[0] if hidden else 4 * o["d_model"]}


def _stack(d_model: int, heads: int, layers: int, ffn: int, dropout: float, act: str) -> nn.TransformerEncoder:
    fn = act if act in ("relu", "gelu") else activation(act)  # stock names keep PyTorch's fused path
    layer = nn.TransformerEncoderLayer(d_model, heads, ffn, dropout, fn, batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False)


def _positions(n: int, d_model: int) -> nn.Parameter:
    return nn.Parameter(torch.randn(1, n, d_model) * 0.02)  # learned, small at the start (ViT)


class PatchEncoder(nn.Module):
    """(B, W, C) → N patch tokens → Transformer → mean → linear → (B, code_dim)."""

    def __init__(self, window: int, channels: int, code_dim: int, act: str, *, patch: int, d_model: int,
                 heads: int, layers: int, dropout: float, n: int, ffn: int):
        super().__init__()
        self.window, self.patch, self.n = window, patch, n
        self.embed = nn.Linear(patch * channels, d_model)
        self.pos = _positions(n, d_model)
        self.body = _stack(d_model, heads, layers, ffn, dropout, act)
        self.head = nn.Linear(d_model, code_dim)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, W, C) → (B, N, P·C): the end padded with zeros to N·P steps."""
        x = F.pad(x, (0, 0, 0, self.n * self.patch - self.window))
        return x.reshape(x.shape[0], self.n, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with twice_differentiable(x):
            h = self.body(self.embed(self.tokens(x)) + self.pos)  # (B, N, d_model)
        return self.head(h.mean(1))


class PatchDecoder(nn.Module):
    """(B, latent_dim) → N tokens → Transformer → patches → (B, W, C)."""

    def __init__(self, window: int, channels: int, latent_dim: int, act: str, *, patch: int, d_model: int,
                 heads: int, layers: int, dropout: float, n: int, ffn: int):
        super().__init__()
        self.window, self.channels, self.n, self.d_model = window, channels, n, d_model
        self.fc = nn.Linear(latent_dim, n * d_model)
        self.pos = _positions(n, d_model)
        self.body = _stack(d_model, heads, layers, ffn, dropout, act)
        self.out = nn.Linear(d_model, patch * channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        t = self.fc(z).view(z.shape[0], self.n, self.d_model) + self.pos
        with twice_differentiable(z):
            h = self.body(t)  # (B, N, d_model)
        y = self.out(h).reshape(z.shape[0], -1, self.channels)  # (B, N·P, C)
        return y[:, :self.window]


def transformer_pair(cfg: Any, code_dim: int) -> tuple[nn.Module, nn.Module]:
    """(encoder, decoder) of the ``transformer`` network for ``cfg``."""
    o = transformer_options(cfg)
    w, c = window_shape(cfg, "transformer")
    return PatchEncoder(w, c, code_dim, cfg.activation, **o), PatchDecoder(w, c, cfg.latent_dim, cfg.activation, **o)
