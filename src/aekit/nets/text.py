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

Registered as ``text-gru`` and ``text-lstm``; their options (``net_options``):
``embed_dim`` (default 128), ``layers`` (1), ``dropout`` (0.0, between stacked layers and on
the embeddings). The state width is the family's ``hidden[0]`` (default 256).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import AekitError
from .registry import Network, _add

OPTIONS = ("embed_dim", "layers", "dropout")
PAD = 0  # aekit.data.tokens.PAD: the padding id of every tokenizer (tests hold the two equal)


def _options(cfg) -> tuple[int, int, float]:
    o = cfg.net_options
    embed, layers, dropout = int(o.get("embed_dim", 128)), int(o.get("layers", 1)), float(o.get("dropout", 0.0))
    if embed < 1 or layers < 1 or not 0.0 <= dropout < 1.0:
        raise AekitError(f"net_options: embed_dim and layers must be ≥ 1 and dropout in [0, 1), got "
                         f"embed_dim={embed}, layers={layers}, dropout={dropout}")
    return embed, layers, dropout


def _rnn(cell: str, inputs: int, hidden: int, layers: int, dropout: float) -> nn.RNNBase:
    kind = nn.GRU if cell == "gru" else nn.LSTM
    return kind(inputs, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)


class TokenEncoder(nn.Module):
    """(B, L) token ids → (B, code_dim): the recurrent state at each row's last real token."""

    def __init__(self, vocab: int, embed: int, hidden: int, layers: int, dropout: float, cell: str,
                 code_dim: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed, padding_idx=PAD)
        self.drop = nn.Dropout(dropout)
        self.rnn = _rnn(cell, embed, hidden, layers, dropout)
        self.head = nn.Linear(hidden, code_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = (x != PAD).sum(1).clamp_(min=1) - 1  # (B,) index of the EOS
        h, _ = self.rnn(self.drop(self.embed(x)))  # (B, L, H)
        state = h[torch.arange(len(x), device=x.device), last]  # (B, H)
        return self.head(state)


class TokenDecoder(nn.Module):
    """A recurrent language model whose initial state is a linear map of the code z."""

    def __init__(self, vocab: int, embed: int, hidden: int, layers: int, dropout: float, cell: str,
                 latent_dim: int):
        super().__init__()
        self.cell, self.layers, self.hidden = cell, layers, hidden
        self.embed = nn.Embedding(vocab, embed, padding_idx=PAD)
        self.drop = nn.Dropout(dropout)
        self.rnn = _rnn(cell, embed, hidden, layers, dropout)
        # z → the initial state of every layer (h, and c for an LSTM)
        self.init = nn.Linear(latent_dim, hidden * layers * (2 if cell == "lstm" else 1))
        self.out = nn.Linear(hidden, vocab)

    def start(self, z: torch.Tensor):
        """The initial recurrent state for codes z (B, D)."""
        s = torch.tanh(self.init(z)).view(len(z), -1, self.layers, self.hidden).permute(1, 2, 0, 3)
        s = s.contiguous()  # (1 or 2, layers, B, H)
        return (s[0], s[1]) if self.cell == "lstm" else s[0]

    def forward(self, z: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: logits (B, T, V) of tokens 1..T given ``inputs`` (B, T) = BOS, x_1..x_{T−1}."""
        h, _ = self.rnn(self.drop(self.embed(inputs)), self.start(z))
        return self.out(h)

    def step(self, tokens: torch.Tensor, state):
        """One step: logits (B, V) of the next token after ``tokens`` (B,), and the new state."""
        h, state = self.rnn(self.embed(tokens)[:, None], state)
        return self.out(h[:, 0]), state

    @staticmethod
    def select(state, index: torch.Tensor):
        """The state of the rows ``index`` (beam search reorders hypotheses)."""
        if isinstance(state, tuple):
            return tuple(s[:, index] for s in state)
        return state[:, index]


def _check(cfg) -> None:
    shape = tuple(cfg.input_shape)
    if len(shape) != 1 or shape[0] < 2:
        raise AekitError(f"input_shape: a token network takes rows of token ids, (max_length,) with "
                         f"max_length ≥ 2, got {shape}")
    if getattr(cfg, "vocab_size", None) is None:
        raise AekitError("arch: the token networks (text-gru, text-lstm) are for the text families "
                         "(seqae, sentence_vae, denoising_seqae, seq2seq); use mlp, conv or a sequence network here")
    _options(cfg)


def _builder(cell: str):
    def build(cfg, code_dim: int):
        _check(cfg)
        embed, layers, dropout = _options(cfg)
        hidden = cfg.hidden[0] if cfg.hidden else 256
        return (TokenEncoder(cfg.vocab_size, embed, hidden, layers, dropout, cell, code_dim),
                TokenDecoder(cfg.vocab_size, embed, hidden, layers, dropout, cell, cfg.latent_dim))
    return build


for _cell in ("gru", "lstm"):
    _add(Network(f"text-{_cell}", _builder(_cell),
                 f"token ids (L,): embedding + {_cell.upper()} encoder, {_cell.upper()} language-model decoder "
                 "started from the code (Dai & Le 2015; Bowman et al. 2016)",
                 check=_check, input_dtype="long", probe=False, builtin=True, options=OPTIONS,
                 widest=lambda c: c.input_shape[0] * c.vocab_size))
