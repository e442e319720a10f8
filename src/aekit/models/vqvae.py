"""Vector-quantized VAE (van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete
Representation Learning").

The encoder output z_e(x) is a set of T vectors of size D (a grid of H'×W' positions for
``arch="conv"``, as in the paper; ``latent_dim / code_dim`` tokens for an MLP). Each is
replaced by its nearest neighbour in a codebook {e_1 … e_K}:

    z_q = e_k,  k = argmin_j ‖z_e − e_j‖²

and the decoder reconstructs x from z_q. The argmin has no gradient, so the decoder's
gradient is copied to the encoder (straight-through: z_q = z_e + sg[e_k − z_e]). Loss:

    L = −log p(x|z_q) + ‖sg[z_e] − e‖² + β ‖z_e − sg[e]‖²        (β = 0.25)

(reconstruction, codebook, commitment). ``ema_decay > 0`` replaces the codebook loss by the
paper's exponential moving average update N_k ← γN_k + (1−γ)n_k, m_k ← γm_k + (1−γ)Σ z_e,
e_k = m_k / N_k. Codes whose running share of assignments falls below
``dead_code_threshold / K`` are restarted at random encoder outputs of the current batch.
``terms`` reports ``usage`` (fraction of the codebook used in the batch) and ``perplexity``
exp(−Σ p_k log p_k) of the code distribution.

Sampling: the paper fits a PixelCNN prior over codes; here ``sample(n)`` draws each
position's code independently from its empirical distribution over the last training
epoch (counts kept in a buffer, so they survive save/load) and decodes it.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from ..config import check, option
from ..nets import activation, conv_decoder, conv_encoder, conv_layout
from ..nets.modes import eval_mode
from .ae import AE, AEConfig
from .base import Autoencoder, Output
from .registry import register


@dataclasses.dataclass(frozen=True, kw_only=True)
class VQVAEConfig(AEConfig):
    codebook_size: int = option(512, "codebook vectors K")
    code_dim: int = option(8, "size D of one codebook vector")
    commitment: float = option(0.25, "commitment weight β")
    ema_decay: float = option(0.0, "EMA codebook decay γ (0 = learn the codebook by its loss)")
    dead_code_threshold: float = option(0.05, "restart codes used less than this × the uniform share (0 = never)")

    def validate(self) -> None:
        super().validate()
        check(self.codebook_size >= 2, "codebook_size", f"must be ≥ 2, got {self.codebook_size}")
        check(self.code_dim >= 1, "code_dim", f"must be ≥ 1, got {self.code_dim}")
        if self.arch != "conv":
            check(self.latent_dim % self.code_dim == 0, "code_dim",
                  f"latent_dim={self.latent_dim} must be a multiple of code_dim={self.code_dim} "
                  f"(the {self.arch} code is latent_dim / code_dim vectors)")
        check(self.commitment >= 0, "commitment", f"β must be ≥ 0, got {self.commitment}")
        check(0 <= self.ema_decay < 1, "ema_decay", f"must be in [0, 1), got {self.ema_decay}")
        check(self.dead_code_threshold >= 0, "dead_code_threshold", f"must be ≥ 0, got {self.dead_code_threshold}")


class VectorQuantizer(nn.Module):
    """Nearest-neighbour quantization of (B, T, D) vectors against a (K, D) codebook."""

    USAGE_DECAY = 0.9  # running share of assignments per code, for dead-code detection

    def __init__(self, k: int, d: int, n_tokens: int, ema_decay: float = 0.0, dead: float = 0.0):
        super().__init__()
        self.k, self.ema_decay, self.dead = k, ema_decay, dead
        init = torch.empty(k, d).uniform_(-1 / k, 1 / k)
        if ema_decay > 0:  # updated by moving averages, not by gradients
            self.register_buffer("codebook", init)
            self.register_buffer("ema_count", torch.ones(k))
            self.register_buffer("ema_sum", init.clone())
        else:
            self.codebook = nn.Parameter(init)
        self.register_buffer("usage", torch.full((k,), 1.0 / k))
        self.register_buffer("counts", torch.zeros(n_tokens, k))  # per position, for sampling

    def nearest(self, ze: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code for each vector: (B, T, D) → (B, T)."""
        flat = ze.reshape(-1, ze.shape[-1])
        e = self.codebook
        d2 = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ e.t() + e.pow(2).sum(1)  # (N, K)
        return d2.argmin(1).view(ze.shape[:-1])

    def forward(self, ze: torch.Tensor):
        """(straight-through z_q, indices, codebook loss, commitment loss)."""
        idx = self.nearest(ze)
        zq = F.embedding(idx, self.codebook)  # (B, T, D)
        codebook = F.mse_loss(zq, ze.detach()) if self.ema_decay == 0 else ze.new_zeros(())
        commit = F.mse_loss(ze, zq.detach())
        if not torch.is_grad_enabled():
            # inference: the codebook vector itself; ze + (zq − ze) equals it only up to rounding,
            # which an exported graph (another runtime's kernels for ze) rounds differently
            return zq, idx, codebook, commit
        return ze + (zq - ze).detach(), idx, codebook, commit

    @torch.no_grad()
    def update(self, ze: torch.Tensor, idx: torch.Tensor) -> None:
        """Training-time bookkeeping: counts, EMA codebook, dead-code restart."""
        flat, fidx = ze.detach().reshape(-1, ze.shape[-1]), idx.reshape(-1)
        onehot = F.one_hot(fidx, self.k).to(flat.dtype)  # (N, K)
        n_k = onehot.sum(0)
        self.counts += F.one_hot(idx, self.k).to(flat.dtype).sum(0)  # (T, K)
        self.usage.mul_(self.USAGE_DECAY).add_(n_k / len(fidx), alpha=1 - self.USAGE_DECAY)
        if self.ema_decay > 0:
            g = self.ema_decay
            self.ema_count.mul_(g).add_(n_k, alpha=1 - g)
            self.ema_sum.mul_(g).add_(onehot.t() @ flat, alpha=1 - g)
            n = self.ema_count.sum()
            smoothed = (self.ema_count + 1e-5) / (n + self.k * 1e-5) * n  # Laplace smoothing
            self.codebook.copy_(self.ema_sum / smoothed.unsqueeze(1))
        if self.dead > 0:
            dead = (self.usage < self.dead / self.k).nonzero().flatten()
            if len(dead):
                pick = flat[torch.randint(len(flat), (len(dead),), device=flat.device)]
                self.codebook.data[dead] = pick
                self.usage[dead] = 1.0 / self.k
                if self.ema_decay > 0:
                    self.ema_count[dead] = 1.0
                    self.ema_sum[dead] = pick


