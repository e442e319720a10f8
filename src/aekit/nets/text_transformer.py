"""Transformer token network ``text-transformer``: a Transformer encoder to a code and a causal
Transformer language model conditioned on it, for the text families (:mod:`aekit.models.text`).

Rows are token ids (B, L), int64, as for ``text-gru`` (:mod:`aekit.nets.text`): an item's
tokens, ``EOS``, then ``PAD`` (id 0). The encoder embeds them, adds the sinusoidal positions of
Vaswani et al. 2017 (§3.5), and runs pre-norm encoder layers (Xiong et al. 2020) whose key
padding mask keeps ``PAD`` out of every attention. The code is a linear map of the mean of the
states over each row's real tokens (``EOS`` included), the pooled bottleneck of sentence-VAE
transformers (e.g. Li et al. 2020, "Optimus", pools one position; the masked mean reads all):

    h = TransformerEncoder(E x + PE),   z = A · (Σ_t m_t h_t / Σ_t m_t) + a,   m_t = [x_t ≠ PAD]

Padding changes neither the code nor the states at real tokens (the states at padding are 0).

The decoder is a stack of causal pre-norm decoder layers: self-attention over BOS, x_1 …
x_{t−1} (a causal mask) and cross-attention over a memory. For an autoencoder the memory is
one position, c = W z + b: every layer reads the code at every position, and the code is the
only path from the input to the decoder. With ``attention`` (the translator only, as for the
recurrent networks) the memory is the code's position followed by the encoder's states, with
the source's padding masked, so the decoder also attends over the source (the encoder–decoder
attention of Vaswani et al. 2017). ``decoder(z, inputs)`` runs it over whole rows (teacher
forcing, (B, T) → (B, T, V)); ``start(z)`` / ``step(tokens, state)`` run it one token at a
time for greedy decoding, sampling and beam search, with a cache of each layer's keys and values
at the positions decoded so far and of the memory's, so a step projects one position, not the
whole prefix and the memory again.

Options (``net_options``): ``embed_dim`` (the model width, 128), ``heads`` (4; must divide
embed_dim), ``layers`` (2 per stack), ``dropout`` (0.0; on the embeddings and inside each
layer — 0.1 in the paper), ``attention`` (false; seq2seq only) and ``tie_embeddings`` (false):
the decoder's output layer shares its weights with the decoder's input embedding (Press & Wolf
2017; Vaswani et al. 2017, §3.4), which halves the decoder's token parameters — the setting of
small-data translation. Tied, the embedding starts at N(0, 1/d) and the decoder's inputs are
scaled by √d (as in the paper), so the initial logits have unit scale. The feed-forward width is
the family's ``hidden[0]`` (256), the activation its ``activation`` (relu). ``feed_code``
(the decoder reads the code at every position already) and ``bidirectional`` (self-attention
reads the whole row already) are the recurrent networks' and refused here.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import AekitError
from .mlp import activation
from .registry import Network, _add
from .text import PAD, check_token_rows

OPTIONS = ("embed_dim", "heads", "layers", "dropout", "attention", "tie_embeddings")


def _options(cfg) -> tuple[int, int, int, float, bool, bool]:
    o = cfg.net_options
    embed, heads, layers = (o.get(k, d) for k, d in (("embed_dim", 128), ("heads", 4), ("layers", 2)))
    dropout, attention, tie = o.get("dropout", 0.0), o.get("attention", False), o.get("tie_embeddings", False)
    for name, v in (("embed_dim", embed), ("heads", heads), ("layers", layers)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise AekitError(f"net_options: text-transformer's {name} must be an integer ≥ 1, got {v!r}")
    if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0.0 <= dropout < 1.0:
        raise AekitError(f"net_options: text-transformer's dropout must be in [0, 1), got {dropout!r}")
    for name, v in (("attention", attention), ("tie_embeddings", tie)):
        if not isinstance(v, bool):
            raise AekitError(f"net_options: {name} must be true or false, got {v!r}")
    if embed % heads:
        raise AekitError(f"net_options: text-transformer's heads ({heads}) must divide embed_dim ({embed}); "
                         f"e.g. embed_dim={heads * max(1, round(embed / heads))}")
    return embed, heads, layers, float(dropout), attention, tie


def sinusoid(n: int, d: int, like: torch.Tensor) -> torch.Tensor:
    """Positions 0 … n−1 (n, d): PE(p, 2i) = sin(p / 10000^(2i/d)), PE(p, 2i+1) = cos(…)."""
    pos = torch.arange(n, device=like.device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d, 2, device=like.device, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe = torch.zeros(n, d, device=like.device)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[:d // 2])
    return pe.to(like.dtype)


def _act(name: str):
    return name if name in ("relu", "gelu") else activation(name)  # stock names keep PyTorch's fused path


class TransformerTokenEncoder(nn.Module):
    """(B, L) token ids → (B, code_dim): a linear map of the masked mean of the encoder's states."""

    def __init__(self, vocab: int, embed: int, heads: int, layers: int, ffn: int, dropout: float, act: str,
                 code_dim: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed, padding_idx=PAD)
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(embed, heads, ffn, dropout, _act(act), batch_first=True, norm_first=True)
        self.body = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(embed), enable_nested_tensor=False)
        self.head = nn.Linear(embed, code_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.states(x)[0]

    def states(self, x: torch.Tensor):
        """(code (B, code_dim), memory): memory = (the states (B, L, d), 0 at padding, and the
        mask of the real tokens (B, L)), what an attending decoder reads."""
        real = x != PAD
        real[:, 0] |= ~real.any(1)  # a row of padding alone keeps one key (no softmax over nothing)
        u = self.embed(x)  # (B, L, d): integer ids straight to the embedding
        u = self.drop(u + sinusoid(x.shape[1], u.shape[-1], u))
        h = self.body(u, src_key_padding_mask=~real).masked_fill(~real[..., None], 0.0)  # (B, L, d)
        pooled = h.sum(1) / real.sum(1, keepdim=True).to(h.dtype)  # the mean over real tokens
        return self.head(pooled), (h, real)


class TransformerTokenDecoder(nn.Module):
    """A causal Transformer language model that cross-attends over the code (one memory
    position) and, with ``attention``, over the encoder's states."""

    def __init__(self, vocab: int, embed: int, heads: int, layers: int, ffn: int, dropout: float, act: str,
                 latent_dim: int, attention: bool = False, tie_embeddings: bool = False):
        super().__init__()
        self.attention = attention
        self.embed = nn.Embedding(vocab, embed, padding_idx=PAD)
        self.drop = nn.Dropout(dropout)
        self.code = nn.Linear(latent_dim, embed)  # z → the memory position every layer reads
        layer = nn.TransformerDecoderLayer(embed, heads, ffn, dropout, _act(act), batch_first=True, norm_first=True)
        self.body = nn.TransformerDecoder(layer, layers, norm=nn.LayerNorm(embed))
        self.out = nn.Linear(embed, vocab)
        self.scale = 1.0
        if tie_embeddings:  # one (V, d) matrix reads the tokens in and scores them out
            nn.init.normal_(self.embed.weight, 0.0, embed ** -0.5)
            with torch.no_grad():
                self.embed.weight[PAD].zero_()
            self.out.weight = self.embed.weight
            self.scale = math.sqrt(embed)

    def _memory(self, z: torch.Tensor, memory):
        """(memory (B, M, d), its padding mask (B, M) or None): the code's position, then the
        encoder's states when the decoder attends."""
        if self.attention and memory is None:
            raise AekitError("memory: this decoder attends over the encoder's states; pass the memory that "
                             "TransformerTokenEncoder.states gives with the code")
        m = self.code(z)[:, None]  # (B, 1, d)
        if not self.attention:
            return m, None
        states, real = memory
        keep = torch.cat([torch.ones_like(real[:, :1]), real], 1)
        return torch.cat([m, states.to(m.dtype)], 1), ~keep

    def _inputs(self, tokens: torch.Tensor, at: int = 0) -> torch.Tensor:
        """Embedded tokens (B, T) at positions at … at+T−1, (B, T, d)."""
        u = self.embed(tokens) * self.scale if self.scale != 1.0 else self.embed(tokens)
        return self.drop(u + sinusoid(at + tokens.shape[1], u.shape[-1], u)[at:])

    def forward(self, z: torch.Tensor, inputs: torch.Tensor, memory=None) -> torch.Tensor:
        """Teacher forcing: logits (B, T, V) of tokens 1..T given ``inputs`` (B, T) = BOS, x_1..x_{T−1}."""
        m, pad = self._memory(z, memory)
        t = inputs.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool, device=inputs.device).triu_(1)  # True: not attended
        h = self.body(self._inputs(inputs), m, tgt_mask=causal, tgt_is_causal=True, memory_key_padding_mask=pad)
        return self.out(h)

    def start(self, z: torch.Tensor, memory=None):
        """The decoding state for codes z (B, D): each layer's self-attention keys and values
        (none yet), each layer's cross-attention keys and values of the memory (projected once
        here), and the memory's mask for the attention (:meth:`TransformerTokenEncoder.states`
        gives ``memory``)."""
        m, pad = self._memory(z, memory)
        d, heads = m.shape[-1], self.body.layers[0].self_attn.num_heads
        cross = []
        for layer in self.body.layers:
            a = layer.multihead_attn
            k, v = nn.functional.linear(m, a.in_proj_weight[d:], a.in_proj_bias[d:]).chunk(2, -1)
            cross.append((_split(k, heads), _split(v, heads)))
        empty = m.new_zeros(len(z), heads, 0, d // heads)
        mask = None if pad is None else ~pad[:, None, None, :]  # (B, 1, 1, M), True: attended
        return tuple((empty, empty) for _ in self.body.layers), tuple(cross), mask

    def step(self, tokens: torch.Tensor, state):
        """One step: logits (B, V) of the next token after ``tokens`` (B,), and the new state.
        Each layer runs on the new position alone, as the pre-norm layer of
        :class:`torch.nn.TransformerDecoderLayer` computes it: its self-attention reads the keys
        and values of the earlier positions from the cache (causal: they do not change), its
        cross-attention the memory's keys and values projected at :meth:`start`, so a step
        projects one position, not the prefix and the memory again."""
        caches, cross, mask = state
        x = self._inputs(tokens[:, None], caches[0][0].shape[2])  # (B, 1, d)
        d, new = x.shape[-1], []
        for layer, (ks, vs), (km, vm) in zip(self.body.layers, caches, cross):
            a = layer.self_attn
            q, k, v = nn.functional.linear(layer.norm1(x), a.in_proj_weight, a.in_proj_bias).chunk(3, -1)
            ks, vs = torch.cat([ks, _split(k, a.num_heads)], 2), torch.cat([vs, _split(v, a.num_heads)], 2)
            new.append((ks, vs))
            x = x + layer.dropout1(self._attend(a, _split(q, a.num_heads), ks, vs, None))
            c = layer.multihead_attn
            q = nn.functional.linear(layer.norm2(x), c.in_proj_weight[:d], c.in_proj_bias[:d])
            x = x + layer.dropout2(self._attend(c, _split(q, c.num_heads), km, vm, mask))
            x = x + layer._ff_block(layer.norm3(x))
        return self.out(self.body.norm(x)[:, 0]), (tuple(new), cross, mask)

    def _attend(self, attn: nn.MultiheadAttention, q, k, v, mask):
        """``attn``'s output (B, 1, d) for queries (B, h, 1, d/h) over keys and values already
        projected (B, h, S, d/h): its scaled dot-product attention, heads joined, out-projection."""
        o = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                                       dropout_p=attn.dropout if self.training else 0.0)
        return attn.out_proj(o.transpose(1, 2).flatten(2))

    @staticmethod
    def select(state, index: torch.Tensor):
        """The state of the rows ``index`` (beam search reorders hypotheses)."""
        caches, cross, mask = state
        pick = lambda pairs: tuple((k[index], v[index]) for k, v in pairs)  # noqa: E731
        return pick(caches), pick(cross), None if mask is None else mask[index]


