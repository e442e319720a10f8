"""Helpers shared by the tasks: codes and reading data files (batched inference itself is
:mod:`aekit.data.batches`, re-exported here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data.batches import as_tensor, batched, chunk_rows, chunks
from ..data.bundle import check_array
from ..errors import AekitError

__all__ = ["LABEL_NAMES", "as_tensor", "batched", "chunk_rows", "chunks", "codes", "read_table"]


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
