"""A user's file or folder → :class:`Data` (``--data PATH``).

The format comes from ``fmt`` or :func:`aekit.data.formats.detect_format`; features and
labels from its reader; then the checks (numbers, shape, NaN/inf, label count), a seeded
train/test split (stratified when labels allow) and preprocessing fitted on the training
split only. A ``.npy`` larger than ``stream_bytes`` (or any ``.npy`` with ``stream=True``)
stays memory-mapped: the split is by position (the last ``test_size`` of the rows) so both
parts remain views of the file, and training reads it in batches (:mod:`aekit.data.stream`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AekitError
from . import formats, images, tabular
from .bundle import Data, check_array, check_labels, split_indices
from .preprocess import Preprocessor

STREAM_BYTES = 1 << 30  # .npy files above 1 GiB are read from disk in batches


def read(path: str | Path, fmt: str | None = None, key: str | None = None, label_column: str | None = None,
         image_size: Any = None, mmap: bool = False) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """(features, labels or None, info) from ``path`` in any supported format."""
    path = Path(path)
    if not path.exists():
        raise AekitError(f"--data: {path} not found; give an existing file or folder, or a data set name (aekit datasets)")
    fmt = fmt or formats.detect_format(path)
    if fmt not in formats.FORMATS:
        raise AekitError(f"--format: unknown format {fmt!r}; choose one of {', '.join(formats.FORMATS)}")
    if path.is_file() and path.stat().st_size == 0:
        raise AekitError(f"--data: {path} is empty (0 bytes); point --data at a file with data in it")
    if fmt != "images" and path.is_dir():
        raise AekitError(f"--data: {path} is a folder; --format {fmt} reads a file")
    info: dict[str, Any] = {}
    y = None
    if fmt == "idx":
        x = formats.read_idx(path)
        if x.ndim == 3:
            x = x[:, None]  # (N, H, W) images → (N, 1, H, W)
    elif fmt == "npy":
        x = formats.read_npy(path, mmap=mmap)
    elif fmt == "npz":
        x, y = formats.read_npz(path, key)
    elif fmt in ("csv", "tsv"):
        x, y, info = tabular.read_csv(path, fmt, label_column)
    elif fmt == "parquet":
        x, y, info = tabular.read_parquet(path, label_column)
    elif fmt == "mat":
        x, y = formats.read_mat(path, key)
    elif fmt == "hdf5":
        x, y = formats.read_hdf5(path, key)
    else:
        x, y, info = images.read_image_folder(path, image_size)
    if label_column is not None and fmt not in ("csv", "tsv", "parquet"):
        raise AekitError(f"--label-column: applies to CSV/TSV/Parquet tables, not {fmt} files; {path} labels come from its 'y' array")
    if fmt == "npy":
        side = path.with_suffix(".labels.npy")
        if side.is_file():
            y = formats.read_npy(side)
    if fmt not in ("images", "csv", "tsv", "parquet") and image_size is not None:
        raise AekitError(f"--image-size: applies to image folders, not {fmt} files")
    info["format"] = fmt
    return x, y, info


def load_file(path: str | Path, *, fmt: str | None = None, key: str | None = None, label_column: str | None = None,
              image_size: Any = None, preprocess: str = "auto", impute: str | None = None,
              binarize: str = "none", channel_norm: bool = False, seed: int = 0, test_size: float = 0.2,
              stream: bool | None = None) -> Data:
    """Read, check, split and fit preprocessing: the one path every file takes."""
    path = Path(path)
    fmt = fmt or (formats.detect_format(path) if path.exists() else None)
    if stream is None:
        stream = fmt == "npy" and path.is_file() and path.stat().st_size > STREAM_BYTES
    if stream and binarize == "static":
        raise AekitError("--binarize static: needs the data in memory; with --stream use dynamic or threshold")
    if stream and fmt != "npy":
        raise AekitError(f"--stream: reads .npy files from disk in batches; convert {path} first (aekit convert {path} {path.with_suffix('.npy').name})")
    x, y, info = read(path, fmt, key, label_column, image_size, mmap=bool(stream))
    where = str(path)
    x = check_array(x, where=where, finite=impute in (None, "none"))
    y = check_labels(y, len(x), where=f"{path} labels")
    if stream:
        n_test = int(round(test_size * len(x)))
        tr, te = slice(0, len(x) - n_test), slice(len(x) - n_test, len(x))
        split = f"by position: first {len(x) - n_test} rows train, last {n_test} test"
    else:
        tr, te = split_indices(len(x), y, test_size, seed)
        te = te if len(te) else None
        split = f"{1 - test_size:.0%}/{test_size:.0%}, seed {seed}" + (", stratified" if y is not None else "")
    x_tr = x[tr]
    if preprocess == "auto":
        tabular_float = x.ndim == 2 and np.issubdtype(x.dtype, np.floating) and fmt not in ("idx", "images")
        preprocess = "minmax" if tabular_float and binarize == "none" else "auto"  # [0, 1]: the default sigmoid output
        if preprocess == "auto" and fmt == "images":
            preprocess = "scale"
    pre = Preprocessor.fit(x_tr, preprocess, impute=impute, channel_norm=channel_norm, binarize=binarize, seed=seed)
    has_test = te is not None and (isinstance(te, slice) and te.stop > te.start or not isinstance(te, slice))
    info.update({
        "path": str(path), "split": split,
        # how to read it again: a streamed file splits by position, so a reload must stream too
        "source": {k: v for k, v in {"format": fmt, "key": key, "label_column": label_column,
                                     "image_size": image_size, "impute": impute,
                                     "stream": True if stream else None}.items() if v is not None},
    })
    return Data(
        x_train=x_tr, x_test=x[te] if has_test else None,
        y_train=None if y is None else y[tr], y_test=None if y is None or not has_test else y[te],
        name=str(path), preprocess=pre, info=info,
    )
