"""The ``.ts`` format of the UCR/UEA classification archives (sktime/aeon): :func:`read_ts`.

A file is comment lines (``#``), header lines (``@problemName``, ``@dimensions``,
``@equalLength``, ``@classLabel true 1 2`` …), ``@data``, then one case per line: its
dimensions separated by ``:``, each a ``,``-separated list of values (``?`` marks a gap), the
class label last::

    1.2,1.3,1.1:0.4,0.5,0.6:classA

Every case must have the same number of dimensions, and the dimensions of one case the same
length; cases may differ in length (JapaneseVowels). Timestamped files (``@timeStamps true``
with ``(time,value)`` entries) are refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import AekitError


def _header(line: str, tags: dict[str, str]) -> None:
    key, _, rest = line[1:].partition(" ")
    tags[key.strip().lower()] = rest.strip().lower()


def read_ts(path) -> tuple[np.ndarray | list[np.ndarray], np.ndarray]:
    """(X, y) from a ``.ts`` file: X is (n, T, C) float32 when every case has T steps, else a
    list of (T_i, C) float32 arrays; y is the n class labels as strings (an empty array when
    the file declares ``@classLabel false``). Gaps (``?``) are NaN."""
    path = Path(path)
    if path.is_dir():
        raise AekitError(f"{path}: is a folder; pass a .ts file in it, e.g. {path}/{path.name}_TRAIN.ts")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise AekitError(f"{path}: not a text file (it is not UTF-8); pass a .ts file of the UCR/UEA archive") from None
    except OSError as e:
        raise AekitError(f"{path}: cannot read it ({e.strerror}); check the path") from None
    tags: dict[str, str] = {}
    start = None
    for n, line in enumerate(lines):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if not s.startswith("@"):
            break
        if s.lower() == "@data":
            start = n + 1
            break
        _header(s, tags)
    if start is None:
        raise AekitError(f"{path}: no @data line; a .ts file is its @ header lines, then @data, then one case "
                         "per line")
    if tags.get("timestamps", "false").startswith("true"):
        raise AekitError(f"{path}: timestamped .ts files (@timeStamps true) are not read; export the series "
                         "without timestamps")
    labelled = tags.get("classlabel", "true").startswith("true") or tags.get("targetlabel", "false").startswith("true")
    want = int(tags["dimensions"]) if tags.get("dimensions", "").isdigit() else None
    xs: list[np.ndarray] = []
    ys: list[str] = []
    for n, line in enumerate(lines[start:], start + 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        parts = s.split(":")
        if labelled:
            *parts, label = parts
            ys.append(label.strip())
        want = len(parts) if want is None else want
        if len(parts) != want:
            raise AekitError(f"{path}: line {n} has {len(parts)} dimensions, the file has {want}; fix that case")
        dims = [_values(path, n, d, p) for d, p in enumerate(parts)]
        if len({len(d) for d in dims}) > 1:
            raise AekitError(f"{path}: line {n}: its dimensions have {sorted({len(d) for d in dims})} values; "
                             "every dimension of a case needs the same length")
        xs.append(np.stack(dims, axis=1))  # (T_i, C)
    if not xs:
        raise AekitError(f"{path}: no cases after @data; the file is truncated")
    y = np.asarray(ys, dtype=str)
    if len({len(x) for x in xs}) == 1:
        return np.stack(xs), y  # (n, T, C)
    return xs, y


def _values(path: Path, n: int, d: int, text: str) -> np.ndarray:
    fields = [f.strip() for f in text.split(",")]
    try:
        return np.asarray(["nan" if f == "?" else f for f in fields], dtype=np.float64).astype(np.float32)
    except ValueError:
        bad = next(f for f in fields if f != "?" and not _is_float(f))
        raise AekitError(f"{path}: line {n}: {bad!r} in dimension {d + 1} is not a number; fix the value "
                         "(a gap is written ?)") from None


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False
