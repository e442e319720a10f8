"""Data sets by name: each defines its shape, value range and train/test split once.

Files are looked for in ``root`` (default ``data/<name>``); where they are absent and
``download`` is true they are fetched (torchvision's download helpers, with checksums);
offline, one error names the exact file to put where. Image sets (color ones in
:mod:`aekit.data.vision`) are kept as uint8 and scaled to [0, 1] by the preprocessing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import AekitError, unknown_name
from .bundle import Data, split_indices
from .formats import read_hdf5, read_idx, read_mat
from .named import DATASETS, SCALE, dataset, find, missing, try_download  # noqa: F401  (public here too)
from .preprocess import Preprocessor


def names() -> list[str]:
    return list(DATASETS)


def describe() -> list[tuple[str, str]]:
    """(name, where it looks for its files) for every named data set."""
    return [(n, w) for n, (_, w) in DATASETS.items()]


def load(name: str, root: str | Path | None = None, download: bool = True, seed: int = 0) -> Data:
    """Load a named data set. ``root`` is the folder holding its files (default data/<name>)."""
    if name not in DATASETS:
        raise unknown_name("dataset", name, DATASETS)
    fn, _ = DATASETS[name]
    return fn(root=Path(root) if root is not None else Path("data") / name, download=download, seed=seed)


@dataset("digits", "bundled with scikit-learn (offline): 1797 8×8 images, 16 grey levels")
def _digits(root=None, download=True, seed=0) -> Data:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.images.astype(np.float32)[:, None, :, :] / 16.0  # (1797, 1, 8, 8) in [0, 1]
    tr, te = split_indices(len(x), d.target, 0.2, seed)
    return Data(
        x_train=x[tr], x_test=x[te], y_train=d.target[tr], y_test=d.target[te], name="digits",
        preprocess=Preprocessor("none"), info={"value_range": [0.0, 1.0], "split": f"80/20 stratified, seed {seed}"},
    )


IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _idx_set(name: str, tv_class: str):
    """MNIST and its drop-in replacements: four IDX files, official 60000/10000 split."""

    def load_idx(root: Path, download=True, seed=0) -> Data:
        paths = [find(root, f) for f in IDX_FILES]
        if None in paths:
            import torchvision

            cls = getattr(torchvision.datasets, tv_class)
            try_download(name, lambda: (cls(str(root), train=True, download=True), cls(str(root), train=False, download=True)), download)
            paths = [find(root, f) for f in IDX_FILES]
        if None in paths:
            absent = ", ".join(f + ".gz" for f, p in zip(IDX_FILES, paths) if p is None)
            raise missing(name, absent, root, f"the four {name} IDX files ({', '.join(f + '.gz' for f in IDX_FILES)})")
        xtr, ytr, xte, yte = (read_idx(p) for p in paths)
        for x, y, p in ((xtr, ytr, paths[0]), (xte, yte, paths[2])):
            if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
                raise AekitError(f"{name}: {p} and its labels do not match (shapes {x.shape}, {y.shape}); re-download them")
        return Data(
            x_train=xtr[:, None], x_test=xte[:, None], y_train=ytr.astype(np.int64), y_test=yte.astype(np.int64),
            name=name, preprocess=SCALE,
            info={"value_range": [0.0, 1.0], "split": f"official {len(xtr)}/{len(xte)}", "root": str(root)},
        )

    return load_idx


_WHERE_IDX = "--data-root DIR with the four IDX files (train-images-idx3-ubyte.gz, …); torchvision downloads them when online"
dataset("mnist", "1×28×28 digits; " + _WHERE_IDX)(_idx_set("mnist", "MNIST"))
dataset("fashion-mnist", "1×28×28 Zalando clothes; " + _WHERE_IDX)(_idx_set("fashion-mnist", "FashionMNIST"))
dataset("kmnist", "1×28×28 Kuzushiji characters; " + _WHERE_IDX)(_idx_set("kmnist", "KMNIST"))


@dataset("frey-face", "1×28×20 faces; --data-root DIR with Roweis' frey_rawface.mat (key ff); downloaded when online")
def _frey(root: Path, download=True, seed=0) -> Data:
    p = find(root, "frey_rawface.mat")
    if p is None:
        def fetch():
            from torchvision.datasets.utils import download_url

            download_url("https://cs.nyu.edu/~roweis/data/frey_rawface.mat", str(root), "frey_rawface.mat")

        try_download("frey-face", fetch, download)
        p = find(root, "frey_rawface.mat")
    if p is None:
        raise missing("frey-face", "frey_rawface.mat", root, "Roweis' frey_rawface.mat (https://cs.nyu.edu/~roweis/data/)")
    ff, _ = read_mat(p, "ff")
    if ff.shape[0] != 560:
        raise AekitError(f"frey-face: {p} key 'ff' has shape {ff.shape}, expected 560 rows (28×20 pixels per column)")
    x = np.ascontiguousarray(ff.T.reshape(-1, 1, 28, 20))  # each column is one 28×20 face, row-major
    tr, te = split_indices(len(x), None, 0.1, seed)
    return Data(x_train=x[tr], x_test=x[te], name="frey-face", preprocess=SCALE,
                info={"value_range": [0.0, 1.0], "split": f"90/10 random, seed {seed}", "root": str(root)})


@dataset("usps", "1×16×16 digits in [0, 1]; --data-root DIR with usps.h5 (groups train/test with data, target)")
def _usps(root: Path, download=True, seed=0) -> Data:
    p = find(root, "usps.h5")
    if p is not None:
        (xtr, ytr), (xte, yte) = read_hdf5(p, "train/data"), read_hdf5(p, "test/data")
        pre = Preprocessor("none")
    else:
        import torchvision

        def tv(train, fetch=False):
            return torchvision.datasets.USPS(str(root), train=train, download=fetch)

        if find(root, "usps.bz2") is None or find(root, "usps.t.bz2") is None:
            try_download("usps", lambda: (tv(True, True), tv(False, True)), download)
        if find(root, "usps.bz2") is None or find(root, "usps.t.bz2") is None:
            raise missing("usps", "usps.h5", root, "usps.h5 (groups train/test, each with data (N, 256) and target)")
        a, b = tv(True), tv(False)
        xtr, ytr, xte, yte = a.data, np.asarray(a.targets), b.data, np.asarray(b.targets)
        pre = SCALE
    if ytr is None or yte is None:
        raise AekitError(f"usps: {p} has no train/target or test/target labels; use the usps.h5 with data and target")
    return Data(
        x_train=np.asarray(xtr).reshape(-1, 1, 16, 16), x_test=np.asarray(xte).reshape(-1, 1, 16, 16),
        y_train=np.asarray(ytr, np.int64), y_test=np.asarray(yte, np.int64), name="usps", preprocess=pre,
        info={"value_range": [0.0, 1.0], "split": f"official {len(xtr)}/{len(xte)}", "root": str(root)},
    )


@dataset("olivetti", "1×64×64 faces of 40 people; --data-root DIR with olivettifaces.mat (key faces), or scikit-learn's fetcher when online")
def _olivetti(root: Path, download=True, seed=0) -> Data:
    p = find(root, "olivettifaces.mat")
    if p is not None:
        faces, _ = read_mat(p, "faces")
        if faces.shape != (4096, 400):
            raise AekitError(f"olivetti: {p} key 'faces' has shape {faces.shape}, expected (4096, 400)")
        # column-major 64×64 per column (MATLAB): reshape row-major, then swap H and W
        x = np.ascontiguousarray(faces.T.reshape(400, 64, 64).transpose(0, 2, 1)[:, None])
        pre = SCALE
    else:
        if not download:
            raise missing("olivetti", "olivettifaces.mat", root, "olivettifaces.mat (key faces, 4096×400 uint8)")
        from sklearn.datasets import fetch_olivetti_faces

        try:
            x = fetch_olivetti_faces(data_home=str(root)).images[:, None].astype(np.float32)  # in [0, 1]
        except Exception as e:
            raise missing("olivetti", "olivettifaces.mat", root, f"olivettifaces.mat (download failed: {e})") from None
        pre = Preprocessor("none")
    y = np.repeat(np.arange(40), 10)  # 10 images of each of 40 people, in order
    tr, te = split_indices(400, y, 0.2, seed)
    return Data(x_train=x[tr], x_test=x[te], y_train=y[tr], y_test=y[te], name="olivetti", preprocess=pre,
                info={"value_range": [0.0, 1.0], "split": f"80/20 stratified by person, seed {seed}", "root": str(root)})


# Training settings that suit a data set when the user gives none (recorded in config.json).
TRAINING_DEFAULTS = {"digits": {"epochs": 100, "batch_size": 64}}


def training_defaults(name: str) -> dict:
    return dict(TRAINING_DEFAULTS.get(name, {}))


# the colour sets register after the ones above (the order `aekit datasets` lists them in);
# vision takes the shared helpers from aekit.data.named, not from here: no import cycle
from . import vision  # noqa: E402,F401
