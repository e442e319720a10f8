"""Latent codes: the diagonal Gaussian posterior, and top-k sparsification."""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2 * math.pi)


class GaussianPosterior:
    """q(z|x) = N(μ, diag σ²), parameterized by ``mean`` and ``logvar`` of shape (B, D)."""

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor):
        self.mean = mean
        self.logvar = logvar

    @classmethod
    def from_params(cls, h: torch.Tensor) -> GaussianPosterior:
        """Split an encoder output (B, 2D) into μ and log σ²."""
        mean, logvar = h.chunk(2, dim=-1)
        return cls(mean, logvar)

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    def sample(self, n: int | None = None) -> torch.Tensor:
        """Reparameterized sample z = μ + σ ⊙ ε, ε ~ N(0, I): (B, D), or (n, B, D) with ``n``."""
        shape = self.mean.shape if n is None else (n, *self.mean.shape)
        eps = torch.randn(shape, dtype=self.mean.dtype, device=self.mean.device)
        return self.mean + self.std * eps

    def mode(self) -> torch.Tensor:
        return self.mean

    def kl(self) -> torch.Tensor:
        """KL(q(z|x) ‖ N(0, I)) per sample, closed form: ½ Σ (μ² + σ² − log σ² − 1). (B,)"""
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - self.logvar - 1).sum(-1)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x), summed over latent dimensions; z is (..., B, D)."""
        return -0.5 * (
            (z - self.mean).pow(2) / self.logvar.exp() + self.logvar + LOG_2PI
        ).sum(-1)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dimension."""
    return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)


def topk(z: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest units of each code (B, D), zero the rest (Makhzani & Frey 2013).

    Gradients flow only through the kept units.
    """
    values, idx = z.topk(k, dim=-1)
    return torch.zeros_like(z).scatter(-1, idx, values)
