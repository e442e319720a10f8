"""Tables: CSV / TSV (Python's ``csv``, no pandas) and Parquet (``pyarrow``, optional).

A table becomes a float matrix (n_rows, n_features) of its numeric columns plus, when
``label_column`` names one, a label vector (numbers, or class names mapped to 0..K-1).
A header row is detected: the first row is a header when one of its fields is text above a
number in the second row, or when it is all text above a row with numbers. Empty fields and ``NA``/``NaN`` are missing
values (NaN), refused later unless ``--impute mean`` is given. A column with text in it is
refused with its name: aekit does not guess an encoding for categories.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import AekitError, close_matches

MISSING = {"", "na", "nan", "n/a", "null", "none", "?"}


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return s.strip().lower() in MISSING


def _delimiter(path: Path, fmt: str | None) -> str:
    if fmt == "tsv" or path.suffix.lower() in (".tsv", ".tab"):
        return "\t"
    if fmt == "csv" or path.suffix.lower() == ".csv":
        return ","
    with open(path, encoding="utf-8", errors="replace") as f:
        head = f.read(4096)
    return "\t" if head.count("\t") > head.count(",") else ","


@contextlib.contextmanager
def _open(path: Path) -> Iterator:
    """The table as UTF-8 text; bytes that are not text end in one line naming the file."""
    try:
        f = open(path, newline="", encoding="utf-8-sig")
    except OSError as e:
        raise AekitError(f"--data: cannot read {path} ({e.strerror})") from None
    with f:
        try:
            yield f
        except UnicodeDecodeError as e:
            raise AekitError(f"{path}: not a text table (byte {e.start} is not UTF-8 text: a binary file, such as a "
                             ".npy, under a table's name?); check the file, or give it its format's extension") from None


LABEL_NAMES = ("y", "label", "is_anomaly")  # a table column of one of these names holds labels


def pick_by_name(x: np.ndarray, have: list[str], want: list[str], where: str, *, noun: str, whose: str,
                 holder: str, fix: str) -> np.ndarray:
    """``x``'s columns named ``want`` (``have``: the names of its columns), in that order: its
    columns may come in another order or with more of them; a missing one is one line naming
    ``where``, the column, ``whose`` names were wanted, what the ``holder`` has, and the ``fix``."""
    if have == want:
        return x
    missing = [c for c in want if c not in have]
    if missing:
        raise AekitError(f"{where}: no {noun} {missing[0]!r}{close_matches(missing[0], have)}; {whose} "
                         f"{', '.join(want[:20])} and {holder} has {', '.join(have[:20])}: {fix}")
    return np.asarray(x)[:, [have.index(c) for c in want]]


def label_column_of(path: Path, fmt: str) -> str | None:
    """The column of a CSV/TSV/Parquet table named as labels (:data:`LABEL_NAMES`, any
    case), or None: what training and scoring keep out of the features when no
    ``--label-column`` is given."""
    names: list[str] = []
    if fmt in ("csv", "tsv"):
        try:
            names = read_header(path, fmt)[0] or []
        except AekitError:  # empty or unreadable: the reader says so in its own words
            names = []
    elif fmt == "parquet":
        try:
            import pyarrow.parquet as pq

            names = list(pq.read_schema(path).names)
        except Exception:  # noqa: BLE001 — no pyarrow / unreadable: the reader raises the clear error
            names = []
    return next((n for n in names if n.strip().lower() in LABEL_NAMES), None)


def read_header(path: Path, fmt: str | None = None) -> tuple[list[str] | None, int, str]:
    """(column names or None, number of columns, delimiter) from the first two rows."""
    delim = _delimiter(path, fmt)
    with _open(path) as f:
        rows = []
        for row in csv.reader(f, delimiter=delim):
            if row and any(c.strip() for c in row):
                rows.append(row)
            if len(rows) == 2:
                break
    if not rows:
        raise AekitError(f"{path}: the table is empty (no rows); point --data at a file with data in it")
    first = rows[0]
    text = [not _is_number(c) for c in first]
    if len(rows) == 1:
        header = any(text)
    else:  # a text field above a number, or a row of text above a row with numbers
        nums = [_is_number(c) for c in rows[1]]
        header = any(t and n for t, n in zip(text, nums)) or (all(text) and any(nums))
    names = [c.strip() for c in first] if header else None
    return names, len(first), delim


def iter_rows(path: Path, fmt: str | None = None, chunk_rows: int = 65536) -> Iterator[tuple[int, list[list[str]]]]:
    """Chunks ``(first line number, rows)`` of the data rows (header skipped)."""
    names, width, delim = read_header(path, fmt)
    with _open(path) as f:
        reader = csv.reader(f, delimiter=delim)
        chunk: list[list[str]] = []
        start = 0
        skipped = names is None
        for row in reader:
            if not row or not any(c.strip() for c in row):
                continue
            if not skipped:
                skipped = True
                continue
            if len(row) != width:
                raise AekitError(
                    f"{path}: line {reader.line_num} has {len(row)} fields, the table has {width}; fix that row"
                )
            chunk.append(row)
            if len(chunk) == chunk_rows:
                yield start, chunk
                start += len(chunk)
                chunk = []
        if chunk:
            yield start, chunk


def _columns(names: list[str] | None, width: int) -> list[str]:
    return names if names is not None else [f"column {i}" for i in range(width)]


def label_index(path: Path, names: list[str] | None, width: int, label_column: str | None) -> int | None:
    if label_column is None:
        return None
    cols = _columns(names, width)
    if label_column in cols:
        return cols.index(label_column)
    if names is None and label_column.lstrip("-").isdigit():
        i = int(label_column)
        if -width <= i < width:
            return i % width
    raise AekitError(
        f"{path}: --label-column {label_column!r} is not a column{close_matches(label_column, cols)}; "
        f"columns: {', '.join(cols[:20])}{' …' if len(cols) > 20 else ''}"
    )


def to_float(path: Path, block: np.ndarray, cols: list[str]) -> np.ndarray:
    """String block (rows, cols) → float64, refusing text columns by name."""
    low = np.char.lower(np.char.strip(block))
    missing = np.isin(low, list(MISSING))
    filled = np.where(missing, "nan", block)
    try:
        return filled.astype(np.float64)
    except ValueError:
        bad = []
        for j in range(block.shape[1]):
            try:
                filled[:, j].astype(np.float64)
            except ValueError:
                bad.append(cols[j])
        raise AekitError(
            f"{path}: non-numeric column(s) {', '.join(repr(b) for b in bad)}; drop them, encode them as numbers, "
            "or name the label column with --label-column"
        ) from None


def encode_labels(raw: np.ndarray) -> tuple[np.ndarray, list[str] | None]:
    """Numeric labels as int64 (or float when fractional); text labels → 0..K-1 with the names."""
    try:
        v = raw.astype(np.float64)
        return (v.astype(np.int64) if np.all(v == np.round(v)) else v), None
    except ValueError:
        classes, codes = np.unique(raw, return_inverse=True)
        return codes.astype(np.int64), [str(c) for c in classes]


def read_csv(path: str | Path, fmt: str | None = None, label_column: str | None = None):
    """(x float64 (n, d), y or None, info) from a CSV/TSV file."""
    path = Path(path)
    names, width, _ = read_header(path, fmt)
    cols = _columns(names, width)
    li = label_index(path, names, width, label_column)
    feat = [j for j in range(width) if j != li]
    xs, ys = [], []
    for _, rows in iter_rows(path, fmt):
        block = np.asarray(rows, dtype=str)
        xs.append(to_float(path, block[:, feat], [cols[j] for j in feat]))
        if li is not None:
            ys.append(block[:, li])
    if not xs:
        raise AekitError(f"{path}: the table has a header but no data rows; add rows or point --data elsewhere")
    y, classes = encode_labels(np.concatenate(ys)) if li is not None else (None, None)
    info = {"columns": [cols[j] for j in feat]}
    if classes:
        info["classes"] = classes
    return np.concatenate(xs), y, info


def parquet_table(path: str | Path):
    """A Parquet file as a ``pyarrow.Table`` (needs ``pyarrow``); one-line errors for a missing
    pyarrow and an unreadable file."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise AekitError(f"{path}: reading Parquet needs pyarrow; pip install 'aekit[parquet]'") from None
    try:
        return pq.read_table(path)
    except Exception as e:  # pyarrow raises ArrowInvalid / OSError on corrupt files
        raise AekitError(f"{path}: not a readable Parquet file ({str(e).splitlines()[0]}); the file is truncated or corrupt") from None


