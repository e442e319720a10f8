"""Recurrent encoder–decoder for series windows: the ``lstm`` and ``gru`` networks.

EncDec-AD (Malhotra, Ramakrishnan, Anand, Vig, Agarwal & Shroff 2016, "LSTM-based
Encoder-Decoder for Multi-sensor Anomaly Detection"). An encoder RNN reads the window
x_1 … x_W (each x_t ∈ R^C); its final state is the summary of the window, and a linear map of
it is the code z (B, code_dim). The decoder RNN starts from a state computed from z (a linear
map; tanh for the hidden state h, which the RNN keeps in (−1, 1)) and reconstructs the window
in reverse order, x̂_W first and x̂_1 last:

    h_W = tanh(A z + a)          x̂_W = V h_W + v
    h_{t−1} = RNN(u_t, h_t)      x̂_{t−1} = V h_{t−1} + v,      t = W … 2

where the input u_t is the true x_t during training (teacher forcing) and the decoder's own
prediction x̂_t at inference; the reversed outputs are flipped back to time order (B, W, C).
Reversing makes the first steps decoded the last ones encoded, the short path the paper
chose. The reconstruction error of each step (``score_map``) is what EncDec-AD scores, and
:mod:`aekit.tasks.series` offers its Mahalanobis score of the per-channel errors.

Teacher forcing reads the window, which the family contract does not hand the decoder
(``decode(z)``): the encoder leaves its input in a :class:`~.sequence.Handoff` both share,
and the decoder takes it — the window the encoder read, so a denoising family forces with
the corrupted window, never handing the decoder the clean target. Nothing there (evaluation,
or ``decode(z)`` of a prior sample) means the decoder runs free; IWAE's k codes per window
are forced with the window repeated k times. Options (``net_options``):

- ``teacher_forcing`` p ∈ [0, 1] (default 0: the decoder runs free in training as it does
  when it scores; the paper trains with p = 1): each step of each window is forced with
  probability p, else fed the prediction (Bengio et al. 2015's scheduled sampling when p < 1).
  With p = 1 the decoder is one RNN call over the shifted, reversed window; otherwise it is a
  loop of W steps (as at inference). Full forcing trains fastest, but the decoder learns to
  lean on the true previous value, which it does not have when it scores (exposure bias): on
  the MIT-BIH ECG excerpt of TSB-UAD (standardized, W = 32, width 32, latent 8, 30 epochs at
  lr 3e-3) the free-running reconstruction MSE of held-out windows was 0.59 after training
  with p = 1 and 0.048 with p = 0 (0.95 untrained) — hence the default. p = 1 with a decay
  trains faster early on;
- ``teacher_decay`` γ ∈ (0, 1] (1.0): p is multiplied by γ once per training step,
  p_n = p · γⁿ, n counted in the decoder's ``steps`` buffer (a training-mode call with
  gradients), which is saved with the weights, so a resumed run continues the schedule;
- ``layers`` (1), stacked RNN layers; ``dropout`` (0) between them.

The RNN's width is ``hidden[0]`` (64 when ``hidden=()``); ``activation`` does not apply (the
cells keep their tanh and sigmoid gates). The fed-back prediction is in data space: passed
through a sigmoid where the family's output is a sigmoid (``output="sigmoid"`` or a Bernoulli
likelihood), as the true values it stands in for are; with ``output="linear"`` (standardized
series) it is the decoder's output itself.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import AekitError
from .sequence import (
    DROPOUT,
    Handoff,
    Spec,
    is_int,
    is_number,
    resolve,
    twice_differentiable,
    window_shape,
)

RNNS = {"lstm": nn.LSTM, "gru": nn.GRU}
SPEC: Spec = {
    "layers": (1, is_int(1), "an integer ≥ 1"),
    "dropout": DROPOUT,
    "teacher_forcing": (0.0, is_number(0.0, 1.0), "a probability in [0, 1]"),
    "teacher_decay": (1.0, is_number(0.0, 1.0, open_lo=True), "a factor in (0, 1] applied per training step"),
}
OPTIONS = tuple(SPEC)
DEFAULT_WIDTH = 64


def recurrent_options(cfg: Any, cell: str) -> dict[str, Any]:
    """The checked options of the ``cell`` network (``lstm`` or ``gru``), with its width."""
    window_shape(cfg, cell)
    hidden = tuple(cfg.hidden)
    if len(hidden) > 1:
        raise AekitError(f"hidden: the {cell} network takes one recurrent width, e.g. hidden=(64,), got {hidden}; "
                         "stack layers with net_options {\"layers\": 2}")
    opts = resolve(cfg, cell, SPEC)
    if opts["dropout"] and opts["layers"] == 1:
        raise AekitError(f"net_options: the {cell} network's dropout acts between stacked layers; "
                         "set layers ≥ 2 or dropout 0")
    return {**opts, "width": hidden[0] if hidden else DEFAULT_WIDTH}


def _feeds_sigmoid(cfg: Any) -> bool:
    """Does the family put its decoder's output through a sigmoid (so the fed-back
    prediction should be, too)?"""
    return getattr(cfg, "output", None) == "sigmoid" or getattr(cfg, "likelihood", None) == "bernoulli"


class RecurrentEncoder(nn.Module):
    """(B, W, C) → the final state of every layer → linear → (B, code_dim)."""

    def __init__(self, cell: str, channels: int, width: int, layers: int, dropout: float, code_dim: int,
                 handoff: Handoff):
        super().__init__()
        self.cell = cell
        self.rnn = RNNS[cell](channels, width, layers, batch_first=True, dropout=dropout)
        self.head = nn.Linear(layers * width, code_dim)
        self.handoff = handoff

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.handoff.put(x)  # for the decoder's teacher forcing
        with twice_differentiable(x):
            _, state = self.rnn(x)
        h = state[0] if self.cell == "lstm" else state  # (layers, B, H)
        return self.head(h.transpose(0, 1).flatten(1))  # (B, layers·H) → (B, code_dim)


class RecurrentDecoder(nn.Module):
    """(B, latent_dim) → initial state → the window in reverse order → (B, W, C)."""

    def __init__(self, cell: str, window: int, channels: int, width: int, layers: int, dropout: float,
                 latent_dim: int, teacher_forcing: float, teacher_decay: float, handoff: Handoff,
                 feedback: nn.Module):
        super().__init__()
        self.cell, self.window, self.layers, self.width = cell, window, layers, width
        self.teacher_forcing, self.teacher_decay = teacher_forcing, teacher_decay
        self.rnn = RNNS[cell](channels, width, layers, batch_first=True, dropout=dropout)
        self.init = nn.Linear(latent_dim, (2 if cell == "lstm" else 1) * layers * width)
        self.out = nn.Linear(width, channels)
        self.feedback = feedback  # data space of the fed-back prediction (sigmoid or identity)
        self.handoff = handoff
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))  # training steps so far

    def forcing(self) -> float:
        """Probability p · γⁿ that a step is teacher-forced at training step n."""
        if self.teacher_decay == 1.0:
            return self.teacher_forcing
        return self.teacher_forcing * self.teacher_decay ** int(self.steps)

    def initial_state(self, z: torch.Tensor):
        """(layers, B, H) hidden state (and the LSTM's cell state) from the code."""
        s = self.init(z).view(z.shape[0], -1, self.layers, self.width).permute(1, 2, 0, 3)
        h = torch.tanh(s[0]).contiguous()
        return (h, s[1].contiguous()) if self.cell == "lstm" else h

    def teacher(self, b: int) -> torch.Tensor | None:
        """The window the encoder read (B, W, C), repeated for k samples per window (IWAE's
        (k·B) codes), or None: not training, nothing handed over, or another batch."""
        x = self.handoff.take()
        if x is None or not self.training or b % x.shape[0]:
            return None
        return x.repeat(b // x.shape[0], 1, 1) if b != x.shape[0] else x

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b = z.shape[0]
        x = self.teacher(b)
        p = 0.0
        if self.training and torch.is_grad_enabled():
            p = self.forcing() if x is not None else 0.0
            self.steps += 1
        state = self.initial_state(z)
        first = self.out(state[0][-1] if self.cell == "lstm" else state[-1]).unsqueeze(1)  # x̂_W (B, 1, C)
        if self.window == 1:
            return first
        if p >= 1.0:  # teacher forcing throughout: one RNN call over x_W … x_2
            rev = x.flip(1)[:, :-1].to(z.dtype)  # (B, W−1, C)
            out, _ = self.rnn(rev, state)
            return torch.cat([first, self.out(out)], 1).flip(1)
        return self.run_free(first, state, x.flip(1).to(z.dtype) if p > 0 else None, p).flip(1)

    def run_free(self, first: torch.Tensor, state, rev: torch.Tensor | None, p: float) -> torch.Tensor:
        """x̂_W … x̂_1 (B, W, C), each step fed the previous prediction, or — with probability p,
        per window and step — the true value ``rev`` (the window reversed)."""
        ys, y = [first], first
        for t in range(1, self.window):
            u = self.feedback(y)
            if rev is not None:
                forced = torch.rand(y.shape[0], 1, 1, device=y.device) < p
                u = torch.where(forced, rev[:, t - 1:t], u)
            o, state = self.rnn(u, state)
            y = self.out(o)  # (B, 1, C)
            ys.append(y)
        return torch.cat(ys, 1)

    def extra_repr(self) -> str:
        return f"window={self.window}, teacher_forcing={self.teacher_forcing}, teacher_decay={self.teacher_decay}"


def recurrent_pair(cfg: Any, code_dim: int, cell: str) -> tuple[nn.Module, nn.Module]:
    """(encoder, decoder) of the ``lstm`` or ``gru`` network for ``cfg``."""
    o = recurrent_options(cfg, cell)
    w, c = window_shape(cfg, cell)
    handoff = Handoff()
    enc = RecurrentEncoder(cell, c, o["width"], o["layers"], o["dropout"], code_dim, handoff)
    dec = RecurrentDecoder(cell, w, c, o["width"], o["layers"], o["dropout"], cfg.latent_dim, o["teacher_forcing"],
                           o["teacher_decay"], handoff, nn.Sigmoid() if _feeds_sigmoid(cfg) else nn.Identity())
    return enc, dec
