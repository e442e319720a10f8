"""Figures of a scored series: the series with its anomaly score, windows with their
reconstructions, and the reconstruction error of each channel.

Each function builds a :class:`matplotlib.figure.Figure` (Agg, never ``pyplot``, as
:mod:`aekit.plots`), writes it as a PNG of exactly ``figsize × DPI`` pixels when given a
``path``, and returns it, so the report can embed the same figure (``Section.add``).

A long series is drawn from at most ``max_points`` buckets of consecutive steps, each drawn
as a vertical stroke from its minimum to its maximum: one spike among 10⁶ steps still
reaches its full height, which a plot of every k-th step would miss; drawing stays O(T).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..errors import AekitError
from ..plots import DPI

MAX_CHANNELS = 8  # stacked series panels; more channels are named in the title, not drawn
PANEL_H, SCORE_H, WIDTH = 1.6, 2.2, 12.0  # inches: per channel panel, score panel, figure width


def _save(fig: Figure, path: str | Path | None) -> Figure:
    """Write ``fig`` to ``path`` (PNG, ``figsize × DPI`` pixels, no tight cropping) if given."""
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png", dpi=DPI)
    return fig


def _time_axis(time, length: int) -> np.ndarray:
    """The x coordinate of every step: ``time`` (numbers or datetimes) or 0 … T − 1."""
    if time is None:
        return np.arange(length)
    t = np.asarray(time)
    if t.shape != (length,):
        raise AekitError(f"time: {t.shape[0] if t.ndim else 0} time stamps for {length} steps; pass one per step")
    if t.dtype.kind in "USO":  # ISO strings from a CSV file
        try:
            t = t.astype("datetime64[ns]")
        except ValueError as e:
            raise AekitError(f"time: cannot read {str(t[0])!r} as a date and time; pass numbers or ISO 8601 strings") from e
    return t


def buckets(length: int, max_points: int) -> np.ndarray:
    """Start of each bucket of consecutive steps: at most ``max_points`` buckets (every step its
    own bucket when the series is short enough)."""
    size = max(1, math.ceil(length / max_points))
    return np.arange(0, length, size)


def min_max(x: np.ndarray, starts: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x coordinates, values) tracing each bucket's minimum then maximum, for ``ax.plot``:
    ``x`` (T,) or (T, C) → (2B,) and (2B,) or (2B, C). Buckets of one step pass through."""
    if len(starts) == len(x):
        return t, x
    lo, hi = np.minimum.reduceat(x, starts, axis=0), np.maximum.reduceat(x, starts, axis=0)
    return np.repeat(t[starts], 2), np.stack([lo, hi], axis=1).reshape(2 * len(starts), *x.shape[1:])


def _shade(ax, t: np.ndarray, mask: np.ndarray, color: str, lo: float = 0.0, hi: float = 1.0, label=None) -> None:
    """Shade the x ranges where ``mask`` (one per bucket start in ``t``) holds, between axes
    fractions ``lo`` and ``hi``: one artist however many regions there are."""
    if mask.any():
        ax.fill_between(t, lo, hi, where=mask, step="post", color=color, alpha=0.25, lw=0,
                        transform=ax.get_xaxis_transform(), label=label)


