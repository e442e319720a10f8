"""A series run as one ``nn.Module``: a raw series (T, C) in, one anomaly score per step (T,)
out, with the run's per-channel scaling, its windows and the folding of window scores back
onto the steps inside, so an export scores a series with no aekit code around it.

    x̃ = (x − offset) / scale          the run's preprocess.json, per channel
    windows = x̃[s : s + W]            every start s = 0 … T − W (the score stride of 1)
    recon:        m[s, k] = mean_c score_map(window s)[k, c]
    window:       m[s, k] = score(window s)                 for every offset k
    mahalanobis:  e[t, c] = the per-channel score map folded onto the steps, then
                  (e_t − μ)ᵀ P (e_t − μ) with the run's μ and P
    score[t] = Σ_{s ≤ t < s + W} m[s, t − s] / #{s : s ≤ t < s + W}

The folding is a scatter-add in float64, as aekit folds, so the graph takes any T > W.
It is what :func:`aekit.deploy.export` writes for a series run, checked against
:meth:`aekit.SeriesDetector.anomaly_score` before it is kept.

Memory. Scored whole, the graph holds every window's activations at once: O(T·W) and more
(about 2 GiB for 10^5 steps of a tcn at W = 64). With ``piece_windows = P`` (the export's
first choice, :data:`GRAPH_PIECE`) the graph runs the network over P consecutive windows at a
time in a loop (``scan``, an ONNX ``Scan``), folds each piece onto its P + W − 1 steps and adds
the pieces up: the same sums, memory O(T·C) plus one piece's activations, whatever T is. The
last piece is padded with windows that are computed and then masked out. A network the loop
cannot be exported or verified with is exported whole (the exporter says so in its log).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .._version import __version__
from ..errors import AekitError
from ..tasks.series import window_score
from .scorer import INPUT_NAME, Preprocess

GRAPH_PIECE = 1024  # windows per step of the exported graph's loop: ~20 MiB of tcn activations at W = 64, C = 8


def loop_supported() -> bool:
    """Does this torch export a loop over pieces (``scan`` and ``torch.compiler.is_exporting``,
    torch ≥ 2.6)? Older ones export the graph without the loop."""
    try:
        from torch._higher_order_ops.scan import scan  # noqa: F401
    except ImportError:
        return False
    return hasattr(torch.compiler, "is_exporting") and hasattr(torch.compiler, "is_compiling")

DEFINITIONS = {
    "recon": "the model's per-element score map (squared reconstruction error, or the family's own) averaged "
             "over channels, then over the windows covering the step",
    "window": "each window's score (-ELBO at the posterior mean for variational families, else model.score) "
              "averaged over the windows covering the step",
    "mahalanobis": "(e_t - mu)^T P (e_t - mu) of the step's per-channel error vector e_t (averaged over the "
                   "windows covering it), mu and P fitted on held-out normal steps",
}


class SeriesScorer(nn.Module):
    """The per-step scorer of a :class:`~aekit.SeriesDetector` (fitted, or loaded from a run)."""

    outputs = ("score",)

    def __init__(self, det, info: dict[str, Any] | None = None, piece_windows: int | None = None):
        super().__init__()
        if piece_windows is not None and piece_windows < 2:
            raise AekitError(f"piece_windows: a piece holds two windows at least, got {piece_windows}")
        self.piece_windows = piece_windows
        if int(det.score_stride) != 1:
            raise AekitError(f"score_stride: the run scores every {det.score_stride}-th window; an export scores "
                             "every window (score_stride=1); score the series with aekit detect, or retrain with "
                             "score_stride=1")
        self.model = det.model_.eval()
        self.channels = list(det.channel_names_)
        c = len(self.channels)
        self.window, self.kind, self.threshold = int(det.window_), det.score_kind_, float(det.threshold_)
        if self.kind == "auto":
            self.kind = "window"
        self.preprocess = Preprocess(det.preprocessor_, (c,))
        self._det, self._info = det, dict(info or {})
        maha = det.mahalanobis_
        if self.kind == "mahalanobis":
            self.register_buffer("mu", torch.tensor(maha.mean_, dtype=torch.float64))
            self.register_buffer("precision", torch.tensor(maha.precision_, dtype=torch.float64))

    def forward(self, x_raw: torch.Tensor) -> tuple[torch.Tensor]:
        x = self.preprocess(x_raw.reshape(x_raw.shape[0], len(self.channels)))  # (T, C)
        t_len, w = x.shape[0], self.window
        n = t_len - w + 1  # windows
        sums = self._sums_in_pieces(x, n) if self.piece_windows else self._fold(self._window_map(self._windows(x)))
        t = torch.arange(t_len, device=x.device)
        count = torch.minimum(t + 1, t_len - t).clamp(max=w).clamp(max=n).to(torch.float64)  # windows covering t
        if self.kind == "mahalanobis":
            d = sums / count[:, None] - self.mu
            score = ((d @ self.precision) * d).sum(-1)
        else:
            score = sums / count
        return (score.to(torch.float32),)

    def _windows(self, x: torch.Tensor) -> torch.Tensor:
        return x.unfold(0, self.window, 1).transpose(1, 2)  # (N, W, C), N = T − W + 1

    def _window_map(self, wins: torch.Tensor) -> torch.Tensor:
        """float64 m[s, k] (recon, window) or m[s, k, c] (mahalanobis) of windows (N, W, C)."""
        n, w = wins.shape[0], self.window
        if self.kind == "window":
            return window_score(self.model, wins).to(torch.float64).reshape(n, 1).expand(n, w)
        m = self.model.score_map(wins).reshape(n, w, len(self.channels))
        return (m.mean(-1) if self.kind == "recon" else m).to(torch.float64)

    def _fold(self, m: torch.Tensor) -> torch.Tensor:
        """(N + W − 1, …) per-step sums: step s + k gets m[s, k] (a scatter-add, float64)."""
        n, w = m.shape[0], self.window
        at = (torch.arange(n, device=m.device)[:, None] + torch.arange(w, device=m.device)[None, :]).reshape(-1)
        flat = m.reshape(n * w, *m.shape[2:])
        return torch.zeros(n + w - 1, *m.shape[2:], dtype=torch.float64, device=m.device).index_add(0, at, flat)

    def _sums_in_pieces(self, x: torch.Tensor, n) -> torch.Tensor:
        """The per-step sums of :meth:`_fold`, ``piece_windows`` windows at a time in a loop."""
        from torch._higher_order_ops.scan import scan

        p, w, dev = self.piece_windows, self.window, x.device
        k = (n + p - 1) // p  # pieces; the last is padded to p windows
        span = p + w - 1  # the steps of one piece
        padded = torch.cat([x, x.new_zeros(k * p + w - 1 - x.shape[0], x.shape[1])])
        first = torch.arange(k, device=dev)[:, None] * p
        at = first + torch.arange(span, device=dev)[None, :]  # (K, span) the steps of each piece
        real = (first + torch.arange(p, device=dev)[None, :] < n).to(torch.float64)  # (K, P) windows not padding

        def piece(carry, xs):
            steps, keep = xs
            m = self._window_map(self._windows(steps))
            m = m * keep.reshape(p, *(1,) * (m.dim() - 1))
            return carry if carry is None else carry.clone(), self._fold(m)  # nothing carried; scan wants a copy

        if torch.compiler.is_exporting() or torch.compiler.is_compiling():
            _, sums = scan(piece, torch.zeros((), dtype=torch.float64, device=dev), (padded[at], real))
        else:  # eager scan compiles its body at every call: the same loop in Python
            sums = torch.stack([piece(None, (steps, keep))[1] for steps, keep in zip(padded[at], real)])
        total = torch.zeros(k * p + w - 1, *sums.shape[2:], dtype=torch.float64, device=dev)
        return total.index_add(0, at.reshape(-1), sums.reshape(k * span, *sums.shape[2:]))[:x.shape[0]]

    @torch.inference_mode()
    def run(self, x) -> dict[str, np.ndarray]:
        t = torch.as_tensor(np.asarray(x, dtype=np.float32))
        return {"score": self(t)[0].numpy()}

    @torch.inference_mode()
    def tolerance(self, x_raw, rtol: float = 1e-5) -> dict[str, np.ndarray]:
        """Bounds for another runtime's scores: rtol · |score| + rtol/10 · the largest score."""
        s = self.run(x_raw)["score"]
        return {"score": rtol * np.abs(s) + 0.1 * rtol * float(np.abs(s).max(initial=0.0)) + 1e-30}

    def example_batch(self, n: int = 8) -> torch.Tensor:
        """A raw series to trace and verify an export with: ``n`` windows' worth of steps of a
        smooth random walk in the training units (the scaling inverted)."""
        g = torch.Generator().manual_seed(0)
        steps = max(n, 2) * self.window
        if self.piece_windows:  # two pieces, the second part padding: no size torch.export specializes on
            steps = max(steps, self.piece_windows * 3 // 2 + self.window)
        z = torch.randn(steps, len(self.channels), generator=g).cumsum(0) / steps ** 0.5
        return self.preprocess.inverse(z).to(torch.float32)

    def verify_inputs(self) -> list[torch.Tensor]:
        """Series of several lengths the export must score as aekit does: the shortest it takes
        (W + 1 steps: two windows), one step more, eight windows' worth and, scored in pieces,
        two pieces and three pieces exactly (no padding)."""
        x = self.example_batch(8)
        out = [x, x[:self.window + 1], x[:self.window + 2]]
        if self.piece_windows:  # x itself is then two pieces long
            long = self.example_batch(3 * self.piece_windows // self.window + 2)
            out += [x[:8 * self.window], long[:3 * self.piece_windows + self.window - 1]]
        return out

    def dynamic_shapes(self):
        # a series of exactly W steps has one window, a size torch.export specializes on
        return ({0: torch.export.Dim("steps", min=self.window + 1)},)

    @property
    def metadata(self) -> dict[str, Any]:
        model, pre = self.model, self._det.preprocessor_
        return {
            "aekit_version": __version__,
            "kind": "series",
            "family": model.registry_name or type(model).__name__,
            "model_class": type(model).__name__,
            "network": model.config.arch,
            "input_name": INPUT_NAME,
            "input_names": [INPUT_NAME],
            "input_shape": [len(self.channels)],
            "input_dtype": "float32",
            "input": f"one raw series (steps, channels) in the training file's units, at least {self.window + 1} "
                     "steps; "
                     "channels in the order of 'channels'",
            "channels": self.channels,
            "window": self.window,
            "output_names": ["score"],
            "output_shapes": {"score": ["steps"]},
            "score": {"kind": self.kind, "definition": DEFINITIONS[self.kind], "higher": "more anomalous",
                      "deterministic": True},
            "piece_windows": self.piece_windows,
            "threshold": self.threshold,
            "threshold_rule": getattr(self._det, "threshold_rule_", "fixed"),
            "is_anomaly": "score > threshold",
            "preprocessing": {"description": self.preprocess.describe(pre), **pre.to_dict()},
            **self._info,
        }

    def extra_repr(self) -> str:
        return (f"window={self.window}, channels={len(self.channels)}, score={self.kind}, threshold={self.threshold}, "
                f"piece_windows={self.piece_windows}")


PIECE_WINDOWS = 4096  # windows per piece: about 80 MiB of activations for a tcn at W = 64, C = 8


def score_in_pieces(run, x, window: int, kind: str, piece_windows: int = PIECE_WINDOWS) -> np.ndarray:
    """(T,) the per-step scores of a long series from an exported scorer, ``piece_windows``
    windows at a time, so memory stays bounded whatever T is. ``run``: a (T', C) piece → (T',)
    scores (e.g. ``lambda p: load_onnx(path).run(p)["score"]``).

    Each piece holds consecutive windows (it overlaps the next by W − 1 steps); its scores times
    the number of its windows covering each step are per-step sums, added up and divided by the
    whole series' counts: the scores of one call on the whole series, up to float32 rounding. The
    window and recon scores fold linearly, the mahalanobis score does not: it is scored whole."""
    x = np.asarray(x)
    t_len = len(x)
    n = t_len - window + 1
    if kind == "mahalanobis" or n <= piece_windows:
        return np.asarray(run(x), dtype=np.float64)
    if piece_windows < 2:
        raise AekitError(f"piece_windows: an exported scorer takes two windows at least, got {piece_windows}")
    starts = list(range(0, n, piece_windows)) + [n]
    if starts[-1] - starts[-2] < 2:  # a last piece of one window: give it one more
        starts[-2] -= 1
    sums = np.zeros(t_len)
    for a, b in zip(starts[:-1], starts[1:]):
        length = b - a + window - 1
        sums[a:a + length] += np.asarray(run(x[a:a + length]), dtype=np.float64) * _covering(length, window)
    return sums / _covering(t_len, window)


def _covering(length: int, window: int) -> np.ndarray:
    """(length,) how many of the length − window + 1 windows of a series cover each step."""
    t = np.arange(length)
    return np.minimum(np.minimum(t + 1, length - t), min(window, length - window + 1))
