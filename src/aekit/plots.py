"""Figures for the run report, drawn with matplotlib's Agg renderer into PNG bytes.

Every function takes plain numpy arrays (or history rows) and returns a
:class:`matplotlib.figure.Figure`; :func:`to_png` renders one. Figures are built on
``Figure`` objects directly, never through ``pyplot``, so importing this module changes no
global matplotlib state and needs no display.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

DPI = 100


def to_png(fig: Figure) -> bytes:
    """Render ``fig`` to PNG bytes (Agg)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def _grid_of(n: int, ncols: int = 3, w: float = 4.0, h: float = 3.0, title: str = "") -> tuple[Figure, list]:
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(w * ncols, h * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=13)
    return fig, axes[:n]


# -- training curves ---------------------------------------------------------------------------
def loss_curves(history: Sequence[dict[str, float]], terms: Sequence[str]) -> Figure:
    """One panel per loss term: training and validation value per epoch."""
    epochs = [r.get("epoch", i + 1) for i, r in enumerate(history)]
    fig, axes = _grid_of(len(terms), title="Training curves (mean per sample, per epoch)")
    for ax, term in zip(axes, terms):
        for split, style in (("train", "-o"), ("val", "--s")):
            ys = [r.get(f"{split}_{term}", math.nan) for r in history]
            if any(math.isfinite(v) for v in ys):
                ax.plot(epochs, ys, style, ms=3, lw=1.5, label="training" if split == "train" else "validation")
        finite = [v for r in history for k, v in r.items() if k.endswith("_" + term) and math.isfinite(v)]
        if finite and min(finite) > 0 and max(finite) / min(finite) > 30:
            ax.set_yscale("log")
        ax.set_title(term)
        ax.set_xlabel("epoch")
        ax.set_ylabel(term)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def schedule_curves(history: Sequence[dict[str, float]], names: Sequence[str]) -> Figure:
    """One panel per scheduled value (learning rate, noise level, β, k …) per epoch."""
    epochs = [r.get("epoch", i + 1) for i, r in enumerate(history)]
    fig, axes = _grid_of(len(names), ncols=4, w=3.5, h=2.6, title="Schedules")
    labels = {"lr": "learning rate", "noise_level": "noise level", "beta": "β (KL weight)"}
    for ax, name in zip(axes, names):
        ax.plot(epochs, [r.get(name, math.nan) for r in history], "-o", ms=3, color="tab:purple")
        ax.set_title(labels.get(name, name))
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    return fig


