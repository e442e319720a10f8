"""Reconstruction losses and decoder likelihoods, per sample.

The likelihoods take the decoder output (logits for Bernoulli) and the target ``x``, and
return one value per sample; the error functions take a reconstruction in data space.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def _event_sum(t: torch.Tensor, event_dims: int) -> torch.Tensor:
    """Sum over the last ``event_dims`` dimensions (the features of one sample)."""
    return t.flatten(-event_dims).sum(-1)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor, event_dims: int = 1) -> torch.Tensor:
    """−log p(x|z) for a Bernoulli decoder (x in [0, 1]), summed over the event dims.

    ``logits`` may carry leading sample dimensions (K, B, ...); ``x`` broadcasts against it.
    Without gradients it is computed as softplus(logits) − x·logits (the same value), about
    3× faster on a CPU than the fused loss kernel, which autograd uses.
    """
    if torch.is_grad_enabled() and (logits.requires_grad or x.requires_grad):
        return _event_sum(F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none"), event_dims)
    return _event_sum(F.softplus(logits).addcmul_(x, logits, value=-1), event_dims)


def gaussian_nll(mean: torch.Tensor, log_scale: torch.Tensor, x: torch.Tensor, event_dims: int = 1) -> torch.Tensor:
    """−log N(x; mean, σ²) with σ = exp(log_scale) (broadcast), summed over the event dims."""
    z = (x - mean) * torch.exp(-log_scale)
    return _event_sum(0.5 * z.pow(2) + log_scale + 0.5 * LOG_2PI, event_dims)


def mse_per_sample(recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error over features. (B,)"""
    return (recon - x).pow(2).flatten(1).mean(1)


def bce_per_sample(recon: torch.Tensor, x: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Binary cross-entropy of probabilities ``recon`` against x, mean over features. (B,)"""
    r = recon.clamp(eps, 1 - eps)
    return -(x * r.log() + (1 - x) * (1 - r).log()).flatten(1).mean(1)