def read_parquet(path: str | Path, label_column: str | None = None):
    """(x float64 (n, d), y or None, info) from a Parquet file (needs ``pyarrow``)."""
    path = Path(path)
    table = parquet_table(path)
    cols = list(table.column_names)
    if table.num_rows == 0:
        raise AekitError(f"{path}: the table is empty (no rows); point --data at a file with data in it")
    if label_column is not None and label_column not in cols:
        raise AekitError(f"{path}: --label-column {label_column!r} is not a column{close_matches(label_column, cols)}; columns: {', '.join(cols[:20])}")
    feats = [c for c in cols if c != label_column]
    import pyarrow.types as pt

    bad = [c for c in feats if not (pt.is_integer(table[c].type) or pt.is_floating(table[c].type) or pt.is_boolean(table[c].type))]
    if bad:
        raise AekitError(
            f"{path}: non-numeric column(s) {', '.join(repr(b) for b in bad)}; drop them, encode them as numbers, "
            "or name the label column with --label-column"
        )
    x = np.column_stack([table[c].to_numpy(zero_copy_only=False).astype(np.float64) for c in feats])
    y, classes = (None, None)
    if label_column is not None:
        y, classes = encode_labels(np.asarray(table[label_column].to_numpy(zero_copy_only=False)).astype(str))
    info = {"columns": feats}
    if classes:
        info["classes"] = classes
    return x, y, info


def csv_to_npy(src: str | Path, dst: str | Path, fmt: str | None = None, label_column: str | None = None,
               chunk_rows: int = 65536) -> tuple[int, int]:
    """Stream a CSV/TSV into a float32 ``.npy`` (labels, if named, into ``<dst>.labels.npy``)
    a chunk at a time: memory stays at one chunk whatever the file's size."""
    from .. import io

    src, dst = Path(src), Path(dst)
    names, width, _ = read_header(src, fmt)
    cols = _columns(names, width)
    li = label_index(src, names, width, label_column)
    feat = [j for j in range(width) if j != li]
    n = sum(len(rows) for _, rows in iter_rows(src, fmt, chunk_rows))
    if n == 0:
        raise AekitError(f"{src}: the table has a header but no data rows; nothing to convert")
    ys = []
    with io.atomic_path(dst) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, len(feat)))
        for start, rows in iter_rows(src, fmt, chunk_rows):
            block = np.asarray(rows, dtype=str)
            out[start:start + len(rows)] = to_float(src, block[:, feat], [cols[j] for j in feat])
            if li is not None:
                ys.append(block[:, li])
        out.flush()
        del out
    if ys:
        y, _ = encode_labels(np.concatenate(ys))
        with io.atomic_path(dst.with_suffix(".labels.npy")) as tmp, open(tmp, "wb") as f:
            np.save(f, y)
    return n, len(feat)
