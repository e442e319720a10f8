"""USAD: UnSupervised Anomaly Detection on multivariate time series (Audibert, Michiardi,
Guyard, Marti & Zuluaga 2020, "USAD: UnSupervised Anomaly Detection on Multivariate Time
Series", KDD).

One encoder E and two decoders D1, D2 make two autoencoders that share E:

    AE1(W) = D1(E(W)),    AE2(W) = D2(E(W))

trained in two phases on every batch of windows W, in epoch n = 1, 2, … (1-based):

    L_AE1 = (1/n) ‖W − AE1(W)‖² + (1 − 1/n) ‖W − AE2(AE1(W))‖²      (E, D1 minimize)
    L_AE2 = (1/n) ‖W − AE2(W)‖² − (1 − 1/n) ‖W − AE2(AE1(W))‖²      (E, D2 minimize)

Early on (n = 1) both simply reconstruct W. Later AE1 also learns to fool AE2 (make AE1(W)
look like data AE2 reconstructs well) while AE2 learns to tell AE1's outputs from real
windows (reconstruct them badly): a GAN with autoencoders in both roles. ‖·‖² is the mean
squared error over the batch's elements, as in the paper's code (github manigalati/usad).

Anomaly score of a window (higher = more anomalous), α = β = 1/2 in the paper:

    s(W) = α ‖W − AE1(W)‖² + β ‖W − AE2(AE1(W))‖²

``score`` is its mean over a window's elements (B,), ``score_map`` the same mix per element
(B, *input_shape); a series' per-timestep score averages ``score_map`` over channels and
windows (:mod:`aekit.data.windows`, :mod:`aekit.tasks.series`).

Training (``configure_optimizers``, ``training_step``): two optimizers, one over E + D1, one
over E + D2; each batch runs phase 1 (a fresh forward, a step on L_AE1), then phase 2 (a
fresh forward at the weights phase 1 left, a step on L_AE2), the paper's code's order. The
losses' values are the equations above in both settings of ``updates``; they differ in the
gradient each decoder steps on:

- ``updates="reference"`` (default): the encoder steps on ∂L_AE1/∂E and ∂L_AE2/∂E, each
  decoder on its reconstruction term only, (1/n) ∂‖W − AEi(W)‖²/∂Di. This is what the
  paper's code computes: it zeroes only the stepped optimizer's gradients, so D2's gradient
  of L_AE1 is added to its L_AE2 step and D1's of L_AE2 to the next batch's L_AE1 step, and
  there the ±(1 − 1/n) adversarial gradients of each decoder cancel (up to the one step, or
  batch, between the two evaluations). Measured on MIT-BIH ECG windows (W = 64, 28 epochs),
  the code and this setting end at L_AE1 = 0.0101 / 0.0102, L_AE2 = −0.0094 / −0.0094;
- ``updates="equations"``: each decoder steps on its whole loss. Once AE1(W) ≈ W,
  AE2(AE1(W)) ≈ AE2(W), and for n ≥ 2 the −(1 − 1/n) term outweighs the (1/n) one: AE2
  learns to maximize its own error (‖W − AE2(W)‖² went to 0.69 on the ECG windows by epoch
  11, the paper's code with every gradient zeroed before each backward the same), AE1 then
  chases a degenerate AE2, and the score's second part tells little.

Each phase back-propagates into the parameters it steps only (the decoders it does not step
are frozen while it runs, so gradient clipping sees only its own gradients). n comes from
``on_train_epoch_start`` (the trainer's epoch, also on a resumed run); it is 1 before any
training and is not saved with the weights.

``forward`` (validation, the contract) reports ``loss = L_AE1 + L_AE2`` at the current n and
weights, in which the adversarial parts cancel: ``(recon1 + recon2) / n``. It falls with n
by construction, so ``val_loss`` across epochs (and early stopping on it) is not a measure of
progress for USAD: watch ``val_recon`` (= ``recon1``, AE1's error). ``terms``: ``recon1``,
``recon2``, ``adv`` (‖W − AE2(AE1(W))‖²), ``loss1``, ``loss2``, and ``recon`` = ``recon1``;
``recon`` of the output is AE1(W), ``z`` = E(W).

The paper's network is an MLP over the flattened window, hidden sizes (W·C)/2 and (W·C)/4
(``hidden=(W*C // 2, W*C // 4)``; its code also passes the code through a ReLU), sigmoid
outputs on min-max scaled data. Here ``arch``/``hidden`` choose the network as for every
family; D2 is a second decoder of the same network, built by the network itself (its own
initialization) — or, for the user's modules (``arch`` ``module``/``sequential``), a deep
copy of their decoder re-initialized with each layer's ``reset_parameters()``, so that D1
and D2 start from independent weights, as in the paper's code and with aekit's networks
(a layer without ``reset_parameters`` keeps the copied weights). Each decoder runs two or
three times per training step, which a network that counts its training calls sees (the
``lstm``/``gru`` decoders' ``teacher_decay`` advances that much faster); their teacher
forcing reaches D1 only (on its first call after the encoder's; D2's hand-off is its own
build's, which no encoder fills, so D2 always runs free).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..config import check, option
from ..nets import Stack
from ..nets.modes import eval_mode
from .base import ArchConfig, Autoencoder, Output
from .registry import register


@dataclasses.dataclass(frozen=True, kw_only=True)
class USADConfig(ArchConfig):
    output: Literal["sigmoid", "linear"] = option(
        "sigmoid", "output activation of both decoders: sigmoid (min-max scaled data, the paper) or linear")
    alpha: float = option(0.5, "USAD score: weight α of AE1's error ‖W − AE1(W)‖² (paper 0.5)")
    beta: float = option(0.5, "USAD score: weight β of the adversarial error ‖W − AE2(AE1(W))‖² (paper 0.5)")
    updates: Literal["reference", "equations"] = option(
        "reference", "the decoders' gradients: reference (the paper's code): each on its reconstruction "
        "term, the encoder on both losses; equations: each decoder on its whole loss")

    def validate(self) -> None:
        super().validate()
        for name in ("alpha", "beta"):
            v = getattr(self, name)
            check(math.isfinite(v) and v >= 0, name, f"must be a finite weight ≥ 0, got {v}")
        check(self.alpha + self.beta > 0, "alpha",
              "alpha and beta are both 0, which scores every window 0; give one a positive weight (paper: 0.5, 0.5)")


@contextlib.contextmanager
def frozen(module: nn.Module):
    """Parameters of ``module`` record no gradient inside the block (gradients still flow
    *through* it to earlier layers); their own ``requires_grad`` comes back afterwards."""
    params = list(module.parameters())
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(params, flags):
            p.requires_grad_(f)


def reinitialized(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` whose layers draw fresh weights (``reset_parameters``)."""
    twin = copy.deepcopy(module)
    for m in twin.modules():
        reset = getattr(m, "reset_parameters", None)
        if callable(reset):
            reset()
    return twin


