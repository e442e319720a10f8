"""Anomaly scores per timestep of a series, from a model trained on its windows.

A model of any family trained on windows (samples of shape (W, C)) scores a series of T steps
window by window (:class:`aekit.data.windows.Windows`, a batch at a time), and each window's
scores are folded back onto the steps it covers (:class:`aekit.data.windows.TimestepScores`):
the score of step t is the mean over every window that covers t, so no step is padded and
the first and last steps get scores from the windows they are in.

Scores (higher = more anomalous):

    recon        the per-element score map of the model (``score_map``: the squared
                 reconstruction error, or a family's own, e.g. USAD's α/β mix), averaged over
                 channels: s_t = mean_c mean_{windows ∋ t} m_{t,c}
    window       one score per window (``model.score``: −ELBO at the posterior mean for
                 variational families), spread over the window's steps
    mahalanobis  the error vector e_t ∈ R^C (per-channel score map averaged over the windows
                 covering t) scored as (e_t − μ)ᵀ Σ⁻¹ (e_t − μ), μ and Σ (Ledoit–Wolf) fitted
                 on held-out normal steps (EncDec-AD, Malhotra et al. 2016)
    auto         window, for every family (the default since 2026-12-06: it ranks collective
                 anomalies — faults, level shifts, bursts that last — far better than recon on
                 the real series of RESULTS.md S1–S3; recon is better on isolated spikes)

Memory stays O(T·C) for any window length: only one batch of windows is ever copied.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.windows import TimestepScores, Windows
from ..errors import AekitError
from ..nets.modes import eval_mode
from .common import chunk_rows

SERIES_SCORES = ("auto", "recon", "window", "mahalanobis")


def resolve_score(kind: str) -> str:
    if kind not in SERIES_SCORES:
        raise AekitError(f"score: unknown series score {kind!r}; choose one of {', '.join(SERIES_SCORES)}")
    return "window" if kind == "auto" else kind


def _windows(values: np.ndarray, window: int, stride: int) -> Windows:
    values = np.asarray(values, dtype=np.float32)
    return Windows(values if values.ndim == 2 else values.reshape(len(values), -1), window, stride)


@torch.inference_mode()
def _batches(model, wins: Windows, batch_size: int | None):
    """(starts, (B, W, C) tensor) for consecutive batches of windows, on the model's device."""
    rows = chunk_rows(model, batch_size)
    for i, xb in enumerate(wins.batches(rows)):
        yield wins.starts[i * rows:i * rows + len(xb)], model.check_input(torch.from_numpy(np.ascontiguousarray(xb)))


@torch.inference_mode()
def error_map(model, values: np.ndarray, window: int, stride: int = 1, batch_size: int | None = None) -> np.ndarray:
    """(T, C): the model's per-element score map (``score_map``) of each step and channel,
    averaged over the windows that cover the step."""
    wins = _windows(values, window, stride)
    acc = TimestepScores(wins.length, window, channels=wins.shape[2])
    with eval_mode(model):
        for starts, xb in _batches(model, wins, batch_size):
            acc.add(starts, model.score_map(xb).reshape(len(xb), window, -1).double().cpu().numpy())
    return acc.result()


@torch.inference_mode()
def recon_scores(model, values: np.ndarray, window: int, stride: int = 1, batch_size: int | None = None) -> np.ndarray:
    """(T,): the score map averaged over channels, then over the windows covering each step
    (the channel mean of :func:`error_map`, folded once instead of once per channel)."""
    wins = _windows(values, window, stride)
    acc = TimestepScores(wins.length, window)
    with eval_mode(model):
        for starts, xb in _batches(model, wins, batch_size):
            acc.add(starts, model.score_map(xb).reshape(len(xb), window, -1).mean(-1).double().cpu().numpy())
    return acc.result()


def window_score(model, xb: torch.Tensor) -> torch.Tensor:
    """(B,) one score per window, without sampling: −ELBO at the posterior mean for variational
    families (their ``model.score`` draws a posterior sample), else ``model.score``. Plain torch,
    so an exported series scorer computes it too; eval mode is the caller's job."""
    if model.variational:
        from .anomaly import deterministic_outputs

        return deterministic_outputs(model, xb, ("elbo",))["elbo"]
    return model.score(xb)


@torch.inference_mode()
def window_scores(model, values: np.ndarray, window: int, stride: int = 1, batch_size: int | None = None) -> np.ndarray:
    """(T,): each window's score (:func:`window_score`) spread over its steps, averaged per step."""
    wins = _windows(values, window, stride)
    acc = TimestepScores(wins.length, window)
    with eval_mode(model):
        for starts, xb in _batches(model, wins, batch_size):
            acc.add(starts, window_score(model, xb).double().cpu().numpy())
    return acc.result()


class MahalanobisSteps:
    """Error vectors per step scored by their Mahalanobis distance to held-out normal steps."""

    def fit(self, errors: np.ndarray) -> MahalanobisSteps:
        from sklearn.covariance import LedoitWolf

        e = np.asarray(errors, dtype=np.float64)
        if e.ndim != 2 or len(e) < 2:
            raise AekitError(f"mahalanobis: needs at least 2 held-out error vectors, got shape {e.shape}")
        lw = LedoitWolf().fit(e)
        self.mean_, self.precision_ = lw.location_, lw.precision_
        return self

    def score(self, errors: np.ndarray) -> np.ndarray:
        d = np.asarray(errors, dtype=np.float64) - self.mean_
        return np.einsum("tc,cd,td->t", d, self.precision_, d)

    def to_dict(self) -> dict:
        return {"mean": self.mean_.tolist(), "precision": self.precision_.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> MahalanobisSteps:
        m = cls()
        m.mean_, m.precision_ = np.asarray(d["mean"], np.float64), np.asarray(d["precision"], np.float64)
        return m


def score_series(model, values: np.ndarray, window: int, stride: int = 1, *, score: str = "auto",
                 mahalanobis: MahalanobisSteps | None = None, batch_size: int | None = None) -> np.ndarray:
    """(T,) anomaly score per step of ``values`` (T, C) — already scaled as the training
    windows were — by the ``score`` named in the module docstring."""
    kind = resolve_score(score)
    if kind == "window":
        return window_scores(model, values, window, stride, batch_size)
    if kind == "recon":
        return recon_scores(model, values, window, stride, batch_size)
    errors = error_map(model, values, window, stride, batch_size)
    if mahalanobis is None:
        raise AekitError("score: 'mahalanobis' needs error statistics fitted on held-out normal steps "
                         "(SeriesDetector fits them on its validation part)")
    return mahalanobis.score(errors)


@torch.inference_mode()
def encode_series(model, values: np.ndarray, window: int, stride: int = 1, batch_size: int | None = None):
    """(starts (N,), codes (N, latent)) of the windows of ``values``: the code of each window
    (the posterior mean for variational families)."""
    wins = _windows(values, window, stride)
    out = []
    with eval_mode(model):
        for _, xb in _batches(model, wins, batch_size):
            out.append(model.code(xb).flatten(1).float().cpu().numpy())
    return wins.starts, np.concatenate(out)


@torch.inference_mode()
def reconstruct_windows(model, values: np.ndarray, window: int, starts: np.ndarray) -> np.ndarray:
    """(k, W, C) reconstructions of the windows of ``values`` starting at ``starts``."""
    wins = Windows(np.asarray(values, dtype=np.float32), window, starts=np.asarray(starts, dtype=np.int64))
    x = model.check_input(torch.from_numpy(np.ascontiguousarray(wins.read())))
    return model.reconstruct(x).reshape(len(x), window, -1).float().cpu().numpy()
