"""What ``aekit train --window``, ``aekit detect`` and ``aekit embed`` do with series.

    train_series_run("ae", "pump.csv", "runs/pump", window="auto")   # aekit train --data pump.csv --window auto
    detect_series_path("runs/pump", "pump-today.csv", "scores.csv", events="events.csv")
    embed_series_path("runs/pump", "pump-today.csv", "codes.npy")

A series run is a run directory whose ``config.json`` has a ``data.series`` section (window,
threshold, channels, score): the model, its scaling (``preprocess.json``), the history and the
test metrics. Training splits each series in time: the first steps train (``train_steps``, or
all but the last ``test_size``), the rest is the test part, scored with the labels of the file
where it has them (:func:`aekit.metrics.series_metrics`) — labels never enter training.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AekitError
from .rundir import RunDir

log = logging.getLogger("aekit")

READ_KEYS = ("time_column", "label_column", "columns", "impute")


def is_series_run(run: str | os.PathLike) -> bool:
    """True for a run directory whose config.json holds series settings (``data.series``)."""
    rd = RunDir(run, arg="RUN")
    return rd.config_path.is_file() and isinstance(rd.section("data").get("series"), dict)


def read(data: Any, opts: dict, *, scoring: bool = False) -> tuple[list, bool]:
    """Series from a path, an array or a list, with the reading options among ``opts``
    (``scoring``: a constant channel is taken, as a flat stretch of a series to score)."""
    from .data.series import Series, read_series

    if isinstance(data, os.PathLike):
        data = os.fspath(data)
    if isinstance(data, Series):
        return [data], True
    got = read_series(data, allow_constant=scoring, **{k: opts[k] for k in READ_KEYS if opts.get(k) is not None})
    return (got, False) if isinstance(got, list) else ([got], True)


def split_series(series: list, train_steps: int | None, test_size: float) -> tuple[list, list]:
    """(training parts, test parts): each series cut in time."""
    train, test = [], []
    for s in series:
        if train_steps is not None:
            if not 0 < train_steps <= len(s):
                raise AekitError(f"--train-steps: {train_steps} is not within the {len(s)} steps of {s.name}")
            at = int(train_steps)
        else:
            if not 0 <= test_size < 1:
                raise AekitError(f"--test-size: must be in [0, 1), got {test_size}")
            at = len(s) - int(round(test_size * len(s)))
        if at == len(s):  # every step trains (--test-size 0, or --train-steps the whole length)
            train.append(s)
            continue
        a, b = s.split(at)
        train.append(a)
        test.append(b)
    return train, test


def test_metrics(det, test: list) -> dict[str, Any]:
    """Scores of the test parts; with labels, the series metrics of :mod:`aekit.metrics`."""
    from .metrics import series_metrics

    if not test:
        return {"split": "none"}
    scores = [det.anomaly_score(s) for s in test]
    flat = np.concatenate(scores)
    out: dict[str, Any] = {"split": "test", "steps": int(len(flat)), "threshold": float(det.threshold_),
                           "flagged_fraction": float(np.mean(flat > det.threshold_))}
    labelled = [(s.labels, sc) for s, sc in zip(test, scores) if s.labels is not None]
    if labelled:
        y = np.concatenate([lab for lab, _ in labelled])
        sc = np.concatenate([v for _, v in labelled])
        if 0 < y.sum() < len(y):
            out.update({k: float(v) for k, v in series_metrics(y, sc, window=det.window_,
                                                                predictions=(sc > det.threshold_).astype(int)).items()})
    return out


def train_series_run(model: str = "ae", data: Any = None, out: str | os.PathLike | RunDir | None = None, *,
                     overwrite: bool = False, window: Any = "auto", train_steps: int | None = None,
                     test_size: float = 0.2, report: bool = True, **options: Any):
    """Train a :class:`~aekit.SeriesDetector` on ``data`` into a run directory, score its
    test part, and write metrics.json (and the report). ``options``: the detector's
    parameters (``arch``, ``stride``, ``threshold``, ``epochs`` …), the reading options
    (``time_column``, ``label_column``, ``columns``, ``impute``), family options (passed as
    ``model_options``) and further training options (``trainer_options``)."""
    from .registry import get_model_class
    from .series_detector import SeriesDetector
    from .train import TrainConfig

    if data is None:
        raise AekitError("--data: a series file (CSV, TSV, Parquet, .npy) is needed with --window")
    det_keys = set(SeriesDetector.__init__.__code__.co_varnames[1:SeriesDetector.__init__.__code__.co_argcount
                                                                + SeriesDetector.__init__.__code__.co_kwonlyargcount])
    fields = set(get_model_class(model).config_class.field_names())
    det_opts = {k: options.pop(k) for k in list(options) if k in det_keys}
    read_opts = {k: options.pop(k) for k in list(options) if k in READ_KEYS}
    model_opts = {k: options.pop(k) for k in list(options) if k in fields}
    train_opts = {k: options.pop(k) for k in list(options) if k in TrainConfig.field_names()}
    if options:
        raise AekitError(f"options: {', '.join(sorted(options))} are not options of a series run")
    for k in ("arch", "latent_dim", "hidden", "channels", "net_options"):
        if k in model_opts:
            det_opts[k] = model_opts.pop(k)
    for k, d in (("epochs", "epochs"), ("batch_size", "batch_size"), ("lr", "lr"), ("device", "device"),
                 ("seed", "random_state"), ("progress", "verbose")):
        if k in train_opts:
            det_opts[d] = train_opts.pop(k)
    series, _ = read(data, read_opts)
    train, test = split_series(series, train_steps, test_size)
    name = Path(str(data)).stem if isinstance(data, (str, os.PathLike)) else "series"
    det = SeriesDetector(model, window=window, model_options=model_opts or None, trainer_options=train_opts or None,
                         **det_opts)
    det._check_params()  # before the run directory exists: a bad option leaves nothing behind
    run = RunDir.of(out if out is not None else Path("runs") / f"{model}-{name}", "out").prepare(overwrite)
    if "arch" not in det_opts:
        log.info("arch: %s (series run, windows W×C: the series default); pass --arch to choose", det._arch())
    det.fit(train, out_dir=run.path)
    det.save(run.path)
    # detect and embed read new files as the training file was read
    source = os.path.abspath(data) if isinstance(data, str) else None
    run.write_config(data={**run.section("data"), "series": {**det.settings(), "read": read_opts, "source": source,
                                                             "split": {"train_steps": train_steps,
                                                                       "test_size": test_size}}})
    metrics = test_metrics(det, test)
    run.write_metrics(metrics)
    result = {"path": run.path, "detector": det, "metrics": metrics, "report": None}
    if report:
        from .report.series import build_series_report

        result["report"] = build_series_report(run.path, det, test or train).path
    return result


def evaluate_series_run(run: str | os.PathLike, data: Any = None, *, plugins=()) -> dict[str, Any]:
    """The metrics of a series run, written to its metrics.json: on the test part of the
    recorded training file(s), split as training split them, or, with ``data``, on every step of
    the series in ``data`` (read as the training file was)."""
    from .series_detector import SeriesDetector

    rd = RunDir(run, arg="RUN").require_run()
    det = SeriesDetector.load(rd.path, plugins=plugins)
    st = rd.section("data").get("series", {})
    read_opts = dict(st.get("read") or {})  # read as the training file was
    if data is not None:
        series, _ = read(data, read_opts, scoring=True)
        metrics = {**test_metrics(det, series), "split": "data"}
    else:
        if st.get("source") is None or "split" not in st:
            raise AekitError(f"{rd.path}: the run does not record its series file and split (trained from arrays, or "
                             "before they were recorded); pass --data SERIES")
        series, _ = read(st["source"], read_opts, scoring=True)
        _, test = split_series(series, st["split"].get("train_steps"), st["split"].get("test_size", 0.2))
        if not test:
            raise AekitError(f"{rd.path}: the run was trained on every step (no test part); pass --data SERIES")
        metrics = test_metrics(det, test)
    rd.write_metrics(metrics)
    return metrics


def recorded_read(run) -> dict:
    return dict(RunDir(run).section("data").get("series", {}).get("read") or {})


def write_scores(path: Path, series, scores: np.ndarray, flags: np.ndarray) -> None:
    """CSV: timestamp (or step), score, is_anomaly — written to a temporary file and renamed."""
    from .io import write_csv

    key = "timestamp" if series.time is not None else "step"
    times = series.stamps if series.time is not None else np.arange(len(scores))
    write_csv(path, ({key: str(t), "score": f"{s:.9g}", "is_anomaly": int(a)} for t, s, a in zip(times, scores, flags)),
              fieldnames=[key, "score", "is_anomaly"])


def detect_series_path(run: str | os.PathLike, data: Any, out: str | os.PathLike, *, events: str | None = None,
                       plugins=(), **read_opts: Any) -> dict[str, Any]:
    """Score every step of the series in ``data`` with the series run ``run``: ``out`` gets
    one row per step (timestamp, score, is_anomaly), ``events`` the merged anomalous intervals
    (start, end, peak, peak_score); returns the summary (also written beside ``out`` as
    .json). The series is read as the run's training data was (its time, label and channel
    columns) unless ``read_opts`` say otherwise.

    ``data`` holding several series (a folder, a list): ``out`` (and ``events``) are folders
    that get one CSV per series, named after it, and ``out/summary.json`` the summaries. Every
    series is scored before anything is written, so a series the run cannot take leaves
    nothing behind."""
    from . import io
    from .series_detector import SeriesDetector

    det = SeriesDetector.load(run, plugins=plugins)
    series, one = read(data, {**recorded_read(run), **read_opts}, scoring=True)
    given = (("--out", out), ("--events", events))  # as typed: a trailing / says "a folder"
    out = Path(out)
    if not one:
        names = [s.name for s in series]
        twice = next((n for n in names if names.count(n) > 1), None)
        if twice is not None:
            raise AekitError(f"--data: two series are named {twice!r}; detect names each CSV after its series: "
                             "give them distinct file names")
        for arg, path in (("--out", out), ("--events", events)):
            if path is not None and (Path(path).suffix or Path(path).is_file()):
                raise AekitError(f"{arg}: {data} holds {len(series)} series; give a folder for one CSV per series, "
                                 f"not {path}")
    else:
        for arg, path in given:
            if path is not None and (Path(path).is_dir() or str(path).endswith(("/", os.sep))):
                raise AekitError(f"{arg}: {path} is a folder; one series is written to one CSV file: give a file "
                                 f"name such as {Path(path) / (series[0].name + '.csv')}")
    scored = [_detect_one(det, s) for s in series]  # every series scored before a file is written
    if one:
        return _write_detection(run, data, out, events, series[0], scored[0])
    out.mkdir(parents=True, exist_ok=True)
    if events is not None:
        Path(events).mkdir(parents=True, exist_ok=True)
    parts = [_write_detection(run, s.path or s.name, out / f"{s.name}.csv",
                              None if events is None else Path(events) / f"{s.name}.csv", s, r, summary_file=False)
             for s, r in zip(series, scored)]
    summary = {"run": str(run), "data": str(data), "series": len(parts), "threshold": det.threshold_,
               "steps": sum(p["steps"] for p in parts), "flagged": sum(p["flagged"] for p in parts),
               "events": sum(p["events"] for p in parts), "out": str(out), "per_series": parts}
    io.write_json(out / "summary.json", summary)
    return summary


def _detect_one(det, s) -> dict[str, Any]:
    from .tasks.thresholds import events as find_events

    scores = det.anomaly_score(s)
    flags = (scores > det.threshold_).astype(np.int8)
    found = find_events(flags.astype(bool), scores, time=s.stamps, min_gap=int(det.min_gap))
    r = {"scores": scores, "flags": flags, "found": found, "threshold": det.threshold_}
    if s.labels is not None and 0 < s.labels.sum() < len(s.labels):
        from .metrics import series_metrics

        r["metrics"] = {k: float(v) for k, v in series_metrics(s.labels, scores, window=det.window_,
                                                              predictions=flags).items()}
    return r


def _write_detection(run, data, out: Path, events, s, r: dict, summary_file: bool = True) -> dict[str, Any]:
    from . import io
    from .tasks.thresholds import EVENT_COLUMNS, events_table

    write_scores(out, s, r["scores"], r["flags"])
    if events is not None:
        rows = events_table(r["found"])
        io.write_csv(events, rows, fieldnames=list(EVENT_COLUMNS))
    summary = {"run": str(run), "data": str(data), "steps": int(len(r["scores"])), "threshold": r["threshold"],
               "flagged": int(r["flags"].sum()), "events": len(r["found"]), "out": str(out)}
    if "metrics" in r:
        summary["metrics"] = r["metrics"]
    if summary_file:
        io.write_json(out.with_suffix(".json"), summary)
    return summary


def embed_series_path(run: str | os.PathLike, data: Any, out: str | os.PathLike, *, whole: bool = False,
                      stride: int | None = None, plugins=(), **read_opts: Any) -> tuple[int, ...]:
    """Codes of the windows of the series in ``data`` (N, latent) — or, ``whole``, one code
    per series (the mean of its window codes) — written to ``out`` (.npy)."""
    from . import io
    from .series_detector import SeriesDetector
    from .tasks.series import encode_series

    det = SeriesDetector.load(run, plugins=plugins)
    series, _ = read(data, {**recorded_read(run), **read_opts}, scoring=True)
    codes = []
    for s in series:
        values = det.channel_values(s)
        if len(values) < det.window_:
            raise AekitError(f"{s.path or s.name}: {len(values)} steps, fewer than the run's window of {det.window_}; "
                             f"embed a series of at least {det.window_} steps")
        _, z = encode_series(det.model_, det._scale(values), det.window_, int(stride or det.window_))
        codes.append(z.mean(0, keepdims=True) if whole else z)
    arr = np.concatenate(codes)
    with io.atomic_path(Path(out)) as tmp, open(tmp, "wb") as f:
        np.save(f, arr)
    return tuple(arr.shape)
