"""Series: a time series read from a file, an array or a table into one checked (T, C) array.

:func:`read_series` turns a CSV/TSV/TXT (delimiter sniffed: SKAB's files are ``;``-separated),
Parquet or ``.npy`` file, a numpy array (T,) or (T, C), a pandas DataFrame, or a list of these
(many machines) into :class:`Series`: float32 values (T, C), optional 0/1 anomaly labels (T,)
for evaluation only, the time column as read, and the channel names. The time and label
columns are found by name (``time_column="auto"``, ``label_column="auto"``) and never become
channels; when a label column is found, a ``changepoint`` column (SKAB marks change points
beside its ``anomaly`` labels) is left out of the channels too, since it is label information.
A column holding no number at all (an id, a note) is not a channel by default.

A series that a model cannot learn from is refused with one line naming the file (or
``series`` for an array), the column and the fix: no rows, a non-numeric value in a channel,
a gap (empty or NaN; ``impute="ffill"``, ``"linear"`` or ``"drop"`` fills it), a constant
channel, fewer than 2 steps, labels other than 0/1, an unknown file type. Nothing is written.

:func:`auto_window` estimates the period of a series as TSB-AD does (a window length for
detectors), and :func:`read_ts` reads the ``.ts`` classification files of the UCR/UEA archive.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import numpy as np

from ..errors import AekitError, close_matches
from . import series_table as tables
from .tabular import MISSING
from .tsfile import read_ts

log = logging.getLogger("aekit.data")

TABULAR = (".csv", ".tsv", ".txt", ".parquet")  # files with named columns (a time column may be among them)
SUFFIXES = (*TABULAR, ".npy")
TIME_NAMES = ("time", "timestamp", "datetime", "date")
LABEL_NAMES = ("is_anomaly", "label", "labels", "anomaly", "outlier", "class")
ALSO_DROPPED = ("changepoint",)  # label information beside a label column: never a channel
IMPUTE = ("ffill", "linear", "drop")

__all__ = ["Series", "read_series", "auto_window", "read_ts", "SUFFIXES"]


@dataclasses.dataclass(repr=False)
class Series:
    """One series: ``values`` (T, C) float32 (C ≥ 1, finite), ``labels`` (T,) int8 0/1 anomaly
    labels or None — for evaluation only, never for training —, ``time`` (T,) the time column
    as read (datetime64 where it parses, else the raw values) or None, ``channels`` (C names),
    ``name`` (file stem or ``"series"``) and the ``path`` it came from. ``time_text``: the time
    column's text as written in the file, where it was parsed into datetime64 (which keeps UTC
    and its own format): what files written for the series (scores, events) carry."""

    values: np.ndarray
    labels: np.ndarray | None
    time: np.ndarray | None
    channels: list[str]
    name: str
    path: str | None = None
    time_text: np.ndarray | None = None

    def __post_init__(self):
        if getattr(self.values, "ndim", None) != 2:
            raise AekitError(f"{self.name}: Series values must be (steps, channels), got shape "
                             f"{getattr(self.values, 'shape', None)}")
        if len(self.channels) != self.values.shape[1]:
            raise AekitError(f"{self.name}: {len(self.channels)} channel names for {self.values.shape[1]} channels")
        for field in ("labels", "time", "time_text"):
            a = getattr(self, field)
            if a is not None and len(a) != len(self.values):
                raise AekitError(f"{self.name}: {field} has {len(a)} entries for {len(self.values)} steps")

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        t, c = self.values.shape
        lab = "" if self.labels is None else f", {int(self.labels.sum())} anomalous steps"
        return f"Series({self.name}: {t} steps × {c} channels{lab})"

    @property
    def stamps(self) -> np.ndarray | None:
        """The time stamps to write beside the steps: the file's text where there is one."""
        return self.time_text if self.time_text is not None else self.time

    def split(self, at: int) -> tuple[Series, Series]:
        """The first ``at`` steps and the rest, in time order (views of the same arrays)."""
        n = len(self)
        if not isinstance(at, (int, np.integer)) or not 0 < at < n:
            raise AekitError(f"{self.name}: split at {at!r}: give a step between 1 and {n - 1}")

        def part(s: slice) -> Series:
            return Series(self.values[s], None if self.labels is None else self.labels[s],
                          None if self.time is None else self.time[s], list(self.channels), self.name, self.path,
                          None if self.time_text is None else self.time_text[s])

        return part(slice(None, at)), part(slice(at, None))


