"""Accuracy of anomaly scores on a time series: one label and one score per timestep.

``labels`` is (T,) with 1 = anomalous step; ``scores`` is (T,), higher = more anomalous;
``predictions`` (T,) 0/1 is a thresholded score. The definitions follow TSB-AD (Liu &
Paparrizos, NeurIPS 2024, ``TSB_AD/evaluation``, package version 1.5), against which
tests/test_series_metrics.py checks golden values; its per-threshold Python loops are
replaced here by one sort and cumulative sums, so VUS over 10^5 steps takes well under a second.

Threshold-free, on ``scores``:

- ``auc_roc``: area under the point-wise ROC curve, P(score of an anomalous step > score of a
  normal one), ties counted one half; 0.5 is chance.
- ``auc_pr``: average precision, Σ_k (R_k − R_{k−1}) P_k over the distinct thresholds (what
  TSB-AD reports as AUC-PR: scikit-learn's ``average_precision_score``, not a trapezoid).
  Chance is the anomaly rate.
- ``range_auc_roc``/``range_auc_pr``: R-AUC (Paparrizos et al., VLDB 2022, "Volume Under the
  Surface: A New Accuracy Evaluation Measure for Time-Series Anomaly Detection"). Each
  labelled range gets a buffer of ``window // 2`` steps on either side whose label decays as
  √(1 − d/window) with the distance d; at each of 250 thresholds (the scores at evenly
  spaced ranks) TP is the buffer-weighted count of predicted steps, recall is TP over
  P + (TP − TP_inside)/2 times the fraction of (buffered, merged) ranges hit, FPR is
  (predicted − TP) over the remaining mass, and the curves are integrated as TSB-AD does:
  ROC by trapezoids from (0, 0) to (1, 1), PR as Σ ΔTPR·precision.
- ``vus_roc``/``vus_pr``: Volume Under the Surface (same paper): the mean of R-AUC over every
  buffer length ℓ = 0, 1, …, ``window``, so no single buffer choice decides the ranking. This is
  TSB-AD's ``get_metrics(score, labels, slidingWindow=window)`` VUS-ROC / VUS-PR; VUS-PR is
  its headline metric (random scores reach about the anomaly rate).
- ``ucr_accuracy``: the UCR anomaly archive's rule (Wu & Keogh, 2021): 1.0 when the first
  maximum of the scores lies within ``margin`` steps of a labelled step, else 0.0.

On binary ``predictions``:

- ``event_f1``: TSB-AD's "Event-based-F1": recall over labelled events (an event counts when
  any of its steps is predicted), precision over predicted steps, and their harmonic mean.
- ``affiliation_f1``: the harmonic mean of affiliation precision and recall (Huet et al., KDD
  2022, "Local Evaluation of Time Series Anomaly Detection Algorithms"). The series is split
  into one zone per labelled event (boundaries halfway between events); within a zone,
  precision averages, over the predicted time, the probability that a uniformly random time
  of the zone is at least as far from the event, and recall averages, over the event, the
  same probability for the distance to the nearest prediction. Step i is the interval
  [i, i+1). Zones without prediction are left out of the precision average.
- ``point_adjusted_f1``: LEGACY. Point-wise F1 after marking a whole labelled event as
  detected when any one of its steps is. Random scores reach high values under point
  adjustment (Kim et al., AAAI 2022, "Towards a Rigorous Evaluation of Time-series Anomaly
  Detection"): with long events one lucky step counts as the whole event. It is here only to
  compare with older papers that report it; do not rank detectors by it.

Deliberate differences from TSB-AD 1.5, in edge cases only: an event that ends on the last
step counts that step (TSB-AD's event list ends it one step early, so a one-step event there
is never detected); point adjustment reaches back to step 0 (TSB-AD's loop stops at step 1);
with no predicted step at all, affiliation precision and F1 are 0 here (TSB-AD gives NaN).
"""

from __future__ import annotations

import numpy as np

from ..errors import AekitError

__all__ = ["affiliation_f1", "auc_pr", "auc_roc", "event_f1", "point_adjusted_f1", "range_auc_pr",
           "range_auc_roc", "series_metrics", "ucr_accuracy", "vus_pr", "vus_roc"]


