"""The tables behind :func:`aekit.data.series.read_series`: a file, a DataFrame or an array
read into named 1-D columns, and the parsing of those columns into numbers and times.

A delimited text file's delimiter is sniffed from its first lines (of ``,`` ``;`` tab ``|``,
the one in the header that most lines have as often; whitespace when none is there), and its first
row is a header when a field of it is text above a number in the second row, or when it is all
text (the rule of :mod:`aekit.data.tabular`). Empty fields and NA/NaN/null/? are gaps (NaN).
Rows are named in messages by their position among the data rows and their line in the file.
"""

from __future__ import annotations

import csv
import dataclasses
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import AekitError
from .tabular import MISSING, _is_number

DELIMITERS = (",", ";", "\t", "|")


@dataclasses.dataclass
class Table:
    """Columns read from one source: ``names``, 1-D ``cols`` of equal length (strings, numbers,
    datetimes or objects), ``rows(i)`` naming data row ``i`` in a message, and a DataFrame's
    datetime index (``index_time``) when it has one."""

    where: str
    names: list[str]
    cols: list[np.ndarray]
    rows: Callable[[int], str]
    index_time: np.ndarray | None = None


def _row_namer(lines: np.ndarray | None) -> Callable[[int], str]:
    return (lambda i: f"row {i}") if lines is None else (lambda i: f"row {i} (line {int(lines[i])})")


def _sniff(lines: list[str]) -> str | None:
    """The delimiter of the header line that most lines have as often (then the most of
    them); None: the fields are separated by whitespace."""
    best, score = None, (0.0, 0)
    for d in DELIMITERS:
        counts = [ln.count(d) for ln in lines]
        s = (sum(c == counts[0] for c in counts) / len(counts), counts[0])
        if counts[0] > 0 and s > score:
            best, score = d, s
    return best


def read_text(path: Path, head: int | None = None) -> Table:
    """A CSV / TSV / TXT file as string columns; ``head``: only its first ``head`` lines."""
    try:
        if head is None:
            text = path.read_text(encoding="utf-8-sig")
        else:
            with path.open(encoding="utf-8-sig") as f:
                text = "".join(line for _, line in zip(range(head), f))
    except UnicodeDecodeError:
        raise AekitError(f"{path}: not a text file (it is not UTF-8); pass a CSV/TSV/TXT table, .npy or .parquet") from None
    except OSError as e:
        raise AekitError(f"{path}: cannot read it ({e.strerror})") from None
    numbered = [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip()]
    if not numbered:
        raise AekitError(f"{path}: the file is empty (no rows); point read_series at a file with data in it")
    delim = "\t" if path.suffix.lower() == ".tsv" else _sniff([ln for _, ln in numbered[:5]])
    lines = [ln for _, ln in numbered]
    rows = [ln.split() for ln in lines] if delim is None else list(csv.reader(lines, delimiter=delim))
    first = rows[0]
    text_first = [not _is_number(c) for c in first]
    if len(rows) == 1:
        header = any(text_first)
    else:  # a text field above a number, or a row of text
        nums = [_is_number(c) for c in rows[1]]
        header = any(t and n for t, n in zip(text_first, nums)) or all(text_first)
    width = len(first)
    names = [c.strip() or str(j) for j, c in enumerate(first)] if header else [str(j) for j in range(width)]
    data, line_no = rows[1:] if header else rows, [n for n, _ in numbered[1 if header else 0:]]
    for r, n in zip(data, line_no):
        if len(r) != width:
            raise AekitError(f"{path}: line {n} has {len(r)} fields, the header has {width}; fix that row")
    if not data:
        raise AekitError(f"{path}: the file has a header but no data rows; add rows or point read_series elsewhere")
    block = np.asarray(data, dtype=str)  # (T, K)
    return Table(str(path), names, [block[:, j] for j in range(width)], _row_namer(np.asarray(line_no)))


