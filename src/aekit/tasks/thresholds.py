"""Thresholds on anomaly scores without labels, and the anomaly events of a series.

A model trained on normal data gives normal data low scores; a threshold turns scores into
flags. Two ways to choose it from the scores of normal (training or calibration) data alone:

    quantile   z = the (1 − contamination) quantile of the normal scores: a fixed fraction
               of normal data is flagged (the rule :func:`aekit.tasks.anomaly.threshold` uses)
    POT        Peaks-Over-Threshold (Siffer et al. 2017, "Anomaly Detection in Streams with
               Extreme Value Theory", KDD): the excesses Y = X − t over a high initial
               threshold t (the ``level`` quantile) follow a Generalized Pareto Distribution
               (Pickands–Balkema–de Haan), P(X − t > y | X > t) ≈ (1 + γ y / σ)^(−1/γ), so the
               score exceeded with probability q (``risk``) is

                   z_q = t + (σ/γ) · ((q n / N_t)^(−γ) − 1)      (γ ≠ 0)
                   z_q = t − σ · ln(q n / N_t)                     (γ = 0, the exponential limit)

               with n scores, N_t of them above t. The risk can be far smaller than 1/n: the
               tail is extrapolated rather than read off the sample.

γ and σ are the maximum-likelihood estimates, found by Grimshaw's (1993) reduction to one
variable θ = γ/σ: a stationary point of the likelihood is a root of

    w(θ) = u(θ) v(θ) − 1,   u(θ) = 1 + mean log(1 + θY),   v(θ) = mean 1 / (1 + θY),

with γ = u(θ) − 1 and σ = γ/θ; θ > −1/max Y. Every sign change of w on a grid over
(−1/max Y, 0) and (0, 2(Ȳ − min Y)/min Y²] is refined to a root (Brent), and the candidate of
highest likelihood wins, the exponential fit (γ = 0, σ = Ȳ) included.

:func:`spot` is the streaming variant (SPOT): the threshold is refitted each time a test
score falls between t and the current z_q (a new peak); a score above z_q is an anomaly and
is neither a peak nor counted in n, so anomalies do not raise the threshold.

:func:`events` merges flagged steps of a series into intervals, :func:`events_table` turns
them into rows for a CSV file. Numpy only: nothing here needs a model.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from scipy.optimize import brentq

from ..errors import AekitError

MIN_PEAKS = 10  # fewer excesses than this give a GPD fit too noisy to extrapolate from


def _scores(x, name: str) -> np.ndarray:
    """``x`` as a 1-D float64 array: non-empty and finite, or a one-line error."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 2 and 1 in a.shape:  # a column or a row of scores
        a = a.reshape(-1)
    if a.ndim != 1:
        raise AekitError(f"{name}: scores must be one number per point (1-D), got shape {a.shape}")
    if a.size == 0:
        raise AekitError(f"{name}: no scores; pass the scores of at least one point")
    bad = ~np.isfinite(a)
    if bad.any():
        raise AekitError(f"{name}: {int(bad.sum())} NaN or infinite scores (first at index "
                         f"{int(np.flatnonzero(bad)[0])}); remove them or fix the scoring")
    return a


def check_contamination(contamination: float) -> None:
    """The fraction of normal data a threshold may flag: in (0, 0.5], else one line."""
    if not 0 < contamination <= 0.5:
        raise AekitError(f"contamination: must be in (0, 0.5], got {contamination!r}")


def quantile_threshold(train_scores, contamination: float = 0.01) -> float:
    """The (1 − ``contamination``) quantile of the scores of normal data (linear
    interpolation): about a ``contamination`` fraction of normal points lie above it."""
    check_contamination(contamination)
    return float(np.quantile(_scores(train_scores, "train_scores"), 1.0 - contamination))


# -- the Generalized Pareto fit (Grimshaw) ------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class GPDFit:
    """Maximum-likelihood GPD parameters of a sample of excesses: shape γ, scale σ > 0, and
    the log-likelihood they reach."""

    gamma: float
    sigma: float
    loglik: float


def gpd_loglik(y: np.ndarray, gamma: float, sigma: float) -> float:
    """log-likelihood of excesses ``y`` under GPD(γ, σ): −N ln σ − (1 + 1/γ) Σ ln(1 + γy/σ),
    and −N ln σ − Σ y/σ for γ = 0; −inf outside the support."""
    if sigma <= 0:
        return -math.inf
    if gamma == 0:
        return float(-len(y) * math.log(sigma) - y.sum() / sigma)
    s = 1.0 + (gamma / sigma) * y
    if (s <= 0).any():
        return -math.inf
    return float(-len(y) * math.log(sigma) - (1.0 + 1.0 / gamma) * np.log(s).sum())