def _binary(x, name: str, n: int | None = None) -> np.ndarray:
    """``x`` as a bool array after checking it is 1-D, of length ``n`` if given, and 0/1."""
    x = np.asarray(x)
    if x.ndim != 1 or x.size == 0:
        raise AekitError(f"{name} must be a non-empty 1-D array (one value per timestep); got shape {x.shape}")
    if n is not None and len(x) != n:
        raise AekitError(f"{name} has {len(x)} values but labels has {n}; give one value per timestep")
    if x.dtype == bool:
        return x
    if not np.issubdtype(x.dtype, np.number) or not np.isin(x, (0, 1)).all():
        hint = "; threshold the scores first" if name == "predictions" else ""
        raise AekitError(f"{name} must hold only 0 and 1 (1 = anomalous){hint}")
    return x.astype(bool)


def _check(labels, scores=None, predictions=None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Validated (labels as bool, scores as float64, predictions as bool); labels must hold
    both an anomalous and a normal step, which every metric here needs."""
    y = _binary(labels, "labels")
    if not y.any() or y.all():
        raise AekitError("labels must hold at least one anomalous (1) and one normal (0) step")
    s = None
    if scores is not None:
        s = np.asarray(scores)
        if s.ndim != 1 or len(s) != len(y):
            raise AekitError(f"scores must be 1-D with one value per label ({len(y)}); got shape {s.shape}")
        if not np.issubdtype(s.dtype, np.number) or np.iscomplexobj(s):
            raise AekitError(f"scores must be real numbers; got dtype {s.dtype}")
        s = s.astype(np.float64)
        if not np.isfinite(s).all():
            raise AekitError("scores hold NaN or inf; replace them (e.g. np.nan_to_num) before scoring")
    p = None if predictions is None else _binary(predictions, "predictions", len(y))
    return y, s, p


def _events(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends (inclusive) of the runs of True in ``y``."""
    d = np.diff(np.concatenate(([0], y.astype(np.int8), [0])))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1


def auc_roc(labels, scores) -> float:
    """Point-wise area under the ROC curve (midranks: ties count one half)."""
    y, s, _ = _check(labels, scores)
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    midrank = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]  # 1-based rank, ties averaged
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    return float((midrank[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auc_pr(labels, scores) -> float:
    """Point-wise average precision Σ (R_k − R_{k−1}) P_k over the distinct score thresholds."""
    y, s, _ = _check(labels, scores)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # end of each group of tied scores
    tp = np.cumsum(y)[last]
    precision = tp / (last + 1.0)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def _surface(y: np.ndarray, s: np.ndarray, windows, thresholds: int) -> tuple[np.ndarray, np.ndarray]:
    """R-AUC-ROC and R-AUC-PR at each buffer length in ``windows`` (VUS averages them)."""
    T = len(y)
    if isinstance(thresholds, bool) or not isinstance(thresholds, (int, np.integer)) or thresholds < 1:
        raise AekitError(f"thresholds must be a positive integer (TSB-AD uses 250); got {thresholds!r}")
    starts, ends = _events(y)
    P = float(y.sum())
    thr = np.sort(s)[::-1][np.linspace(0, T - 1, thresholds).astype(int)]  # (K,), non-increasing
    K = thresholds
    # step t is predicted at threshold k (score >= thr[k]) from k = first[t] on; first = K: never
    first = K - np.searchsorted(thr[::-1], s, side="right")
    n_pred = np.cumsum(np.bincount(first, minlength=K + 1)[:K]).astype(np.float64)
    tp_inside = np.cumsum(np.bincount(first[y], minlength=K + 1)[:K]).astype(np.float64)
    first_pad = np.r_[first, K]  # a sentinel so a range may end on the last step
    auc, ap = [], []
    for w in windows:
        h = w // 2
        ext = y.astype(np.float64)
        if h:  # buffers of h steps decaying as sqrt(1 - d/w), summed where they overlap, capped at 1
            d = np.arange(1, h + 1)
            ramp = np.sqrt(1.0 - d / w)
            after = (ends[:, None] + d).ravel()
            before = (starts[:, None] - d).ravel()
            idx = np.r_[after, before]
            keep = (idx >= 0) & (idx < T)
            ext += np.bincount(idx[keep], weights=np.tile(ramp, 2 * len(starts))[keep], minlength=T)
            np.minimum(ext, 1.0, out=ext)
        tp = np.cumsum(np.bincount(first, weights=ext, minlength=K + 1)[:K])
        # buffered ranges closer than 2h merge into one (TSB-AD's new_sequence); hit = any predicted step
        split = np.flatnonzero(ends[:-1] + h < starts[1:] - h)
        lo = np.maximum(starts[np.r_[0, split + 1]] - h, 0)
        hi = np.minimum(ends[np.r_[split, len(ends) - 1]] + h, T - 1)
        hit_from = np.minimum.reduceat(first_pad, np.column_stack([lo, hi + 1]).ravel())[::2]
        existence = np.cumsum(np.bincount(hit_from, minlength=K + 1)[:K]) / len(lo)
        p_new = P + (tp - tp_inside) / 2.0
        tpr = np.minimum(tp / p_new, 1.0) * existence
        fpr = (n_pred - tp) / (T - p_new)
        precision = tp / n_pred
        tpr_c, fpr_c = np.r_[0.0, tpr, 1.0], np.r_[0.0, fpr, 1.0]
        auc.append(np.sum(np.diff(fpr_c) * (tpr_c[1:] + tpr_c[:-1]) / 2.0))
        ap.append(np.sum(np.diff(np.r_[0.0, tpr]) * precision))
    return np.asarray(auc), np.asarray(ap)


def _window(window) -> int:
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 0:
        raise AekitError(f"window must be a non-negative integer number of steps (e.g. the period); got {window!r}")
    return int(window)


def range_auc_roc(labels, scores, window: int, *, thresholds: int = 250) -> float:
    """R-AUC-ROC with buffers of ``window // 2`` steps around each labelled range."""
    y, s, _ = _check(labels, scores)
    return float(_surface(y, s, [_window(window)], thresholds)[0][0])


def range_auc_pr(labels, scores, window: int, *, thresholds: int = 250) -> float:
    """R-AUC-PR with buffers of ``window // 2`` steps around each labelled range."""
    y, s, _ = _check(labels, scores)
    return float(_surface(y, s, [_window(window)], thresholds)[1][0])


def vus_roc(labels, scores, window: int, *, thresholds: int = 250) -> float:
    """Volume under the ROC surface: mean R-AUC-ROC over buffer lengths 0..``window``."""
    y, s, _ = _check(labels, scores)
    return float(_surface(y, s, range(_window(window) + 1), thresholds)[0].mean())


def vus_pr(labels, scores, window: int, *, thresholds: int = 250) -> float:
    """Volume under the PR surface: mean R-AUC-PR over buffer lengths 0..``window``."""
    y, s, _ = _check(labels, scores)
    return float(_surface(y, s, range(_window(window) + 1), thresholds)[1].mean())


def _f1(p: float, r: float) -> float:
    return 2.0 * p * r / (p + r) if p + r > 0 else 0.0


def event_f1(labels, predictions) -> float:
    """Event-wise recall (events with a predicted step) and point-wise precision, harmonic mean."""
    y, _, p = _check(labels, predictions=predictions)
    starts, ends = _events(y)
    seen = np.r_[0, np.cumsum(p)]  # predicted steps before each step
    hit = seen[ends + 1] > seen[starts]
    precision = float((y & p).sum() / p.sum()) if p.any() else 0.0
    return _f1(precision, float(hit.mean()))


def point_adjusted_f1(labels, predictions) -> float:
    """LEGACY point-adjusted F1: random scores score high on it (see the module docstring)."""
    y, _, p = _check(labels, predictions=predictions)
    starts, ends = _events(y)
    run = np.zeros(len(y), dtype=np.int64)
    run[starts] = 1
    run = np.cumsum(run)  # on labelled steps: the number (1..n) of their event
    detected = np.zeros(len(starts) + 1, dtype=bool)
    detected[run[y & p]] = True
    adjusted = p | (y & detected[run])
    tp = float((adjusted & y).sum())
    return float(2 * tp / (adjusted.sum() + y.sum()))


def _affiliation(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Affiliation (precision, recall); step i is the interval [i, i+1), the series is [0, T)."""
    T = len(y)
    gs, ge = _events(y)
    ge = ge + 1.0
    ps, pe = _events(p)
    pe = pe + 1.0
    zone_lo = np.r_[0.0, (ge[:-1] + gs[1:]) / 2]
    zone_hi = np.r_[(ge[:-1] + gs[1:]) / 2, float(T)]
    precisions, recalls = [], []
    for j0, j1, e0, e1 in zip(gs, ge, zone_lo, zone_hi):
        a, b = np.maximum(ps, e0), np.minimum(pe, e1)  # predictions clipped to the zone
        a, b = a[a < b], b[a < b]
        if not len(a):
            recalls.append(0.0)
            continue
        size = e1 - e0
        m = min(j0 - e0, e1 - j1)
        # precision: over predicted time x, P(random zone time at least as far from [j0, j1]) =
        # 1 inside the event, else 1 - (|J| + d + min(d, m)) / |E|; linear between the cuts below
        cuts = np.sort(np.column_stack([a, b] + [np.clip(c, a, b) for c in (j0 - m, j0, j1, j1 + m)]), axis=1)
        mid, width = (cuts[:, 1:] + cuts[:, :-1]) / 2, np.diff(cuts, axis=1)
        d = np.maximum(np.maximum(j0 - mid, mid - j1), 0.0)
        f = np.where(d > 0, 1.0 - ((j1 - j0) + d + np.minimum(d, m)) / size, 1.0)
        precisions.append(float((f * width).sum() / (b - a).sum()))
        # recall: over the event's time t, 1 inside a prediction, else 1 - (d + min(d, m_t)) / |E|
        # with d the distance to the nearest prediction and m_t the distance to the zone's edge
        ends_ = np.r_[a, b]
        cuts = np.unique(np.clip(np.r_[j0, j1, (e0 + e1) / 2, ends_, (b[:-1] + a[1:]) / 2,
                                      (ends_ + e0) / 2, (ends_ + e1) / 2], j0, j1))
        mid, width = (cuts[1:] + cuts[:-1]) / 2, np.diff(cuts)
        k = np.searchsorted(a, mid, side="right") - 1  # the last prediction starting at or before t
        left = np.where(k >= 0, mid - b[np.maximum(k, 0)], np.inf)  # < 0: t is inside it
        right = np.where(k + 1 < len(a), a[np.minimum(k + 1, len(a) - 1)] - mid, np.inf)
        d = np.maximum(np.minimum(left, right), 0.0)
        d_edge = np.minimum(mid - e0, e1 - mid)
        f = np.where(d > 0, 1.0 - (d + np.minimum(d, d_edge)) / size, 1.0)
        recalls.append(float((f * width).sum() / (j1 - j0)))
    return (float(np.mean(precisions)) if precisions else 0.0), float(np.mean(recalls))


def affiliation_f1(labels, predictions) -> float:
    """Harmonic mean of affiliation precision and recall (Huet et al. 2022)."""
    y, _, p = _check(labels, predictions=predictions)
    return _f1(*_affiliation(y, p))


def ucr_accuracy(labels, scores, margin: int = 100) -> float:
    """1.0 when the first maximum of ``scores`` is within ``margin`` steps of a labelled step."""
    y, s, _ = _check(labels, scores)
    if isinstance(margin, bool) or not isinstance(margin, (int, np.integer)) or margin < 0:
        raise AekitError(f"margin must be a non-negative integer number of steps (the UCR rule uses 100); got {margin!r}")
    return float(np.abs(np.flatnonzero(y) - int(np.argmax(s))).min() <= margin)


def series_metrics(labels, scores, *, window: int, predictions=None, thresholds: int = 250,
                   margin: int = 100) -> dict[str, float]:
    """Every metric of this module at once (one pass for R-AUC and VUS); the F1 family and the
    affiliation precision/recall only when ``predictions`` are given."""
    y, s, p = _check(labels, scores, predictions)
    w = _window(window)
    roc, pr = _surface(y, s, range(w + 1), thresholds)
    out = {"auc_roc": auc_roc(y, s), "auc_pr": auc_pr(y, s), "range_auc_roc": float(roc[-1]),
           "range_auc_pr": float(pr[-1]), "vus_roc": float(roc.mean()), "vus_pr": float(pr.mean()),
           "ucr_accuracy": ucr_accuracy(y, s, margin)}
    if p is not None:
        precision, recall = _affiliation(y, p)
        out.update({"event_f1": event_f1(y, p), "affiliation_precision": precision, "affiliation_recall": recall,
                    "affiliation_f1": _f1(precision, recall), "point_adjusted_f1": point_adjusted_f1(y, p)})
    return out
