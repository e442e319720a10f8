"""The report of a series run (``aekit train --window``, :meth:`aekit.SeriesDetector.save`).

One self-contained HTML page, like every run's report (:mod:`aekit.report`), with what a
series detector shows:

- a summary: family, network, window, per-timestep score, threshold and its rule, channels,
  parameters, training, and the test metrics (``metrics.json``);
- training curves, per epoch;
- each series (up to three) with its score per timestep, the threshold, the flagged steps,
  and the labelled anomalies shaded where the file has labels;
- reconstructions of the most anomalous and of the most normal windows (in data units);
- the error of each channel (mean squared error per step of the scaled series), which says
  which sensor an anomaly is in.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..rundir import RunDir
from . import Report, collect
from .page import Section, _page
from .sections import _fmt, _table, history_curves, metrics_html
from .series_plots import plot_channel_error, plot_series_scores, plot_windows

MAX_SERIES = 3


def _summary(run: RunDir, det, metrics: dict) -> Section:
    m = det.model_
    mc = m.config
    tr = run.section("training")
    hist = run.read_history() if run.history_path.exists() else []
    rows = [
        ("family", f"{m.registry_name or type(m).__name__} ({type(m).__name__}): {m.paper}"),
        ("network", f"{mc.arch}, latent_dim {mc.latent_dim}"),
        ("window", f"{det.window_} steps × {det.n_channels_} channels"),
        ("score per timestep", det.score_kind_),
        ("threshold", f"{det.threshold_:.5g}"),
        ("channels", ", ".join(det.channel_names_)),
        ("parameters", f"{m.n_params():,}"),
        ("training", f"{len(hist)} epochs, batch {tr.get('batch_size', '?')}, lr {_fmt(tr.get('lr', '?'))}"),
    ]
    return Section("summary", "Summary", _table(rows) + metrics_html(metrics))


def _curves(run: RunDir) -> Section | None:
    h = run.read_history() if run.history_path.exists() else []
    return history_curves(h, "Each loss term on the training windows, per epoch.") if h else None


def _series(det, series: list, scores: list[np.ndarray]) -> Section:
    sec = Section("series", "Series and anomaly scores")
    for i, (s, sc) in enumerate(zip(series[:MAX_SERIES], scores)):
        flags = sc > det.threshold_
        caption = (f"{s.name}: {len(s)} steps; the score per timestep (higher = more anomalous) and the threshold "
                   f"{det.threshold_:.4g}; {int(flags.sum())} steps flagged"
                   + ("; labelled anomalies shaded." if s.labels is not None else "."))
        sec.add(f"fig-series-{i}", caption, plot_series_scores(s.values, sc, det.threshold_, labels=s.labels,
                                                               time=s.time, channels=s.channels, flags=flags))
    if len(series) > MAX_SERIES:
        sec.notes.append(f"series: {len(series) - MAX_SERIES} more series not drawn")
    return sec


def _picks(scores: np.ndarray, window: int, k: int, highest: bool) -> list[int]:
    """Starts of up to ``k`` non-overlapping windows with the highest (or lowest) mean score."""
    n = len(scores) - window + 1
    mean = np.convolve(scores, np.ones(window) / window, mode="valid")[:n]
    order = np.argsort(-mean if highest else mean, kind="stable")
    taken: list[int] = []
    for i in order:
        if all(abs(int(i) - j) >= window for j in taken):
            taken.append(int(i))
        if len(taken) == k:
            break
    return taken


def _windows(det, s, sc: np.ndarray) -> Section:
    from ..tasks.series import reconstruct_windows

    w = det.window_
    sec = Section("windows", "Reconstructions of windows")
    for tag, highest in (("anomalous", True), ("normal", False)):
        starts = _picks(sc, w, 4, highest)
        values = det.channel_values(s)
        rec = reconstruct_windows(det.model_, det._scale(values), w, np.asarray(starts))
        orig = np.stack([values[a:a + w] for a in starts])
        rec = det.preprocessor_.inverse_transform(rec.reshape(-1, rec.shape[-1])).reshape(rec.shape)
        titles = [f"steps {a}–{a + w - 1}, score {sc[a:a + w].mean():.3g}" for a in starts]
        sec.add(f"fig-windows-{tag}", f"The {len(starts)} most {tag} windows of {s.name} (solid) and their "
                                      "reconstructions (dashed), in data units.", plot_windows(orig, rec, titles))
    return sec


def _channels(det, s) -> Section:
    from ..tasks.series import error_map

    err = error_map(det.model_, det._scale(det.channel_values(s)), det.window_).mean(axis=0)
    sec = Section("channels", "Error per channel")
    sec.add("fig-channel-error", f"Mean squared reconstruction error of each channel of {s.name} (scaled units): "
                                 "the channels the model explains worst.", plot_channel_error(err, det.channel_names_))
    return sec


def build_series_report(run_dir: str | Path, det=None, series: list | None = None, *,
                        out: str | Path | None = None, plugins=()) -> Report:
    """Write ``run_dir/report.html`` (or ``out``) for a series run; ``det`` and ``series``
    (a list of :class:`aekit.data.series.Series`) skip reloading them when the caller has them."""
    from ..data.series import read_series
    from ..series_detector import SeriesDetector

    t0 = time.perf_counter()
    run = RunDir.of(run_dir).require_run()
    det = det if det is not None else SeriesDetector.load(run.path, plugins=plugins)
    if series is None:
        recorded = run.section("data").get("series", {})
        if recorded.get("source") is None:
            from ..errors import AekitError

            raise AekitError(f"{run.path}: the run does not record its series file; pass --data SERIES")
        got = read_series(recorded["source"], allow_constant=True, **(recorded.get("read") or {}))  # file or folder
        series = got if isinstance(got, list) else [got]
    metrics = run.read_metrics() if run.metrics_path.exists() else {}
    scores = [det.anomaly_score(s) for s in series[:MAX_SERIES]]
    sections, notes = collect([
        ("summary", lambda: _summary(run, det, metrics)), ("curves", lambda: _curves(run)),
        ("series", lambda: _series(det, series, scores)), ("windows", lambda: _windows(det, series[0], scores[0])),
        ("channels", lambda: _channels(det, series[0]))])
    title = f"aekit report: {type(det.model_).__name__} on series ({run.path.name})"
    path = run.write_report(_page(title, sections, notes), out)
    figs = [f[0] for s in sections for f in s.figures]
    return Report(path=path, figures=figs, notes=notes, seconds=time.perf_counter() - t0)
