"""A user's file or folder → :class:`Data` (``--data PATH``).

The format comes from ``fmt`` or :func:`aekit.data.readers.detect_format`; features and
labels from its reader (the built-in ones are registered here, a user's own with
:func:`aekit.data.readers.register_reader`); then (:func:`from_arrays`, also for arrays a user holds) the checks (numbers,
shape, NaN/inf, label count), a train/test split — seeded and stratified when labels allow,
or ``chronological`` (the last ``test_size`` of the rows, in order) — and preprocessing fitted
on the training split only. A ``.npy`` larger than ``STREAM_BYTES`` (or any ``.npy`` with
``stream=True``) stays memory-mapped and is split by position, so both parts remain views of
the file, and training reads it in batches (:mod:`aekit.data.stream`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AekitError
from . import formats, images, readers, tabular
from .bundle import Data, check_array, check_labels, split_indices
from .preprocess import Preprocessor
from .readers import register_reader

log = logging.getLogger("aekit.data")

STREAM_BYTES = 1 << 30  # .npy files above 1 GiB are read from disk in batches
SPLITS = ("random", "chronological")


# -- the built-in readers (see aekit.data.readers for the contract) ------------------------------
def _sniff_text(tabs: bool):
    return lambda head: b"\0" not in head and (head.count(b"\t") > head.count(b",")) == tabs


@register_reader("idx", suffixes=(".idx", ".idx.gz", "-ubyte", "-ubyte.gz"), sniff=formats.looks_like_idx, builtin=True)
def _idx(path: Path, *, key, label_column, image_size, mmap):
    x = formats.read_idx(path)
    return (x[:, None] if x.ndim == 3 else x), None, {}  # (N, H, W) images → (N, 1, H, W)


@register_reader("npy", suffixes=(".npy",), sniff=lambda head: head.startswith(b"\x93NUMPY"), builtin=True)
def _npy(path: Path, *, key, label_column, image_size, mmap):
    side = path.with_suffix(".labels.npy")  # what `aekit convert` writes beside the features
    return formats.read_npy(path, mmap=mmap), formats.read_npy(side) if side.is_file() else None, {}


@register_reader("npz", suffixes=(".npz",), sniff=lambda head: head.startswith(b"PK"), builtin=True)
def _npz(path: Path, *, key, label_column, image_size, mmap):
    return (*formats.read_npz(path, key), {})


@register_reader("mat", suffixes=(".mat",), sniff=lambda head: head.startswith(b"MATLAB"), builtin=True)
def _mat(path: Path, *, key, label_column, image_size, mmap):
    return (*formats.read_mat(path, key), {})


@register_reader("hdf5", suffixes=(".h5", ".hdf5", ".hdf", ".he5"), sniff=lambda head: head.startswith(b"\x89HDF"), builtin=True)
def _hdf5(path: Path, *, key, label_column, image_size, mmap):
    return (*formats.read_hdf5(path, key), {})


# tables have always let --image-size pass unremarked; they keep doing so
@register_reader("parquet", suffixes=(".parquet", ".pq"), takes=("label_column", "image_size"),
                 sniff=lambda head: head.startswith(b"PAR1"), builtin=True)
def _parquet(path: Path, *, key, label_column, image_size, mmap):
    return tabular.read_parquet(path, label_column)


@register_reader("csv", suffixes=(".csv",), takes=("label_column", "image_size"), sniff=_sniff_text(False), builtin=True)
def _csv(path: Path, *, key, label_column, image_size, mmap):
    return tabular.read_csv(path, "csv", label_column)


@register_reader("tsv", suffixes=(".tsv", ".tab"), takes=("label_column", "image_size"), sniff=_sniff_text(True), builtin=True)
def _tsv(path: Path, *, key, label_column, image_size, mmap):
    return tabular.read_csv(path, "tsv", label_column)


@register_reader("images", takes=("image_size",), folder=True, builtin=True)
def _images(path: Path, *, key, label_column, image_size, mmap):
    return images.read_image_folder(path, image_size)


def read(path: str | Path, fmt: str | None = None, key: str | None = None, label_column: str | None = None,
         image_size: Any = None, mmap: bool = False) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """(features, labels or None, info) from ``path`` through the reader of its format
    (``fmt``, else :func:`aekit.data.readers.detect_format`)."""
    path = Path(path)
    if not path.exists():
        raise AekitError(f"--data: {path} not found; give an existing file or folder, or a data set name (aekit datasets)")
    reader = readers.get(fmt or readers.detect_format(path))
    fmt = reader.name
    if path.is_file() and path.stat().st_size == 0:
        raise AekitError(f"--data: {path} is empty (0 bytes); point --data at a file with data in it")
    if not reader.folder and path.is_dir():
        raise AekitError(f"--data: {path} is a folder; --format {fmt} reads a file")
    if label_column is not None and "label_column" not in reader.takes:
        raise AekitError(f"--label-column: applies to CSV/TSV/Parquet tables, not {fmt} files; {path} labels come from its 'y' array")
    if image_size is not None and "image_size" not in reader.takes:
        raise AekitError(f"--image-size: applies to image folders, not {fmt} files")
    out = reader.fn(path, key=key, label_column=label_column, image_size=image_size, mmap=mmap)
    if not (isinstance(out, tuple) and len(out) == 3 and isinstance(out[2], (dict, type(None)))):
        raise AekitError(f"{path}: the {fmt!r} reader returned {type(out).__name__}; a reader returns (x, y or None, info dict)")
    x, y, info = out
    info = dict(info or {})
    info["format"] = fmt
    return x, y, info


def load_file(path: str | Path, *, fmt: str | None = None, key: str | None = None, label_column: str | None = None,
              image_size: Any = None, preprocess: str = "auto", impute: str | None = None,
              binarize: str = "none", channel_norm: bool = False, channel_axis: int = 1, seed: int = 0,
              test_size: float = 0.2, stream: bool | None = None, split: str | None = None) -> Data:
    """Read, check, split and fit preprocessing: the one path every file takes (the part
    after reading is :func:`from_arrays`). A streamed file is split by position, whatever
    ``split`` says, so that both parts stay views of the file."""
    path = Path(path)
    fmt = fmt or (readers.detect_format(path) if path.exists() else None)
    if stream is None:
        stream = fmt == "npy" and path.is_file() and path.stat().st_size > STREAM_BYTES
    if stream and binarize == "static":
        raise AekitError("--binarize static: needs the data in memory; with --stream use dynamic or threshold")
    if stream and fmt != "npy":
        raise AekitError(f"--stream: reads .npy files from disk in batches; convert {path} first (aekit convert {path} {path.with_suffix('.npy').name})")
    if stream and split == "random":
        raise AekitError("split: a streamed file is split by position (the last rows are held out); "
                         "drop --stream, or shuffle the file's rows first")
    if label_column is None and fmt in ("csv", "tsv", "parquet") and path.is_file():
        label_column = tabular.label_column_of(path, fmt)  # as detect and embed find it
        if label_column is not None:
            log.info("%s: column %r holds the labels: kept out of training (evaluation only); pass --label-column "
                     "to choose another", path.name, label_column)
    x, y, info = read(path, fmt, key, label_column, image_size, mmap=bool(stream))
    chrono = "chronological" if stream else split
    info.update({
        "path": os.path.abspath(path),  # read again from any folder (evaluate, detect's threshold)
        # how to read it again: a streamed file splits by position, so a reload must stream too
        "source": {k: v for k, v in {"format": fmt, "key": key, "label_column": label_column,
                                     "image_size": image_size, "impute": impute,
                                     "stream": True if stream else None,
                                     "split": split if split == "chronological" else None}.items() if v is not None},
    })
    return from_arrays(x, y, name=str(path), fmt=fmt, preprocess=preprocess, impute=impute, binarize=binarize,
                       channel_norm=channel_norm, channel_axis=channel_axis, seed=seed, test_size=test_size,
                       split=chrono or "random", info=info)


def from_arrays(x: Any, y: Any = None, *, name: str = "array", fmt: str | None = None, preprocess: str = "auto",
                impute: str | None = None, binarize: str = "none", channel_norm: bool = False, channel_axis: int = 1,
                seed: int = 0, test_size: float = 0.2, split: str = "random", info: dict | None = None) -> Data:
    """Check, split and fit preprocessing on the training part only.

    ``split="random"``: a seeded split, stratified where the labels allow.
    ``split="chronological"``: rows are in time order; the first rows train and the last
    ``test_size`` of them test, never shuffled, and the trainer's validation hold-out is the
    last part of the training rows (:attr:`Data.chronological`). Series and windows of a
    series want this: a random split lets the model see the future it is tested on.
    ``preprocess="auto"``: 2-D float tables → minmax, uint8 → /255, other data as is."""
    if split not in SPLITS:
        raise AekitError(f"split: unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    x = check_array(x, where=name, finite=impute in (None, "none"))
    y = check_labels(y, len(x), where=f"{name} labels")
    n = len(x)
    if split == "chronological":  # slices: a memory map's parts stay views of the file
        n_test = int(round(test_size * n)) if test_size > 0 else 0
        if n_test >= n:
            raise AekitError(f"test_size: {test_size} leaves no training rows out of {n}")
        tr, te = slice(0, n - n_test), (slice(n - n_test, n) if n_test else None)
        desc = f"chronological: first {n - n_test} rows train, last {n_test} test"
    else:
        tr, te = split_indices(n, y, test_size, seed)
        te = te if len(te) else None
        desc = f"{1 - test_size:.0%}/{test_size:.0%}, seed {seed}" + (", stratified" if y is not None else "")
    x_tr = x[tr]
    if preprocess == "auto":
        tabular_float = x.ndim == 2 and np.issubdtype(x.dtype, np.floating) and fmt not in ("idx", "images")
        preprocess = "minmax" if tabular_float and binarize == "none" else "auto"  # [0, 1]: the default sigmoid output
        if preprocess == "auto" and fmt == "images":
            preprocess = "scale"
    pre = Preprocessor.fit(x_tr, preprocess, impute=impute, channel_norm=channel_norm, channel_axis=channel_axis,
                           binarize=binarize, seed=seed)
    info = {**(info or {}), "split": desc}
    return Data(
        x_train=x_tr, x_test=None if te is None else x[te],
        y_train=None if y is None else y[tr], y_test=None if y is None or te is None else y[te],
        name=name, preprocess=pre, info=info, chronological=split == "chronological",
    )