def _w(y: np.ndarray, thetas: np.ndarray) -> np.ndarray:
    """Grimshaw's w(θ) = u(θ) v(θ) − 1 for each θ (vectorized over θ, a block at a time)."""
    out = np.empty(len(thetas))
    step = max(1, 2_000_000 // max(len(y), 1))
    for i in range(0, len(thetas), step):
        s = 1.0 + thetas[i:i + step, None] * y  # (k, N)
        out[i:i + step] = (1.0 + np.log(s).mean(1)) * (1.0 / s).mean(1) - 1.0
    return out


def fit_gpd(excesses, grid: int = 64) -> GPDFit:
    """Maximum-likelihood GPD(γ, σ) of positive ``excesses`` by Grimshaw's trick (module
    docstring); ``grid`` points per side of θ = 0 bracket the roots."""
    y = _scores(excesses, "excesses")
    if (y <= 0).any():
        raise AekitError("excesses: GPD excesses must be positive (scores minus a threshold below them)")
    scale = y.mean()
    y = y / scale  # the fit is scale-equivariant: σ comes back multiplied by the mean excess
    ymin, ymax = y.min(), y.max()
    best = GPDFit(0.0, 1.0, gpd_loglik(y, 0.0, 1.0))  # the exponential: γ = 0, σ = Ȳ = 1
    lo = -1.0 / ymax
    frac = np.unique(np.concatenate([np.geomspace(1e-8, 0.5, grid // 2), 1.0 - np.geomspace(1e-10, 0.5, grid // 2)]))
    segments = [lo * frac[::-1]]  # (−1/max Y, 0), increasing
    hi = 2.0 * (1.0 - ymin) / ymin ** 2
    if hi > 1e-8:
        segments.append(np.geomspace(1e-8, hi, grid))  # (0, 2(Ȳ − min Y)/min Y²]
    for thetas in segments:
        w = _w(y, thetas)
        for i in np.flatnonzero(np.sign(w[:-1]) * np.sign(w[1:]) < 0):
            theta = brentq(lambda t: _w(y, np.array([t]))[0], thetas[i], thetas[i + 1], xtol=1e-14, rtol=1e-12)
            gamma = float(np.log1p(theta * y).mean())  # u(θ) − 1
            sigma = gamma / theta
            ll = gpd_loglik(y, gamma, sigma)
            if ll > best.loglik:
                best = GPDFit(gamma, sigma, ll)
    # back to the caller's units: σ scales, and so does every density (−N ln scale)
    return GPDFit(best.gamma, best.sigma * scale, best.loglik - len(y) * math.log(scale))


def pot_quantile(t: float, fit: GPDFit, risk: float, n: int, n_peaks: int) -> float:
    """z_q = t + (σ/γ)((q n / N_t)^(−γ) − 1), or t − σ ln(q n / N_t) for γ = 0."""
    r = risk * n / n_peaks
    if fit.gamma == 0:
        return float(t - fit.sigma * math.log(r))
    return float(t + fit.sigma / fit.gamma * (r ** -fit.gamma - 1.0))


# -- POT and SPOT -------------------------------------------------------------------------------
def check_pot_options(risk: float, level: float, fix: str = "use a smaller risk or a lower level") -> None:
    """POT's level in (0, 1) and risk in (0, 1 − level), else one line (``fix``: what to change)."""
    if not 0 < level < 1:
        raise AekitError(f"level: the initial threshold's quantile must be in (0, 1), got {level!r}; e.g. 0.98")
    if not 0 < risk < 1 - level:
        raise AekitError(f"risk: must be in (0, 1 − level) = (0, {1 - level:.4g}), got {risk!r}; {fix}")


def _check_pot(scores: np.ndarray, risk: float, level: float) -> tuple[float, np.ndarray]:
    """The initial threshold t and the peaks (excesses over it) of the calibration scores."""
    check_pot_options(risk, level)
    # t: the order statistic of rank ⌊level·n⌋ (0-based), as the SPOT reference code takes it
    k = min(int(level * len(scores)), len(scores) - 1)
    t = float(np.partition(scores, k)[k])
    peaks = scores[scores > t] - t
    if len(peaks) < MIN_PEAKS:
        need = math.ceil(MIN_PEAKS / (1 - level))
        raise AekitError(f"train_scores: {len(peaks)} scores above the initial threshold (level {level}), a GPD fit "
                         f"needs at least {MIN_PEAKS}; use a lower level or more calibration data "
                         f"(about {need} scores at this level)")
    if risk >= len(peaks) / len(scores):  # ties at t leave fewer peaks than 1 − level promises
        raise AekitError(f"risk: {risk} is not below the fraction of scores above the initial threshold "
                         f"({len(peaks)}/{len(scores)}); use a smaller risk or a lower level")
    return t, peaks


def pot_threshold(train_scores, risk: float = 1e-4, level: float = 0.98) -> float:
    """The score exceeded by normal data with probability ``risk``, by Peaks-Over-Threshold
    on the ``train_scores`` of normal data (module docstring): t = their ``level`` quantile,
    a GPD fitted to the excesses over t, z_q extrapolated from it."""
    scores = _scores(train_scores, "train_scores")
    t, peaks = _check_pot(scores, risk, level)
    return pot_quantile(t, fit_gpd(peaks), risk, len(scores), len(peaks))


def spot(train_scores, test_scores, risk: float = 1e-4, level: float = 0.98) -> np.ndarray:
    """Streaming POT (SPOT, Siffer et al. 2017, Algorithm 2): the threshold each test point
    is judged by (T,), so ``test_scores > spot(...)`` are its anomalies.

    Calibrated as :func:`pot_threshold` on ``train_scores``; then, in order, a test score
    above the current z_q is an anomaly (not a peak, not counted in n), one in (t, z_q] is a
    new peak (n and N_t grow, the GPD is refitted, z_q moves), any other counts in n only.
    ``thresholds[i]`` is z_q before point i is seen: the Amossys reference's recorded
    threshold for point i − 1. A refit costs O(N_t): a long stream with many peaks is slow."""
    scores = _scores(train_scores, "train_scores")
    x = _scores(test_scores, "test_scores")
    t, peaks = _check_pot(scores, risk, level)
    peaks, n, nt = list(peaks), len(scores), len(peaks)
    z = pot_quantile(t, fit_gpd(np.asarray(peaks)), risk, n, nt)
    out = np.empty(len(x))
    prev = -1  # the last point processed
    for i in np.flatnonzero(x > t):
        # points between the last peak and this one: below t, so no refit; counted unless above z
        gap = x[prev + 1:i]
        out[prev + 1:i + 1] = z
        n += len(gap) - (int((gap > z).sum()) if z < t else 0)
        if x[i] <= z:  # a peak, not an anomaly: the threshold learns from it
            peaks.append(x[i] - t)
            n, nt = n + 1, nt + 1
            z = pot_quantile(t, fit_gpd(np.asarray(peaks)), risk, n, nt)
        prev = i
    out[prev + 1:] = z
    return out


# -- events -------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Event:
    """An interval of flagged steps: ``start`` … ``end`` (inclusive indices), the step of its
    highest score (``peak``, ``peak_score``), and the time stamps of its ends when a time
    array was given (else None)."""

    start: int
    end: int
    peak: int
    peak_score: float
    start_time: Any = None
    end_time: Any = None

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def _plain(v: Any) -> Any:
    """A numpy scalar as a plain Python value; a datetime64 as its ISO string (``.item()`` of
    a nanosecond datetime64 is an int)."""
    if isinstance(v, np.datetime64):
        return str(np.datetime_as_string(v))
    return v.item() if isinstance(v, np.generic) else v


def events(flags, scores, *, time=None, min_gap: int = 0, min_length: int = 1) -> list[Event]:
    """Runs of flagged steps as :class:`Event` s. Runs separated by at most ``min_gap``
    unflagged steps are one event (the gap is inside it); events of fewer than ``min_length``
    steps (after merging) are dropped. ``scores`` (T,) give each event's peak; ``time`` (T,)
    its start and end time stamps. No flags (or T = 0) → no events."""
    f = np.asarray(flags)
    if f.ndim != 1:
        raise AekitError(f"flags: one flag per step (1-D), got shape {f.shape}")
    if f.dtype != bool and not np.isin(f, (0, 1)).all():
        raise AekitError("flags: must be booleans or 0/1; compare scores with a threshold first (scores > z)")
    f = f.astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != f.shape:
        raise AekitError(f"scores: {s.shape[0] if s.ndim else 0} scores for {len(f)} flags; pass one score per step")
    if np.isnan(s).any():
        raise AekitError(f"scores: {int(np.isnan(s).sum())} NaN scores (first at step {int(np.flatnonzero(np.isnan(s))[0])}); "
                         "remove them or fix the scoring")
    if time is not None:
        time = np.asarray(time)
        if time.shape != f.shape:
            raise AekitError(f"time: {len(time) if time.ndim else 0} time stamps for {len(f)} steps; pass one per step")
    if not isinstance(min_gap, (int, np.integer)) or min_gap < 0:
        raise AekitError(f"min_gap: unflagged steps bridged inside an event, an integer ≥ 0, got {min_gap!r}")
    if not isinstance(min_length, (int, np.integer)) or min_length < 1:
        raise AekitError(f"min_length: the fewest steps an event keeps, an integer ≥ 1, got {min_length!r}")
    edges = np.diff(np.concatenate([[0], f.view(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1  # inclusive runs
    if len(starts) > 1:
        keep = (starts[1:] - ends[:-1] - 1) > min_gap  # a gap wider than min_gap separates events
        starts = starts[np.concatenate([[True], keep])]
        ends = ends[np.concatenate([keep, [True]])]
    out = []
    for a, b in zip(starts.tolist(), ends.tolist()):
        if b - a + 1 < min_length:
            continue
        p = a + int(np.argmax(s[a:b + 1]))
        out.append(Event(a, b, p, float(s[p]),
                         None if time is None else _plain(time[a]), None if time is None else _plain(time[b])))
    return out


EVENT_COLUMNS = ("start", "end", "length", "peak", "peak_score", "start_time", "end_time")


def events_table(found: list[Event]) -> list[dict]:
    """One dict per event (:data:`EVENT_COLUMNS`: start, end, length, peak, peak_score,
    start_time, end_time), plain Python values in that order, for ``csv.DictWriter`` or a JSON
    file."""
    return [dict(zip(EVENT_COLUMNS, (e.start, e.end, e.length, e.peak, e.peak_score, e.start_time, e.end_time)))
            for e in found]
