"""Test-set metrics for any trained model.

- ``mse``: mean squared reconstruction error per feature;
- ``bce``: binary cross-entropy per feature (data in [0, 1] only);
- ``psnr``: mean over samples of 10·log10(range² / MSE), range = 1 for data in [0, 1];
- variational models: ``neg_elbo`` (nats per sample, one posterior sample), ``recon``, ``kl``;
  with ``nll_samples=K``, ``nll``: −log p(x) in nats from K importance samples
  (:func:`aekit.likelihood.log_marginal`);
- denoising models: ``noisy_psnr``/``denoised_psnr`` (and ``_ssim`` for images) of the inputs
  corrupted at the model's configured noise (seed 0, clipped to [0, 1] for such data) and of
  their denoised versions, against the clean inputs (:mod:`aekit.tasks.denoise`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .likelihoods import bce_per_sample, mse_per_sample


@torch.inference_mode()
def evaluate(model, x, batch_size: int | None = None, device: str | torch.device | None = None,
             nll_samples: int = 0) -> dict[str, float]:
    """Metrics of ``model`` on preprocessed inputs ``x`` (array or tensor)."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if device is not None:
        model.to(device)
    model.eval()
    x = model.check_input(x)
    if batch_size is None:
        batch_size = model.inference_batch_size()
    lo, hi = float(x.min()), float(x.max())
    unit = lo >= 0 and hi <= 1
    rng = 1.0 if unit else max(hi - lo, 1e-12)
    mse, bce, psnr, velbo, vrec, vkl = [], [], [], [], [], []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        recon = model.reconstruct(xb)
        m = mse_per_sample(recon, xb)
        mse.append(m)
        psnr.append(10 * torch.log10(rng**2 / m.clamp_min(1e-12)))
        if unit:
            bce.append(bce_per_sample(recon, xb))
        if getattr(model, "variational", False):
            rec, kl, _, _ = model.elbo_terms(xb)
            velbo.append(rec + kl)
            vrec.append(rec)
            vkl.append(kl)
    out = {
        "n": int(len(x)),
        "mse": torch.cat(mse).mean().item(),
        "psnr": torch.cat(psnr).mean().item(),
    }
    if bce:
        out["bce"] = torch.cat(bce).mean().item()
    if velbo:
        out["neg_elbo"] = torch.cat(velbo).mean().item()
        out["recon"] = torch.cat(vrec).mean().item()
        out["kl"] = torch.cat(vkl).mean().item()
    if nll_samples:
        from .likelihood import log_marginal

        out["nll"] = -log_marginal(model, x, n_samples=nll_samples).mean().item()
    noise = getattr(getattr(model, "config", None), "noise", None)
    if noise is not None and getattr(model.config, "noise_level", 0) > 0:
        # a denoising run: PSNR/SSIM of noisy and denoised inputs at its configured noise
        from .tasks.denoise import denoising_metrics

        d = denoising_metrics(model, x.cpu(), noise, model.config.noise_level, clip=unit)
        out.update({k: v for k, v in d.items() if k != "noise"})
    return {k: (v if isinstance(v, int) or math.isfinite(v) else float("nan")) for k, v in out.items()}
