"""Applying a trained run to files: reconstruct arrays/images, draw samples, interpolate and
traverse the latent space, each written as a PNG grid (or a .npy array)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from . import io
from .data.images import image_inputs, read_image, to_unit, write_image
from .data.runs import run_preprocessor
from .errors import AekitError
from .models import load


def reconstruct_path(run_dir: Path, inp: Path, out: Path) -> Path:
    model = load(run_dir)
    pre = run_preprocessor(run_dir)
    shape = tuple(model.config.input_shape)
    if not inp.exists():
        raise AekitError(f"{inp}: no such file or folder")
    if inp.suffix in (".npy", ".npz"):
        from .data import load_file

        x = load_file(inp, test_size=0.0).x_train if inp.suffix == ".npz" else np.load(inp, allow_pickle=False)
        xt = pre.transform(np.asarray(x))
        r = model.reconstruct(torch.from_numpy(xt)).numpy()
        r = pre.inverse_transform(r).reshape(np.asarray(x).shape)
        if out.suffix != ".npy":
            out = out.with_suffix(".npy")
        with io.atomic_path(out) as tmp, open(tmp, "wb") as f:
            np.save(f, r)
        return out
    files = image_inputs(inp)
    imgs = np.stack([read_image(p, shape) for p in files])
    x = pre.transform(imgs) if pre.method != "none" else to_unit(imgs)
    r = model.reconstruct(torch.from_numpy(x)).numpy()
    r = pre.inverse_transform(r) if pre.method not in ("none", "scale") else r
    if inp.is_dir():
        io.make_folder(out)
        for p, img in zip(files, r):  # class subfolders are kept
            write_image(out / p.relative_to(inp).with_suffix(".png"), img)
    else:
        write_image(out, r[0])
    return out


def grid(x: np.ndarray, nrow: int | None = None, pad: int = 1) -> np.ndarray:
    """Tile (N, C, H, W) images into one (C, H', W') image."""
    n, c, h, w = x.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    ncol = math.ceil(n / nrow)
    g = np.ones((c, ncol * (h + pad) + pad, nrow * (w + pad) + pad), dtype=np.float32)
    for i in range(n):
        r, col = divmod(i, nrow)
        g[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = x[i]
    return g


def sample_to_path(run_dir: Path, n: int, out: Path, seed: int = 0) -> Path:
    if n <= 0:
        raise AekitError(f"-n: number of samples must be positive, got {n}")
    from .tasks import generate

    model = load(run_dir)
    # a deterministic AE has no prior: sample a Gaussian mixture fitted to its training codes
    gmm = None if model.generative else generate.run_gmm(run_dir, model, seed=seed)
    x = generate.sample(model, n, gmm=gmm, generator=torch.Generator().manual_seed(seed)).numpy()
    if out.suffix == ".npy":
        with io.atomic_path(out) as tmp, open(tmp, "wb") as f:
            np.save(f, run_preprocessor(run_dir).inverse_transform(x))
        return out
    if x.ndim != 4:
        raise AekitError(f"--out: samples of shape {x.shape[1:]} are not images; write them to a .npy file instead")
    if x.shape[1] not in (1, 3):
        raise AekitError(f"--out: samples with {x.shape[1]} channels cannot be shown as an image; use a .npy file")
    write_image(out, grid(x))
    return out


def _save_grid(out: Path, x: np.ndarray, nrow: int) -> Path:
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        if out.suffix == ".npy":
            with io.atomic_path(out) as tmp, open(tmp, "wb") as f:
                np.save(f, x)
            return out
        raise AekitError(f"--out: outputs of shape {x.shape[1:]} are not images; write them to a .npy file instead")
    write_image(out, grid(x, nrow=nrow))
    return out


def _pick_inputs(run_dir: Path, model, inputs: list[str], index: list[int]) -> np.ndarray:
    """Preprocessed inputs: image files, or rows ``index`` of the run's test data."""
    from .data.runs import run_data

    shape = tuple(model.config.input_shape)
    pre = run_preprocessor(run_dir)
    if inputs:
        for p in inputs:
            if not Path(p).is_file():
                raise AekitError(f"{p}: no such image file")
        imgs = np.stack([read_image(Path(p), shape) for p in inputs])
        return pre.transform(imgs) if pre.method != "none" else to_unit(imgs)
    d = run_data(run_dir)
    x = d.test() if d.x_test is not None else d.train()
    bad = [i for i in index if not 0 <= i < len(x)]
    if bad:
        raise AekitError(f"--index: {bad} out of range; the run's test data has {len(x)} samples")
    return x[list(index)]


def interpolate_to_path(run_dir: Path, out: Path, inputs: list[str], index=(0, 1), steps: int = 10,
                        method: str = "auto") -> Path:
    """A row of ``steps`` decodings from input A to input B."""
    from .tasks.generate import interpolate

    model = load(run_dir)
    if inputs and len(inputs) != 2:
        raise AekitError(f"inputs: interpolate takes two images A B, got {len(inputs)}")
    if not inputs and len(index) != 2:
        raise AekitError(f"--index: interpolate takes two indices, got {len(index)}")
    x = _pick_inputs(run_dir, model, inputs, list(index))
    path = interpolate(model, x[:1], x[1:2], steps=steps, method=method).numpy()
    return _save_grid(out, path, nrow=steps)


def traverse_to_path(run_dir: Path, out: Path, inputs: list[str], index: int = 0, steps: int = 7,
                     span: float = 3.0, dims: list[int] | None = None) -> Path:
    """One row per code dimension: that dimension varied over ±span around the input's code."""
    from .tasks import generate

    model = load(run_dir)
    x = _pick_inputs(run_dir, model, inputs[:1], [index])
    scale = None if model.variational else generate.run_gmm(run_dir, model).std
    t = generate.traverse(model, x, steps=steps, span=span, scale=scale, dims=dims).numpy()
    return _save_grid(out, t.reshape(-1, *t.shape[2:]), nrow=steps)
