"""Importance weighted autoencoder (Burda, Grosse & Salakhutdinov 2015, "Importance Weighted
Autoencoders").

The VAE's network (Gaussian q(z|x), prior N(0, I), Bernoulli or Gaussian p(x|z)) trained on
the k-sample importance-weighted bound instead of the ELBO:

    L_k(x) = E_{z_1..z_k ~ q(z|x)} [ log (1/k) Σ_i p(x, z_i) / q(z_i|x) ]
           = E [ logsumexp_i (log p(x|z_i) + log p(z_i) − log q(z_i|x)) − log k ]

L_1 is the ELBO (estimated with one sample, the same draw giving the same number), and
log p(x) ≥ L_{k+1} ≥ L_k: more samples give a tighter bound and let the posterior be less
Gaussian-shaped. The loss is −L_k (``neg_iwae`` in ``terms``). The gradient weights each
sample by its normalized importance weight w̃_i = w_i / Σ_j w_j, which autograd gets
through the logsumexp. Scoring and evaluation use the usual one-sample −ELBO; log p(x) is
estimated with :func:`aekit.likelihoods.log_marginal`.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from ..config import check, option
from ..likelihoods import log_weights
from .base import Output
from .registry import register
from .vae import VAE, VAEConfig


@dataclasses.dataclass(frozen=True, kw_only=True)
class IWAEConfig(VAEConfig):
    iw_samples: int = option(5, "importance samples k per input")

    def validate(self) -> None:
        super().validate()
        check(self.iw_samples >= 1, "iw_samples", f"must be ≥ 1, got {self.iw_samples}")
        check(self.beta == 1.0 and self.beta_warmup == 0, "beta",
              "the importance-weighted bound has no KL weight; use --model vae for β ≠ 1 or warm-up")


@register("iwae")
class IWAE(VAE):
    config_class = IWAEConfig
    paper = "Burda, Grosse & Salakhutdinov 2015, Importance Weighted Autoencoders"
    variants = ({}, {"iw_samples": 1, "likelihood": "gaussian"})

    def iwae_bound(self, x: torch.Tensor, k: int | None = None):
        """(L_k per sample (B,), −log p(x|z) (k, B), decoder output (k, B, …), q)."""
        k = k or self.config.iw_samples
        q = self.encode(x)
        lw, nll, h = log_weights(self, x, k, q)  # (k, B)
        return torch.logsumexp(lw, 0) - math.log(k), nll, h, q

    def forward(self, x: torch.Tensor) -> Output:
        bound, nll, h, q = self.iwae_bound(x)
        loss = -bound.mean()
        kl = q.kl().detach()
        terms = {
            "recon": nll[0].detach().mean(),
            "kl": kl.mean(),
            "neg_elbo": (nll[0].detach() + kl).mean(),
            "neg_iwae": loss.detach(),
        }
        return Output(loss=loss, terms=terms, recon=self._mean(h[0]), z=q.mean)
