"""The run directory: one object that knows every file of a run and reads and writes each one.

A run is the unit a user keeps and shares::

    RUN/config.json            model class + config, data description, training options
    RUN/model.safetensors      the weights (never pickled)
    RUN/preprocess.json        the scaling fitted on the training data
    RUN/history.csv            every loss term per epoch
    RUN/metrics.json           test-set metrics
    RUN/checkpoint/last.pt     everything a resumed run needs (tensors only)
    RUN/report.html            the run report
    RUN/tensorboard/           TensorBoard event files (optional)

Every write goes to a temporary name beside the target and is renamed into place
(:mod:`aekit.io`), so a crash or a kill at any moment leaves the old file or the new one,
never half of one. ``config.json`` is written in sections by different writers at different
times — the model section (``aekit_version``, ``model_class``, ``model``, ``plugins``) by
``save_pretrained``, ``data`` and ``training`` by the trainer — so :meth:`RunDir.write_config`
merges the sections it is given into what is on disk, and no writer drops another's.

A missing or corrupt file is reported in one line that names the file and the fix.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import io
from ._version import __version__
from .errors import AekitError

if TYPE_CHECKING:
    from .data.preprocess import Preprocessor

# config.json: the keys of each section, in the order they are written
MODEL_KEYS = ("aekit_version", "model_class", "model", "plugins")
SECTIONS = ("data", "training", "run")

_RETRAIN = "restore the file or retrain the run"


class RunDir:
    """A run directory at ``path``. ``arg`` is how the user named it (``"--out"``,
    ``"--resume"``, ``"out"``): errors about the directory itself start with it and say
    which flag or keyword fixes them (``--overwrite`` / ``overwrite=True``)."""

    CONFIG = "config.json"
    WEIGHTS = "model.safetensors"
    PREPROCESS = "preprocess.json"
    HISTORY = "history.csv"
    METRICS = "metrics.json"
    CHECKPOINT = "checkpoint/last.pt"
    REPORT = "report.html"
    TOKENIZER = "tokenizer.json"  # text runs: the tokenizer trained on their corpus
    TENSORBOARD = "tensorboard"

    def __init__(self, path: str | os.PathLike, arg: str | None = None):
        self.path = Path(path)
        self.arg = arg

    @classmethod
    def of(cls, obj: RunDir | str | os.PathLike, arg: str | None = None) -> RunDir:
        """``obj`` itself when it is a RunDir, else a RunDir at that path."""
        return obj if isinstance(obj, RunDir) else cls(obj, arg)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __str__(self) -> str:
        return str(self.path)

    # -- where each file lives -------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / self.CONFIG

    @property
    def weights_path(self) -> Path:
        return self.path / self.WEIGHTS

    @property
    def preprocess_path(self) -> Path:
        return self.path / self.PREPROCESS

    @property
    def history_path(self) -> Path:
        return self.path / self.HISTORY

    @property
    def metrics_path(self) -> Path:
        return self.path / self.METRICS

    @property
    def checkpoint_path(self) -> Path:
        return self.path / self.CHECKPOINT

    @property
    def report_path(self) -> Path:
        return self.path / self.REPORT

    @property
    def tokenizer_path(self) -> Path:
        return self.path / self.TOKENIZER

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / self.TENSORBOARD

    # -- what the directory is ------------------------------------------------------------------
    def is_run(self) -> bool:
        """A run directory has a config.json (a saved model, a finished or a broken run)."""
        return self.config_path.is_file()

    def require_run(self) -> RunDir:
        """Refuse a path that is not a run directory; returns ``self``."""
        if not self.is_run():
            fix = "pass a folder written by aekit train"
            if self.arg:
                raise AekitError(f"{self.arg}: {self.path} is not a run directory (no config.json); {fix}")
            raise AekitError(f"{self.path}: not a run directory (no config.json); {fix}")
        return self

    def _fix_overwrite(self) -> str:
        return "pass --overwrite" if (self.arg or "").startswith("--") else "pass overwrite=True"

    def _other(self) -> str:
        return f"choose another {self.arg or 'directory'}"

    def prepare(self, overwrite: bool = False) -> RunDir:
        """Check that a new run can be written here before anything is trained: the path is
        a directory or can become one, it is writable, and it is empty unless ``overwrite``
        (which clears it). Returns ``self``."""
        out, arg, other = self.path, self.arg or str(self.path), self._other()
        if out.exists() and not out.is_dir():
            raise AekitError(f"{arg}: {out} exists and is not a directory; {other}")
        anc = out.parent if str(out.parent) else Path(".")
        while not anc.exists() and anc != anc.parent:
            anc = anc.parent
        if not anc.is_dir():
            raise AekitError(f"{arg}: {anc} is a file, so {out} cannot be created; {other}")
        if not os.access(anc, os.W_OK | os.X_OK):
            raise AekitError(f"{arg}: cannot write into {anc} (permission denied); choose a writable {arg}")
        if out.is_dir() and any(out.iterdir()):
            if not overwrite:
                raise AekitError(f"{arg}: {out} already exists and is not empty; {self._fix_overwrite()} or {other}")
            if not os.access(out, os.W_OK | os.X_OK):
                raise AekitError(f"{arg}: cannot replace {out} (permission denied); choose a writable {arg}")
            here = Path.cwd().resolve()
            if out.resolve() == here or out.resolve() in here.parents:
                raise AekitError(f"{arg}: {out} holds the current directory; --overwrite replaces a run directory, "
                                 f"not the folder you work in: {other}")
            if not self.is_run_dir():
                raise AekitError(f"{arg}: {out} is not empty and not an aekit run (no config.json beside a model, "
                                 f"checkpoint or history); --overwrite replaces only run directories: {other}")
            shutil.rmtree(out)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise AekitError(f"{arg}: cannot create {out.parent} ({e.strerror}); {other}") from None
        return self

    def is_run_dir(self) -> bool:
        """Does the folder look like a run aekit wrote: config.json beside a model, a
        checkpoint or a training history? (What ``--overwrite`` may replace.)"""
        return self.config_path.is_file() and any(
            (self.path / n).exists() for n in ("model.safetensors", "checkpoint", "history.csv", "preprocess.json"))

    def temp_files(self) -> list[Path]:
        """Temporary files an interrupted write left behind (``.NAME.*.tmp``); none after a
        write that finished or failed inside aekit, only after a kill."""
        if not self.path.is_dir():
            return []
        return sorted(p for p in self.path.rglob(".*.tmp") if p.is_file())

    # -- config.json ----------------------------------------------------------------------------
    def read_config(self) -> dict[str, Any]:
        """The whole config.json: the model section's keys at the top, then ``data``,
        ``training`` (and ``run`` when a writer recorded one)."""
        cfg = _read_json(self.config_path, missing="pass a folder written by aekit train or save_pretrained",
                         corrupt=_RETRAIN)
        if not isinstance(cfg, dict):
            raise AekitError(f"{self.config_path}: expected a JSON object, got {type(cfg).__name__}; {_RETRAIN}")
        return cfg

    def section(self, name: str) -> dict[str, Any]:
        """One section of config.json (``"data"``, ``"training"``, ``"run"``), empty when absent."""
        value = self.read_config().get(name, {})
        if not isinstance(value, dict):
            raise AekitError(f"{self.config_path}: {name!r} must be a JSON object, got {type(value).__name__}; {_RETRAIN}")
        return value

    def write_config(self, *, model: dict | None = None, data: dict | None = None, training: dict | None = None,
                     run: dict | None = None) -> dict[str, Any]:
        """Replace the given sections of config.json and keep the others as they are on disk.
        ``model`` is :meth:`aekit.Autoencoder.config_dict` (``model_class``, ``model``,
        ``plugins``); ``data`` is :meth:`aekit.data.Data.describe`; ``training`` the resolved
        training options. Returns what was written."""
        old = self.read_config() if self.config_path.exists() else {}
        new: dict[str, Any] = {"aekit_version": __version__}
        src = model if model is not None else old
        new.update({k: src[k] for k in MODEL_KEYS[1:] if k in src})
        for name, given in zip(SECTIONS, (data, training, run)):
            value = given if given is not None else old.get(name)
            if value is not None:
                new[name] = value
        new.update({k: v for k, v in old.items() if k not in new and k not in MODEL_KEYS})
        io.write_json(self.config_path, new)
        return new

    # -- model.safetensors ----------------------------------------------------------------------
    def write_weights(self, state_dict: dict, metadata: dict | None = None) -> None:
        io.save_tensors(self.weights_path, state_dict, metadata)

    def read_weights(self) -> dict:
        return io.load_tensors(self.weights_path)

    # -- preprocess.json ------------------------------------------------------------------------
    def write_preprocess(self, pre: Preprocessor | dict) -> None:
        io.write_json(self.preprocess_path, pre if isinstance(pre, dict) else pre.to_dict())

    def read_preprocess(self) -> Preprocessor:
        """The scaling fitted at training time; no preprocessing when the run has none (a
        model saved with ``save_pretrained`` alone)."""
        from .data.preprocess import Preprocessor

        if not self.preprocess_path.exists():
            return Preprocessor("none")
        fix = "restore the file or retrain the run (it holds the scaling fitted on the training data)"
        d = _read_json(self.preprocess_path, missing=fix, corrupt=fix)
        try:
            return Preprocessor.from_dict(d)
        except (AekitError, TypeError, ValueError) as e:
            why = str(e).removeprefix("preprocess.json: ")
            raise AekitError(f"{self.preprocess_path}: {why}; {fix}") from None

    # -- history.csv ----------------------------------------------------------------------------
    def write_history(self, rows: list[dict[str, float]]) -> None:
        io.write_csv(self.history_path, rows)

    def read_history(self) -> list[dict[str, float]]:
        """One dict per epoch, every value a float (empty cells NaN, text cells left out);
        empty when the run has no history yet."""
        return read_history(self.history_path)

    # -- metrics.json ---------------------------------------------------------------------------
    def write_metrics(self, metrics: dict[str, Any]) -> None:
        io.write_json(self.metrics_path, metrics)

    def read_metrics(self, missing_ok: bool = True) -> dict[str, Any]:
        """The test metrics; ``{}`` when absent and ``missing_ok``."""
        fix = f"aekit evaluate {self.path} writes it again"
        if missing_ok and not self.metrics_path.exists():
            return {}
        m = _read_json(self.metrics_path, missing=fix, corrupt=fix)
        if not isinstance(m, dict):
            raise AekitError(f"{self.metrics_path}: expected a JSON object, got {type(m).__name__}; {fix}")
        return m

    # -- checkpoint/last.pt ---------------------------------------------------------------------
    def write_checkpoint(self, state: dict) -> None:
        """The resume state (:func:`aekit.train.checkpoint.state`), atomically."""
        write_checkpoint(self.checkpoint_path, state)

    def read_checkpoint(self) -> dict:
        """The resume state, loaded tensors-only; refused with one line when absent, corrupt
        or crafted."""
        return read_checkpoint(self.checkpoint_path)

    # -- report.html ----------------------------------------------------------------------------
    def write_report(self, html: str, path: str | os.PathLike | None = None) -> Path:
        """The report page, to ``report.html`` or to ``path``; returns where it went."""
        target = Path(path) if path is not None else self.report_path
        io.write_text(target, html)
        return target


def read_history(path: Path) -> list[dict[str, float]]:
    """history.csv as floats per epoch (see :meth:`RunDir.read_history`)."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (UnicodeDecodeError, csv.Error) as e:
        raise AekitError(f"{path}: not a readable CSV file ({e}); {_RETRAIN}") from None
    out = []
    for r in rows:
        row = {}
        for k, v in r.items():
            if k is None:  # a row longer than the header
                continue
            try:
                row[k] = float(v) if v not in ("", None) else math.nan
            except (TypeError, ValueError):
                continue
        out.append(row)
    return out


