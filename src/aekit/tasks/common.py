"""Helpers shared by the tasks: codes and reading data files (batched inference itself is
:mod:`aekit.data.batches`, re-exported here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data.batches import as_tensor, batched, chunk_rows, chunks
from ..data.bundle import SCORE_FIX, check_array
from ..data.tabular import LABEL_NAMES
from ..errors import AekitError

__all__ = ["LABEL_NAMES", "as_tensor", "batched", "chunk_rows", "chunks", "codes", "read_table"]


def codes(model, x, batch_size: int | None = None) -> torch.Tensor:
    """Deterministic codes (N, latent_dim): the posterior mean for variational models."""
    return batched(model.transform, x, batch_size)


def read_table(path: str | Path, mmap: bool = False, columns: list[str] | None = None, finite: bool = True,
               ) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """(features, labels or None, label names or None) of every sample in a file of any format
    ``aekit train`` reads (:func:`aekit.data.files.read`: .npy/.npz, CSV/TSV, Parquet, .mat,
    HDF5, IDX). A table column named ``y``, ``label`` or ``is_anomaly`` is taken as labels;
    text labels come back as 0..K-1 with their names. ``mmap``: a ``.npy`` file is opened as a
    read-only memory map instead of being read. ``columns``: the feature columns a run was
    trained on; a table with named columns gives them in that order (another order, or more
    columns, are fine; a missing one is refused in one line). ``finite=False`` lets NaN/inf
    through, for a run trained with ``--impute mean`` (its preprocessing fills them)."""
    from ..data import files, formats, tabular

    path = Path(path)
    if path.is_dir():
        raise AekitError(f"--data: {path} is a folder; give a data file (.npy, .npz, CSV, .mat …)")
    if not path.is_file():
        raise AekitError(f"--data: {path} not found; give an existing data file")
    fmt = formats.detect_format(path)
    label = tabular.label_column_of(path, fmt)
    x, y, info = files.read(path, fmt=fmt, label_column=label, mmap=mmap)
    x = check_array(x, where=str(path), finite=finite, fix=SCORE_FIX)  # a run applies to it
    if y is not None:
        y = np.asarray(y).ravel()
        if len(y) != len(x):
            raise AekitError(f"{path}: {len(y)} labels for {len(x)} samples; store one label per sample")
    if columns is not None and info.get("columns") is not None:
        x = _by_name(x, list(info["columns"]), list(columns), path)
    return x, y, info.get("classes")


def _by_name(x: np.ndarray, have: list[str], want: list[str], path: Path) -> np.ndarray:
    from ..data.tabular import pick_by_name

    def unnamed(cols):  # a table without a header: columns named by position
        return cols == [f"column {i}" for i in range(len(cols))]

    if unnamed(have) or unnamed(want):
        return x
    return pick_by_name(x, have, want, str(path), noun="column", whose="the run was trained on",
                        holder="the file", fix="name its columns as in training")
