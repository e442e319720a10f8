"""Adversarial autoencoder (Makhzani, Shlens, Jaitly, Goodfellow & Frey 2015,
"Adversarial Autoencoders").

An autoencoder whose aggregate posterior q(z) = E_x q(z|x) is matched to a prior p(z) by a
GAN on the code: a discriminator D tells prior draws from codes, and the encoder, as the
generator, learns to fool it. Each training step has the paper's two phases:

  reconstruction:   min_{f,g}  E_x ‖x − g(f(x))‖²
  regularization:   max_D  E_{z~p} log D(z) + E_x log(1 − D(f(x)))     (discriminator)
                    min_f  −E_x log D(f(x))                            (encoder as generator)

each with its own optimizer (``configure_optimizers`` / ``training_step``; the trainer does
not know). Priors (``prior=``):

- ``gaussian``: N(0, I);
- ``mixture``: ``n_components`` Gaussians (std ``mixture_std``) whose means lie on a circle of
  radius ``mixture_radius`` in the first two code dimensions (10 on a circle in 2-D, as in
  the paper's figure);
- ``categorical``: unsupervised clustering (paper §6): the encoder emits a softmax y over
  ``n_clusters`` and a style code z; y is matched to a one-hot Categorical by its own
  discriminator and z to N(0, I) by another; the decoder sees [y, z]; ``cluster(x)`` =
  argmax y. Not in the paper: ``balance_weight = λ_b > 0`` adds λ_b (log K − H(ȳ)) to the
  generator loss, ȳ the batch mean of y (CatGAN's marginal-entropy term, Springenberg 2015);
  in short runs on MNIST the paper's objective alone sends every input to one cluster
  (the softmax saturates there and the adversarial gradient vanishes), λ_b = 10 prevents it.

``disc_noise = σ > 0`` ("instance noise", Sønderby et al. 2017) adds
N(0, σ²) noise to the discriminators' inputs, prior draws and codes alike, during training only,
so that they cannot tell codes from prior draws by exact values alone. Measured on MNIST (RESULTS
P2): with σ = 0.3 the paper's objective alone keeps 15 or 16 of 16 clusters in use in four seeds
of five (4 in the fifth); ``balance_weight`` is the more reliable fix.

``terms`` reports ``disc`` and ``gen`` (the two adversarial losses) and ``disc_acc``, the
discriminator's accuracy on prior draws vs codes: near 1 when q(z) and p(z) differ, toward
0.5 as they match. ``sample(n)`` decodes prior draws.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..config import check, option
from ..errors import AekitError
from ..nets import mlp
from ..nets.modes import eval_mode
from .ae import AE, AEConfig
from .base import Autoencoder, Output
from .registry import register


@dataclasses.dataclass(frozen=True, kw_only=True)
class AAEConfig(AEConfig):
    prior: Literal["gaussian", "mixture", "categorical"] = option(
        "gaussian", "p(z) the codes are matched to: N(0, I), Gaussians on a circle, or clusters + style")
    n_components: int = option(10, "mixture prior: Gaussians on a circle")
    mixture_radius: float = option(4.0, "mixture prior: radius of the circle of means")
    mixture_std: float = option(0.5, "mixture prior: standard deviation of each Gaussian")
    n_clusters: int = option(10, "categorical prior: clusters")
    disc_hidden: tuple[int, ...] = option((256, 256), "discriminator hidden layer sizes, e.g. 256,256")
    balance_weight: float = option(
        0.0, "categorical prior: weight of the cluster-balance term log K − H(ȳ) (0 = the paper)")
    disc_noise: float = option(
        0.0, "σ of Gaussian noise added to every discriminator input (codes and prior draws) in training (0 = none)")

    def validate(self) -> None:
        super().validate()
        check(self.n_components >= 1, "n_components", f"must be ≥ 1, got {self.n_components}")
        check(self.n_clusters >= 2, "n_clusters", f"must be ≥ 2, got {self.n_clusters}")
        check(self.mixture_std > 0, "mixture_std", f"must be positive, got {self.mixture_std}")
        check(self.mixture_radius >= 0, "mixture_radius", f"must be ≥ 0, got {self.mixture_radius}")
        check(all(h > 0 for h in self.disc_hidden), "disc_hidden", f"sizes must be positive, got {self.disc_hidden}")
        check(self.balance_weight >= 0, "balance_weight", f"must be ≥ 0, got {self.balance_weight}")
        check(self.disc_noise >= 0, "disc_noise", f"must be ≥ 0, got {self.disc_noise}")
        check(self.prior != "mixture" or self.latent_dim >= 2, "latent_dim",
              "the mixture prior places its means on a circle and needs latent_dim ≥ 2")


@register("aae")
class AAE(AE):
    config_class = AAEConfig
    generative = True
    multi_optimizer = True
    paper = "Makhzani et al. 2015, Adversarial Autoencoders"
    variants = (
        {"disc_hidden": (8,)},
        {"prior": "mixture", "n_components": 3, "disc_hidden": (8,)},
        {"prior": "categorical", "n_clusters": 3, "disc_hidden": (8,), "balance_weight": 1.0},
    )

    def __init__(self, config: AAEConfig | None = None, **kwargs):
        Autoencoder.__init__(self, config, **kwargs)  # AE's networks are built below
        c = self.config
        cat = c.n_clusters if c.prior == "categorical" else 0
        # the decoder reads the whole code [y, z]: build it for latent_dim + n_clusters inputs
        self.encoder, self.decoder = self.build_networks(c.latent_dim + cat, c.replace(latent_dim=c.latent_dim + cat))
        self.output_activation = nn.Sigmoid() if c.output == "sigmoid" else nn.Identity()
        self.n_cat = cat
        self.disc = mlp([c.latent_dim, *c.disc_hidden, 1], "leaky_relu")
        self.disc_y = mlp([cat, *c.disc_hidden, 1], "leaky_relu") if cat else None
        angles = torch.arange(c.n_components) * (2 * math.pi / c.n_components)
        means = torch.zeros(c.n_components, c.latent_dim)
        means[:, 0], means[:, 1] = torch.cos(angles) * c.mixture_radius, torch.sin(angles) * c.mixture_radius
        self.register_buffer("means", means if c.prior == "mixture" else means[:0], persistent=False)

    # x → code (B, latent_dim), or [softmax y, z] (B, n_clusters + latent_dim)
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.net_input(x))
        if self.n_cat:
            return torch.cat([h[:, :self.n_cat].softmax(1), h[:, self.n_cat:]], 1)
        return h

    def cluster(self, x: torch.Tensor) -> torch.Tensor:
        """Cluster index per sample (B,): argmax y (categorical prior only)."""
        if not self.n_cat:
            raise AekitError("prior: cluster() needs prior='categorical'; use k-means on transform(x) otherwise")
        return self.transform(x)[:, :self.n_cat].argmax(1)

    def prior_sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws from p(z) in the code's layout. (n, n_clusters + latent_dim)"""
        c, p = self.config, self.means
        z = torch.randn(n, c.latent_dim, generator=generator)
        if c.prior == "mixture":
            comp = torch.randint(c.n_components, (n,), generator=generator)
            z = self.means.cpu()[comp] + c.mixture_std * z
        if self.n_cat:
            y = F.one_hot(torch.randint(self.n_cat, (n,), generator=generator), self.n_cat).float()
            z = torch.cat([y, z], 1)
        return z.to(device=p.device, dtype=next(self.parameters()).dtype)

    def _discriminate(self, code: torch.Tensor) -> list[torch.Tensor]:
        """Discriminator logits for each part of the code: [D(z)] or [D_y(y), D(z)]. In training,
        ``disc_noise`` > 0 adds N(0, σ²) noise to what the discriminators see (instance noise)."""
        if self.training and self.config.disc_noise:
            code = code + self.config.disc_noise * torch.randn_like(code)
        if self.n_cat:
            return [self.disc_y(code[:, :self.n_cat]), self.disc(code[:, self.n_cat:])]
        return [self.disc(code)]

    def adversarial(self, code: torch.Tensor, real: torch.Tensor):
        """(discriminator loss, generator loss, discriminator accuracy) for codes vs prior draws."""
        d_loss = g_loss = acc = 0
        fakes, reals = self._discriminate(code), self._discriminate(real)
        for f, r in zip(fakes, reals):
            d_loss = d_loss + F.binary_cross_entropy_with_logits(r, torch.ones_like(r)) \
                + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f))
            g_loss = g_loss + F.binary_cross_entropy_with_logits(f, torch.ones_like(f))
            acc = acc + 0.5 * ((r > 0).float().mean() + (f < 0).float().mean()).detach()
        if self.n_cat and self.config.balance_weight:
            ybar = code[:, :self.n_cat].mean(0)  # the batch's cluster proportions
            # log K − H(ȳ) = Σ_k ȳ_k log(K ȳ_k) ≥ 0, zero when the clusters are used equally
            g_loss = g_loss + self.config.balance_weight * (ybar * torch.log(ybar * self.n_cat + 1e-12)).sum()
        return d_loss, g_loss, acc / len(fakes)

    def forward(self, x: torch.Tensor) -> Output:
        z = self.encode(x)
        h = self.decode_logits(z)
        recon = self.recon_loss(h, x)
        d_loss, g_loss, acc = self.adversarial(z, self.prior_sample(len(x)))
        terms = {"recon": recon.detach(), "disc": d_loss.detach(), "gen": g_loss.detach(), "disc_acc": acc}
        return Output(loss=recon, terms=terms, recon=self.output_activation(h), z=z)

    # -- the two phases, three optimizers ---------------------------------------------------
    def configure_optimizers(self, make):
        ae = [*self.encoder.parameters(), *self.decoder.parameters()]
        disc = [*self.disc.parameters(), *(self.disc_y.parameters() if self.disc_y is not None else [])]
        return [make(ae), make(disc), make(list(self.encoder.parameters()))]

    def training_step(self, x: torch.Tensor, optimizers: list, step) -> dict[str, torch.Tensor]:
        opt_ae, opt_disc, opt_gen = optimizers
        # reconstruction phase: encoder and decoder
        self.zero_grad(set_to_none=True)
        recon = self.recon_loss(self.decode_logits(self.encode(x)), x)
        step(recon, opt_ae)
        # regularization phase (a): the discriminator, on fixed codes
        self.zero_grad(set_to_none=True)
        real = self.prior_sample(len(x))
        with torch.no_grad():
            code = self.encode(x)
        d_loss, _, acc = self.adversarial(code, real)
        step(d_loss, opt_disc)
        # regularization phase (b): the encoder as generator
        self.zero_grad(set_to_none=True)
        _, g_loss, _ = self.adversarial(self.encode(x), real)
        step(g_loss, opt_gen)
        self.zero_grad(set_to_none=True)
        r = recon.detach()
        return {"loss": r, "recon": r, "disc": d_loss.detach(), "gen": g_loss.detach(), "disc_acc": acc}

    @torch.inference_mode()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws: z ~ p(z), x = g(z). (n, *input_shape)"""
        with eval_mode(self):
            return self.decode(self.prior_sample(n, generator))