def read_parquet(path: Path) -> Table:
    """A Parquet file's columns (needs pyarrow)."""
    from .tabular import parquet_table

    table = parquet_table(path)
    if table.num_columns == 0:
        raise AekitError(f"{path}: the file has no columns; point read_series at a file with data in it")
    cols = [np.asarray(table.column(j).to_numpy()) for j in range(table.num_columns)]
    return Table(str(path), [str(c) for c in table.column_names], cols, _row_namer(None))


def from_frame(where: str, df) -> Table:
    """A pandas DataFrame's columns, and its index when that holds datetimes."""
    if df.shape[1] == 0:
        raise AekitError(f"{where}: the DataFrame has no columns; pass one with the channels in it")
    cols = [np.asarray(df.iloc[:, j].to_numpy()) for j in range(df.shape[1])]
    index = np.asarray(df.index)
    return Table(where, [str(c) for c in df.columns], cols, _row_namer(None),
                 index_time=index if index.dtype.kind == "M" else None)


def from_arrays_table(where: str, arr: np.ndarray) -> Table:
    """An array (T,) or (T, C) as columns named "0", "1", …"""
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise AekitError(f"{where}: a series is (steps,) or (steps, channels), got shape {arr.shape}; "
                         "pass one array per machine in a list")
    if arr.shape[1] == 0:
        raise AekitError(f"{where}: the array has no channels (shape {arr.shape})")
    return Table(where, [str(j) for j in range(arr.shape[1])], [arr[:, j] for j in range(arr.shape[1])],
                 _row_namer(None))


def parse_floats(col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values with NaN at gaps, mask of entries that are not numbers)."""
    if col.dtype.kind in "biuf":
        return col.astype(np.float64), np.zeros(len(col), bool)
    s = col.astype(str)
    missing = np.isin(np.char.lower(np.char.strip(s)), list(MISSING))
    filled = np.where(missing, "nan", s)
    try:
        return filled.astype(np.float64), np.zeros(len(col), bool)
    except ValueError:
        out, bad = np.full(len(col), np.nan), np.zeros(len(col), bool)
        for i, t in enumerate(filled):
            try:
                out[i] = float(t)
            except ValueError:
                bad[i] = True
        return out, bad


def to_float(where: str, name: str, col: np.ndarray, rows: Callable[[int], str], strict: bool) -> tuple[np.ndarray | None, bool]:
    """(float64 channel with NaN at gaps, False), or (None, True) for a column holding no number
    at all when not ``strict`` (an id or note column, not a channel). A column mixing numbers and
    text, or an infinite value, is refused naming the first bad entry."""
    v, bad = parse_floats(col)
    if bad.any():
        if not strict and np.isnan(v).all():  # every entry text or a gap
            return None, True
        i = int(np.flatnonzero(bad)[0])
        raise AekitError(f"{where}: column {name!r} holds {str(col[i]).strip()!r} at {rows(i)}, not a number; "
                         "leave the column out with columns=[...] (--columns) or clean the file")
    inf = np.flatnonzero(np.isinf(v))
    if len(inf):
        i = int(inf[0])
        raise AekitError(f"{where}: column {name!r} holds {str(col[i]).strip()!r} at {rows(i)}, not a finite number; "
                         "clean the file or leave the column out with columns=[...]")
    return v, False


def time_values(col: np.ndarray) -> np.ndarray:
    """The time column as read: datetime64 where every entry parses, numbers if numeric, else the strings."""
    if col.dtype.kind in "biufMm":
        return col
    s = np.char.strip(col.astype(str))
    for dtype in (np.int64, np.float64, "datetime64"):
        try:
            with warnings.catch_warnings():  # numpy warns when parsing a timezone (it keeps UTC)
                warnings.simplefilter("ignore")
                return s.astype(dtype)
        except (ValueError, OverflowError):
            continue
    return s


def looks_like_dates(col: np.ndarray) -> bool:
    """True when a column holds datetimes, or text whose first entries parse as dates (not numbers)."""
    if col.dtype.kind == "M":
        return True
    if col.dtype.kind in "biufm":
        return False
    head = [t for t in np.char.strip(col[:20].astype(str)) if t.lower() not in MISSING][:5]
    if not head or any(_is_number(t) for t in head):
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            np.asarray(head).astype("datetime64")
        return True
    except ValueError:
        return False
