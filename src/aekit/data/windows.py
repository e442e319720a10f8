"""Windows of a series as strided views, and per-window scores folded back onto timesteps.

A series of T steps and C channels is one (T, C) array. Its windows of W steps are a strided
view of that array (``numpy.lib.stride_tricks.sliding_window_view``), shaped (N, W, C): no
window is copied until a batch of them is read, so memory stays O(T·C) whatever W is.

Window ``i`` covers steps ``[starts[i], starts[i] + W)``. With stride s the starts are
0, s, 2s, … and, when (T − W) is not a multiple of s, one last window ending at step T, so
every step is covered by at least one window and none is padded.

A score per timestep is the mean, over every window that covers the step, of that window's
score for it (:class:`TimestepScores`): a window's per-step reconstruction error, or one
score per window spread over its steps. Scores are added a batch of windows at a time, so
scoring a long series never holds an (N, W) array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import AekitError
from .lazy import RandomRows


def window_starts(length: int, window: int, stride: int = 1) -> np.ndarray:
    """Start of every window of ``window`` steps over ``length`` steps, ``stride`` apart, plus
    one window ending at the last step when the stride does not land there (int64)."""
    if not isinstance(window, (int, np.integer)) or window < 1:
        raise AekitError(f"window: must be a positive number of steps, got {window!r}")
    if not isinstance(stride, (int, np.integer)) or stride < 1:
        raise AekitError(f"stride: must be a positive number of steps, got {stride!r}")
    if length < window:
        raise AekitError(f"window: the series has {length} steps, fewer than the window of {window}; "
                         f"use --window {max(1, length // 2)} or a longer series")
    starts = np.arange(0, length - window + 1, stride, dtype=np.int64)
    if starts[-1] != length - window:
        starts = np.append(starts, np.int64(length - window))
    return starts


class Windows(RandomRows):
    """The windows of a (T, C) series at ``starts``: array-like rows of shape (N, W, C).

    ``len``, ``shape``, ``dtype``, indexing (a slice or index array → another unread
    :class:`Windows`; an int → that window, a view), ``np.asarray`` (copies the windows: for
    small selections), and ``batches(batch_size, order)`` (what the trainer and scoring read:
    each batch one (B, W, C) copy). The trainer treats them as out-of-core rows.
    """

    def __init__(self, values: np.ndarray, window: int, stride: int = 1, *, starts: np.ndarray | None = None,
                 name: str = "series"):
        values = np.asarray(values)
        if values.ndim == 1:
            values = values[:, None]
        if values.ndim != 2:
            raise AekitError(f"{name}: a series is (steps,) or (steps, channels), got shape {values.shape}")
        self.values, self.window, self.stride, self.name = values, int(window), int(stride), name
        self.starts = window_starts(len(values), self.window, self.stride) if starts is None else \
            np.asarray(starts, dtype=np.int64)
        # (T − W + 1, W, C): every window at stride 1, a view of ``values``
        self._view = np.lib.stride_tricks.sliding_window_view(values, self.window, axis=0).transpose(0, 2, 1)

    # -- array-like -------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.starts), self.window, self.values.shape[1])

    @property
    def ndim(self) -> int:
        return 3

    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    @property
    def length(self) -> int:
        """Steps of the underlying series."""
        return len(self.values)

    def __len__(self) -> int:
        return len(self.starts)

    def __repr__(self) -> str:
        return f"Windows({self.name}: {len(self)} windows of {self.window} steps × {self.values.shape[1]} channels)"

    def __getitem__(self, key: Any):
        if isinstance(key, tuple):
            head, rest = key[0], key[1:]
            return np.asarray(self[head])[(slice(None), *rest)] if not isinstance(head, (int, np.integer)) \
                else self[head][rest]
        if isinstance(key, (int, np.integer)):
            return self._view[self.starts[key]]
        return Windows(self.values, self.window, self.stride, starts=self.starts[key], name=self.name)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        a = self._view[self.starts]
        return a if dtype is None else a.astype(dtype, copy=False)

    def read(self, positions: np.ndarray | None = None) -> np.ndarray:
        """The windows at ``positions`` (all by default), copied into one (n, W, C) array."""
        return self._view[self.starts if positions is None else self.starts[np.asarray(positions)]]

    def batches(self, batch_size: int, order: np.ndarray | None = None):
        """(B, W, C) copies of the windows, ``batch_size`` at a time, in ``order`` (positions
        in this view; in order by default)."""
        idx = self.starts if order is None else self.starts[np.asarray(order, dtype=np.int64)]
        for i in range(0, len(idx), batch_size):
            yield self._view[idx[i:i + batch_size]]


class TimestepScores:
    """Per-window scores folded onto the timesteps of a series of ``length`` steps.

    ``add(starts, scores)`` takes a batch of windows' scores: (n, W) — one per step of each
    window —, (n,) — one per window, spread over its W steps —, or, with ``channels=C``,
    (n, W, C) — one per step and channel. ``result()`` is the mean over every window that
    covered each step: (length,) float64, or (length, C). Memory is O(length · C)."""

    def __init__(self, length: int, window: int, channels: int | None = None):
        self.length, self.window, self.channels = int(length), int(window), channels
        self.sums = np.zeros(self.length if channels is None else (self.length, int(channels)), np.float64)
        self.counts = np.zeros(self.length, np.int64)

    def add(self, starts: np.ndarray, scores: np.ndarray) -> None:
        starts = np.asarray(starts, dtype=np.int64)
        scores = np.asarray(scores, dtype=np.float64)
        n, w = len(starts), self.window
        if scores.ndim == 1:
            scores = np.broadcast_to(scores[:, None], (len(scores), w))
        want = (n, w) if self.channels is None else (n, w, self.channels)
        if scores.shape != want:
            raise AekitError(f"scores: expected {want}" + (f" or ({n},)" if self.channels is None else "")
                             + f", got {scores.shape}")
        if n and (starts.min() < 0 or starts.max() + w > self.length):
            raise AekitError(f"starts: windows of {w} steps must lie inside the {self.length}-step series")
        if not n:
            return
        # count over the span the batch covers, not the whole series: a batch costs O(n·W), and
        # scoring a long series stays linear in its length
        lo, hi = int(starts.min()), int(starts.max()) + w
        idx = (starts[:, None] - lo + np.arange(w)).ravel()
        if self.channels is None:
            self.sums[lo:hi] += np.bincount(idx, weights=scores.ravel(), minlength=hi - lo)
        else:
            flat = scores.reshape(n * w, self.channels)
            for c in range(self.channels):
                self.sums[lo:hi, c] += np.bincount(idx, weights=flat[:, c], minlength=hi - lo)
        self.counts[lo:hi] += np.bincount(idx, minlength=hi - lo)

    def result(self) -> np.ndarray:
        if (self.counts == 0).any():
            first = int(np.flatnonzero(self.counts == 0)[0])
            raise AekitError(f"scores: step {first} is covered by no window; score windows from window_starts()")
        return self.sums / (self.counts if self.channels is None else self.counts[:, None])


def per_timestep(starts: np.ndarray, scores: np.ndarray, length: int, window: int) -> np.ndarray:
    """:class:`TimestepScores` in one call: (length,) mean score of each step's windows."""
    acc = TimestepScores(length, window)
    acc.add(starts, scores)
    return acc.result()
