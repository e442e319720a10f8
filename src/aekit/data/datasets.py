"""Data sets by name: each defines its shape, value range and train/test split once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import AekitError, unknown_name
from .bundle import Data
from .formats import read_idx
from .preprocess import Preprocessor

log = logging.getLogger("aekit.data")

DATASETS: dict[str, tuple[Callable[..., Data], str]] = {}


def dataset(name: str, where: str):
    def deco(fn):
        DATASETS[name] = (fn, where)
        return fn

    return deco


def names() -> list[str]:
    return list(DATASETS)


def describe() -> list[tuple[str, str]]:
    """(name, where it looks for its files) for every named data set."""
    return [(n, w) for n, (_, w) in DATASETS.items()]


def load(name: str, root: str | Path | None = None, download: bool = True, seed: int = 0) -> Data:
    """Load a named data set. ``root`` is the folder holding its files (where needed)."""
    if name not in DATASETS:
        raise unknown_name("dataset", name, DATASETS)
    fn, _ = DATASETS[name]
    return fn(root=root, download=download, seed=seed)


@dataset("digits", "bundled with scikit-learn (offline): 1797 8×8 images, 16 grey levels")
def _digits(root=None, download=True, seed=0) -> Data:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = d.images.astype(np.float32)[:, None, :, :] / 16.0  # (1797, 1, 8, 8) in [0, 1]
    x_tr, x_te, y_tr, y_te = train_test_split(x, d.target, test_size=0.2, random_state=seed, stratify=d.target)
    return Data(
        x_train=x_tr, x_test=x_te, y_train=y_tr, y_test=y_te, name="digits",
        preprocess=Preprocessor("none"), info={"value_range": [0.0, 1.0], "split": f"80/20 stratified, seed {seed}"},
    )


MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def _find(root: Path, stem: str) -> Path | None:
    for folder in (root, root / "MNIST" / "raw", root / "raw"):
        for suffix in (".gz", ""):
            p = folder / (stem + suffix)
            if p.is_file():
                return p
    return None


@dataset("mnist", "--data-root DIR with the four IDX files (train-images-idx3-ubyte.gz, …), downloaded by torchvision when online")
def _mnist(root=None, download=True, seed=0) -> Data:
    root = Path(root) if root is not None else Path("data/mnist")
    paths = {k: _find(root, v) for k, v in MNIST_FILES.items()}
    if any(p is None for p in paths.values()) and download:
        try:
            import torchvision

            log.info("MNIST files not in %s; downloading with torchvision", root)
            torchvision.datasets.MNIST(str(root), train=True, download=True)
            torchvision.datasets.MNIST(str(root), train=False, download=True)
        except Exception as e:  # offline, or a mirror is down
            log.info("download failed: %s", e)
        paths = {k: _find(root, v) for k, v in MNIST_FILES.items()}
    missing = [MNIST_FILES[k] + ".gz" for k, p in paths.items() if p is None]
    if missing:
        raise AekitError(
            f"mnist: {', '.join(missing)} not found in {root}; put the four MNIST IDX files "
            "(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
            "t10k-labels-idx1-ubyte.gz) there, or run once online to download them"
        )
    arr = {k: read_idx(p) for k, p in paths.items()}
    for split in ("train", "test"):
        x, y = arr[f"x_{split}"], arr[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise AekitError(f"mnist: {paths['x_' + split]} and its labels do not match (shapes {x.shape}, {y.shape})")
    return Data(
        x_train=arr["x_train"][:, None], x_test=arr["x_test"][:, None],
        y_train=arr["y_train"].astype(np.int64), y_test=arr["y_test"].astype(np.int64),
        name="mnist", preprocess=Preprocessor("scale", factor=1.0 / 255.0),
        info={"value_range": [0.0, 1.0], "split": "official 60000/10000", "root": str(root)},
    )


# Training settings that suit a data set when the user gives none (recorded in config.json).
TRAINING_DEFAULTS = {"digits": {"epochs": 100, "batch_size": 64}}


def training_defaults(name: str) -> dict:
    return dict(TRAINING_DEFAULTS.get(name, {}))


def load_array_file(path: str | Path, seed: int = 0, preprocess: str = "auto", test_size: float = 0.2) -> Data:
    """A ``.npy`` (samples × features…) or ``.npz`` (key ``X`` or its only array; ``y`` as
    labels) file, split train/test with ``seed`` (stratified when labels allow)."""
    from sklearn.model_selection import train_test_split

    from .bundle import check_array

    path = Path(path)
    if not path.is_file():
        raise AekitError(f"--data: {path} not found")
    y = None
    try:
        f = np.load(path, allow_pickle=False)
        if isinstance(f, np.ndarray):
            x = f
        else:
            with f:
                keys = list(f.keys())
                if "X" in keys:
                    key = "X"
                elif len([k for k in keys if k != "y"]) == 1:
                    key = next(k for k in keys if k != "y")
                else:
                    raise AekitError(f"{path}: holds arrays {keys}; name the features 'X' (and labels 'y')")
                x = f[key]
                y = f["y"] if "y" in keys else None
    except AekitError:
        raise
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise AekitError(f"{path}: holds pickled objects, which aekit never loads; save plain numeric arrays") from None
        raise AekitError(f"{path}: not a readable .npy/.npz file ({e})") from None
    except (OSError, EOFError) as e:
        raise AekitError(f"{path}: not a readable .npy/.npz file ({e}); the file is truncated or corrupt") from None
    x = check_array(x, where=str(path))
    if y is not None and len(y) != len(x):
        raise AekitError(f"{path}: 'y' has {len(y)} labels for {len(x)} samples; store one label per sample")
    strat = y if y is not None and len(np.unique(y)) < len(y) // 2 and np.bincount(np.unique(y, return_inverse=True)[1]).min() >= 2 else None
    idx = np.arange(len(x))
    if len(x) >= 5:
        tr, te = train_test_split(idx, test_size=test_size, random_state=seed, stratify=strat)
    else:
        tr, te = idx, idx[:0]
    pre = Preprocessor.fit(x[tr], preprocess)
    return Data(
        x_train=x[tr], x_test=x[te] if len(te) else None,
        y_train=None if y is None else y[tr], y_test=None if y is None or not len(te) else y[te],
        name=str(path), preprocess=pre, info={"split": f"{1 - test_size:.0%}/{test_size:.0%}, seed {seed}"},
    )
