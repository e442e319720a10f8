"""Anomaly scores from a trained autoencoder (Sakurada & Yairi 2014, "Anomaly Detection Using
Autoencoders with Nonlinear Dimensionality Reduction"; An & Cho 2015, "Variational Autoencoder
based Anomaly Detection using Reconstruction Probability").

The model is trained on (mostly) normal data; a sample the model explains badly is anomalous.
Every score here is *higher = more anomalous* (the scikit-learn wrapper negates it):

    recon        s(x) = (1/d) ‖x − g(f(x))‖²        (or the mean BCE for recon_loss="bce")
    elbo         s(x) = −log p(x | z = μ(x)) + KL(q(z|x) ‖ p(z)), the negative ELBO with its
                 expectation evaluated at the posterior mean μ(x) (variational families): no
                 sampling, so a row has one score wherever it is computed — here, in an
                 exported graph (:mod:`aekit.deploy`) or in the service. ``n_draws = K > 0``
                 instead averages K one-sample estimates of E_q(z|x)[−log p(x|z)] + KL (seeded)
    mahalanobis  s(x) = (z − μ)ᵀ Σ⁻¹ (z − μ),  z = f(x) (posterior mean), μ and Σ the mean and
                 Ledoit–Wolf-shrunk covariance of the training codes
    combined     s(x) = Σ_k (s_k(x) − med_k) / IQR_k  over k ∈ {recon (or elbo), mahalanobis},
                 medians and inter-quartile ranges of each score on the training data, so the
                 two parts count equally whatever their units
    auto         elbo for variational families, combined otherwise

A threshold is the (1 − contamination) quantile of the training scores.

Every deterministic score is made of :func:`deterministic_outputs` (torch operations on one
batch) and :class:`ScoreHead` (the fitted statistics as buffers): :class:`AnomalyScorer`
runs them over a file in chunks, :class:`aekit.deploy.RunScorer` inside one graph.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

import numpy as np
import torch
from torch import nn

from ..errors import AekitError
from ..likelihoods import bce_per_sample, mse_per_sample
from ..models.base import Autoencoder
from ..nets.modes import eval_mode
from .common import batched, chunk_rows, chunks
from .thresholds import check_contamination

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


OUTPUT_PARTS = ("code", "recon", "recon_error", "elbo")


def deterministic_outputs(model, x: torch.Tensor, want: Collection[str] = OUTPUT_PARTS) -> dict[str, torch.Tensor]:
    """What the scores are made of, for a preprocessed batch ``x`` (B, *input_shape), with
    no sampling — the one definition ``aekit detect``, an exported graph and the service share:

        code         (B, D)   the code :meth:`transform` gives (the posterior mean μ(x) for
                              variational families), flattened
        recon        (B, *input_shape)  the deterministic reconstruction g(f(x)), or the
                              decoder's mean at z = μ(x)
        recon_error  (B,)     its mean squared error over features (mean BCE for
                              recon_loss="bce")
        elbo         (B,)     −log p(x | z = μ(x)) + KL(q(z|x) ‖ p(z)) (variational families)

    Only the parts named in ``want`` are returned (the encoder and decoder run once each).
    Plain torch operations, no numpy, no random numbers and no inference mode of its own, so
    the same function runs eagerly and inside an ONNX or ``torch.export`` graph; eval mode is
    the caller's job."""
    x = model.check_input(x)
    out: dict[str, torch.Tensor] = {}
    if model.variational:
        q = model.encode(x)
        z = q.mode()  # (B, D)
        h = model.decode_params(z)  # logits or pre-activation mean, (B, *input_shape)
        if "elbo" in want:
            out["elbo"] = model.nll(h, x) + q.kl()
        mean = getattr(model, "decoder_mean", None)  # a plug-in family without it decodes again
        recon = mean(h) if mean is not None else model.decode(z)
        code = z
    else:
        z = model.code(x)
        recon = model.decode(z) if {"recon", "recon_error"} & set(want) else None
        # a family whose features differ from its code (the k-sparse AE keeps α·k units) says so
        # by overriding transform
        code = z if type(model).transform is Autoencoder.transform else model.transform(x)
    if "code" in want:
        out["code"] = code.flatten(1)
    if "recon" in want:
        out["recon"] = recon
    if "recon_error" in want:
        bce = getattr(model.config, "recon_loss", "mse") == "bce"
        out["recon_error"] = bce_per_sample(recon, x) if bce else mse_per_sample(recon, x)
    return out


