"""Token networks: recurrent encoder and autoregressive decoder over token ids, for the text
families (:mod:`aekit.models.text`).

Input rows are token ids (B, L), int64: an item's tokens, then ``EOS``, then ``PAD`` (id 0)
to the row length (:class:`aekit.data.tokens.Tokenizer`). The encoder embeds them, runs a GRU
or LSTM over them and maps the state at each row's last real token (its ``EOS``) to the
code (B, code_dim): the sequence autoencoder of Dai & Le 2015 and the encoder of Bowman et
al. 2016. Padding never reaches that state: the network is unidirectional, so the state at
position t depends on positions ≤ t only.

The decoder is a recurrent language model conditioned on the code: its initial state is a
linear map of z (Bowman et al. 2016; Dai & Le start it from the encoder's final state), and
at step t it reads token t − 1 (``BOS`` first) and gives logits over the vocabulary for
token t. ``decoder(z, inputs)`` runs it over whole rows (teacher forcing, (B, T) → (B, T, V));
``start(z)`` and ``step(tokens, state)`` run it one token at a time for greedy decoding,
sampling and beam search.

With ``feed_code`` the decoder also reads z at every step, beside the token's embedding,
and its output layer sees z beside the state (Cho et al. 2014's decoder: the code cannot be
forgotten over a long row). With ``attention`` (the translator only: an autoencoder's decoder
could copy its input past the code) the decoder also attends over the encoder's states at
every step — Luong et al. 2015's global attention with the "general" score, a_t =
softmax(h_t W Hᵀ) over the source's real tokens, h̃_t = tanh(W_c [h_t; a_t H]) — and the
encoder hands its states over as ``memory`` (:meth:`TokenEncoder.states`).

Registered as ``text-gru`` and ``text-lstm``; their options (``net_options``):
``embed_dim`` (default 128), ``layers`` (1), ``dropout`` (0.0, between stacked layers, on
the embeddings and on the states the output layer reads), ``feed_code`` (false; the
translator's default is true), ``attention`` (false), ``bidirectional`` (false: with it the
encoder also reads each row backwards from its EOS — packed, so padding never enters — the
code reads both directions' final states, and an attending decoder reads both directions'
states mapped to the state width, as in Bahdanau et al. 2015). The state width is the
family's ``hidden[0]`` (default 256). The Transformer token network, ``text-transformer``, is
:mod:`aekit.nets.text_transformer`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import AekitError
from .registry import Network, _add

OPTIONS = ("embed_dim", "layers", "dropout", "feed_code", "attention", "bidirectional")
PAD = 0  # aekit.data.tokens.PAD: the padding id of every tokenizer (tests hold the two equal)


def _options(cfg) -> tuple[int, int, float, bool, bool, bool]:
    o = cfg.net_options
    embed, layers, dropout = int(o.get("embed_dim", 128)), int(o.get("layers", 1)), float(o.get("dropout", 0.0))
    if embed < 1 or layers < 1 or not 0.0 <= dropout < 1.0:
        raise AekitError(f"net_options: embed_dim and layers must be ≥ 1 and dropout in [0, 1), got "
                         f"embed_dim={embed}, layers={layers}, dropout={dropout}")
    feed, attention, both = o.get("feed_code", False), o.get("attention", False), o.get("bidirectional", False)
    for name, v in (("feed_code", feed), ("attention", attention), ("bidirectional", both)):
        if not isinstance(v, bool):
            raise AekitError(f"net_options: {name} must be true or false, got {v!r}")
    return embed, layers, dropout, feed, attention, both


def _rnn(cell: str, inputs: int, hidden: int, layers: int, dropout: float, bidirectional: bool = False) -> nn.RNNBase:
    kind = nn.GRU if cell == "gru" else nn.LSTM
    return kind(inputs, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0,
                bidirectional=bidirectional)


class TokenEncoder(nn.Module):
    """(B, L) token ids → (B, code_dim): the recurrent state at each row's last real token
    (and, bidirectional, the backward state at its first)."""

    def __init__(self, vocab: int, embed: int, hidden: int, layers: int, dropout: float, cell: str,
                 code_dim: int, bidirectional: bool = False):
        super().__init__()
        self.bidirectional = bidirectional
        self.embed = nn.Embedding(vocab, embed, padding_idx=PAD)
        self.drop = nn.Dropout(dropout)
        self.rnn = _rnn(cell, embed, hidden, layers, dropout, bidirectional)
        width = 2 * hidden if bidirectional else hidden
        self.head = nn.Linear(width, code_dim)
        if bidirectional:  # both directions' states → the width an attending decoder reads
            self.bridge = nn.Linear(width, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.states(x)[0]

    def states(self, x: torch.Tensor):
        """(code (B, code_dim), memory): memory = (the states at every position (B, L, H), the
        mask of the real tokens (B, L)), what an attending decoder reads."""
        real = x != PAD
        n = real.sum(1).clamp_(min=1)  # (B,) real tokens, EOS included
        rows = torch.arange(len(x), device=x.device)
        u = self.drop(self.embed(x))
        if not self.bidirectional:
            h, _ = self.rnn(u)  # (B, L, H)
            return self.head(h[rows, n - 1]), (h, real)  # the state at the EOS
        # the backward direction must start at each row's EOS, not in its padding: packed rows
        packed = nn.utils.rnn.pack_padded_sequence(u, n.cpu(), batch_first=True, enforce_sorted=False)
        h, _ = nn.utils.rnn.pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=x.shape[1])
        half = h.shape[-1] // 2  # (B, L, 2H): forward states, then backward states
        state = torch.cat([h[rows, n - 1, :half], h[:, 0, half:]], -1)  # each direction after the whole row
        return self.head(state), (self.bridge(h), real)


class TokenDecoder(nn.Module):
    """A recurrent language model whose initial state is a linear map of the code z."""

    def __init__(self, vocab: int, embed: int, hidden: int, layers: int, dropout: float, cell: str,
                 latent_dim: int, feed_code: bool = False, attention: bool = False):
        super().__init__()
        self.cell, self.layers, self.hidden, self.feed_code = cell, layers, hidden, feed_code
        self.attention = attention
        self.embed = nn.Embedding(vocab, embed, padding_idx=PAD)
        self.drop = nn.Dropout(dropout)
        extra = latent_dim if feed_code else 0  # z beside each input and beside the output state
        self.rnn = _rnn(cell, embed + extra, hidden, layers, dropout)
        # z → the initial state of every layer (h, and c for an LSTM)
        self.init = nn.Linear(latent_dim, hidden * layers * (2 if cell == "lstm" else 1))
        if attention:
            self.score = nn.Linear(hidden, hidden, bias=False)  # Luong's "general" score h_t W hᵢ
            self.combine = nn.Linear(2 * hidden, hidden)
        self.out = nn.Linear(hidden + extra, vocab)

    def start(self, z: torch.Tensor, memory=None):
        """The decoding state for codes z (B, D): the recurrent state, z itself, and the
        encoder's ``memory`` (an attending decoder needs it: :meth:`TokenEncoder.states`)."""
        if self.attention and memory is None:
            raise AekitError("memory: this decoder attends over the encoder's states; pass the memory that "
                             "TokenEncoder.states gives with the code")
        s = torch.tanh(self.init(z)).view(len(z), -1, self.layers, self.hidden).permute(1, 2, 0, 3)
        s = s.contiguous()  # (1 or 2, layers, B, H)
        return ((s[0], s[1]) if self.cell == "lstm" else s[0]), z, memory if self.attention else None

    def _with_code(self, u: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """u (B, T, ·) with z (B, D) beside every step, when the code is fed."""
        return torch.cat([u, z[:, None].expand(-1, u.shape[1], -1)], -1) if self.feed_code else u

    def _attend(self, h: torch.Tensor, memory) -> torch.Tensor:
        """h̃ = tanh(W_c [h; context]) for decoder states h (B, T, H) over memory (B, L, H)."""
        if memory is None:
            return h
        states, real = memory
        scores = self.score(h) @ states.transpose(1, 2)  # (B, T, L)
        weights = torch.softmax(scores.masked_fill(~real[:, None, :], -math.inf), -1)
        return torch.tanh(self.combine(torch.cat([h, weights @ states], -1)))

    def forward(self, z: torch.Tensor, inputs: torch.Tensor, memory=None) -> torch.Tensor:
        """Teacher forcing: logits (B, T, V) of tokens 1..T given ``inputs`` (B, T) = BOS, x_1..x_{T−1}."""
        state, _, memory = self.start(z, memory)
        h, _ = self.rnn(self._with_code(self.drop(self.embed(inputs)), z), state)
        return self.out(self._with_code(self.drop(self._attend(h, memory)), z))

    def step(self, tokens: torch.Tensor, state):
        """One step: logits (B, V) of the next token after ``tokens`` (B,), and the new state."""
        rnn_state, z, memory = state
        h, rnn_state = self.rnn(self._with_code(self.embed(tokens)[:, None], z), rnn_state)
        return self.out(self._with_code(self._attend(h, memory), z)[:, 0]), (rnn_state, z, memory)

    @staticmethod
    def select(state, index: torch.Tensor):
        """The state of the rows ``index`` (beam search reorders hypotheses)."""
        rnn_state, z, memory = state
        rnn_state = tuple(s[:, index] for s in rnn_state) if isinstance(rnn_state, tuple) else rnn_state[:, index]
        return rnn_state, z[index], None if memory is None else (memory[0][index], memory[1][index])


def check_token_rows(cfg) -> None:
    """Rows of token ids for a text family: the check every token network starts with."""
    shape = tuple(cfg.input_shape)
    if len(shape) != 1 or shape[0] < 2:
        raise AekitError(f"input_shape: a token network takes rows of token ids, (max_length,) with "
                         f"max_length ≥ 2, got {shape}")
    if getattr(cfg, "vocab_size", None) is None:
        raise AekitError("arch: the token networks (text-gru, text-lstm, text-transformer) are for the text "
                         "families (seqae, sentence_vae, denoising_seqae, seq2seq); use mlp, conv or a sequence "
                         "network here")


def _check(cfg) -> None:
    check_token_rows(cfg)
    _options(cfg)


def _builder(cell: str):
    def build(cfg, code_dim: int):
        _check(cfg)
        embed, layers, dropout, feed, attention, both = _options(cfg)
        hidden = cfg.hidden[0] if cfg.hidden else 256
        return (TokenEncoder(cfg.vocab_size, embed, hidden, layers, dropout, cell, code_dim, both),
                TokenDecoder(cfg.vocab_size, embed, hidden, layers, dropout, cell, cfg.latent_dim, feed, attention))
    return build


for _cell in ("gru", "lstm"):
    _add(Network(f"text-{_cell}", _builder(_cell),
                 f"token ids (L,): embedding + {_cell.upper()} encoder, {_cell.upper()} language-model decoder "
                 "started from the code (Dai & Le 2015; Bowman et al. 2016)",
                 check=_check, input_dtype="long", probe=False, builtin=True, options=OPTIONS,
                 widest=lambda c: c.input_shape[0] * c.vocab_size))
