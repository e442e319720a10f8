"""Anomaly scores from a trained autoencoder (Sakurada & Yairi 2014, "Anomaly Detection Using
Autoencoders with Nonlinear Dimensionality Reduction"; An & Cho 2015, "Variational Autoencoder
based Anomaly Detection using Reconstruction Probability").

The model is trained on (mostly) normal data; a sample the model explains badly is anomalous.
Every score here is *higher = more anomalous* (the scikit-learn wrapper negates it):

    recon        s(x) = (1/d) ‖x − g(f(x))‖²        (or the mean BCE for recon_loss="bce")
    elbo         s(x) = −ELBO(x) = E_q(z|x)[−log p(x|z)] + KL(q(z|x) ‖ p(z))
                 (variational families; averaged over ``n_draws`` posterior samples)
    mahalanobis  s(x) = (z − μ)ᵀ Σ⁻¹ (z − μ),  z = f(x) (posterior mean), μ and Σ the mean and
                 Ledoit–Wolf-shrunk covariance of the training codes
    combined     s(x) = Σ_k (s_k(x) − med_k) / IQR_k  over k ∈ {recon (or elbo), mahalanobis},
                 medians and inter-quartile ranges of each score on the training data, so the
                 two parts count equally whatever their units
    auto         elbo for variational families, combined otherwise

A threshold is the (1 − contamination) quantile of the training scores.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import AekitError
from ..likelihoods import bce_per_sample, mse_per_sample
from .common import batched, chunk_rows, codes

SCORES = ("recon", "elbo", "mahalanobis", "combined", "auto")


def check_score(kind: str, model) -> str:
    """The resolved score name for ``model``; a one-line error for an unknown or unusable one."""
    if kind not in SCORES:
        raise AekitError(f"score: unknown anomaly score {kind!r}; choose one of {', '.join(SCORES)}")
    variational = model.variational
    if kind == "auto":
        return "elbo" if variational else "combined"
    if kind == "elbo" and not variational:
        raise AekitError(f"score: 'elbo' needs a variational family, not {type(model).__name__}; use 'recon'")
    return kind


@torch.inference_mode()
def reconstruction_error(model, x, batch_size: int | None = None) -> np.ndarray:
    """Per-sample reconstruction error of the deterministic reconstruction (N,)."""
    model.eval()
    bce = getattr(model.config, "recon_loss", "mse") == "bce"

    def err(xb):
        xb = model.check_input(xb)
        r = model.reconstruct(xb)
        return bce_per_sample(r, xb) if bce else mse_per_sample(r, xb)

    return batched(err, x, chunk_rows(model, batch_size)).double().numpy()


@torch.inference_mode()
def neg_elbo(model, x, n_draws: int = 4, seed: int = 0, batch_size: int | None = None) -> np.ndarray:
    """−ELBO per sample (nats), the mean of ``n_draws`` one-sample estimates (N,).

    Seeded, and the global RNG is restored afterwards, so scores are reproducible.
    """
    if not model.variational:
        raise AekitError(f"score: −ELBO needs a variational family, not {type(model).__name__}")
    model.eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        total = sum(batched(model.score, x, batch_size).double() for _ in range(n_draws))
    return (total / n_draws).numpy()


class AnomalyScorer:
    """Fits the statistics a score needs on the training data, then scores new data.

    ``AnomalyScorer("combined").fit(model, x_train).score(model, x)`` → (N,) numpy, higher =
    more anomalous. Its state is plain numbers (:meth:`to_dict` / :meth:`from_dict`: JSON).
    """

    def __init__(self, kind: str = "auto", n_draws: int = 4, batch_size: int | None = None):
        if kind not in SCORES:
            raise AekitError(f"score: unknown anomaly score {kind!r}; choose one of {', '.join(SCORES)}")
        self.kind = kind
        self.n_draws = n_draws
        self.batch_size = batch_size
        self.resolved: str | None = None
        self.mean: np.ndarray | None = None  # (D,) training code mean
        self.precision: np.ndarray | None = None  # (D, D) inverse shrunk covariance
        self.center: dict[str, float] = {}
        self.spread: dict[str, float] = {}

    def _base(self, model) -> str:
        return "elbo" if model.variational else "recon"

    def _parts(self, model, x) -> dict[str, np.ndarray]:
        k = self.resolved
        out = {}
        if k in ("recon", "combined"):
            base = self._base(model) if k == "combined" else "recon"
            out[base] = (neg_elbo(model, x, self.n_draws, batch_size=self.batch_size) if base == "elbo"
                         else reconstruction_error(model, x, self.batch_size))
        if k == "elbo":
            out["elbo"] = neg_elbo(model, x, self.n_draws, batch_size=self.batch_size)
        if k in ("mahalanobis", "combined"):
            z = codes(model, x, self.batch_size).double().flatten(1).numpy()  # (N, D), any code shape
            d = z - self.mean
            out["mahalanobis"] = np.einsum("nd,de,ne->n", d, self.precision, d)
        return out

    def fit(self, model, x) -> AnomalyScorer:
        from sklearn.covariance import LedoitWolf

        self.resolved = check_score(self.kind, model)
        if self.resolved in ("mahalanobis", "combined"):
            z = codes(model, x, self.batch_size).double().flatten(1).numpy()
            self.mean = z.mean(0)
            if len(z) > 1:
                cov = LedoitWolf(assume_centered=False).fit(z).covariance_
            else:
                cov = np.eye(z.shape[1])
            cov += 1e-6 * np.trace(cov) / len(cov) * np.eye(len(cov)) + 1e-12 * np.eye(len(cov))
            self.precision = np.linalg.inv(cov)
        if self.resolved == "combined":
            for name, s in self._parts(model, x).items():
                q25, q50, q75 = np.percentile(s, [25, 50, 75])
                self.center[name] = float(q50)
                self.spread[name] = float(q75 - q25) if q75 > q25 else float(np.std(s) or 1.0)
        return self

    def score(self, model, x) -> np.ndarray:
        """Anomaly score per sample (N,), float64; higher = more anomalous."""
        if self.resolved is None:
            raise AekitError("AnomalyScorer: call fit(model, x_train) before score")
        parts = self._parts(model, x)
        if self.resolved != "combined":
            return parts[self.resolved]
        return sum((s - self.center[k]) / self.spread[k] for k, s in parts.items())

    def to_dict(self) -> dict:
        return {
            "kind": self.kind, "resolved": self.resolved, "n_draws": self.n_draws,
            "mean": None if self.mean is None else self.mean.tolist(),
            "precision": None if self.precision is None else self.precision.tolist(),
            "center": self.center, "spread": self.spread,
        }

    @classmethod
    def from_dict(cls, d: dict) -> AnomalyScorer:
        s = cls(d["kind"], n_draws=d.get("n_draws", 4))
        s.resolved = d["resolved"]
        s.mean = None if d.get("mean") is None else np.asarray(d["mean"], dtype=np.float64)
        s.precision = None if d.get("precision") is None else np.asarray(d["precision"], dtype=np.float64)
        s.center, s.spread = dict(d.get("center", {})), dict(d.get("spread", {}))
        return s


def threshold(train_scores: np.ndarray, contamination: float) -> float:
    """The anomaly-score threshold that flags a ``contamination`` fraction of the training data."""
    if not 0 < contamination <= 0.5:
        raise AekitError(f"contamination: must be in (0, 0.5], got {contamination}")
    return float(np.percentile(train_scores, 100.0 * (1.0 - contamination)))


def ranking_metrics(y, scores) -> dict[str, float]:
    """AUROC and AUPRC (average precision) of anomaly scores against labels (1 = anomaly)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = (np.asarray(y).ravel() != 0).astype(int)
    if y.min() == y.max():
        raise AekitError("labels: all samples have the same label; AUROC needs both normal (0) and anomalous (1) samples")
    return {"auroc": float(roc_auc_score(y, scores)), "auprc": float(average_precision_score(y, scores))}