def read_series(source, *, time_column: str | None = "auto", label_column: str | None = "auto",
                columns: list[str] | None = None, impute: str | None = None,
                name: str | list[str] | None = None, allow_constant: bool = False) -> Series | list[Series]:
    """A :class:`Series` from ``source`` (a path, an array, a DataFrame), or a list of them
    from a list/tuple of sources or a folder of series files (one per machine, sorted by name).

    ``time_column``: ``"auto"`` (a column named time/timestamp/datetime/date, any case, else
    the first column when it holds dates), ``None``, or a name. ``label_column``: ``"auto"``
    (is_anomaly/label/labels/anomaly/outlier/class), ``None``, or a name; with a label column a
    ``changepoint`` column is dropped too. ``columns``: the channel columns to keep (default:
    every other column holding numbers). ``impute``: None (gaps are an error), ``"ffill"``
    (carry the last value forward; a leading gap takes the first value), ``"linear"``
    (interpolate between neighbours; the ends hold the nearest value) or ``"drop"`` (drop the
    steps with a gap). ``name``: the series' name (a list of names for a list of sources).
    ``allow_constant``: take a constant channel (a series to score may be flat for a while);
    by default it is refused, since a model cannot learn from it.
    """
    if impute is not None and impute not in IMPUTE:
        raise AekitError(f"impute: unknown mode {impute!r}; choose one of {', '.join(IMPUTE)} (or None)")
    opts = dict(time_column=time_column, label_column=label_column, columns=columns, impute=impute,
                allow_constant=allow_constant)
    if isinstance(source, (list, tuple)):
        if not source:
            raise AekitError("source: an empty list; pass files, arrays or DataFrames")
        if all(isinstance(s, (int, float, np.number)) for s in source):
            raise AekitError("source: a list of numbers; pass np.asarray(values) for one series (a list is one "
                             "source per machine)")
        if name is not None and (isinstance(name, str) or len(name) != len(source)):
            raise AekitError(f"name: give one name per source ({len(source)}), got {name!r}")
        names = name or [None] * len(source)
        lone = [f"series {i}" for i in range(len(source))]
        return [_read_one(s, name=n, default=d, **opts) for s, n, d in zip(source, names, lone)]
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        return read_series(series_files(source), name=name, **opts)
    if name is not None and not isinstance(name, str):
        raise AekitError(f"name: one source takes one name (a string), got {name!r}")
    return _read_one(source, name=name, default="series", **opts)