def plot_series_scores(values, scores, threshold, labels=None, time=None, channels: Sequence[str] | None = None,
                       flags=None, path: str | Path | None = None, max_points: int = 2000) -> Figure:
    """A series and its anomaly score, one figure: each channel of ``values`` (T,) or (T, C) in
    a panel (the first :data:`MAX_CHANNELS`), then ``scores`` (T,) with ``threshold`` (a number,
    or one per step as :func:`aekit.tasks.thresholds.spot` gives). ``labels`` (T,) 0/1 shade the
    labelled anomalies in every panel; ``flags`` (T,) 0/1 mark the detected ones (a red band
    and a dot at the top score of each event). ``time`` (T,) numbers or datetimes label the x
    axis; ``channels`` names the channels."""
    v = np.asarray(values, dtype=np.float64)
    v = v[:, None] if v.ndim == 1 else v
    if v.ndim != 2 or len(v) == 0:
        raise AekitError(f"values: a series is (steps,) or (steps, channels) with steps > 0, got shape {v.shape}")
    n, c = v.shape
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != (n,):
        raise AekitError(f"scores: shape {s.shape} for a series of {n} steps; pass one score per step")
    thr = np.asarray(threshold, dtype=np.float64)
    if thr.ndim and thr.shape != (n,):
        raise AekitError(f"threshold: one number or one per step ({n}), got shape {thr.shape}")
    names = [f"channel {i}" for i in range(c)] if channels is None else [str(x) for x in channels]
    if len(names) != c:
        raise AekitError(f"channels: {len(names)} names for {c} channels; pass one name per channel")
    marks = {}
    for name, a in (("labels", labels), ("flags", flags)):
        if a is not None:
            a = np.asarray(a)
            if a.shape != (n,):
                raise AekitError(f"{name}: shape {a.shape} for a series of {n} steps; pass one 0/1 per step")
            marks[name] = a.astype(bool)
    t = _time_axis(time, n)
    starts = buckets(n, max_points)
    shown = min(c, MAX_CHANNELS)

    fig = Figure(figsize=(WIDTH, PANEL_H * shown + SCORE_H), layout="constrained")
    axes = fig.subplots(shown + 1, 1, sharex=True, height_ratios=[PANEL_H] * shown + [SCORE_H])
    # the shaded masks: one value per bucket, held to the next bucket's start (and the last step)
    tb = np.concatenate([t[starts], t[-1:]])

    def per_bucket(key: str) -> np.ndarray | None:
        if key not in marks:
            return None
        m = np.maximum.reduceat(marks[key], starts)  # any marked step in the bucket
        return np.append(m, m[-1:])

    label_mask, flag_mask = per_bucket("labels"), per_bucket("flags")
    xs, ys = min_max(v[:, :shown], starts, t)
    for i, ax in enumerate(axes[:shown]):
        ax.plot(xs, ys[:, i], lw=0.7, color="tab:blue")
        ax.set_ylabel(names[i], rotation=0, ha="right", va="center", fontsize=9)
        if label_mask is not None:
            _shade(ax, tb, label_mask, "tab:orange")
        ax.grid(alpha=0.3)
    ax = axes[-1]
    xs, ys = min_max(s, starts, t)
    ax.plot(xs, ys, lw=0.7, color="black", label="anomaly score")
    if thr.ndim:
        tx, ty = min_max(thr, starts, t)
        ax.plot(tx, ty, lw=1.2, ls="--", color="tab:red", label="threshold")
    else:
        ax.axhline(float(thr), lw=1.2, ls="--", color="tab:red", label=f"threshold {float(thr):.4g}")
    if label_mask is not None:
        _shade(ax, tb, label_mask, "tab:orange", label="labelled anomaly")
    if flag_mask is not None:
        _shade(ax, tb, flag_mask, "tab:red", 0.92, 1.0, label="flagged")
        _mark_peaks(ax, marks["flags"], s, t)
    if np.nanmin(s) > 0 and np.nanmax(s) / max(np.nanmedian(s), 1e-300) > 100:
        ax.set_yscale("log")  # a few huge scores would flatten the rest
    ax.set_ylabel("score", rotation=0, ha="right", va="center", fontsize=9)
    ax.set_xlabel("time" if time is not None else "step")
    ax.grid(alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=5, fontsize=8, frameon=False)
    more = f" (first {shown} of {c} channels)" if c > shown else ""
    fig.suptitle(f"Series and anomaly score, {n:,} steps{more}", fontsize=12)
    return _save(fig, path)


