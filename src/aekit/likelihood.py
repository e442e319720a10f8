"""Marginal log-likelihood of variational models by importance sampling (Burda et al. 2015,
"Importance Weighted Autoencoders", §5; Rezende et al. 2014, appendix E).

With K draws z_k ~ q(z|x) from the encoder,

    log p(x) ≈ log (1/K) Σ_k p(x|z_k) p(z_k) / q(z_k|x)
             = logsumexp_k [log p(x|z_k) + log p(z_k) − log q(z_k|x)] − log K

a lower bound in expectation that tightens to log p(x) as K → ∞ (K = 1 is the ELBO;
K = 5000 is the usual reported estimate). The K draws are taken in chunks whose decoder
output stays under ``max_elements`` numbers, and combined with a running logsumexp, so
memory does not grow with K.

Any model works that has ``variational = True`` and ``encode(x)`` → a posterior with
``sample(n)`` and ``log_prob(z)``, ``decode_params(z)``, ``nll(h, x)`` and
``prior_log_prob(z)`` (the VAE family: VAE, β-VAE, IWAE).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .errors import AekitError


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
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    was = model.training
    model.eval()
    try:
        x = model.check_input(x)
        out = []
        starts = range(0, len(x), batch_size)
        for i in tqdm(starts, desc=f"log p(x), K={n_samples}", leave=False, unit="batch",
                      disable=None if progress is None else not progress):
            xb = x[i:i + batch_size]
            q = model.encode(xb)
            per_draw = len(xb) * max(1, xb[0].numel())
            chunk = max(1, min(n_samples, max_elements // per_draw))
            acc = torch.full((len(xb),), -math.inf, device=xb.device, dtype=xb.dtype)
            done = 0
            while done < n_samples:
                k = min(chunk, n_samples - done)
                lw, _, _ = log_weights(model, xb, k, q)
                acc = torch.logaddexp(acc, torch.logsumexp(lw, 0))  # running logsumexp over chunks
                done += k
            out.append(acc - math.log(n_samples))
        return torch.cat(out)
    finally:
        model.train(was)