def series_files(folder: str | os.PathLike) -> list[str]:
    """The series files of a folder (CSV, TSV, TXT, Parquet, .npy), sorted by name: one series
    per file, e.g. one per machine."""
    files = sorted(str(p) for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise AekitError(f"{folder}: the folder holds no series file ({', '.join(SUFFIXES)}); point at a series "
                         "file or a folder of them")
    return files


def date_column(path) -> str | None:
    """The column of a CSV/TSV/TXT or Parquet file that holds dates, found as :func:`read_series`
    finds its time column (a time/timestamp/datetime/date column, else the first column), or
    None. A column of numbers does not count, even when it is named time (a table may have a
    feature called so). Only the first lines of a text file are read. ``aekit train --data FILE``
    reads a file that has one as a series."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            table = _parquet_head(path, 20)
        elif suffix in TABULAR:
            table = tables.read_text(path, head=21)
        else:
            return None
    except Exception:  # noqa: BLE001 — unreadable here: the reader that takes the file says why
        return None
    if table is None:
        return None
    low = [n.strip().lower() for n in table.names]
    named = next((j for j, n in enumerate(low) if n in TIME_NAMES), None)
    for j in ([named] if named is not None else []) + [0]:
        if tables.looks_like_dates(table.cols[j]):
            return table.names[j]
    return None


def _parquet_head(path: Path, rows: int):
    """The first ``rows`` rows of a Parquet file as a table (None: empty), without reading the rest."""
    import pyarrow.parquet as pq

    batch = next(pq.ParquetFile(path).iter_batches(batch_size=rows), None)
    if batch is None or batch.num_columns == 0:
        return None
    cols = [np.asarray(c.to_numpy(zero_copy_only=False)) for c in batch.columns]
    return tables.Table(str(path), [str(n) for n in batch.schema.names], cols, lambda i: f"row {i}")


def _read_one(source, *, name, default, **opts) -> Series:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            raise AekitError(f"{path}: is a folder inside a list of sources; pass the folder itself, or its files")
        if not path.exists():
            raise AekitError(f"{path}: no such file; check the path")
        suffix = path.suffix.lower()
        if suffix not in SUFFIXES:
            raise AekitError(f"{path}: unsupported file type {suffix or '(none)'!r}; read_series reads "
                             f"{', '.join(SUFFIXES)} files")
        where = str(path)
        if suffix == ".npy":
            try:
                arr = np.load(path, allow_pickle=False)
            except (ValueError, OSError, EOFError) as e:
                raise AekitError(f"{path}: not a readable .npy file ({str(e).splitlines()[0]}); "
                                 "the file is truncated or holds objects") from None
            table = tables.from_arrays_table(where, arr)
        elif suffix == ".parquet":
            table = tables.read_parquet(path)
        else:
            table = tables.read_text(path)
        return _build(table, name=name or path.stem, path=str(path), **opts)
    where = name or default
    if hasattr(source, "columns") and hasattr(source, "iloc"):  # a pandas DataFrame, read without importing pandas
        table = tables.from_frame(where, source)
    elif isinstance(source, np.ndarray) or hasattr(source, "__array__"):
        table = tables.from_arrays_table(where, np.asarray(source))
    else:
        raise AekitError(f"source: cannot read a {type(source).__name__}; pass a path, a numpy array, "
                         "a DataFrame or a list of them")
    return _build(table, name=where, path=None, **opts)


def _column(where: str, names: list[str], wanted, arg: str) -> int:
    wanted = str(wanted)
    if wanted in names:
        return names.index(wanted)
    raise AekitError(f"{where}: {arg} {wanted!r} is not a column{close_matches(wanted, names)}; columns: "
                     f"{', '.join(names[:20])}{' …' if len(names) > 20 else ''}")


def _build(table, *, name, path, time_column, label_column, columns, impute, allow_constant=False) -> Series:
    """Pick the time, label and channel columns of a read table and run the checks."""
    where, names, cols, rows = table.where, table.names, table.cols, table.rows
    if len(cols[0]) == 0:
        raise AekitError(f"{where}: no rows; point read_series at a series with data in it")
    low = [n.strip().lower() for n in names]
    ti = li = None
    if time_column == "auto":
        ti = next((j for j, n in enumerate(low) if n in TIME_NAMES), None)
        if ti is None and tables.looks_like_dates(cols[0]):
            ti = 0
    elif time_column is not None:
        ti = _column(where, names, time_column, "time_column")
    if label_column == "auto":
        li = next((j for j, n in enumerate(low) if n in LABEL_NAMES and j != ti), None)
    elif label_column is not None:
        li = _column(where, names, label_column, "label_column")
    skip = {ti, li} | ({j for j, n in enumerate(low) if n in ALSO_DROPPED} if li is not None else set())
    if columns is not None:
        picked = [_column(where, names, c, "columns") for c in ([columns] if isinstance(columns, str) else columns)]
        for j, role, opt in ((li, "label", "label_column"), (ti, "time", "time_column")):
            if j is not None and j in picked:
                raise AekitError(f"{where}: columns names {names[j]!r}, the {role} column; leave it out, "
                                 f"or pass {opt}=None to read it as a channel")
    else:
        picked = [j for j in range(len(names)) if j not in skip]
    chans, vals = [], []
    for j in picked:
        v, text_only = tables.to_float(where, names[j], cols[j], rows, strict=columns is not None)
        if text_only:  # no number in it at all: an id or a note, not a channel
            log.debug("%s: column %r holds no numbers; not a channel", where, names[j])
            continue
        chans.append(names[j])
        vals.append(v)
    if not vals:
        raise AekitError(f"{where}: no numeric channel column (columns: {', '.join(names[:20])}); "
                         "pass columns=[...] naming the channels")
    x = np.column_stack(vals)  # (T, C) float64, NaN at gaps
    labels = None if li is None else _labels(where, names[li], cols[li], rows)
    time = None if ti is None else tables.time_values(cols[ti])
    time_text = None
    if time is not None and time.dtype.kind == "M" and cols[ti].dtype.kind in "USO":
        time_text = np.char.strip(cols[ti].astype(str))
    if time is not None and time.dtype.kind in "Mmiuf" and len(time) > 1:
        back = np.flatnonzero(time[1:] <= time[:-1])
        if len(back):  # kept in file order: windows follow the rows, and the scores line up with them
            i = int(back[0]) + 1
            log.warning("%s: the time column %r does not increase at %s (%d such steps); the series is read in "
                        "file order: sort the file by time if its rows are out of order", where, names[ti],
                        rows(i), len(back))
    if time is None and time_column == "auto" and table.index_time is not None:
        time = table.index_time
    x, keep = _fill_gaps(where, chans, x, rows, impute)
    if keep is not None:
        labels = None if labels is None else labels[keep]
        time = None if time is None else time[keep]
        time_text = None if time_text is None else time_text[keep]
    if len(x) < 2:
        raise AekitError(f"{where}: the series has {len(x)} step(s); a series needs at least 2 steps")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        c = int(np.flatnonzero(~np.isfinite(x).all(0))[0])
        raise AekitError(f"{where}: column {chans[c]!r} has values beyond float32's range; rescale it")
    flat = np.flatnonzero((x == x[0]).all(0))
    if len(flat) and not allow_constant:
        c = int(flat[0])
        rest = [ch for i, ch in enumerate(chans) if i not in set(flat.tolist())]
        fix = f"columns={rest!r}" if rest and len(rest) <= 10 else "columns=[...] without it"
        raise AekitError(f"{where}: channel {chans[c]!r} is constant ({x[0, c]:g} at every step) and carries "
                         f"nothing to learn; leave it out with {fix} (--columns)")
    return Series(x, labels, time, chans, name, path, time_text)


def _labels(where: str, col_name: str, col: np.ndarray, rows) -> np.ndarray:
    v, _ = tables.parse_floats(col)  # text and gaps (NaN) are neither 0 nor 1
    bad = np.flatnonzero(~((v == 0) | (v == 1)))
    if len(bad):
        i = int(bad[0])
        held = str(col[i]).strip()
        held = "a gap" if np.isnan(v[i]) and held.lower() in MISSING else repr(held)
        raise AekitError(f"{where}: label column {col_name!r} holds {held} at {rows(i)}; labels must be "
                         "0 (normal) or 1 (anomaly): fix the column or pass label_column=None")
    return v.astype(np.int8)


def _fill_gaps(where: str, chans: list[str], x: np.ndarray, rows, impute: str | None):
    """(x without NaN, kept rows or None): the gaps refused, or filled by ``impute``."""
    gap = np.isnan(x)
    if not gap.any():
        return x, None
    if impute is None:
        r, c = map(int, np.argwhere(gap)[0])
        raise AekitError(f"{where}: column {chans[c]!r} has a gap (empty or NaN) at {rows(r)} ({int(gap.sum())} "
                         "in all); fill it with impute='ffill', 'linear' or 'drop' (--impute)")
    if impute == "drop":
        keep = np.flatnonzero(~gap.any(1))
        return x[keep], keep
    empty = np.flatnonzero(gap.all(0))
    if len(empty):
        raise AekitError(f"{where}: column {chans[int(empty[0])]!r} has no values at all; leave it out with columns=[...]")
    t = np.arange(len(x))
    if impute == "linear":  # np.interp holds the first/last value beyond the ends
        return np.column_stack([np.interp(t, t[~g], x[~g, c]) for c, g in enumerate(gap.T)]), None
    last = np.maximum.accumulate(np.where(gap, 0, t[:, None]), axis=0)  # (T, C) row of the last value seen
    out = np.take_along_axis(x, last, axis=0)
    first = gap.argmin(0)  # first valid row per channel: a leading gap takes its value
    lead = t[:, None] < first[None, :]
    return np.where(lead, x[first, np.arange(x.shape[1])][None, :], out), None


def auto_window(values: np.ndarray, *, rank: int = 1, max_window: int = 300, default: int = 125) -> int:
    """The period of a series as TSB-AD estimates it for its window lengths.

    A port of ``find_length_rank`` in TSB-AD's ``TSB_AD/utils/slidingWindows.py``
    (github.com/TheDatumOrg/TSB-AD; Liu & Paparrizos, NeurIPS 2024), the same numbers without
    statsmodels or scipy: the autocorrelation (FFT, biased, demeaned) of the first ≤ 20,000
    points up to lag ``max_window + 100``; its strict local maxima at lags ≥ 4 (scipy's
    ``argrelextrema(acf[3:], np.greater)``); the highest (``rank=1``), or TSB-AD's rank-2/3
    rule (the highest peak at a longer lag than the first; rank 3 as TSB-AD's code indexes
    it); the lag when it lies in [6, max_window + 3], else ``default``. TSB-AD's constants are
    max_window 300 (ACF to lag 400) and default 125. A (T, C) series uses its first channel, as
    TSB-AD's multivariate runs do. A constant series has no peak: ``default``.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 2:
        x = x[:, 0]
    if x.ndim != 1 or len(x) == 0:
        raise AekitError(f"values: a series (T,) or (T, C) with steps in it, got shape {x.shape}")
    if rank not in (1, 2, 3):
        raise AekitError(f"rank: 1, 2 or 3 (the rank of the autocorrelation peak), got {rank!r}")
    base = 3
    x = x[:20000] - x[:20000].mean()
    n = len(x)
    nfft = 1 << (2 * n - 1).bit_length()  # ≥ 2n − 1: no circular wrap-around
    f = np.fft.rfft(x, nfft)
    acov = np.fft.irfft(f.real ** 2 + f.imag ** 2, nfft)[:n] / n
    with np.errstate(invalid="ignore", divide="ignore"):
        acf = (acov[:max_window + 100 + 1] / acov[0])[base:]
    peaks = np.flatnonzero((acf[1:-1] > acf[:-2]) & (acf[1:-1] > acf[2:])) + 1
    if len(peaks) == 0:
        return int(default)
    order = np.argsort(acf[peaks])[::-1]  # as TSB-AD: highest first
    pick = order[0]
    if rank >= 2:
        second = next((i for i in order[1:] if i > order[0]), None)
        if rank == 2 and second is not None:
            pick = second
        elif rank == 3:
            if second is None:  # TSB-AD: an unbound name, caught → its default
                return int(default)
            pick = next((i for i in order[second:] if i > order[second]), order[0]) if second < len(order) else order[0]
    lag = int(peaks[pick])
    return int(default) if lag < 3 or lag > max_window else lag + base