def _split(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, T, d) → (B, heads, T, d/heads), the layout of scaled dot-product attention."""
    return x.unflatten(-1, (heads, -1)).transpose(1, 2)


def _check(cfg) -> None:
    check_token_rows(cfg)
    _options(cfg)


def _ffn(cfg) -> int:
    return cfg.hidden[0] if cfg.hidden else 256


def build(cfg, code_dim: int):
    _check(cfg)
    embed, heads, layers, dropout, attention, tie = _options(cfg)
    args = (cfg.vocab_size, embed, heads, layers, _ffn(cfg), dropout, cfg.activation)
    return (TransformerTokenEncoder(*args, code_dim),
            TransformerTokenDecoder(*args, cfg.latent_dim, attention, tie))


def _widest(cfg) -> int:
    """The largest activation of one row: its logits, attention maps or feed-forward layer."""
    n, heads = cfg.input_shape[0], _options(cfg)[1]
    return n * max(cfg.vocab_size, heads * n, _ffn(cfg))


_add(Network("text-transformer", build,
             "token ids (L,): embedding + Transformer encoder, masked mean to the code; causal Transformer "
             "decoder cross-attending over the code (Vaswani et al. 2017)",
             check=_check, input_dtype="long", probe=False, builtin=True, options=OPTIONS, widest=_widest))
