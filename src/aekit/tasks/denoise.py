"""Denoising with a trained autoencoder (Vincent et al. 2008) and the two image-quality metrics
it is judged by.

A denoising AE estimates the clean x from a corrupted x̃ ~ q(x̃|x): x̂ = g(f(x̃)). Quality:

    PSNR(x, x̂) = 10 log10(R² / ((1/d) ‖x − x̂‖²))        (R = data range, 1 for [0, 1] data)
    SSIM(x, x̂) = mean over windows of
                 (2 μ_x μ_x̂ + C1)(2 σ_xx̂ + C2) / ((μ_x² + μ_x̂² + C1)(σ_x² + σ_x̂² + C2))

with Wang, Bovik, Sheikh & Simoncelli's (2004) settings: an 11×11 Gaussian window (σ = 1.5),
C1 = (0.01 R)², C2 = (0.03 R)², "valid" windows only. This equals scikit-image's
``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`` and
is computed here in torch, so scikit-image is not needed. Both are averaged over images.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..corruption import KINDS, corrupt
from ..errors import AekitError
from .common import as_tensor, batched


def parse_noise(spec: str) -> tuple[str, float]:
    """``"gaussian:0.5"`` → ("gaussian", 0.5); kinds as in :mod:`aekit.corruption`."""
    kind, _, level = str(spec).partition(":")
    try:
        value = float(level)
    except ValueError:
        raise AekitError(f"--noise: expected KIND:LEVEL such as gaussian:0.5 or masking:0.3, got {spec!r}") from None
    if kind not in KINDS:
        raise AekitError(f"--noise: unknown corruption {kind!r}; choose one of {', '.join(KINDS)}")
    return kind, value


def add_noise(x, kind: str, level: float, seed: int = 0, clip: bool = True) -> torch.Tensor:
    """Corrupt clean inputs reproducibly; ``clip`` keeps them in [0, 1]."""
    x = as_tensor(x)
    y = corrupt(x, kind, level, generator=torch.Generator().manual_seed(seed))
    return y.clamp(0, 1) if clip else y


def psnr(clean, other, data_range: float = 1.0) -> torch.Tensor:
    """PSNR in dB per sample (N,)."""
    clean, other = as_tensor(clean).float(), as_tensor(other).float()
    mse = (clean - other).pow(2).flatten(1).mean(1).clamp_min(1e-12)
    return 10 * torch.log10(data_range**2 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)


def ssim(clean, other, data_range: float = 1.0, win: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM per image (N,) for images (N, C, H, W) or (N, H, W); channels averaged."""
    a, b = as_tensor(clean).double(), as_tensor(other).double()
    if a.dim() == 3:
        a, b = a[:, None], b[:, None]
    if a.dim() != 4 or a.shape != b.shape:
        raise AekitError(f"ssim: needs two image batches of the same shape (N, C, H, W), got {tuple(a.shape)} and {tuple(b.shape)}")
    n, c, h, w = a.shape
    win = min(win, h, w) if min(h, w) < win else win
    k = _gaussian_window(win, sigma).to(a)[None, None].expand(c, 1, win, win)

    def filt(t):  # (N, C, H, W) → local weighted means over valid windows
        return F.conv2d(t, k, groups=c)

    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a**2
    var_b = filt(b * b) - mu_b**2
    cov = filt(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(1).float()


@torch.inference_mode()
def denoise(model, x, batch_size: int | None = None) -> torch.Tensor:
    """x̂ = g(f(x̃)) for noisy inputs (preprocessed, like the training data)."""
    model.eval()
    return batched(model.reconstruct, x, batch_size)


@torch.inference_mode()
def denoising_metrics(model, x_clean, kind: str, level: float, seed: int = 0, clip: bool | None = None,
                      data_range: float | None = None, batch_size: int | None = None) -> dict[str, float]:
    """PSNR/SSIM of the noisy input and of the model's denoised output, both against the clean x.

    ``x_clean`` (an array, a tensor or :class:`aekit.data.stream.Rows`) is read in chunks; the
    noise comes from one generator seeded with ``seed``, so the result does not depend on the
    memory at hand. ``clip`` (noisy inputs clamped to [0, 1]) and ``data_range`` default to
    what the data's own range implies (a first pass over it)."""
    from .common import chunk_rows, chunks

    model.eval()
    batch_size = chunk_rows(model, batch_size)
    if clip is None or data_range is None:
        lo, hi = math.inf, -math.inf
        for _, xb in chunks(x_clean, batch_size):
            lo, hi = min(lo, float(xb.min())), max(hi, float(xb.max()))
        unit = lo >= 0 and hi <= 1
        clip = unit if clip is None else clip
        data_range = (1.0 if unit else hi - lo) if data_range is None else data_range
    gen = torch.Generator().manual_seed(seed)
    sums = {"noisy_psnr": 0.0, "denoised_psnr": 0.0, "noisy_ssim": 0.0, "denoised_ssim": 0.0}
    images = False
    for _, xb in chunks(x_clean, batch_size):
        noisy = corrupt(xb, kind, level, generator=gen)
        if clip:
            noisy = noisy.clamp_(0, 1)
        den = model.reconstruct(model.check_input(noisy)).reshape(xb.shape).cpu()
        sums["noisy_psnr"] += psnr(xb, noisy, data_range).sum().item()
        sums["denoised_psnr"] += psnr(xb, den, data_range).sum().item()
        images = xb.dim() == 4
        if images:
            sums["noisy_ssim"] += ssim(xb, noisy, data_range).sum().item()
            sums["denoised_ssim"] += ssim(xb, den, data_range).sum().item()
    n = len(x_clean)
    keys = list(sums) if images else ["noisy_psnr", "denoised_psnr"]
    return {"noise": f"{kind}:{level:g}", **{k: sums[k] / n for k in keys}}


def denoise_path(run_dir, inp, out, noise: str | None = None, seed: int = 0) -> dict:
    """Denoise a data file (any format ``aekit train`` reads), an image or a folder of images
    with a trained run.

    With ``noise`` (``"gaussian:0.5"`` …) the inputs are taken as clean, corrupted first (and
    the noisy versions written too, ``NAME.noisy.png`` / ``OUT.noisy.npy``), and the returned
    summary holds PSNR/SSIM of the noisy and the denoised data against the clean inputs.
    """
    from .. import io
    from ..data.images import IMAGE_SUFFIXES, image_inputs, read_image, to_unit, write_image
    from ..data.runs import run_preprocessor
    from ..models import load
    from .common import read_table

    run_dir, inp, out = Path(run_dir), Path(inp), Path(out)
    model = load(run_dir)
    pre = run_preprocessor(run_dir)
    shape = tuple(model.config.input_shape)
    if not inp.exists():
        raise AekitError(f"{inp}: no such file or folder")
    arrays = inp.is_file() and inp.suffix.lower() not in IMAGE_SUFFIXES  # a data file of any format
    if arrays:
        raw = read_table(inp)[0]
        x = as_tensor(pre.transform(raw)).reshape(len(raw), *shape)
        files = []
    else:
        files = image_inputs(inp)
        imgs = np.stack([read_image(p, shape) for p in files])
        x = as_tensor(pre.transform(imgs) if pre.method != "none" else to_unit(imgs))
    summary: dict = {"n": int(len(x))}
    clean = x
    if noise:
        kind, level = parse_noise(noise)
        unit = bool(x.min() >= 0 and x.max() <= 1)
        x = add_noise(clean, kind, level, seed=seed, clip=unit)
    den = denoise(model, x).reshape(x.shape)
    if noise:
        rng = 1.0 if unit else float(clean.max() - clean.min())
        summary.update({"noise": noise, "noisy_psnr": psnr(clean, x, rng).mean().item(),
                        "denoised_psnr": psnr(clean, den, rng).mean().item()})
        if clean.dim() == 4:
            summary["noisy_ssim"] = ssim(clean, x, rng).mean().item()
            summary["denoised_ssim"] = ssim(clean, den, rng).mean().item()

    def to_units(t):
        a = t.numpy()
        return pre.inverse_transform(a) if arrays or pre.method not in ("none", "scale") else a

    if arrays:
        out = out if out.suffix == ".npy" else out.with_suffix(".npy")
        for path, t in [(out, den)] + ([(out.with_suffix(".noisy.npy"), x)] if noise else []):
            with io.atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.save(f, to_units(t).reshape(len(t), *raw.shape[1:]))
    elif inp.is_dir():
        io.make_folder(out)
        for i, p in enumerate(files):
            rel = p.relative_to(inp)  # class subfolders are kept
            write_image(out / rel.with_suffix(".png"), to_units(den[i:i + 1])[0])
            if noise:
                write_image(out / rel.with_suffix(".noisy.png"), to_units(x[i:i + 1])[0])
    else:
        write_image(out, to_units(den)[0])
        if noise:
            write_image(out.with_name(out.stem + ".noisy" + (out.suffix or ".png")), to_units(x)[0])
    summary["out"] = str(out)
    return summary
