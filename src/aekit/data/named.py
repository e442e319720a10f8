"""What every named data set shares: the registry, where files are looked for, the offline
error, and the download attempt. :mod:`aekit.data.datasets` (grey-scale and small sets) and
:mod:`aekit.data.vision` (colour sets) both register through :func:`dataset`; neither
imports the other's definitions, so the two modules do not import each other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from ..errors import AekitError
from .bundle import Data
from .preprocess import Preprocessor

log = logging.getLogger("aekit.data")

DATASETS: dict[str, tuple[Callable[..., Data], str]] = {}
SCALE = Preprocessor("scale", factor=1.0 / 255.0)  # uint8 pixels → [0, 1]


def dataset(name: str, where: str):
    """Register ``fn(root, download, seed) -> Data`` as the data set ``name``; ``where`` says
    which files it reads (``aekit datasets`` prints it)."""
    def deco(fn):
        DATASETS[name] = (fn, where)
        return fn

    return deco


def find(root: Path, *names: str) -> Path | None:
    """The first of ``names`` (each also with .gz) in root, root/raw or a torchvision subfolder."""
    folders = [root, root / "raw", *[p for p in (root.glob("*/raw") if root.is_dir() else [])]]
    for folder in folders:
        for n in names:
            for suffix in ("", ".gz"):
                p = folder / (n + suffix)
                if p.is_file():
                    return p
    return None


def missing(name: str, files: str, root: Path, source: str) -> AekitError:
    return AekitError(
        f"{name}: {files} not found in {root}; put {source} there (or pass --data-root DIR holding it), "
        "or run once online without --no-download to fetch it"
    )


def try_download(name: str, fetch: Callable[[], object], download: bool) -> None:
    if not download:
        return
    try:
        log.info("%s: files not found; downloading", name)
        fetch()
    except Exception as e:  # offline, or a mirror is down: the caller's error names the files
        log.info("%s: download failed: %s", name, e)
