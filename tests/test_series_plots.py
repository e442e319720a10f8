"""Figures of a scored series (aekit.report.series_plots): PNGs of the expected pixel size,
spikes that survive downsampling, a 10⁶-step series, and a real SKAB run end to end."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from aekit.errors import AekitError
from aekit.report.series_plots import min_max, plot_channel_error, plot_series_scores, plot_windows
from aekit.tasks.thresholds import events, events_table, pot_threshold

SKAB = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "timeseries" / "skab" / "data" / "valve1" / "0.csv"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    return struct.unpack(">II", data[16:24])  # IHDR width, height


def test_series_scores_png_has_a_panel_per_channel_up_to_eight(tmp_path):
    rng = np.random.default_rng(0)
    values, scores = rng.standard_normal((500, 3)), rng.random(500)
    labels = np.zeros(500, int)
    labels[200:230] = 1
    fig = plot_series_scores(values, scores, 0.9, labels=labels, flags=scores > 0.9,
                             channels=["a", "b", "c"], path=tmp_path / "s.png")
    assert png_size(tmp_path / "s.png") == (1200, 700)  # 12 in × (3 · 1.6 + 2.2) in at 100 dpi
    assert len(fig.axes) == 4 and [ax.get_ylabel() for ax in fig.axes] == ["a", "b", "c", "score"]
    plot_series_scores(rng.standard_normal((500, 12)), scores, np.full(500, 0.9), path=tmp_path / "wide.png")
    assert png_size(tmp_path / "wide.png") == (1200, 1500)  # 8 panels drawn, not 12


def test_downsampling_keeps_a_single_spike():
    x = np.zeros(1_000_000)
    x[123_457] = 50.0
    x[777_777] = -20.0
    starts = np.arange(0, len(x), 500)
    xs, ys = min_max(x, starts, np.arange(len(x)))
    assert len(ys) == 4000 and ys.max() == 50.0 and ys.min() == -20.0
    assert xs[np.argmax(ys)] == 123_000  # the bucket of the spike
    short = np.arange(10.0)
    assert min_max(short, np.arange(10), np.arange(10))[1] is short  # short series pass through


def test_a_million_step_series_plots(tmp_path):
    rng = np.random.default_rng(0)
    n = 1_000_000
    values = np.cumsum(rng.standard_normal((n, 2)), axis=0)
    scores = rng.random(n)
    scores[500_000] = 40.0
    time = np.datetime64("2024-01-01T00:00:00") + np.arange(n).astype("timedelta64[s]")
    labels = np.zeros(n, bool)
    labels[499_990:500_010] = True
    fig = plot_series_scores(values, scores, np.full(n, 0.999), labels=labels, flags=scores > 0.999,
                             time=time, path=tmp_path / "m.png")
    assert png_size(tmp_path / "m.png") == (1200, 540)
    line = fig.axes[-1].lines[0]  # the score, downsampled to 2,000 buckets with the spike kept
    assert len(line.get_ydata()) == 4000 and max(line.get_ydata()) == 40.0


def test_windows_and_channel_error_pngs(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 50, 2))
    plot_windows(x, x + 0.1, [f"window at {i * 50}" for i in range(6)], path=tmp_path / "w.png")
    assert png_size(tmp_path / "w.png") == (1600, 570)  # 4 columns × 4 in, 2 rows × 2.6 in + 0.5 in
    fig = plot_windows(x[:2, :, 0], x[:2, :, 0])  # one channel, (k, W); no file
    assert len([a for a in fig.axes if a.get_visible()]) == 2
    fig = plot_channel_error([0.1, 0.5, 0.2, 2.0, 0.05], ["p", "q", "r", "s", "t"], path=tmp_path / "e.png")
    assert png_size(tmp_path / "e.png") == (600, 420)
    heights = [b.get_height() for b in fig.axes[0].patches]
    assert heights == pytest.approx([0.1, 0.5, 0.2, 2.0, 0.05])


@pytest.mark.parametrize("call, words", [
    (lambda: plot_series_scores(np.zeros((5, 2)), np.zeros(4), 1.0), "scores: shape (4,) for a series of 5 steps"),
    (lambda: plot_series_scores(np.zeros(5), np.zeros(5), np.zeros(3)), "threshold: one number or one per step (5)"),
    (lambda: plot_series_scores(np.zeros(5), np.zeros(5), 1.0, channels=["a", "b"]), "channels: 2 names for 1"),
    (lambda: plot_series_scores(np.zeros(5), np.zeros(5), 1.0, labels=[1]), "labels: shape (1,)"),
    (lambda: plot_series_scores(np.zeros(2), np.zeros(2), 1.0, time=["x", "y"]), "time: cannot read 'x'"),
    (lambda: plot_windows(np.zeros((2, 5, 1)), np.zeros((2, 4, 1))), "recon: shape (2, 4, 1) differs"),
    (lambda: plot_windows(np.zeros((2, 5, 1)), np.zeros((2, 5, 1)), ["one"]), "titles: 1 titles for 2 windows"),
    (lambda: plot_channel_error([1.0, 2.0], ["a"]), "channels: 1 names for 2 channels"),
])
def test_bad_input_gets_a_one_line_error(call, words):
    with pytest.raises(AekitError) as err:
        call()
    assert words in str(err.value) and "\n" not in str(err.value)


def test_a_skab_run_end_to_end(tmp_path):
    """SKAB valve1/0 with the benchmark's split (first 400 rows train): a per-step score (mean
    squared z-score of the 8 sensors, standardized on the training rows), a POT threshold from
    the training scores alone, events with the run's time stamps, and the figure."""
    if not SKAB.exists():
        pytest.skip(f"SKAB is not at {SKAB} (../shared/data)")
    raw = np.genfromtxt(SKAB, delimiter=";", names=True, dtype=None, encoding="utf-8")
    sensors = raw.dtype.names[1:9]
    values = np.stack([raw[k] for k in sensors], 1).astype(float)  # (1147, 8)
    labels = raw["anomaly"].astype(int)
    mu, sd = values[:400].mean(0), values[:400].std(0)
    scores = (((values - mu) / sd) ** 2).mean(1)
    z = pot_threshold(scores[:400], risk=0.01, level=0.95)  # 20 peaks of 400 scores
    flags = scores > z
    found = events(flags, scores, time=raw["datetime"], min_gap=5, min_length=3)
    rows = events_table(found)
    assert rows and all(r["start_time"] == raw["datetime"][r["start"]] for r in rows)
    assert labels[:400].sum() == 0 and labels[400:][flags[400:]].mean() > 0.5  # most flags are labelled anomalies
    plot_series_scores(values, scores, z, labels=labels, time=raw["datetime"], channels=sensors, flags=flags,
                       path=tmp_path / "skab.png")
    assert png_size(tmp_path / "skab.png") == (1200, 1500)
