"""Sparse autoencoder: an AE whose code is pushed to be mostly inactive.

Three forms of sparsity (``sparsity=``):

- ``"l1"``: L = ‖x − x̂‖² + λ Σ_j |z_j|                          (L1 activity penalty)
- ``"kl"``: L = ‖x − x̂‖² + λ Σ_j KL(ρ ‖ ρ̂_j),  z = σ(·),  ρ̂_j = mean_batch z_j
           KL(ρ ‖ ρ̂) = ρ log(ρ/ρ̂) + (1 − ρ) log((1 − ρ)/(1 − ρ̂))   (Ng, CS294A notes 2011)
- ``"topk"``: keep the k largest code units, zero the rest (Makhzani & Frey 2013, k-sparse).

``terms`` reports ``sparsity`` (the unweighted penalty) and ``mean_activation`` (the mean code
activation; for top-k, the fraction of non-zero units).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch

from ..config import check, option
from ..latents import topk
from .ae import AE, AEConfig
from .registry import register


@dataclasses.dataclass(frozen=True, kw_only=True)
class SparseAEConfig(AEConfig):
    sparsity: Literal["l1", "kl", "topk"] = option("l1", "L1 activity penalty, KL toward ρ, or a top-k code")
    sparsity_weight: float = option(1e-3, "weight λ of the sparsity penalty")
    rho: float = option(0.05, "target mean activation ρ of the KL penalty")
    k: int = option(8, "units kept by top-k sparsity")

    def validate(self) -> None:
        super().validate()
        check(self.sparsity_weight >= 0, "sparsity_weight", f"must be ≥ 0, got {self.sparsity_weight}")
        check(0 < self.rho < 1, "rho", f"target activation must be in (0, 1), got {self.rho}")
        if self.sparsity == "topk":
            check(
                1 <= self.k <= self.latent_dim,
                "k",
                f"must be between 1 and latent_dim={self.latent_dim}, got {self.k}",
            )


def kl_sparsity(rho: float, rho_hat: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Σ_j KL(ρ ‖ ρ̂_j) between Bernoulli(ρ) and Bernoulli(ρ̂_j)."""
    rho_hat = rho_hat.clamp(eps, 1 - eps)
    return (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


@register("sparse")
class SparseAE(AE):
    config_class = SparseAEConfig
    variants = ({"sparsity": "l1"}, {"sparsity": "kl"}, {"sparsity": "topk", "k": 2})
    paper = "Ng 2011, Sparse Autoencoder (CS294A notes); Makhzani & Frey 2013, k-Sparse Autoencoders"

    def active_k(self) -> int:
        """Units kept by top-k (a subclass may schedule it)."""
        return self.config.k

    def code_transform(self, z: torch.Tensor) -> torch.Tensor:
        s = self.config.sparsity
        if s == "kl":
            return torch.sigmoid(z)  # activations in (0, 1), as in Ng's formulation
        if s == "topk":
            return topk(z, self.active_k())
        return z

    def penalty(self, z: torch.Tensor, x: torch.Tensor):
        c = self.config
        if c.sparsity == "l1":
            pen = z.abs().sum(1).mean()
            act = z.detach().abs().mean()
        elif c.sparsity == "kl":
            pen = kl_sparsity(c.rho, z.mean(0))
            act = z.detach().mean()
        else:  # top-k: the sparsity is structural, there is no penalty
            nz = (z.detach() != 0).float().mean()
            return None, {"sparsity": torch.zeros((), device=z.device), "mean_activation": nz}
        return c.sparsity_weight * pen, {"sparsity": pen.detach(), "mean_activation": act}
