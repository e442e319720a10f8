"""Anomaly detection on time series with any autoencoder family, in scikit-learn style.

    det = aekit.SeriesDetector().fit(train)          # a (T,) / (T, C) array, a CSV, a list of them
    scores = det.anomaly_score(test)                 # (T,) one score per timestep
    flags = det.predict(test)                        # (T,) 1 = anomalous step, 0 = normal
    det.events(test)                                 # merged intervals: start, end, peak score

How it works (Malhotra et al. 2016; Audibert et al. 2020; the TSB-AD and SKAB protocols):

1. Each training series is split in time: the first ``1 − val_fraction`` of its steps fit
   the model, the last part is held out. Channels are scaled with statistics of the
   training steps only (``scaling``); labels in the data are never used for training.
2. The model (any family, ``arch`` any registered network taking (W, C) windows) trains on
   the windows of the fitting part: strided views, never copies (:mod:`aekit.data.windows`).
   ``window="auto"`` is the dominant period of the first training series (its
   autocorrelation, as TSB-AD sets its window).
3. A score per timestep is the mean over the windows covering it (:mod:`aekit.tasks.series`):
   by default each window's whole-window score (``score="window"``), or the step's own error
   in each window (``score="recon"``).
4. The threshold comes from scores of the training series alone: peaks-over-threshold
   (``threshold="pot"``, Siffer et al. 2017, at ``risk``), a quantile (``"quantile"``,
   ``contamination``), or a number.

Conventions: :meth:`anomaly_score` is higher = more anomalous; :meth:`decision_function` is
``threshold_ − anomaly_score`` (negative for anomalies, as in aekit's ``AnomalyDetector`` and
scikit-learn's outlier detectors); :meth:`predict` gives 1/0 per step, the convention of the
label columns (``is_anomaly``) and of :mod:`aekit.metrics` — not scikit-learn's ±1.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from .config import as_mapping
from .errors import AekitError

THRESHOLDS = ("pot", "quantile")

log = logging.getLogger("aekit")


def as_series_list(data: Any, *, scoring: bool = False) -> tuple[list, bool]:
    """(list of :class:`aekit.data.series.Series`, whether one series was given). A series to
    score may hold a constant channel (a flat stretch); training data may not."""
    from .data.series import Series, read_series

    if isinstance(data, Series):
        return [data], True
    if isinstance(data, (list, tuple)) and data and all(isinstance(s, Series) for s in data):
        return list(data), False
    read = read_series(data, allow_constant=scoring)
    return (read, False) if isinstance(read, list) else ([read], True)


def _unnamed(channels: list[str]) -> bool:
    """Channels of an array: named by position, "0", "1", …"""
    return channels == [str(j) for j in range(len(channels))]


def _match_channels(s, want: list[str], whose: str) -> np.ndarray:
    """``s.values`` with the channels ``want``, by name (or by position for unnamed arrays);
    ``whose`` says where ``want`` comes from, for the one-line errors."""
    from .data.tabular import pick_by_name

    names, where = list(s.channels), s.path or s.name
    if names == want or _unnamed(names) or _unnamed(want):
        if len(names) != len(want):
            raise AekitError(f"{where}: has {len(names)} channels; {whose} {len(want)} ({', '.join(want)}); "
                             "give a series with those channels")
        return s.values
    return pick_by_name(s.values, names, want, where, noun="channel", whose=whose, holder="the series",
                        fix="name its columns as in training (or pass its values as an array, channels in that order)")


class SeriesDetector(BaseEstimator):
    """Per-timestep anomaly scores, labels and events for series (see the module docstring).

    ``model``: any registered family (``"ae"``, ``"vae"``, ``"usad"``, ``"dae"`` …);
    ``arch``: the network (``"auto"``: ``tcn`` where registered, else ``mlp``); ``window``:
    steps per window or ``"auto"``; ``stride``: steps between training windows (scoring uses
    ``score_stride``, 1 by default, so every step has all its windows); ``score``: ``auto``,
    ``recon``, ``window`` or ``mahalanobis`` (:mod:`aekit.tasks.series`);
    ``batch_size``: ``"auto"`` (64 windows, or every training window when fewer) or a number,
    refused when larger than the training windows; ``trainer_options``: further
    :class:`aekit.TrainConfig` fields (``optimizer``,
    ``weight_decay`` …), which override the ones above.
    """

    def __init__(self, model="ae", *, arch="auto", window="auto", stride=1, score_stride=1, latent_dim=None,
                 hidden=None, channels=None, net_options=None, epochs=30, batch_size="auto", lr=1e-3,
                 scaling="standardize", score="auto", threshold="pot", risk=1e-3, level=0.95, contamination=0.01,
                 val_fraction=0.2, min_gap=0, model_options=None, trainer_options=None, device="cpu", random_state=0,
                 verbose=False):
        self.model = model
        self.arch = arch
        self.window = window
        self.stride = stride
        self.score_stride = score_stride
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.channels = channels
        self.net_options = net_options
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.scaling = scaling
        self.score = score
        self.threshold = threshold
        self.risk = risk
        self.level = level
        self.contamination = contamination
        self.val_fraction = val_fraction
        self.min_gap = min_gap
        self.model_options = model_options
        self.trainer_options = trainer_options
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # -- checks ---------------------------------------------------------------------------------
    def _check_params(self) -> None:
        if not (isinstance(self.threshold, str) and self.threshold in THRESHOLDS) and not (
                isinstance(self.threshold, (int, float)) and not isinstance(self.threshold, bool)
                and math.isfinite(self.threshold)):
            raise AekitError(f"threshold: {self.threshold!r} is not one of {', '.join(THRESHOLDS)} or a number")
        from .tasks.thresholds import check_contamination, check_pot_options

        if self.threshold == "pot":  # POT's own checks, before any training (the CLI has --risk, not --level)
            check_pot_options(float(self.risk), float(self.level), "e.g. 1e-3 (--risk)")
        if isinstance(self.threshold, str):  # the quantile rule, or POT's fallback to it
            check_contamination(float(self.contamination))
        if not 0 <= float(self.val_fraction) < 1:
            raise AekitError(f"val_fraction: must be in [0, 1), got {self.val_fraction!r}")
        if self.scaling not in ("standardize", "minmax", "none"):
            raise AekitError(f"scaling: {self.scaling!r} is not one of standardize, minmax, none")
        from .tasks.series import resolve_score

        resolve_score(self.score)  # an unknown score fails here, before any training
        from .sklearn import fit_batch_size

        fit_batch_size(self.batch_size, 1, 64)  # the type check; the size is checked against the windows
        for name in ("stride", "score_stride", "epochs"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise AekitError(f"{name}: must be a positive integer, got {v!r}")

    def _arch(self) -> str:
        if self.arch != "auto":
            return self.arch
        from .nets.registry import NETWORKS

        return "tcn" if "tcn" in NETWORKS else "mlp"

    def _window(self, train: list) -> int:
        if self.window == "auto":
            from .data.series import auto_window

            w = auto_window(train[0].values)
            shortest = min(len(s) for s in train)
            return int(max(4, min(w, shortest // 4)))  # a few windows fit even a short series
        if not isinstance(self.window, (int, np.integer)) or isinstance(self.window, bool) or self.window < 2:
            raise AekitError(f"window: steps per window must be an integer ≥ 2 or 'auto', got {self.window!r}")
        return int(self.window)

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, X, y=None, *, out_dir=None) -> SeriesDetector:
        """Train on the series ``X`` (normal behaviour, mostly); ``y`` and any label column in
        ``X`` are ignored (unsupervised). ``out_dir``: a run directory the trainer writes
        as it goes (history, checkpoints); :meth:`save` completes it."""
        import torch

        from .data import Data, Preprocessor
        from .data.windows import Windows, window_starts
        from .sklearn import build_family, fit_batch_size
        from .tasks.series import MahalanobisSteps, error_map, resolve_score
        from .train import Trainer

        self._check_params()
        train, _ = as_series_list(X)
        self.n_channels_ = train[0].values.shape[1]
        self.channel_names_ = names = list(train[0].channels)
        first = f"the first training series, {train[0].path or train[0].name}, has"
        # every training series on the first one's channels, by name (a folder's files may order them otherwise)
        train = [train[0]] + [dataclasses.replace(s, values=_match_channels(s, names, first), channels=list(names))
                              for s in train[1:]]
        self.window_ = w = self._window(train)
        if int(self.stride) > w:
            log.warning("stride: %d steps between training windows of %d steps; %d of every %d steps are never "
                        "trained on (a stride ≤ the window covers every step)", self.stride, w, self.stride - w,
                        self.stride)
        parts = []  # (fitting part, held-out part) of each series
        for s in train:
            cut = len(s) - int(round(self.val_fraction * len(s)))
            if cut < w:
                raise AekitError(f"{s.path or s.name}: {len(s)} steps leave {cut} to fit on, fewer than the window of {w}; "
                                 "use a smaller window or val_fraction, or a longer series")
            parts.append((s.values[:cut], s.values[cut:]))
        fit_values = np.concatenate([p[0] for p in parts]).astype(np.float32)
        self.preprocessor_ = Preprocessor.fit(fit_values, self.scaling)
        scaled = self.preprocessor_.transform(fit_values).astype(np.float32)
        starts, offset = [], 0
        for p in parts:  # windows never cross from one series into the next
            starts.append(window_starts(len(p[0]), w, int(self.stride)) + offset)
            offset += len(p[0])
        wins = Windows(scaled, w, starts=np.concatenate(starts), name=train[0].name)
        seed = int(self.random_state or 0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            opts = dict(self.model_options or {})
            if self.net_options:
                opts["net_options"] = as_mapping(self.net_options, "net_options")
            if self.channels:
                opts["channels"] = self.channels if isinstance(self.channels, str) else tuple(self.channels)
            self.model_ = build_family(self.model, (w, self.n_channels_), latent_dim=self.latent_dim,
                                       hidden=self.hidden, arch=self._arch(),
                                       unbounded=self.scaling == "standardize", model_options=opts)
            topts = {"epochs": int(self.epochs), "batch_size": fit_batch_size(self.batch_size, len(wins), 64),
                     "lr": float(self.lr), "val_split": 0.0, "seed": seed, "device": self.device,
                     "progress": bool(self.verbose), **(self.trainer_options or {})}
            trainer = Trainer(out_dir=out_dir, **topts)
            trainer.fit(self.model_, Data(x_train=wins, name=train[0].name, chronological=True))
        self.model_.eval()
        self.history_ = trainer.history
        self.score_kind_ = resolve_score(self.score)
        self.mahalanobis_ = None
        if self.score_kind_ == "mahalanobis":
            held = [p[1] for p in parts if len(p[1]) >= w]
            if not held:
                raise AekitError(f"score: 'mahalanobis' needs a held-out part of at least {w} steps; raise val_fraction")
            errs = np.concatenate([error_map(self.model_, self._scale(h), w) for h in held])
            self.mahalanobis_ = MahalanobisSteps().fit(errs)
        self.train_scores_ = np.concatenate([self._score_values(s.values) for s in train])
        self.threshold_ = self._fit_threshold(self.train_scores_)
        return self

    def _fit_threshold(self, scores: np.ndarray) -> float:
        if not isinstance(self.threshold, str):
            self.threshold_rule_ = "fixed"
            return float(self.threshold)
        from .tasks.thresholds import MIN_PEAKS, pot_threshold, quantile_threshold

        if self.threshold == "pot":
            k = min(int(float(self.level) * len(scores)), len(scores) - 1)  # POT's initial threshold
            peaks = int(np.sum(scores > np.partition(scores, k)[k]))
            if peaks >= MIN_PEAKS:
                self.threshold_rule_ = "pot"
                return float(pot_threshold(scores, risk=float(self.risk), level=float(self.level)))
            # too short a training series to fit a tail to: the quantile rule, said in the log
            # and in the run's settings
            log.warning("threshold: %d training scores above the %g quantile, fewer than the %d peaks POT needs; "
                        "using the %g quantile of the training scores instead", peaks, self.level, MIN_PEAKS,
                        1 - float(self.contamination))
            self.threshold_rule_ = "quantile (too few peaks for pot)"
        else:
            self.threshold_rule_ = "quantile"
        return float(quantile_threshold(scores, float(self.contamination)))

    # -- scoring --------------------------------------------------------------------------------
    def _scale(self, values: np.ndarray) -> np.ndarray:
        return self.preprocessor_.transform(np.asarray(values, dtype=np.float32)).astype(np.float32)

    def _score_values(self, values: np.ndarray) -> np.ndarray:
        from .tasks.series import score_series

        return score_series(self.model_, self._scale(values), self.window_, int(self.score_stride),
                            score=self.score_kind_, mahalanobis=self.mahalanobis_)

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise AekitError("SeriesDetector: not fitted yet; call fit(train_series) first")

    def channel_values(self, s) -> np.ndarray:
        """(T, C) the values of :class:`~aekit.data.series.Series` ``s`` in the detector's
        channel order. Channels are matched by name when both sides have names (a file's columns
        may come in another order, or with more columns), by position when either side is an
        unnamed array (channels "0", "1", …); a missing channel is refused in one line."""
        self._check_fitted()
        return _match_channels(s, list(self.channel_names_), "the detector was fitted on")

    def _each(self, X, fn):
        """``fn(series, its values in the detector's channel order)`` for each series in ``X``."""
        self._check_fitted()
        series, one = as_series_list(X, scoring=True)
        out = []
        for s in series:
            values = self.channel_values(s)
            if len(s) < self.window_:
                raise AekitError(f"{s.path or s.name}: {len(s)} steps, fewer than the detector's window of "
                                 f"{self.window_}; score a series of at least {self.window_} steps")
            out.append(fn(s, values))
        return out[0] if one else out

    def anomaly_score(self, X) -> np.ndarray | list[np.ndarray]:
        """(T,) anomaly score per step (higher = more anomalous); a list for a list of series."""
        return self._each(X, lambda s, v: self._score_values(v))

    def decision_function(self, X):
        """``threshold_ − anomaly_score``: negative at anomalous steps."""
        return self._each(X, lambda s, v: self.threshold_ - self._score_values(v))

    def predict(self, X):
        """(T,) int8: 1 at steps whose score exceeds ``threshold_``, else 0."""
        return self._each(X, lambda s, v: (self._score_values(v) > self.threshold_).astype(np.int8))

    def fit_predict(self, X, y=None):
        return self.fit(X).predict(X)

    def events(self, X):
        """Merged anomalous intervals (:class:`aekit.tasks.thresholds.Event`: start, end,
        peak, peak score, and timestamps where the series has a time column)."""
        from .tasks.thresholds import events

        def one(s, v):
            sc = self._score_values(v)
            return events(sc > self.threshold_, sc, time=s.time, min_gap=int(self.min_gap))

        return self._each(X, one)

    # -- persistence ----------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """What a run directory records to score new series as this detector does."""
        self._check_fitted()
        return {"window": self.window_, "score_stride": int(self.score_stride), "score": self.score_kind_,
                "threshold": self.threshold_, "threshold_rule": getattr(self, "threshold_rule_", "fixed"),
                "channels": self.channel_names_, "min_gap": int(self.min_gap),
                "mahalanobis": None if self.mahalanobis_ is None else self.mahalanobis_.to_dict()}

    def save(self, directory: str | Path) -> Path:
        """A run directory: the model (config.json + model.safetensors), the scaling
        (preprocess.json) and the series settings (config.json's ``data.series``)."""
        from .rundir import RunDir

        self._check_fitted()
        run = RunDir(directory)
        self.model_.save_pretrained(run.path)
        run.write_preprocess(self.preprocessor_)
        data = run.section("data") if run.config_path.is_file() else {}
        run.write_config(data={**data, "series": self.settings()})
        return run.path

    @classmethod
    def load(cls, directory: str | Path, *, plugins=()) -> SeriesDetector:
        """A detector from a run directory written by :meth:`save` (or ``aekit train --window``)."""
        from .models.base import load
        from .rundir import RunDir
        from .tasks.series import MahalanobisSteps

        run = RunDir(directory).require_run()
        st = run.section("data").get("series")
        if not isinstance(st, dict):
            raise AekitError(f"{run.config_path}: not a series run (no data.series settings); train it with "
                             "aekit train --window N or SeriesDetector.save")
        det = cls(window=int(st["window"]), score_stride=int(st.get("score_stride", 1)), score=st["score"],
                  threshold=float(st["threshold"]), min_gap=int(st.get("min_gap", 0)))
        det.model_ = load(run.path, plugins=plugins)
        det.preprocessor_ = run.read_preprocess()
        det.window_, det.score_kind_, det.threshold_ = int(st["window"]), st["score"], float(st["threshold"])
        det.threshold_rule_ = st.get("threshold_rule", "fixed")  # how the recorded threshold was found
        det.channel_names_ = list(st["channels"])
        det.n_channels_ = len(det.channel_names_)
        det.mahalanobis_ = MahalanobisSteps.from_dict(st["mahalanobis"]) if st.get("mahalanobis") else None
        return det