class ScoreHead(nn.Module):
    """A fitted score as a module: parts from :func:`deterministic_outputs` → the score (B,),
    float64, higher = more anomalous. The statistics fitted on the training data are buffers
    (float64): the code mean μ (D,) and precision Σ⁻¹ (D, D) of ``mahalanobis``, and for
    ``combined`` the median and inter-quartile range of each of its two parts.

    ``kind``: recon, elbo, mahalanobis or combined; ``base``: the part ``combined`` adds to the
    Mahalanobis distance (``recon_error`` or ``elbo``)."""

    def __init__(self, kind: str, base: str = "recon_error", mean=None, precision=None,
                 center: tuple[float, float] | None = None, spread: tuple[float, float] | None = None):
        super().__init__()
        self.kind, self.base = kind, base
        f64 = torch.float64
        # (empty buffers would trip torch.export.save: statistics a score does not use are None)
        self.register_buffer("mean", None if mean is None else torch.as_tensor(mean, dtype=f64))
        self.register_buffer("precision", None if precision is None else torch.as_tensor(precision, dtype=f64))
        self.register_buffer("center", torch.tensor(center or (0.0, 0.0), dtype=f64))
        self.register_buffer("spread", torch.tensor(spread or (1.0, 1.0), dtype=f64))

    def needs(self) -> tuple[str, ...]:
        """The parts of :func:`deterministic_outputs` this score reads."""
        return {"recon": ("recon_error",), "elbo": ("elbo",), "mahalanobis": ("code",),
                "combined": (self.base, "code")}[self.kind]

    def mahalanobis(self, code: torch.Tensor) -> torch.Tensor:
        """(z − μ)ᵀ Σ⁻¹ (z − μ) per row (B,), float64."""
        d = code.flatten(1).to(torch.float64) - self.mean  # (B, D)
        return ((d @ self.precision) * d).sum(1)

    def magnitude(self, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        """The scale (B,) on which float32 rounding of the parts moves the score: |score| for one
        part, Σ_k |s_k| / IQR_k for ``combined``, whose centring on the training medians can
        leave a score near 0 from parts that are not (a bound of 10⁻⁵ · magnitude is 10⁻⁵
        relative agreement of the parts, which is what two runtimes' kernels can promise)."""
        if self.kind != "combined":
            return self(parts).abs()
        base = parts[self.base].to(torch.float64).abs()
        return base / self.spread[0] + self.mahalanobis(parts["code"]).abs() / self.spread[1]

    def forward(self, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        k = self.kind
        if k == "recon":
            return parts["recon_error"].to(torch.float64)
        if k == "elbo":
            return parts["elbo"].to(torch.float64)
        m = self.mahalanobis(parts["code"])
        if k == "mahalanobis":
            return m
        base = parts[self.base].to(torch.float64)
        return (base - self.center[0]) / self.spread[0] + (m - self.center[1]) / self.spread[1]


@torch.inference_mode()
def reconstruction_error(model, x, batch_size: int | None = None) -> np.ndarray:
    """Per-sample reconstruction error of the deterministic reconstruction (N,)."""
    return _gather(model, x, ("recon_error",), batch_size)["recon_error"].double().numpy()


@torch.inference_mode()
def neg_elbo(model, x, n_draws: int = 4, seed: int = 0, batch_size: int | None = None) -> np.ndarray:
    """−ELBO per sample (nats) (N,): at the posterior mean for ``n_draws=0``, else the mean of
    ``n_draws`` one-sample estimates, seeded (the global RNG is restored afterwards)."""
    if not model.variational:
        raise AekitError(f"score: −ELBO needs a variational family, not {type(model).__name__}")
    if n_draws == 0:
        return _gather(model, x, ("elbo",), batch_size)["elbo"].double().numpy()
    with eval_mode(model), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        total = sum(batched(model.score, x, batch_size).double() for _ in range(n_draws))
    return (total / n_draws).numpy()


@torch.inference_mode()
def _gather(model, x, want: Collection[str], batch_size: int | None = None) -> dict[str, torch.Tensor]:
    """:func:`deterministic_outputs` over every row of ``x``, a chunk at a time (CPU tensors)."""
    out: dict[str, torch.Tensor] = {}
    with eval_mode(model):
        for i, xb in chunks(x, chunk_rows(model, batch_size)):
            parts = deterministic_outputs(model, xb, want)
            for k, v in parts.items():
                v = v.detach().cpu()
                if k not in out:  # allocated once, up front (BENCHMARKS.md, "Scoring memory")
                    out[k] = torch.empty((len(x), *v.shape[1:]), dtype=v.dtype)
                out[k][i:i + len(v)] = v
    return out


class AnomalyScorer:
    """Fits the statistics a score needs on the training data, then scores new data.

    ``AnomalyScorer("combined").fit(model, x_train).score(model, x)`` → (N,) numpy, higher =
    more anomalous. Its state is plain numbers (:meth:`to_dict` / :meth:`from_dict`: JSON);
    :meth:`head` gives it as a :class:`ScoreHead` module. ``n_draws``: 0 (the default)
    evaluates −ELBO at the posterior mean; K > 0 averages K sampled estimates instead (seeded;
    such a scorer has no :meth:`head`, since a graph would have to draw the same noise).
    """

    def __init__(self, kind: str = "auto", n_draws: int = 0, batch_size: int | None = None):
        if kind not in SCORES:
            raise AekitError(f"score: unknown anomaly score {kind!r}; choose one of {', '.join(SCORES)}")
        if not isinstance(n_draws, int) or n_draws < 0:
            raise AekitError(f"n_draws: posterior samples for −ELBO must be 0 (the posterior mean) or more, got {n_draws!r}")
        self.kind = kind
        self.n_draws = n_draws
        self.batch_size = batch_size
        self.resolved: str | None = None
        self.mean: np.ndarray | None = None  # (D,) training code mean
        self.precision: np.ndarray | None = None  # (D, D) inverse shrunk covariance
        self.center: dict[str, float] = {}
        self.spread: dict[str, float] = {}
        self._base_name: str | None = None

    def _base(self, model) -> str:
        return "elbo" if model.variational else "recon"

    def _head(self) -> ScoreHead:
        base = {"recon": "recon_error", "elbo": "elbo"}[self._base_name or "recon"]
        pair = (self._base_name, "mahalanobis")
        fitted = self.resolved == "combined" and all(k in self.center for k in pair)
        return ScoreHead(self.resolved, base, self.mean, self.precision,
                         tuple(self.center[k] for k in pair) if fitted else None,
                         tuple(self.spread[k] for k in pair) if fitted else None)

    def head(self) -> ScoreHead:
        """The fitted score as a :class:`ScoreHead` module (the deterministic definition only)."""
        if self.resolved is None:
            raise AekitError("AnomalyScorer: call fit(model, x_train) before head")
        if self.n_draws and "elbo" in self._head().needs():
            raise AekitError(f"n_draws: a score averaged over {self.n_draws} posterior samples cannot be a graph; "
                             "use n_draws=0 (−ELBO at the posterior mean)")
        return self._head()

    def _parts(self, model, x) -> dict[str, torch.Tensor]:
        want = set(self._head().needs())
        sampled = bool(self.n_draws) and "elbo" in want
        rest = want - {"elbo"} if sampled else want
        parts = _gather(model, x, rest, self.batch_size) if rest else {}
        if sampled:
            parts["elbo"] = torch.from_numpy(neg_elbo(model, x, self.n_draws, batch_size=self.batch_size))
        return parts

    def fit(self, model, x) -> AnomalyScorer:
        from sklearn.covariance import LedoitWolf

        self.resolved = check_score(self.kind, model)
        self._base_name = (self._base(model) if self.resolved == "combined"
                           else self.resolved if self.resolved in ("recon", "elbo") else None)
        self.mean = self.precision = None
        self.center, self.spread = {}, {}
        if self.resolved in ("mahalanobis", "combined"):
            z = _gather(model, x, ("code",), self.batch_size)["code"].double().numpy()  # (N, D), any code shape
            self.mean = z.mean(0)
            if len(z) > 1:
                cov = LedoitWolf(assume_centered=False).fit(z).covariance_
            else:
                cov = np.eye(z.shape[1])
            cov += 1e-6 * np.trace(cov) / len(cov) * np.eye(len(cov)) + 1e-12 * np.eye(len(cov))
            self.precision = np.linalg.inv(cov)
        if self.resolved == "combined":
            head = self._head()
            parts = self._parts(model, x)
            with torch.inference_mode():
                scores = {self._base_name: parts[head.base].double().numpy(),
                          "mahalanobis": head.mahalanobis(parts["code"]).numpy()}
            for name, s in scores.items():
                q25, q50, q75 = np.percentile(s, [25, 50, 75])
                self.center[name] = float(q50)
                self.spread[name] = float(q75 - q25) if q75 > q25 else float(np.std(s) or 1.0)
        return self

    def score(self, model, x) -> np.ndarray:
        """Anomaly score per sample (N,), float64; higher = more anomalous."""
        if self.resolved is None:
            raise AekitError("AnomalyScorer: call fit(model, x_train) before score")
        parts = self._parts(model, x)
        with torch.inference_mode():
            return self._head()(parts).numpy()

    def to_dict(self) -> dict:
        return {
            "kind": self.kind, "resolved": self.resolved, "n_draws": self.n_draws, "base": self._base_name,
            "mean": None if self.mean is None else self.mean.tolist(),
            "precision": None if self.precision is None else self.precision.tolist(),
            "center": self.center, "spread": self.spread,
        }

    @classmethod
    def from_dict(cls, d: dict) -> AnomalyScorer:
        s = cls(d["kind"], n_draws=d.get("n_draws", 0))
        s.resolved = d["resolved"]
        s.mean = None if d.get("mean") is None else np.asarray(d["mean"], dtype=np.float64)
        s.precision = None if d.get("precision") is None else np.asarray(d["precision"], dtype=np.float64)
        s.center, s.spread = dict(d.get("center", {})), dict(d.get("spread", {}))
        s._base_name = d.get("base") or next(iter(s.center), None) or (
            s.resolved if s.resolved in ("recon", "elbo") else None)
        return s


def threshold(train_scores: np.ndarray, contamination: float) -> float:
    """The anomaly-score threshold that flags a ``contamination`` fraction of the training data."""
    check_contamination(contamination)
    return float(np.percentile(train_scores, 100.0 * (1.0 - contamination)))


def fit_scorer(model, x_fit, score: str = "auto", contamination: float = 0.01,
               n_draws: int = 0) -> tuple[AnomalyScorer, float]:
    """(scorer, threshold) fitted on the training rows ``x_fit`` (preprocessed): what
    ``aekit detect`` and :class:`aekit.deploy.RunScorer` both use."""
    threshold(np.zeros(1), contamination)  # an out-of-range contamination fails before any work
    scorer = AnomalyScorer(score, n_draws=n_draws).fit(model, x_fit)
    return scorer, threshold(scorer.score(model, x_fit), contamination)


def ranking_metrics(y, scores) -> dict[str, float]:
    """AUROC and AUPRC (average precision) of anomaly scores against labels (1 = anomaly)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = (np.asarray(y).ravel() != 0).astype(int)
    if y.min() == y.max():
        raise AekitError("labels: all samples have the same label; AUROC needs both normal (0) and anomalous (1) samples")
    return {"auroc": float(roc_auc_score(y, scores)), "auprc": float(average_precision_score(y, scores))}


def detect_path(run_dir, data, out, score: str = "auto", contamination: float = 0.01,
                fit_on: str = "run", n_draws: int = 0) -> dict:
    """Score every sample of a table file with a trained run; write ``index,score,is_anomaly``.

    The scorer's statistics and the threshold come from the run's own training data
    (``fit_on="run"``) or, when the run's data cannot be reloaded, from ``data`` itself.
    ``n_draws > 0`` averages −ELBO over that many posterior samples instead of evaluating it
    at the posterior mean (the definition an exported model computes).
    Returns a summary (counts, threshold, and AUROC/AUPRC when ``data`` has labels).
    """
    from pathlib import Path

    from .. import io
    from ..data.runs import run_columns, run_data, run_preprocessor
    from ..data.stream import rows
    from ..models import load
    from .common import read_table

    run_dir, out = Path(run_dir), Path(out)
    model = load(run_dir)
    pre = run_preprocessor(run_dir)
    # a .npy file is scored a chunk at a time, never read whole; a table's columns are matched by
    # name; NaN/inf pass only to a run whose preprocessing fills them (--impute mean)
    x_raw, y, classes = read_table(data, mmap=True, columns=run_columns(run_dir), finite=pre.fill is None)
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
        except AekitError as e:
            x_fit = x
            logging.getLogger("aekit").warning(
                "%s: the run's training data cannot be read again (%s); the score's statistics and threshold are "
                "fitted on %s itself, so about %g of its rows are flagged whatever they hold", run_dir, e, data,
                contamination)
    scorer, thr = fit_scorer(model, x_fit, score, contamination, n_draws)
    s = scorer.score(model, x)
    flags = s > thr
    io.write_csv(out, ({"index": i, "score": float(v), "is_anomaly": int(f)} for i, (v, f) in enumerate(zip(s, flags))),
                 fieldnames=["index", "score", "is_anomaly"])
    summary = {"n": int(len(s)), "n_anomalies": int(flags.sum()), "threshold": thr, "score": scorer.resolved,
               "contamination": contamination, "threshold_fitted_on": fitted_on, "elbo_samples": n_draws}
    if y is not None:
        summary.update(ranking_metrics(y, s))
    io.write_json(out.with_suffix(".json"), summary)
    return summary