# -- images ------------------------------------------------------------------------------------
def _show(ax, img: np.ndarray) -> None:
    """(C, H, W) in [0, 1] → imshow without axes ticks."""
    img = np.clip(img, 0, 1)
    if img.shape[0] == 1:
        ax.imshow(img[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(img.transpose(1, 2, 0), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _strip(x: np.ndarray, pad: int = 1) -> np.ndarray:
    """(N, C, H, W) → (C, H, N·(W + pad)) one row of tiles with white separators."""
    n, c, h, w = x.shape
    out = np.ones((c, h, n * (w + pad) - pad), dtype=np.float32)
    for i in range(n):
        out[:, :, i * (w + pad): i * (w + pad) + w] = x[i]
    return out


def image_rows(rows: Sequence[tuple[str, np.ndarray]], title: str, xlabel: str = "") -> Figure:
    """Rows of images, each labelled: e.g. ("input", x), ("reconstruction", r)."""
    n = max(len(r) for _, r in rows)
    h, w = rows[0][1].shape[2:]
    fig = Figure(figsize=(min(14.0, 0.75 * n + 1.5), 0.85 * len(rows) * max(1.0, h / w) + 0.8), layout="constrained")
    axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    for ax, (label, x) in zip(axes, rows):
        _show(ax, _strip(x))
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=10)
    if xlabel:
        axes[-1].set_xlabel(xlabel)
    fig.suptitle(title, fontsize=13)
    return fig


def image_grid(x: np.ndarray, title: str, ncols: int = 8) -> Figure:
    """(N, C, H, W) images in a square-ish grid."""
    nrows = math.ceil(len(x) / ncols)
    fig = Figure(figsize=(0.8 * ncols + 0.4, 0.8 * nrows + 0.7), layout="constrained")
    ax = fig.subplots()
    tiles = [_strip(x[i * ncols:(i + 1) * ncols]) for i in range(nrows)]
    width = tiles[0].shape[2]
    rows = [np.pad(t, ((0, 0), (0, 1), (0, width - t.shape[2])), constant_values=1.0) for t in tiles]
    _show(ax, np.concatenate(rows, axis=1)[:, :-1])
    ax.set_title(title, fontsize=13)
    return fig


def traversal(grid: np.ndarray, dims: Sequence[int], xlabel: str, title: str) -> Figure:
    """grid (n_dims, n_steps, C, H, W): row i varies code unit ``dims[i]``, left to right."""
    return image_rows([(f"z[{d}]", grid[i]) for i, d in enumerate(dims)], title, xlabel=xlabel)


# -- latent space ------------------------------------------------------------------------------
def latent_map(z2: np.ndarray, labels: np.ndarray | None, method: str, label_names: dict | None = None) -> Figure:
    """Scatter of 2-D codes, coloured by label where labels exist."""
    fig = Figure(figsize=(6.5, 5.5), layout="constrained")
    ax = fig.subplots()
    if labels is None:
        ax.scatter(z2[:, 0], z2[:, 1], s=6, alpha=0.6, color="tab:blue")
    else:
        classes = np.unique(labels)
        import matplotlib

        palette = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
        for i, c in enumerate(classes):
            m = labels == c
            name = (label_names or {}).get(c, str(c))
            ax.scatter(z2[m, 0], z2[m, 1], s=6, alpha=0.7, color=palette(i % palette.N), label=name)
        ax.legend(title="label", markerscale=2.5, fontsize=8, loc="best")
    ax.set_title(f"Test codes in 2-D ({method})")
    ax.set_xlabel(f"{method} 1")
    ax.set_ylabel(f"{method} 2")
    ax.grid(alpha=0.3)
    return fig


# -- anomaly detection -------------------------------------------------------------------------
def score_histogram(scores: np.ndarray, y: np.ndarray) -> Figure:
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.subplots()
    logx = scores.min() > 0 and scores.max() / max(float(np.median(scores)), 1e-30) > 20  # heavy right tail
    bins = np.geomspace(scores.min(), scores.max(), 41) if logx else np.histogram_bin_edges(scores, bins=40)
    for cls, color, name in ((0, "tab:blue", "normal"), (1, "tab:red", "anomalous")):
        s = scores[y == cls]  # each group sums to 1: the groups compare whatever their sizes or the bin widths
        ax.hist(s, bins=bins, alpha=0.6, weights=np.full(len(s), 1 / max(len(s), 1)), color=color,
                label=f"{name} (n={len(s)})")
    if logx:
        ax.set_xscale("log")
    ax.set_title("Anomaly scores on the test set")
    ax.set_xlabel("anomaly score (higher = more anomalous)" + (", log scale" if logx else ""))
    ax.set_ylabel("fraction of the group")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def roc_pr(scores: np.ndarray, y: np.ndarray) -> tuple[Figure, float, float]:
    """ROC and precision-recall curves; returns (figure, AUROC, AUPRC)."""
    from sklearn.metrics import (
        average_precision_score,
        precision_recall_curve,
        roc_auc_score,
        roc_curve,
    )

    auroc, auprc = float(roc_auc_score(y, scores)), float(average_precision_score(y, scores))
    fpr, tpr, _ = roc_curve(y, scores)
    prec, rec, _ = precision_recall_curve(y, scores)
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    a, b = fig.subplots(1, 2)
    a.plot(fpr, tpr, lw=2, label=f"AUROC = {auroc:.3f}")
    a.plot([0, 1], [0, 1], ":", color="grey", label="chance (0.5)")
    a.set_title("ROC curve")
    a.set_xlabel("false positive rate")
    a.set_ylabel("true positive rate")
    b.plot(rec, prec, lw=2, color="tab:red", label=f"AUPRC = {auprc:.3f}")
    b.axhline(float(y.mean()), ls=":", color="grey", label=f"chance ({y.mean():.3f})")
    b.set_title("Precision-recall curve")
    b.set_xlabel("recall")
    b.set_ylabel("precision")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right" if ax is a else "upper right")
    return fig, auroc, auprc


# -- tabular -----------------------------------------------------------------------------------
def feature_error(err: dict[str, np.ndarray], names: Sequence[str]) -> Figure:
    """Bars of mean squared reconstruction error per feature, one bar group per entry of err."""
    k = len(names)
    fig = Figure(figsize=(min(14.0, max(6.0, 0.22 * k * len(err) + 2)), 4.2), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(err)
    colors = {"all test samples": "tab:blue", "normal": "tab:blue", "anomalous": "tab:red"}
    for i, (label, e) in enumerate(err.items()):
        ax.bar(np.arange(k) + (i - (len(err) - 1) / 2) * width, e, width=width, label=label,
               color=colors.get(label))
    ax.set_xticks(np.arange(k), names, rotation=90 if k > 12 else 0, fontsize=8)
    ax.set_title("Reconstruction error per feature (test set, preprocessed units)")
    ax.set_xlabel("feature")
    ax.set_ylabel("mean squared error")
    allv = np.concatenate(list(err.values()))
    if allv.min() > 0 and allv.max() / allv.min() > 100:
        ax.set_yscale("log")
    ax.grid(alpha=0.3, axis="y")
    if len(err) > 1:
        ax.legend()
    return fig