def detect_path(run_dir, data, out, score: str = "auto", contamination: float = 0.01,
                fit_on: str = "run") -> dict:
    """Score every sample of a table file with a trained run; write ``index,score,is_anomaly``.

    The scorer's statistics and the threshold come from the run's own training data
    (``fit_on="run"``) or, when the run's data cannot be reloaded, from ``data`` itself.
    Returns a summary (counts, threshold, and AUROC/AUPRC when ``data`` has labels).
    """
    from pathlib import Path

    from .. import io
    from ..data.runs import run_data, run_preprocessor
    from ..data.stream import rows
    from ..models import load
    from .common import read_table

    run_dir, out = Path(run_dir), Path(out)
    model = load(run_dir)
    pre = run_preprocessor(run_dir)
    x_raw, y, classes = read_table(data, mmap=True)  # a .npy file is scored a chunk at a time, never read whole
    if classes is not None:
        raise AekitError(
            f"{data}: the label column holds text ({', '.join(classes[:4])}); AUROC needs numeric labels "
            "(1 = anomaly, 0 = normal): write them as numbers or drop the column"
        )
    x = rows(x_raw, pre)  # the model's check_input reshapes flat rows to its input shape
    fitted_on = "data"
    x_fit = x
    if fit_on == "run":
        try:
            d = run_data(run_dir)
            x_fit = rows(d.x_train, d.preprocess)
            fitted_on = "run"
        except AekitError:
            x_fit = x
    scorer = AnomalyScorer(score).fit(model, x_fit)
    thr = threshold(scorer.score(model, x_fit), contamination)
    s = scorer.score(model, x)
    flags = s > thr
    io.write_csv(out, ({"index": i, "score": float(v), "is_anomaly": int(f)} for i, (v, f) in enumerate(zip(s, flags))),
                 fieldnames=["index", "score", "is_anomaly"])
    summary = {"n": int(len(s)), "n_anomalies": int(flags.sum()), "threshold": thr, "score": scorer.resolved,
               "contamination": contamination, "threshold_fitted_on": fitted_on}
    if y is not None:
        summary.update(ranking_metrics(y, s))
    io.write_json(out.with_suffix(".json"), summary)
    return summary