@register("vqvae")
class VQVAE(AE):
    config_class = VQVAEConfig
    generative = True
    paper = "van den Oord, Vinyals & Kavukcuoglu 2017, Neural Discrete Representation Learning"
    variants = (
        {"codebook_size": 8, "code_dim": 2},
        {"codebook_size": 8, "code_dim": 4, "ema_decay": 0.9, "dead_code_threshold": 0.0},
    )

    def __init__(self, config: VQVAEConfig | None = None, **kwargs):
        Autoencoder.__init__(self, config, **kwargs)  # AE's networks are replaced below
        c = self.config
        if c.arch != "conv":  # the code: latent_dim / code_dim vectors
            self.encoder, self.decoder = self.build_networks(c.latent_dim)
            self.grid = None
            n_tokens = c.latent_dim // c.code_dim
        else:  # keep the conv stack's spatial grid: 1×1 conv to D channels, no linear layer
            chans, h, w = conv_layout(c.input_shape, c.channels)
            enc = conv_encoder(c.input_shape, c.channels, 1, c.activation)
            dec = conv_decoder(c.input_shape, c.channels, 1, c.activation)
            self.encoder = nn.Sequential(*enc[:-2], nn.Conv2d(chans[-1], c.code_dim, 1))
            self.decoder = nn.Sequential(nn.Conv2d(c.code_dim, chans[-1], 3, padding=1),
                                         activation(c.activation), *dec[3:])
            self.grid = (h, w)
            n_tokens = h * w
        self.output_activation = nn.Sigmoid() if c.output == "sigmoid" else nn.Identity()
        self.quantizer = VectorQuantizer(c.codebook_size, c.code_dim, n_tokens, c.ema_decay, c.dead_code_threshold)
        self.n_tokens = n_tokens

    # x (B, *input_shape) → z_e (B, T, D)
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if self.grid is None:
            return self.encoder(self.net_input(x)).reshape(x.shape[0], self.n_tokens, self.config.code_dim)
        return self.encoder(x).flatten(2).transpose(1, 2)  # (B, D, h, w) → (B, h·w, D)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, T, D) (or flattened (B, T·D)) → decoder pre-activation (B, *input_shape)."""
        b = z.shape[0]
        z = z.reshape(b, self.n_tokens, self.config.code_dim)
        if self.grid is None:
            h = self.decoder(z.flatten(1))
        else:
            h = self.decoder(z.transpose(1, 2).reshape(b, self.config.code_dim, *self.grid))
        return h.reshape(b, *self.config.input_shape)

    def code_transform(self, z: torch.Tensor) -> torch.Tensor:
        """z_e (B, T, D) → the quantized code, flat (B, T·D) like every family's code."""
        return self.quantizer(z)[0].flatten(1)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """Codebook index of each position: (B, T) integers in [0, K)."""
        return self.quantizer.nearest(self.encode(x))

    def forward(self, x: torch.Tensor) -> Output:
        ze = self.encode(self.corrupt(x))  # (B, T, D)
        zq, idx, codebook, commit = self.quantizer(ze)
        h = self.decode_logits(zq)
        recon = self.recon_loss(h, x)
        loss = recon + codebook + self.config.commitment * commit
        if self.training:
            self.quantizer.update(ze, idx)
        p = torch.bincount(idx.flatten(), minlength=self.config.codebook_size).float() / idx.numel()
        terms = {
            "recon": recon.detach(), "codebook": codebook.detach(), "commitment": commit.detach(),
            "perplexity": torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum()),
            "usage": (p > 0).float().mean(),
        }
        return Output(loss=loss, terms=terms, recon=self.output_activation(h), z=zq.flatten(1))

    def on_train_epoch_start(self, epoch: int, epochs: int) -> None:
        super().on_train_epoch_start(epoch, epochs)
        self.quantizer.counts.zero_()  # sampling uses the codes of the latest epoch

    @torch.inference_mode()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode codes drawn per position from their empirical training distribution."""
        counts = self.quantizer.counts.float().cpu() + 1e-8  # (T, K); uniform if never trained
        idx = torch.multinomial(counts / counts.sum(1, keepdim=True), n, replacement=True, generator=generator)
        zq = F.embedding(idx.t().to(self.quantizer.codebook.device), self.quantizer.codebook)  # (n, T, D)
        with eval_mode(self):
            return self.output_activation(self.decode_logits(zq))
