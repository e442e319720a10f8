"""Helpers shared by the tasks: batched inference and reading a run's data and input files."""

from __future__ import annotations

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


def chunks(x, batch_size: int):
    """``(start, float32 tensor)`` for consecutive blocks of ``batch_size`` rows of ``x`` (a
    tensor, an array or :class:`aekit.data.stream.Rows`), converted one block at a time."""
    n = len(x)
    if n == 0:
        raise AekitError("x: is empty (0 samples)")
    for i in range(0, n, batch_size):
        yield i, as_tensor(x[i:i + batch_size])


@torch.inference_mode()
def batched(fn, x, batch_size: int | None = None) -> torch.Tensor:
    """``fn`` applied to consecutive batches of ``x`` (a tensor, an array or :class:`aekit.data.stream.Rows`;
    eval mode is the caller's job), on CPU. Batches are converted one at a time, so ``x`` is
    never copied whole. Without ``batch_size``, a model method's ``fn`` picks its model's
    chunk size (:func:`chunk_rows`)."""
    batch_size = chunk_rows(getattr(fn, "__self__", None), batch_size)
    out = None
    for i, xb in chunks(x, batch_size):
        r = fn(xb).detach().cpu()
        if out is None:
            # one output allocated up front: keeping each batch's small result alive between the
            # batches' large temporaries fragmented the heap (+256 bytes per row scored, measured)
            out = torch.empty((len(x), *r.shape[1:]), dtype=r.dtype)
        out[i:i + len(r)] = r
    return out


def codes(model, x, batch_size: int | None = None) -> torch.Tensor:
    """Deterministic codes (N, latent_dim): the posterior mean for variational models."""
    return batched(model.transform, x, batch_size)


LABEL_NAMES = ("y", "label", "is_anomaly")  # table columns read_table takes as labels by name


def read_table(path: str | Path, mmap: bool = False) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """(features, labels or None, label names or None) of every sample in a file of any format
    ``aekit train`` reads (:func:`aekit.data.files.read`: .npy/.npz, CSV/TSV, Parquet, .mat,
    HDF5, IDX). A table column named ``y``, ``label`` or ``is_anomaly`` is taken as labels;
    text labels come back as 0..K-1 with their names. ``mmap``: a ``.npy`` file is opened as a
    read-only memory map instead of being read."""
    from ..data import files, formats, tabular

    path = Path(path)
    if path.is_dir():
        raise AekitError(f"--data: {path} is a folder; give a data file (.npy, .npz, CSV, .mat …)")
    if not path.is_file():
        raise AekitError(f"--data: {path} not found; give an existing data file")
    fmt = formats.detect_format(path)
    names: list[str] = []
    if fmt in ("csv", "tsv"):
        names = tabular.read_header(path, fmt)[0] or []
    elif fmt == "parquet":
        try:
            import pyarrow.parquet as pq

            names = list(pq.read_schema(path).names)
        except Exception:  # no pyarrow / unreadable: files.read raises the clear error
            names = []
    label = next((n for n in names if n.lower() in LABEL_NAMES), None)
    x, y, info = files.read(path, fmt=fmt, label_column=label, mmap=mmap)
    x = check_array(x, where=str(path))
    if y is not None:
        y = np.asarray(y).ravel()
        if len(y) != len(x):
            raise AekitError(f"{path}: {len(y)} labels for {len(x)} samples; store one label per sample")
    return x, y, info.get("classes")