@register("usad")
class USAD(Autoencoder):
    """USAD: encoder E, decoders D1 (``decoder``) and D2 (``decoder2``), trained adversarially."""

    config_class = USADConfig
    multi_optimizer = True
    paper = "Audibert et al. 2020, USAD: UnSupervised Anomaly Detection on Multivariate Time Series"
    variants = (
        {},
        {"output": "linear", "alpha": 0.1, "beta": 0.9, "updates": "equations"},
    )

    def __init__(self, config: USADConfig | None = None, **kwargs):
        super().__init__(config, **kwargs)
        c = self.config
        self.encoder, self.decoder = self.build_networks(c.latent_dim)
        if self.network.modules:  # the user's modules: build_networks gives the same decoder again
            self.decoder2 = reinitialized(self.decoder)
        else:  # a second decoder of the same network, initialized by the network (encoder unused)
            self.decoder2 = self.build_networks(c.latent_dim)[1]
        self.output_activation = nn.Sigmoid() if c.output == "sigmoid" else nn.Identity()
        self.n = 1  # the epoch, 1-based: weights 1/n and 1 − 1/n of the two losses

    # -- the networks -----------------------------------------------------------------------
    # W (B, *input_shape) → z (B, latent_dim)
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.net_input(x))

    def _decode_with(self, decoder: nn.Module, z: torch.Tensor) -> torch.Tensor:
        """A decoder's output in data space, (B, *input_shape)."""
        shape = (z.shape[0], *self.config.input_shape)
        if not torch.is_grad_enabled() and isinstance(decoder, Stack):  # inference: fuse the activation
            return decoder(z, then=self.output_activation).reshape(shape)
        return self.output_activation(decoder(z).reshape(shape))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """D1(z): AE1's reconstruction, what ``reconstruct`` returns."""
        return self._decode_with(self.decoder, z)

    def decode2(self, z: torch.Tensor) -> torch.Tensor:
        """D2(z)."""
        return self._decode_with(self.decoder2, z)

    def weights(self) -> tuple[float, float]:
        """(1/n, 1 − 1/n) in epoch n."""
        return 1.0 / self.n, 1.0 - 1.0 / self.n

    # -- the objective ----------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> Output:
        z = self.encode(x)                      # (B, latent_dim)
        w1 = self.decode(z)                     # AE1(W), (B, *input_shape)
        w2 = self.decode2(z)                    # AE2(W)
        w3 = self.decode2(self.encode(w1))      # AE2(AE1(W))
        recon1, recon2, adv = F.mse_loss(w1, x), F.mse_loss(w2, x), F.mse_loss(w3, x)
        a, b = self.weights()
        loss1 = a * recon1 + b * adv
        loss2 = a * recon2 - b * adv
        terms = {"recon": recon1, "recon1": recon1, "recon2": recon2, "adv": adv, "loss1": loss1, "loss2": loss2}
        return Output(loss=loss1 + loss2, terms={k: v.detach() for k, v in terms.items()}, recon=w1, z=z)

    def configure_optimizers(self, make):
        enc = list(self.encoder.parameters())
        return [make(enc + list(self.decoder.parameters())), make(enc + list(self.decoder2.parameters()))]

    def training_step(self, x: torch.Tensor, optimizers: list, step) -> dict[str, torch.Tensor]:
        opt1, opt2 = optimizers
        a, b = self.weights()
        reference = self.config.updates == "reference"
        # phase 1: AE1 = (E, D1) on L_AE1; D2, frozen, passes the adversarial gradient back only
        self.zero_grad(set_to_none=True)
        with frozen(self.decoder2):
            z = self.encode(x)                                  # (B, latent_dim)
            w1 = self.decode(z)                                 # AE1(W), (B, *input_shape)
            recon1 = F.mse_loss(w1, x)
            if reference:  # the adversarial path through D1 again, frozen: it moves E, not D1
                with frozen(self.decoder):
                    w1 = self.decode(z)
            adv1 = F.mse_loss(self.decode2(self.encode(w1)), x)
            loss1 = a * recon1 + b * adv1
        step(loss1, opt1)
        # phase 2: AE2 = (E, D2) on L_AE2, a fresh forward at the weights phase 1 left
        self.zero_grad(set_to_none=True)
        with frozen(self.decoder):
            z = self.encode(x)
            recon2 = F.mse_loss(self.decode2(z), x)
            with frozen(self.decoder2) if reference else contextlib.nullcontext():
                adv2 = F.mse_loss(self.decode2(self.encode(self.decode(z))), x)
            loss2 = a * recon2 - b * adv2
        step(loss2, opt2)
        self.zero_grad(set_to_none=True)
        # each term as the phase that stepped on it saw it
        terms = {"loss": loss1 + loss2, "recon": recon1, "recon1": recon1, "recon2": recon2, "adv": adv1,
                 "loss1": loss1, "loss2": loss2}
        return {k: v.detach() for k, v in terms.items()}

    def on_train_epoch_start(self, epoch: int, epochs: int) -> None:
        super().on_train_epoch_start(epoch, epochs)
        self.n = epoch + 1  # the trainer counts from 0, the paper from 1

    def schedule_values(self) -> dict[str, float]:
        return {"recon_weight": 1.0 / self.n}

    # -- the anomaly score --------------------------------------------------------------------
    @torch.inference_mode()
    def score_map(self, x: torch.Tensor) -> torch.Tensor:
        """α (W − AE1(W))² + β (W − AE2(AE1(W)))² per element, (B, *input_shape)."""
        x = self.check_input(x)
        c = self.config
        with eval_mode(self):
            w1 = self.decode(self.encode(x))
            w3 = self.decode2(self.encode(w1))
            return (w1 - x).square_().mul_(c.alpha).add_((w3 - x).square_(), alpha=c.beta)

    @torch.inference_mode()
    def score(self, x: torch.Tensor) -> torch.Tensor:
        """α ‖W − AE1(W)‖² + β ‖W − AE2(AE1(W))‖², each the mean over the window's elements. (B,)"""
        return self.score_map(x).flatten(1).mean(1)
