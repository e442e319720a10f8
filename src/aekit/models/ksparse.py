"""k-sparse autoencoder (Makhzani & Frey 2013, "k-Sparse Autoencoders", ICLR 2014).

A linear encoder z = Wx + b whose code keeps only its k largest units, supp_k(z), and a
decoder from that sparse code; no penalty term, the sparsity is structural:

    L(x) = ‖x − g(supp_k(W x + b))‖²

Gradients reach only the k selected units. The paper's details, all options here:

- linear encoder and decoder with tied weights: ``hidden=()``, ``output="linear"`` and, for
  ``arch="mlp"``, ``tied=True`` by default (the decoder is the encoder's weightᵀ plus a
  bias). Measured on MNIST (1000 units, k = 25, α = 3, 10 epochs, validation split of the
  training set): the linear probe on the features reached 97.94% with both, 96.72% with
  neither, and 96.81% / 96.98% with only the linear output / only the tying; untied, 589 of
  the 1000 units were never among the 75 kept (benchmarks/ksparse_ablation.py, RESULTS.md
  benchmark D). An MLP or conv encoder also works (a conv one untied);
- k schedule: training starts with ``k_start`` units and lowers k linearly to ``k`` over the
  first ``k_warmup`` epochs, so every unit is used early on and none dies (the paper lowers
  k from 100 during the first half of training); the current k goes to ``history.csv``;
- at encoding time for features (``transform``) keep α·k units (``alpha``, e.g. 3), which
  the paper found better for classification than the k used in training.
Reconstruction and scoring use the final k.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

import torch

from ..config import check, option
from ..latents import topk
from ..nets.modes import eval_mode
from ..schedules import Schedule
from .registry import register
from .sparse import SparseAE, SparseAEConfig


@dataclasses.dataclass(frozen=True, kw_only=True)
class KSparseAEConfig(SparseAEConfig):
    LEGACY: ClassVar[dict] = {"tied": False}  # runs saved before `tied` existed were untied

    sparsity: Literal["topk"] = option("topk", "the k-sparse AE keeps a top-k code")
    hidden: tuple[int, ...] = option((), "hidden layer sizes; none = a linear encoder, as in the paper")
    output: Literal["sigmoid", "linear"] = option("linear", "output activation (linear, as in the paper)")
    tied: bool | None = option(None, "decoder weight = encoder weightᵀ; unset: true where arch is mlp (the paper)")
    k_start: int = option(0, "k at epoch 0, lowered linearly to k (0 = no schedule: k from the start)")
    k_warmup: int = option(0, "epochs over which k falls linearly from k_start to k")
    alpha: float = option(1.0, "features (transform) keep round(α·k) units")

    def validate(self) -> None:
        if self.tied is None:  # resolved once, so config.json records what was built
            object.__setattr__(self, "tied", self.arch == "mlp")
        super().validate()
        if self.k_start:
            check(self.k <= self.k_start <= self.latent_dim, "k_start",
                  f"must be between k={self.k} and latent_dim={self.latent_dim}, got {self.k_start}")
            check(self.k_warmup > 0, "k_warmup", "a k schedule (k_start > 0) needs k_warmup ≥ 1 epochs")
        check(self.k_warmup >= 0, "k_warmup", f"must be ≥ 0, got {self.k_warmup}")
        check(self.alpha >= 1, "alpha", f"must be ≥ 1 (features keep α·k ≥ k units), got {self.alpha}")

    def k_schedule(self) -> Schedule:
        if not self.k_start or self.k_start == self.k:
            return Schedule("constant", self.k, self.k, name="k")
        return Schedule("linear", self.k_start, self.k, self.k_warmup, name="k_start")


@register("ksparse")
class KSparseAE(SparseAE):
    config_class = KSparseAEConfig
    paper = "Makhzani & Frey 2013, k-Sparse Autoencoders"
    variants = ({"k": 2}, {"k": 1, "k_start": 4, "k_warmup": 2, "alpha": 2.0})

    def __init__(self, config: KSparseAEConfig | None = None, **kwargs):
        super().__init__(config, **kwargs)
        self.k_schedule = self.config.k_schedule()

    def active_k(self) -> int:
        """k during training follows the schedule; in eval mode it is the final k."""
        if not self.training:
            return self.config.k
        return int(round(self.clock.at(self.k_schedule)))

    def feature_k(self) -> int:
        return min(self.config.latent_dim, int(round(self.config.alpha * self.config.k)))

    @torch.inference_mode()
    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """Features for downstream use: the α·k largest units of the linear code. (B, D)"""
        with eval_mode(self):
            return topk(self.encode(self.check_input(x)), self.feature_k())

    def schedule_values(self) -> dict[str, float]:
        return {"k": float(round(self.clock.at(self.k_schedule)))} if self.config.k_start else {}
