"""Helpers shared by the tasks: batched inference and reading a run's data and input files."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from ..data.bundle import check_array
from ..errors import AekitError


def as_tensor(x) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def chunk_rows(model, batch_size: int | None = None) -> int:
    """``batch_size``, or the model's :meth:`~aekit.models.base.Autoencoder.inference_batch_size`."""
    if batch_size is not None:
        return batch_size
    pick = getattr(model, "inference_batch_size", None)
    return pick() if callable(pick) else 2048


@torch.inference_mode()
def batched(fn, x, batch_size: int | None = None) -> torch.Tensor:
    """``fn`` applied to consecutive batches of ``x`` (a tensor, an array or :class:`aekit.data.stream.Rows`;
    eval mode is the caller's job), on CPU. Batches are converted one at a time, so ``x`` is
    never copied whole. Without ``batch_size``, a model method's ``fn`` picks its model's
    chunk size (:func:`chunk_rows`)."""
    batch_size = chunk_rows(getattr(fn, "__self__", None), batch_size)
    n = len(x)
    if n == 0:
        raise AekitError("x: is empty (0 samples)")
    out = None
    for i in range(0, n, batch_size):
        r = fn(as_tensor(x[i:i + batch_size])).detach().cpu()
        if out is None:
            # one output allocated up front: keeping each batch's small result alive between the
            # batches' large temporaries fragmented the heap (+256 bytes per row scored, measured)
            out = torch.empty((n, *r.shape[1:]), dtype=r.dtype)
        out[i:i + len(r)] = r
    return out


def codes(model, x, batch_size: int | None = None) -> torch.Tensor:
    """Deterministic codes (N, latent_dim): the posterior mean for variational models."""
    return batched(model.transform, x, batch_size)


def read_table(path: str | Path, mmap: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Every sample of a ``.npy``, ``.npz`` (``X`` and optional ``y``) or numeric ``.csv``
    (optional header; a column named ``y``, ``label`` or ``is_anomaly`` is taken as labels).
    ``mmap``: a ``.npy`` file is opened as a read-only memory map instead of being read."""
    path = Path(path)
    if not path.is_file():
        raise AekitError(f"--data: {path} not found")
    y = None
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.reader(f) if r]
        if not rows:
            raise AekitError(f"{path}: empty CSV file")
        header = None
        try:
            [float(v) for v in rows[0]]
        except ValueError:
            header, rows = [h.strip() for h in rows[0]], rows[1:]
        try:
            arr = np.asarray(rows, dtype=np.float64)
        except ValueError:
            raise AekitError(f"{path}: non-numeric values; aekit reads numeric CSV tables only") from None
        if header is not None:
            lab = [i for i, h in enumerate(header) if h.lower() in ("y", "label", "is_anomaly")]
            if lab:
                y = arr[:, lab[0]]
                arr = np.delete(arr, lab[0], axis=1)
        x = arr
    elif path.suffix in (".npy", ".npz"):
        try:
            f = np.load(path, allow_pickle=False, mmap_mode="r" if mmap and path.suffix == ".npy" else None)
            if isinstance(f, np.ndarray):
                x = f
            else:
                with f:
                    keys = list(f.keys())
                    key = "X" if "X" in keys else next((k for k in keys if k != "y"), None)
                    if key is None:
                        raise AekitError(f"{path}: holds no feature array; name it 'X' (and labels 'y')")
                    x, y = f[key], (f["y"] if "y" in keys else None)
        except AekitError:
            raise
        except (ValueError, OSError, EOFError) as e:
            raise AekitError(f"{path}: not a readable .npy/.npz file ({e}); save plain numeric arrays") from None
    else:
        raise AekitError(f"--data: {path} is not a .npy, .npz or .csv file")
    x = check_array(x, where=str(path))
    if y is not None:
        y = np.asarray(y).ravel()
        if len(y) != len(x):
            raise AekitError(f"{path}: {len(y)} labels for {len(x)} samples; store one label per sample")
    return x, y