def _mark_peaks(ax, flags: np.ndarray, scores: np.ndarray, t: np.ndarray, most: int = 200) -> None:
    """A dot at the highest score of each flagged run (the ``most`` highest runs)."""
    edges = np.diff(np.concatenate([[0], flags.view(np.int8), [0]]))
    a, b = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if not len(a):
        return
    tops = np.maximum.reduceat(np.where(flags, scores, -np.inf), a)  # each run's top (gaps hold −inf)
    keep = np.argsort(tops)[::-1][:most]
    peaks = [a[k] + int(np.argmax(scores[a[k]:b[k]])) for k in keep]
    ax.plot(t[peaks], scores[peaks], "o", ms=4, color="tab:red", zorder=3)


def plot_windows(original, recon, titles: Sequence[str] | None = None, path: str | Path | None = None,
                 ncols: int = 4) -> Figure:
    """A few windows of a series, ``original`` (k, W, C) in solid lines and their reconstructions
    ``recon`` (k, W, C) dashed, one panel per window (the first :data:`MAX_CHANNELS` channels,
    one colour each); ``titles`` (k,) name the panels, e.g. "step 1200, score 3.1"."""
    x, r = np.asarray(original, dtype=np.float64), np.asarray(recon, dtype=np.float64)
    if x.ndim == 2:  # windows of one channel
        x = x[..., None]
        r = r[..., None] if r.ndim == 2 else r
    if x.ndim != 3 or len(x) == 0:
        raise AekitError(f"original: windows are (k, W, C) with k > 0, got shape {x.shape}")
    if r.shape != x.shape:
        raise AekitError(f"recon: shape {r.shape} differs from the windows' {x.shape}; pass one reconstruction per window")
    k = len(x)
    if titles is not None and len(titles) != k:
        raise AekitError(f"titles: {len(titles)} titles for {k} windows; pass one per window")
    cols = min(ncols, k)
    rows = math.ceil(k / cols)
    fig = Figure(figsize=(4.0 * cols, 2.6 * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    steps = np.arange(x.shape[1])
    for i, ax in enumerate(axes):
        if i >= k:
            ax.set_visible(False)
            continue
        for ch in range(min(x.shape[2], MAX_CHANNELS)):
            color = f"C{ch}"
            ax.plot(steps, x[i, :, ch], lw=1.0, color=color, label="input" if ch == 0 else None)
            ax.plot(steps, r[i, :, ch], lw=1.0, ls="--", color=color, label="reconstruction" if ch == 0 else None)
        ax.set_title(titles[i] if titles is not None else f"window {i}", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle("Windows (solid) and their reconstructions (dashed)", fontsize=12)
    return _save(fig, path)


def plot_channel_error(errors, channels: Sequence[str] | None = None, path: str | Path | None = None) -> Figure:
    """Bars of the mean reconstruction error of each channel, ``errors`` (C,), named by
    ``channels``: which sensors the model explains worst."""
    e = np.asarray(errors, dtype=np.float64).reshape(-1)
    if len(e) == 0:
        raise AekitError("errors: no channels; pass one mean error per channel")
    names = [f"{i}" for i in range(len(e))] if channels is None else [str(c) for c in channels]
    if len(names) != len(e):
        raise AekitError(f"channels: {len(names)} names for {len(e)} channels; pass one name per channel")
    fig = Figure(figsize=(min(14.0, max(6.0, 0.3 * len(e) + 2)), 4.2), layout="constrained")
    ax = fig.subplots()
    ax.bar(np.arange(len(e)), e, color="tab:blue")
    ax.set_xticks(np.arange(len(e)), names, rotation=90 if len(e) > 12 else 0, fontsize=8)
    finite = e[np.isfinite(e)]
    if len(finite) and finite.min() > 0 and finite.max() / finite.min() > 100:
        ax.set_yscale("log")
    ax.set_title("Reconstruction error per channel")
    ax.set_xlabel("channel")
    ax.set_ylabel("mean error")
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)
