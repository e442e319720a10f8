"""File readers. Each returns numpy arrays and raises a one-line :class:`AekitError` naming
the file for anything it cannot read.

Binary array formats live here (IDX, ``.npy``/``.npz``, MATLAB ``.mat`` v5 and v7.3, HDF5);
text tables and Parquet in :mod:`aekit.data.tabular`, image folders in :mod:`aekit.data.images`.
Which reader reads a file is decided by the registry in :mod:`aekit.data.readers`
(:func:`detect_format`: by extension, then by the file's first bytes).
"""

from __future__ import annotations

import gzip
import struct
import zipfile
from pathlib import Path

import numpy as np

from ..errors import AekitError, close_matches
from .readers import detect_format  # noqa: F401  (kept importable from here)

_IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def looks_like_idx(head: bytes) -> bool:
    """True for gzip data or an IDX header (two zero bytes, then a known type code)."""
    return head[:2] == b"\x1f\x8b" or (len(head) >= 4 and head[0] == 0 and head[1] == 0 and head[2] in _IDX_DTYPES)


# -- IDX -------------------------------------------------------------------------------------------
def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (LeCun's MNIST format), raw or gzip-compressed."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise AekitError(f"{path}: cannot read IDX file ({e}); the file is truncated or corrupt: re-download it") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise AekitError(f"{path}: not an IDX file (bad magic number); expected MNIST-style IDX data")
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise AekitError(f"{path}: truncated IDX header; re-download the file")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    n = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != n:
        raise AekitError(
            f"{path}: IDX header promises {n} bytes of data for shape {dims}, file has {len(raw) - header}; "
            "the file is truncated or corrupt: re-download it"
        )
    arr = np.frombuffer(raw, dtype=dtype, count=int(np.prod(dims)), offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | Path, x: np.ndarray) -> None:
    """Write ``x`` as IDX (gzip when the name ends in ``.gz``), e.g. for tests and exports."""
    codes = {np.dtype(v).newbyteorder("=") if np.dtype(v).itemsize > 1 else np.dtype(v): k for k, v in _IDX_DTYPES.items()}
    x = np.asarray(x)
    code = codes.get(x.dtype)
    if code is None:
        raise AekitError(f"{path}: IDX cannot store dtype {x.dtype}")
    big = x.astype(np.dtype(_IDX_DTYPES[code]), copy=False)
    raw = bytes([0, 0, code, x.ndim]) + struct.pack(f">{x.ndim}I", *x.shape) + big.tobytes()
    Path(path).write_bytes(gzip.compress(raw) if str(path).endswith(".gz") else raw)


# -- NumPy -----------------------------------------------------------------------------------------
def _np_error(path: Path, e: Exception) -> AekitError:
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError:
        head = b""
    if head[:6] != b"\x93NUMPY" and head[:2] != b"PK":  # neither a .npy header nor a zip (.npz)
        return AekitError(f"{path}: not a NumPy file (no .npy header: a text or other file under a NumPy name?); "
                          "check the file, or give it its format's extension")
    if "pickle" in str(e).lower():
        return AekitError(f"{path}: holds pickled objects, which aekit never loads; save plain numeric arrays")
    return AekitError(f"{path}: not a readable .npy/.npz file ({e}); the file is truncated or corrupt: write it again")


def read_npy(path: str | Path, mmap: bool = False) -> np.ndarray:
    """A ``.npy`` array; memory-mapped (read-only, nothing loaded) with ``mmap=True``."""
    path = Path(path)
    try:
        x = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise _np_error(path, e) from None
    if not isinstance(x, np.ndarray):
        raise AekitError(f"{path}: is an .npz archive, not an .npy array; pass --format npz")
    return x


def read_npz(path: str | Path, key: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(features, labels or None): ``key`` if given, else ``X`` or the only non-``y`` array."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            if isinstance(f, np.ndarray):
                return f, None
            keys = list(f.keys())
            if key is not None:
                if key not in keys:
                    raise AekitError(f"{path}: --key {key!r} not in the archive{close_matches(key, keys)}; its arrays: {', '.join(keys)}")
            elif "X" in keys:
                key = "X"
            elif len([k for k in keys if k != "y"]) == 1:
                key = next(k for k in keys if k != "y")
            else:
                raise AekitError(f"{path}: holds arrays {', '.join(keys) or '(none)'}; choose the features with --key NAME")
            x = f[key]
            y = f["y"] if "y" in keys and key != "y" else None
            return x, y
    except AekitError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise _np_error(path, e) from None


# -- MATLAB and HDF5 -------------------------------------------------------------------------------
def _pick_key(path: Path, keys: list[str], key: str | None, flag: str = "--key") -> str:
    if key is not None:
        if key not in keys:
            raise AekitError(f"{path}: {flag} {key!r} not found{close_matches(key, keys)}; it holds: {', '.join(keys)}")
        return key
    if "X" in keys:
        return "X"
    rest = [k for k in keys if k not in ("y", "Y")]
    if len(rest) == 1:
        return rest[0]
    raise AekitError(f"{path}: holds {', '.join(keys) or 'no arrays'}; choose the features with {flag} NAME")


def _labels_1d(y: np.ndarray | None) -> np.ndarray | None:
    if y is None:
        return None
    y = np.asarray(y)
    return y.reshape(-1) if y.ndim == 2 and 1 in y.shape else y


def is_mat73(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(128)
    return head.startswith(b"MATLAB 7.3")


def read_mat(path: str | Path, key: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(features, labels or None) from a MATLAB file: v5 through scipy, v7.3 (HDF5) through
    h5py. MATLAB is column-major, so v7.3 arrays arrive transposed; they are turned back."""
    path = Path(path)
    try:
        if is_mat73(path):
            import h5py

            with h5py.File(path, "r") as f:
                keys = [k for k in f.keys() if isinstance(f[k], h5py.Dataset) and not k.startswith("#")]
                k = _pick_key(path, keys, key)
                x = f[k][()].T
                yk = next((c for c in ("y", "Y") if c in keys and c != k), None)
                y = f[yk][()].T if yk else None
            return x, _labels_1d(y)
        import scipy.io

        m = scipy.io.loadmat(path)
    except AekitError:
        raise
    except OSError as e:
        raise AekitError(f"{path}: cannot read this MATLAB file ({e}); the file is truncated or corrupt") from None
    except Exception as e:  # scipy raises ValueError / TypeError / MatReadError on corrupt data
        raise AekitError(f"{path}: not a readable MATLAB .mat file ({str(e).splitlines()[0]}); the file is truncated or corrupt") from None
    keys = [k for k in m if not k.startswith("__")]
    k = _pick_key(path, keys, key)
    yk = next((c for c in ("y", "Y") if c in keys and c != k), None)
    return m[k], _labels_1d(m[yk]) if yk else None


LABEL_NAMES = ("y", "target", "targets", "label", "labels")


def read_hdf5(path: str | Path, key: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(features, labels or None) from the HDF5 dataset at path ``key`` (e.g. ``train/data``);
    without ``key`` the file's only dataset, or ``X``/``data``. Labels: a sibling dataset named
    ``y``/``target``/``label(s)`` of the same length."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            found: list[str] = []
            f.visititems(lambda n, o: found.append(n) if isinstance(o, h5py.Dataset) else None)
            if key is None:
                feats = [n for n in found if n.rsplit("/", 1)[-1] not in LABEL_NAMES]
                named = [n for n in feats if n.rsplit("/", 1)[-1] in ("X", "data")]
                if len(feats) == 1:
                    key = feats[0]
                elif len(named) == 1:
                    key = named[0]
                else:
                    raise AekitError(f"{path}: holds datasets {', '.join(found) or '(none)'}; choose one with --key PATH")
            key = key.strip("/")
            if key not in found:
                raise AekitError(f"{path}: no dataset at --key {key!r}{close_matches(key, found)}; it holds: {', '.join(found)}")
            x = f[key][()]
            parent = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
            y = None
            for lab in LABEL_NAMES:
                if parent + lab in found and parent + lab != key:
                    cand = f[parent + lab][()]
                    if len(cand) == len(x):
                        y = cand
                        break
            return x, _labels_1d(y)
    except AekitError:
        raise
    except (OSError, KeyError, ValueError) as e:
        raise AekitError(f"{path}: not a readable HDF5 file ({str(e).splitlines()[0]}); the file is truncated or corrupt") from None
