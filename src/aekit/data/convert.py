"""``aekit convert SRC DST.npy``: any readable file → one ``.npy`` that training can memory-map.

CSV/TSV are streamed a chunk of rows at a time (memory stays at one chunk whatever the file
size); other formats are read whole and written once. Labels, when the source has them (a
``y`` array, an HDF5 ``target``, ``--label-column``), go to ``DST.labels.npy``, which
``--data DST.npy`` picks up again. Both files are written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import io
from ..errors import AekitError
from . import formats, tabular
from .files import read


def _save(path: Path, a: np.ndarray) -> None:
    with io.atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, a)


def convert(src: str | Path, dst: str | Path, fmt: str | None = None, key: str | None = None,
            label_column: str | None = None) -> tuple[int, int]:
    """Write ``src`` as ``dst`` (.npy); returns (rows, features per row)."""
    src, dst = Path(src), Path(dst)
    if dst.suffix != ".npy":
        raise AekitError(f"convert: the output {dst} must end in .npy")
    if not src.exists():
        raise AekitError(f"convert: {src} not found")
    fmt = fmt or formats.detect_format(src)
    if fmt in ("csv", "tsv"):
        return tabular.csv_to_npy(src, dst, fmt, label_column)
    x, y, _ = read(src, fmt, key, label_column)
    x = np.asarray(x)
    if x.ndim < 2 or len(x) == 0:
        raise AekitError(f"convert: {src} holds an array of shape {x.shape}; expected (n_samples, features…)")
    _save(dst, x if x.dtype == np.uint8 else x.astype(np.float32))
    if y is not None:
        _save(dst.with_suffix(".labels.npy"), np.asarray(y))
    return len(x), int(np.prod(x.shape[1:]))
