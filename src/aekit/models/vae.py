"""Variational autoencoder (Kingma & Welling 2013, "Auto-Encoding Variational Bayes"), with
the β weight of Higgins et al. 2017.

Encoder q(z|x) = N(μ(x), diag σ²(x)), prior p(z) = N(0, I), decoder p(x|z) Bernoulli (logits)
or Gaussian: its mean, and either one learned σ per feature (``gaussian_scale="feature"``, the
default) or a σ(z) that the decoder outputs beside the mean for every code
(``gaussian_scale="decoder"``, the Gaussian MLP of Kingma & Welling 2013, Appendix C.2: log σ²
= W h + b from the decoder's last hidden layer). The decoder then outputs twice the input's
channels (an image's first dimension, a series window's last, a table row's features): the
first half is the mean, the second log σ. Training minimizes the negative ELBO

    −ELBO(x) = E_{q(z|x)}[−log p(x|z)] + β · KL(q(z|x) ‖ p(z))

with one reparameterized sample z = μ + σ ⊙ ε. β = 1 is the VAE; β > 1 is the β-VAE of
Higgins et al. 2017 (registered as ``beta_vae``, β = 4 by default), which trades
reconstruction for a more factorized code. ``beta_warmup = N`` is KL warm-up (Bowman et al.
2016; Sønderby et al. 2016): β_t rises linearly from 0 at epoch 0 to β at epoch N, so the
decoder learns to use z before the KL term pulls q(z|x) onto the prior; β_t is written to
``history.csv`` as ``beta``, and evaluation always uses the final β.

``score`` is −ELBO per sample (nats), ``sample(n)`` decodes draws from the prior; the
marginal likelihood log p(x) is estimated by :func:`aekit.likelihoods.log_marginal`.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch
from torch import nn

from ..config import check, option
from ..latents import GaussianPosterior, standard_normal_log_prob
from ..likelihoods import bernoulli_nll, gaussian_nll
from ..nets.modes import eval_mode
from ..schedules import Schedule
from .base import ArchConfig, Autoencoder, Output
from .registry import register


@dataclasses.dataclass(frozen=True, kw_only=True)
class VAEConfig(ArchConfig):
    likelihood: Literal["bernoulli", "gaussian"] = option("bernoulli", "decoder distribution p(x|z)")
    beta: float = option(1.0, "weight β of the KL term")
    beta_warmup: int = option(0, "KL warm-up: epochs over which β rises linearly from 0 (0 = none)")
    output: Literal["sigmoid", "linear"] = option("sigmoid", "activation of the Gaussian decoder's mean")
    gaussian_scale: Literal["feature", "decoder"] = option(
        "feature", "the Gaussian decoder's σ: one learned per feature, or σ(z) output by the decoder for each code "
                   "(Kingma & Welling 2013, App. C.2)")

    def validate(self) -> None:
        super().validate()
        check(self.beta >= 0, "beta", f"KL weight must be ≥ 0, got {self.beta}")
        check(self.beta_warmup >= 0, "beta_warmup", f"epochs must be ≥ 0, got {self.beta_warmup}")
        if self.gaussian_scale == "decoder":
            from ..nets.registry import get_network

            check(self.likelihood == "gaussian", "gaussian_scale",
                  "σ(z) from the decoder is for likelihood='gaussian'; a Bernoulli decoder has no scale")
            check(not get_network(self.arch).modules, "gaussian_scale",
                  "σ(z) needs a decoder with twice the input's channels, which aekit builds for its own "
                  "networks; use gaussian_scale='feature' with your own modules, or a built-in arch")


@register("vae")
class VAE(Autoencoder):
    config_class = VAEConfig
    paper = "Kingma & Welling 2013, Auto-Encoding Variational Bayes; Higgins et al. 2017, beta-VAE"
    variational = True
    generative = True
    variants = ({}, {"likelihood": "gaussian"}, {"beta": 4.0, "beta_warmup": 2},
                {"likelihood": "gaussian", "gaussian_scale": "decoder", "output": "linear"})

    def __init__(self, config: VAEConfig | None = None, **kwargs):
        super().__init__(config, **kwargs)
        c = self.config
        # the encoder emits (μ, log σ²): 2 × latent_dim numbers per sample
        self.encoder, self.decoder = self.build_networks(2 * c.latent_dim)
        self.out_shape = tuple(c.input_shape)
        if c.gaussian_scale == "decoder":
            # the same network built for an input with twice the channels: its decoder outputs
            # the mean and log σ (the encoder of that build is not used)
            shape = list(c.input_shape)
            shape[self._channel_dim()] *= 2
            self.out_shape = tuple(shape)
            self.decoder = self.build_networks(2 * c.latent_dim, dataclasses.replace(c, input_shape=self.out_shape))[1]
        elif c.likelihood == "gaussian":
            self.log_scale = nn.Parameter(torch.zeros(c.input_shape))
        self.beta_schedule = (Schedule("linear", 0.0, c.beta, c.beta_warmup, name="beta_warmup")
                              if c.beta_warmup else Schedule("constant", c.beta, c.beta, name="beta"))

    def kl_weight(self) -> float:
        """β applied to the KL term: the warm-up value while training, the final β otherwise."""
        return self.clock.at(self.beta_schedule) if self.training else self.config.beta

    def schedule_values(self) -> dict[str, float]:
        return {"beta": self.clock.at(self.beta_schedule)} if self.config.beta_warmup else {}

    def prior_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) for the standard normal prior, summed over latent dimensions. (..., B)"""
        return standard_normal_log_prob(z)

    def encode(self, x: torch.Tensor) -> GaussianPosterior:
        h = self.encoder(self.net_input(x))
        return GaussianPosterior.from_params(h)

    def decode_params(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder output for z (..., B, D): logits (Bernoulli) or pre-activation mean, and
        with σ(z) the log σ after it in the channels' dimension (e.g. (..., B, 2C, H, W))."""
        lead = z.shape[:-1]
        h = self.decoder(z.reshape(-1, z.shape[-1]))
        return h.reshape(*lead, *self.out_shape)

    def _split(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(pre-activation mean, log σ) of the decoder output h: the log σ is the decoder's
        second half (σ(z)) or the learned per-feature parameter."""
        c = self.config
        if c.gaussian_scale != "decoder":
            return h, self.log_scale
        at = self._channel_dim() - len(c.input_shape)  # counted from the end: h may have sample dims first
        k = c.input_shape[at]
        return h.narrow(at, 0, k), h.narrow(at, k, k)

    def _channel_dim(self) -> int:
        """The input dimension whose size the σ(z) decoder doubles: the channels of a series
        window (W, C), the last; of an image (C, H, W) or a table row (D,), the first."""
        return 1 if len(self.config.input_shape) == 2 else 0

    def _mean(self, h: torch.Tensor) -> torch.Tensor:
        c = self.config
        if c.likelihood == "gaussian" and c.gaussian_scale == "decoder":
            h = self._split(h)[0]
        if c.likelihood == "bernoulli" or c.output == "sigmoid":
            return torch.sigmoid(h)
        return h

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's mean in data space."""
        return self._mean(self.decode_params(z))

    def decoder_mean(self, h: torch.Tensor) -> torch.Tensor:
        """The decoder's mean from its output ``h`` (``decode = decoder_mean ∘ decode_params``),
        for a caller that also needs ``h`` for the likelihood: the decoder then runs once."""
        return self._mean(h)

    def nll(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """−log p(x|z) per sample from decoder output ``h`` (..., B, *input_shape)."""
        n = len(self.config.input_shape)
        if self.config.likelihood == "bernoulli":
            return bernoulli_nll(h, x, n)
        return gaussian_nll(self._mean(h), self._split(h)[1], x, n)

    def elbo_terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(−log p(x|z), KL, h, z) per sample, one reparameterized z each."""
        q = self.encode(x)
        z = q.sample()
        h = self.decode_params(z)
        return self.nll(h, x), q.kl(), h, z

    def forward(self, x: torch.Tensor) -> Output:
        rec, kl, h, z = self.elbo_terms(x)
        loss = (rec + self.kl_weight() * kl).mean()
        terms = {
            "recon": rec.detach().mean(),
            "kl": kl.detach().mean(),
            "neg_elbo": (rec + kl).detach().mean(),
        }
        return Output(loss=loss, terms=terms, recon=self._mean(h), z=z)

    @torch.inference_mode()
    def score(self, x: torch.Tensor) -> torch.Tensor:
        """−ELBO per sample (nats), one posterior sample."""
        with eval_mode(self):
            rec, kl, _, _ = self.elbo_terms(self.check_input(x))
            return rec + kl

    @torch.inference_mode()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws from the model: z ~ N(0, I), x = decoder mean. (n, *input_shape)"""
        p = next(self.parameters())
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=p.device, dtype=p.dtype)
        with eval_mode(self):
            return self.decode(z)


@dataclasses.dataclass(frozen=True, kw_only=True)
class BetaVAEConfig(VAEConfig):
    beta: float = option(4.0, "weight β of the KL term (4 for the β-VAE)")


@register("beta_vae")
class BetaVAE(VAE):
    """β-VAE: a :class:`VAE` whose KL weight defaults to β = 4 (Higgins et al. 2017)."""

    config_class = BetaVAEConfig
    paper = "Higgins et al. 2017, beta-VAE: Learning Basic Visual Concepts with a Constrained Variational Framework"
    variants = ({},)
