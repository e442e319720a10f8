"""Test-set metrics for any trained model, read in chunks (in memory or memory-mapped).

- ``mse``: mean squared reconstruction error per feature;
- ``bce``: binary cross-entropy per feature (data in [0, 1] only);
- ``psnr``: mean over samples of 10·log10(range² / MSE), range = 1 for data in [0, 1];
- variational models: ``neg_elbo`` (nats per sample, one posterior sample), ``recon``, ``kl``;
  with ``nll_samples=K``, ``nll``: −log p(x) in nats from K importance samples
  (:func:`aekit.likelihoods.log_marginal`);
- denoising models: ``noisy_psnr``/``denoised_psnr`` (and ``_ssim`` for images) of the inputs
  corrupted at the model's configured noise (seed 0, clipped to [0, 1] for such data) and of
  their denoised versions, against the clean inputs (:mod:`aekit.tasks.denoise`).

Anomaly detection on a time series (AUC-ROC/PR, R-AUC, VUS, event/affiliation F1, UCR
accuracy; numpy in, float out) lives in :mod:`aekit.metrics.series` and is re-exported here.
"""

from __future__ import annotations

import math

import torch

from ..likelihoods import bce_per_sample, mse_per_sample
from .series import (  # noqa: F401
    affiliation_f1,
    auc_pr,
    auc_roc,
    event_f1,
    point_adjusted_f1,
    range_auc_pr,
    range_auc_roc,
    series_metrics,
    ucr_accuracy,
    vus_pr,
    vus_roc,
)


@torch.inference_mode()
def evaluate(model, x, batch_size: int | None = None, device: str | torch.device | None = None,
             nll_samples: int = 0) -> dict[str, float]:
    """Metrics of ``model`` on preprocessed inputs ``x``: an array, a tensor or an
    :class:`aekit.data.stream.Rows` (a memory-mapped file, preprocessed a chunk at a time).

    ``x`` is read in chunks and the per-sample values go into arrays allocated once, so an
    out-of-core test split is evaluated in bounded memory, ``nll_samples`` and the denoising
    metrics included (those read ``x`` once more)."""
    from tqdm.auto import tqdm

    from ..data.batches import chunks

    if device is not None:
        model.to(device)
    model.eval()
    batch_size = batch_size or model.inference_batch_size()
    variational = model.variational
    if nll_samples:
        from ..likelihoods import check_variational, log_marginal

        check_variational(model)
    n = len(x)
    keys = ["mse", "bce"] + (["neg_elbo", "recon", "kl"] if variational else []) + (["nll"] if nll_samples else [])
    per = {k: torch.empty(n, dtype=torch.float64) for k in keys}
    lo, hi = math.inf, -math.inf  # the data's range so far: bce is kept only for data in [0, 1]
    bar = tqdm(total=n, desc=f"log p(x), K={nll_samples}", unit="sample", leave=False,
               disable=None if nll_samples else True)
    for i, xb in chunks(x, batch_size):
        xb = model.check_input(xb)
        j = i + len(xb)
        recon = model.reconstruct(xb)
        per["mse"][i:j] = mse_per_sample(recon, xb).cpu()
        lo, hi = min(lo, float(xb.min())), max(hi, float(xb.max()))
        if lo >= 0 and hi <= 1:  # once outside [0, 1], bce is not reported: stop computing it
            per["bce"][i:j] = bce_per_sample(recon, xb).cpu()
        if variational:
            rec, kl, _, _ = model.elbo_terms(xb)
            per["neg_elbo"][i:j], per["recon"][i:j], per["kl"][i:j] = (rec + kl).cpu(), rec.cpu(), kl.cpu()
        if nll_samples:
            per["nll"][i:j] = -log_marginal(model, xb, n_samples=nll_samples, progress=False).cpu()
            bar.update(j - i)
    bar.close()
    unit = lo >= 0 and hi <= 1
    rng = 1.0 if unit else max(hi - lo, 1e-12)
    mse = per["mse"]
    out = {"n": int(n), "mse": mse.mean().item(), "psnr": (10 * torch.log10(rng**2 / mse.clamp_min(1e-12))).mean().item()}
    if unit:
        out["bce"] = per["bce"].mean().item()
    out.update({k: per[k].mean().item() for k in keys[2:]})
    if model.denoising and model.config.noise_level > 0:
        # a denoising run: PSNR/SSIM of noisy and denoised inputs at its configured noise
        from ..tasks.denoise import denoising_metrics

        d = denoising_metrics(model, x, model.config.noise, model.config.noise_level, clip=unit, data_range=rng,
                              batch_size=batch_size)
        out.update({k: v for k, v in d.items() if k != "noise"})
    return {k: (v if isinstance(v, int) or math.isfinite(v) else float("nan")) for k, v in out.items()}
