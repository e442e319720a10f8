"""Denoising sequence autoencoder: the sequence autoencoder of :mod:`aekit.models.text` trained
to reconstruct x from a corrupted copy C(x), the pretraining of Lample et al. 2018
("Unsupervised Machine Translation Using Monolingual Corpora Only", §2.3: word dropout and local
shuffling) and of BART (Lewis et al. 2020, §2.2: token masking, deletion and text infilling).

    loss = −log p(x | z),  z = enc(C(x))

Corruptions (``corruption``, any of them, applied in this order to the tokens of each row;
EOS and PAD are never touched), at level p (``noise_level``):

    mask      each token replaced by MASK with probability p (BERT/BART token masking)
    delete    each token removed with probability p (Lample's word dropout, BART's deletion)
    infill    spans with Poisson(3) lengths, starting at a token with probability p / 3, each
              replaced by one MASK (BART text infilling: about p of the tokens covered)
    shuffle   a local permutation: token i moves to the rank of i + U(0, k + 1), k = ``shuffle_k``
              (Lample et al.: k = 3), so no token moves more than k places

The level can follow a schedule, as in the scheduled denoising AE (Geras & Sutton 2015):
``noise_start`` → ``noise_level`` over ``schedule_length`` epochs (0: the whole run).
"""

from __future__ import annotations

import dataclasses

import torch

from ..config import check, option
from ..data.tokens import EOS, MASK, PAD
from ..schedules import Schedule
from .registry import register
from .text import SeqAE, TextConfig

CORRUPTIONS = ("mask", "delete", "infill", "shuffle")


def _tokens(x: torch.Tensor) -> torch.Tensor:
    return (x != PAD) & (x != EOS)


def pack(x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Rows of x with only the positions in ``keep``, moved left in order, PAD after."""
    order = torch.sort((~keep).to(torch.int8), dim=1, stable=True).indices
    y = x.gather(1, order)
    n = keep.sum(1, keepdim=True)
    return y.masked_fill(torch.arange(x.shape[1], device=x.device) >= n, PAD)


def mask_tokens(x: torch.Tensor, p: float) -> torch.Tensor:
    return x.masked_fill(_tokens(x) & (torch.rand(x.shape, device=x.device) < p), MASK)


def delete_tokens(x: torch.Tensor, p: float) -> torch.Tensor:
    return pack(x, ~(_tokens(x) & (torch.rand(x.shape, device=x.device) < p)))


def infill_spans(x: torch.Tensor, p: float, mean_span: float = 3.0, max_span: int = 10) -> torch.Tensor:
    tok = _tokens(x)
    start = tok & (torch.rand(x.shape, device=x.device) < p / mean_span)
    length = torch.poisson(torch.full(x.shape, mean_span, device=x.device)).clamp_(1, max_span)
    covered = torch.zeros_like(tok)
    for j in range(min(max_span, x.shape[1])):  # s + j is covered when a span starting at s is longer than j
        hit = start & (length > j)
        covered[:, j:] |= hit[:, :x.shape[1] - j] if j else hit
    covered &= tok
    first = covered & ~torch.cat([torch.zeros_like(covered[:, :1]), covered[:, :-1]], 1)
    return pack(x.masked_fill(first, MASK), ~covered | first)


def shuffle_local(x: torch.Tensor, k: int) -> torch.Tensor:
    tok = _tokens(x)
    pos = torch.arange(x.shape[1], device=x.device, dtype=torch.float32).expand(x.shape)
    key = torch.where(tok, pos + torch.rand(x.shape, device=x.device) * (k + 1), pos + 2 * x.shape[1])
    return x.gather(1, key.argsort(dim=1, stable=True))


@dataclasses.dataclass(frozen=True, kw_only=True)
class DenoisingSeqAEConfig(TextConfig):
    corruption: tuple[str, ...] = option(("delete", "shuffle"), "corruptions of the encoder's input: "
                                         + ", ".join(CORRUPTIONS))
    noise_level: float = option(0.1, "probability p of each corruption (mask, delete, infill)")
    shuffle_k: int = option(3, "local shuffle: no token moves more than k places")
    noise_start: float | None = option(None, "scheduled level: start here and move to noise_level (None = fixed)")
    schedule_length: int = option(0, "epochs to reach noise_level; 0 = the whole run")

    def validate(self) -> None:
        super().validate()
        bad = [c for c in self.corruption if c not in CORRUPTIONS]
        check(bool(self.corruption) and not bad, "corruption",
              f"choose one or more of {', '.join(CORRUPTIONS)}, got {list(self.corruption)}")
        check(0.0 <= self.noise_level < 1.0, "noise_level", f"must be in [0, 1), got {self.noise_level}")
        check(self.noise_start is None or 0.0 <= self.noise_start < 1.0, "noise_start",
              f"must be in [0, 1), got {self.noise_start}")
        check(self.shuffle_k >= 1, "shuffle_k", f"must be ≥ 1, got {self.shuffle_k}")
        check(self.schedule_length >= 0, "schedule_length", f"epochs must be ≥ 0, got {self.schedule_length}")


@register("denoising_seqae")
class DenoisingSeqAE(SeqAE):
    """Sequence autoencoder reconstructing x from C(x) (Lample et al. 2018; Lewis et al. 2020)."""

    config_class = DenoisingSeqAEConfig
    paper = "Lample et al. 2018, Unsupervised MT Using Monolingual Corpora Only; Lewis et al. 2020, BART"
    denoising = True
    variants = ({}, {"corruption": ("mask", "infill"), "noise_start": 0.5, "arch": "text-lstm"})

    def __init__(self, config: DenoisingSeqAEConfig | None = None, **kwargs):
        super().__init__(config, **kwargs)
        c = self.config
        self.level = (Schedule("linear", c.noise_start, c.noise_level, c.schedule_length, name="noise_start")
                      if c.noise_start is not None else Schedule("constant", c.noise_level, c.noise_level))

    def schedule_values(self) -> dict[str, float]:
        return {"noise_level": self.clock.at(self.level)} if self.config.noise_start is not None else {}

    def corrupt(self, x: torch.Tensor, p: float | None = None) -> torch.Tensor:
        """C(x): the configured corruptions at level p (default: the current scheduled level)."""
        p = self.clock.at(self.level) if p is None else p
        for kind in self.config.corruption:
            if kind == "mask":
                x = mask_tokens(x, p)
            elif kind == "delete":
                x = delete_tokens(x, p)
            elif kind == "infill":
                x = infill_spans(x, p)
            else:
                x = shuffle_local(x, self.config.shuffle_k)
        return x

    def encoder_inputs(self, x: torch.Tensor) -> torch.Tensor:
        return self.corrupt(x) if self.training else x
