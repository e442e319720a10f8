"""Likelihoods, per sample: decoder likelihoods p(x|z), reconstruction errors, and the marginal
likelihood log p(x) of variational models.

The decoder likelihoods take the decoder output (logits for Bernoulli) and the target ``x``, and
return one value per sample; the error functions take a reconstruction in data space.

Marginal log-likelihood by importance sampling (Burda et al. 2015, "Importance Weighted
Autoencoders", §5; Rezende et al. 2014, appendix E). With K draws z_k ~ q(z|x) from the
encoder,

    log p(x) ≈ log (1/K) Σ_k p(x|z_k) p(z_k) / q(z_k|x)
             = logsumexp_k [log p(x|z_k) + log p(z_k) − log q(z_k|x)] − log K

a lower bound in expectation that tightens to log p(x) as K → ∞ (K = 1 is the ELBO;
K = 5000 is the usual reported estimate). :func:`log_marginal` takes the K draws in chunks
whose decoder output stays under ``max_elements`` numbers, and combines them with a running
logsumexp, so memory does not grow with K. It works for any family that declares
``variational`` (the VAE family: VAE, β-VAE, IWAE): ``encode(x)`` → a posterior with
``sample(n)`` and ``log_prob(z)``, and ``decode_params(z)``, ``nll(h, x)``, ``prior_log_prob(z)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .errors import AekitError
from .nets.modes import eval_mode

LOG_2PI = math.log(2 * math.pi)


def _event_sum(t: torch.Tensor, event_dims: int) -> torch.Tensor:
    """Sum over the last ``event_dims`` dimensions (the features of one sample)."""
    return t.flatten(-event_dims).sum(-1)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor, event_dims: int = 1) -> torch.Tensor:
    """−log p(x|z) for a Bernoulli decoder (x in [0, 1]), summed over the event dims.

    ``logits`` may carry leading sample dimensions (K, B, ...); ``x`` broadcasts against it.
    Without gradients it is computed as softplus(logits) − x·logits (the same value), faster
    on a CPU than the fused loss kernel, which autograd uses (BENCHMARKS.md, "Scoring").
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


# -- the marginal likelihood of variational models -------------------------------------------

def check_variational(model) -> None:
    if not model.variational:
        raise AekitError(
            f"nll_samples: a {type(model).__name__} has no likelihood p(x|z) and posterior q(z|x) to "
            "estimate log p(x) with; use a variational family (vae, beta_vae, iwae) or drop --nll-samples"
        )


def log_weights(model, x: torch.Tensor, k: int, q=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(log w, −log p(x|z), decoder output) for k reparameterized draws per sample.

    log w_k = log p(x|z_k) + log p(z_k) − log q(z_k|x), shape (k, B); the decoder output
    ``h`` is (k, B, *input_shape).
    """
    q = model.encode(x) if q is None else q
    z = q.sample(k)  # (k, B, D)
    h = model.decode_params(z)
    nll = model.nll(h, x)  # (k, B)
    return -nll + model.prior_log_prob(z) - q.log_prob(z), nll, h


@torch.inference_mode()
def log_marginal(model, x, n_samples: int = 5000, batch_size: int = 256,
                 max_elements: int = 2**24, progress: bool | None = None) -> torch.Tensor:
    """Importance-sampled estimate of log p(x) in nats, one per sample. (N,)

    ``progress``: a progress bar over the batches (``None``: only on a terminal).
    """
    from tqdm.auto import tqdm

    check_variational(model)
    if n_samples < 1:
        raise AekitError(f"nll_samples: must be a positive number of importance samples, got {n_samples}")
    if isinstance(x, np.ndarray):  # token ids stay integers; check_input casts features
        x = torch.from_numpy(np.ascontiguousarray(x if x.dtype.kind in "iu" else x.astype(np.float32)))
    with eval_mode(model):
        x = model.check_input(x)
        out = []
        starts = range(0, len(x), batch_size)
        for i in tqdm(starts, desc=f"log p(x), K={n_samples}", leave=False, unit="batch",
                      disable=None if progress is None else not progress):
            xb = x[i:i + batch_size]
            q = model.encode(xb)
            per_draw = len(xb) * max(1, xb[0].numel())
            chunk = max(1, min(n_samples, max_elements // per_draw))
            acc = torch.full((len(xb),), -math.inf, device=xb.device, dtype=q.mean.dtype)
            done = 0
            while done < n_samples:
                k = min(chunk, n_samples - done)
                lw, _, _ = log_weights(model, xb, k, q)
                acc = torch.logaddexp(acc, torch.logsumexp(lw, 0))  # running logsumexp over chunks
                done += k
            out.append(acc - math.log(n_samples))
        return torch.cat(out)