CHECKPOINT_KEYS = {"model", "optimizers", "epoch", "history"}


def write_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """``torch.save`` through a temporary file: a kill mid-write leaves the previous epoch's
    checkpoint whole."""
    import torch

    with io.atomic_path(path) as tmp:
        torch.save(state, tmp)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """A resume checkpoint, loaded with ``weights_only=True``: tensors and plain containers
    only, so a crafted pickle cannot run code. ``path`` may be the run directory."""
    import torch

    path = Path(path)
    if path.is_dir():  # a run directory
        path = path / RunDir.CHECKPOINT
    if not path.is_file():
        raise AekitError(f"{path}: no checkpoint to resume from; a run writes checkpoint/last.pt after each epoch")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError for forbidden globals, RuntimeError/EOFError when truncated
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise AekitError(
            f"{path}: refused or unreadable checkpoint ({first[:160]}); it is corrupt or not an aekit checkpoint"
        ) from None
    if not isinstance(ck, dict) or not CHECKPOINT_KEYS <= set(ck):
        raise AekitError(f"{path}: not an aekit checkpoint (missing keys)")
    return ck


def _read_json(path: Path, *, missing: str, corrupt: str) -> Any:
    if not path.is_file():
        raise AekitError(f"{path}: file not found; {missing}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AekitError(f"{path}: not valid JSON ({e}); {corrupt}") from None
