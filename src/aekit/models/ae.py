"""Autoencoder (the textbook's vanilla AE; Rumelhart, Hinton & Williams 1986; Hinton &
Salakhutdinov 2006).

An encoder f and a decoder g trained to reproduce their input:

    L(x) = ‖x − g(f(x))‖²           (mean squared error, the default for [0, 1] data)
    L(x) = −Σ x log x̂ + (1 − x) log(1 − x̂)   (binary cross-entropy, x̂ = σ(g(f(x))))

``AE(input_shape=(784,), hidden=(128,), latent_dim=64)`` is the classic
784-128-64-128-784 network: Linear, ReLU, Linear / Linear, ReLU, Linear, Sigmoid.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..config import check, option
from ..likelihoods import bce_per_sample
from ..nets import Stack
from ..nets.modes import eval_mode
from .base import ArchConfig, Autoencoder, Output
from .registry import register


@dataclasses.dataclass(frozen=True, kw_only=True)
class AEConfig(ArchConfig):
    recon_loss: Literal["mse", "bce"] = option("mse", "reconstruction loss (bce: data in [0, 1])")
    output: Literal["sigmoid", "linear"] = option("sigmoid", "output activation: sigmoid (data in [0, 1]) or linear")
    tied: bool = option(False, "true: the decoder reuses the encoder weights, transposed (arch mlp)")

    def validate(self) -> None:
        super().validate()
        check(not (self.tied and self.arch != "mlp"), "tied",
              "tied weights need arch='mlp' (a conv decoder is not the transpose of its encoder); set tied=False")
        check(
            not (self.recon_loss == "bce" and self.output == "linear"),
            "recon_loss",
            "'bce' needs data in [0, 1] and output='sigmoid'; use recon_loss='mse' with output='linear'",
        )


@register("ae")
class AE(Autoencoder):
    """Deterministic autoencoder x → z = f(x) → x̂ = g(z)."""

    config_class = AEConfig
    paper = "Hinton & Salakhutdinov 2006, Reducing the Dimensionality of Data with Neural Networks"

    def __init__(self, config: AEConfig | None = None, **kwargs):
        super().__init__(config, **kwargs)
        c = self.config
        self.encoder, self.decoder = self.build_networks(c.latent_dim)
        self.output_activation = nn.Sigmoid() if c.output == "sigmoid" else nn.Identity()

    # x (B, *input_shape) → z (B, latent_dim)
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.net_input(x))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder pre-activation, shaped like the input (B, *input_shape)."""
        return self.decoder(z).reshape(z.shape[0], *self.config.input_shape)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled() and isinstance(self.decoder, Stack) and type(self).decode_logits is AE.decode_logits:
            # inference: the decoder applies the output activation itself, in place or fused
            # into its last matrix product
            return self.decoder(z, then=self.output_activation).reshape(z.shape[0], *self.config.input_shape)
        return self.output_activation(self.decode_logits(z))

    def code_transform(self, z: torch.Tensor) -> torch.Tensor:
        """Hook applied to the code before decoding (sparse families keep top-k here)."""
        return z

    def recon_loss(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Mean reconstruction loss of decoder pre-activation ``h`` against clean ``x``."""
        if self.config.recon_loss == "bce":
            return F.binary_cross_entropy_with_logits(h, x)
        return F.mse_loss(self.output_activation(h), x)

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """Input corruption during training (identity here; denoising families override)."""
        return x

    def penalty(self, z: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor | None, dict]:
        """Extra loss on the code (sparse, contractive …): (weighted penalty or None, terms)."""
        return None, {}

    def forward(self, x: torch.Tensor) -> Output:
        z = self.code_transform(self.encode(self.corrupt(x)))
        h = self.decode_logits(z)
        recon = self.recon_loss(h, x)
        pen, terms = self.penalty(z, x)
        loss = recon if pen is None else recon + pen
        return Output(loss=loss, terms={"recon": recon.detach(), **terms}, recon=self.output_activation(h), z=z)

    def code(self, x: torch.Tensor) -> torch.Tensor:
        return self.code_transform(self.encode(x))

    @torch.inference_mode()
    def score(self, x: torch.Tensor) -> torch.Tensor:
        """Per-sample reconstruction error (MSE or BCE, mean over features), no corruption."""
        with eval_mode(self):
            x = self.check_input(x)
            recon = self.decode(self.code(x))
            if self.config.recon_loss == "bce":
                return bce_per_sample(recon, x)
            d = recon.sub_(x).flatten(1)  # recon is this call's own tensor
            return torch.linalg.vector_norm(d, dim=1).square_().div_(d.shape[1])
