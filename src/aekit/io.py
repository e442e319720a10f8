"""Atomic file writes and safe loading.

Every file aekit writes goes to a temporary name in the same folder and is renamed into
place (``os.replace`` is atomic on POSIX and Windows), so a kill at any moment leaves either
the old file or the new one, never a broken one.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import AekitError


def _file_mode() -> int:
    """The permissions ``open(path, "w")`` would give a new file: 0o666 less the umask.
    (``tempfile.mkstemp`` creates its file 0o600, which would leave every run file readable by
    its owner alone.) Linux reports the umask in /proc/self/status; elsewhere it is read by
    setting it, which leaves it 0 for an instant (another thread creating a file then gets
    0o666)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success. The file
    gets the permissions a plain ``open(path, "w")`` would give it."""
    path = Path(path)
    if path.is_dir():
        raise AekitError(f"{path}: is a folder; give the name of a file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    with contextlib.suppress(OSError):  # a file system without permissions (e.g. some mounts)
        os.chmod(tmp, _file_mode())
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def make_folder(path: str | os.PathLike, arg: str = "--out") -> Path:
    """``path`` as a folder to write files into, created if need be; a file there is refused
    in one line (``arg`` names the option)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise AekitError(f"{arg}: {path} is a file; a folder of inputs is written to a folder: give a folder name")
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.is_file():
        raise AekitError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AekitError(
            f"{path}: not valid JSON ({e}); restore the file or retrain the run"
        ) from None


def write_csv(path: str | os.PathLike, rows: Iterable[dict[str, Any]], fieldnames: list[str] | None = None) -> None:
    """Rows of dicts as CSV, atomically. Without ``fieldnames`` the columns are every key in
    order of appearance (``rows`` is then read twice); with them, ``rows`` may be a generator
    and is written as it comes (a few million rows without holding them)."""
    if fieldnames is None:
        rows = list(rows)
        keys: list[str] = []
        for r in rows:
            for k in r:
                if k not in keys:
                    keys.append(k)
    else:
        keys = list(fieldnames)
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow(r)


def save_tensors(path: str | os.PathLike, tensors: dict, metadata: dict | None = None) -> None:
    from safetensors.torch import save

    # safetensors refuses shared or non-contiguous storage; clone makes each tensor its own
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    # serialize to bytes and write them through atomic_path ourselves: safetensors' save_file
    # keeps a temporary file of its own beside the target, which a kill would leave behind
    blob = save(tensors, metadata=metadata)
    with atomic_path(path) as tmp:
        tmp.write_bytes(blob)


def load_tensors(path: str | os.PathLike) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise AekitError(f"{path}: file not found; a saved model has config.json and model.safetensors")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise AekitError(
            f"{path}: not a readable safetensors file ({str(e).splitlines()[0]}); "
            "it is truncated or corrupted: restore it or retrain"
        ) from None
