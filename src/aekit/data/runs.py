"""Loading data by name or path, and reloading the data a run was trained on.

Every command that works on a run (``evaluate``, ``report``, ``detect``, ``embed``,
``sample``, ``--resume`` …) reloads its data through :func:`run_data`: the recorded data set or
file, read with the recorded options, split with the recorded seed, and preprocessed with the
run's own ``preprocess.json``, so it sees exactly the split and the scaling training saw.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import AekitError
from ..rundir import RunDir
from .bundle import Data
from .datasets import load, names
from .files import load_file
from .preprocess import Preprocessor

FIT_OPTIONS = ("impute", "binarize", "channel_norm", "channel_axis")


def load_any(name: str, root: str | None = None, download: bool = True, seed: int = 0,
             preprocess: str | None = None, **opts) -> Data:
    """A named data set, or a file/folder read with ``opts`` (format, key, label_column,
    image_size, stream, split, and the preprocessing options impute, binarize, channel_norm,
    channel_axis)."""
    opts = {k: v for k, v in opts.items() if v is not None}
    fit = {k: opts.pop(k) for k in FIT_OPTIONS if k in opts}
    if name not in names() and (Path(name).exists() or Path(name).suffix or "/" in name or opts):
        return load_file(name, fmt=opts.get("format"), key=opts.get("key"), label_column=opts.get("label_column"),
                         image_size=opts.get("image_size"), preprocess=preprocess or "auto", seed=seed,
                         stream=opts.get("stream"), split=opts.get("split"), **fit)
    d = load(name, root=root, download=download, seed=seed)
    if (preprocess and preprocess != "auto") or fit:
        d.set_preprocess(Preprocessor.fit(d.x_train, preprocess or "auto", seed=seed, **fit))
    return d


def run_preprocessor(run_dir: str | Path | RunDir) -> Preprocessor:
    """The run's ``preprocess.json`` (no preprocessing when the run has none)."""
    return RunDir.of(run_dir).read_preprocess()


def run_columns(run_dir: str | Path | RunDir) -> list[str] | None:
    """The feature columns the run's table had (config.json's ``data.columns``), or None."""
    cols = RunDir.of(run_dir).section("data").get("columns")
    return list(cols) if isinstance(cols, list) else None


def run_data(run_dir: str | Path | RunDir, data: str | None = None, root: str | None = None) -> Data:
    """The data a run was trained on (or ``data`` / ``root`` instead), split with the run's
    seed and preprocessed with its ``preprocess.json``."""
    run = RunDir.of(run_dir)
    info, training = run.section("data"), run.section("training")
    name = data or info.get("path") or info.get("name")
    if not name:
        raise AekitError(f"{run.path}: config.json names no data set; pass --data")
    d = load_any(name, root or info.get("root"), download=False, seed=int(training.get("seed", 0)),
                 **({} if data else info.get("source", {})))
    return d.set_preprocess(run.read_preprocess())
