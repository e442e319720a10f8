"""A trained run as one ``nn.Module``: raw rows in; anomaly score, reconstruction in data units
and code out, with the run's preprocessing and the score's fitted statistics inside.

    x̃ = T(x)                        the run's preprocess.json as torch operations (impute,
                                     scale / min-max / standardize, per-channel normalization,
                                     threshold binarization)
    parts = deterministic_outputs(model, x̃)    code, reconstruction, its error, −ELBO at μ(x)
    score = ScoreHead(parts)         recon, elbo, mahalanobis or combined, statistics as buffers
    recon = T⁻¹(x̂)                  back to the units the rows came in

The module is what :func:`aekit.deploy.export` traces to ONNX or ``torch.export`` and what the
HTTP service runs, and its score is the one ``aekit detect`` writes for the same rows
(``aekit.tasks.anomaly``: one definition, no sampling), so the three agree.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .._version import __version__
from ..data.preprocess import Preprocessor
from ..errors import AekitError
from ..rundir import RunDir
from ..tasks.anomaly import deterministic_outputs, fit_scorer

log = logging.getLogger("aekit")

OUTPUTS = ("score", "recon", "code")
INPUT_NAME = "x"
EXAMPLE_ROWS = 32  # raw training rows kept to trace and verify an export with

SCORE_DEFINITIONS = {
    "recon": "mean squared error (mean BCE for recon_loss='bce') of the deterministic reconstruction, "
             "in the preprocessed space",
    "elbo": "-log p(x | z = mu(x)) + KL(q(z|x) || p(z)): the negative ELBO evaluated at the posterior mean "
            "(nats, no sampling)",
    "mahalanobis": "(z - m)^T S^-1 (z - m) of the code z against the training codes' mean m and "
                   "Ledoit-Wolf-shrunk covariance S",
    "combined": "sum over {recon (elbo for variational families), mahalanobis} of (s - median) / IQR, "
                "medians and inter-quartile ranges of each part on the training data",
}


def check_outputs(outputs, arg: str = "outputs") -> tuple[str, ...]:
    """The output names (a sequence or "score,recon,code"), each known and given once."""
    if isinstance(outputs, str):
        outputs = [o.strip() for o in outputs.split(",") if o.strip()]
    outputs = tuple(outputs)
    bad = [o for o in outputs if o not in OUTPUTS]
    if bad or not outputs or len(set(outputs)) != len(outputs):
        what = f"unknown output {bad[0]!r}" if bad else "names an output twice" if outputs else "is empty"
        raise AekitError(f"{arg}: {what}; choose one or more of {', '.join(OUTPUTS)}, e.g. score,recon,code")
    return outputs


class Preprocess(nn.Module):
    """:class:`~aekit.data.preprocess.Preprocessor` as torch operations on (B, *input_shape)
    float32 batches, element for element the numpy transform (the same float32 operations in
    the same order); :meth:`inverse` is ``inverse_transform``.

    Static binarization draws its fixed sample per row position of the whole file, which a
    row on its own cannot reproduce: refused. Dynamic binarization scores the intensities,
    as ``aekit detect`` does."""

    def __init__(self, pre: Preprocessor, input_shape: tuple[int, ...]):
        super().__init__()
        if pre.binarize == "static":
            raise AekitError("preprocess.json: --binarize static draws one fixed sample per row position of the "
                             "training file, which a scorer of single rows cannot reproduce; retrain with "
                             "--binarize threshold or dynamic, or score the file with aekit detect")
        self.method, self.binarize, self.threshold = pre.method, pre.binarize, float(pre.threshold)
        self.shape = tuple(input_shape)
        d = math.prod(self.shape)
        f32 = torch.float32

        def flat(values, what):
            if values is None:
                return None
            t = torch.tensor(values, dtype=f32)
            if t.numel() != d:
                raise AekitError(f"preprocess.json: {what} has {t.numel()} values but the model takes {d} features; "
                                 "the files come from different runs")
            return t.reshape(self.shape)

        self.register_buffer("fill", flat(pre.fill, "fill"))
        self.register_buffer("offset", flat(pre.offset, "offset") if pre.method in ("minmax", "standardize") else None)
        self.register_buffer("scale", flat(pre.scale, "scale") if pre.method in ("minmax", "standardize") else None)
        self.register_buffer("factor", torch.tensor(pre.factor, dtype=f32))
        cm = None
        if pre.channel_mean is not None:
            c = len(pre.channel_mean)
            axis = 0 if pre.channel_axis == 1 else len(self.shape) - 1  # in (*input_shape)
            if self.shape[axis] != c:
                raise AekitError(f"preprocess.json: {c} channel statistics for input shape {self.shape}; "
                                 "the files come from different runs")
            cs = [1] * len(self.shape)
            cs[axis] = c
            cm = torch.tensor(pre.channel_mean, dtype=f32).reshape(cs)
        self.register_buffer("channel_mean", cm)
        self.register_buffer("channel_std", None if cm is None else
                             torch.tensor(pre.channel_std, dtype=f32).reshape(cm.shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.float32)
        if self.fill is not None:  # impute: non-finite entries → the training mean of their feature
            x = torch.where(torch.isfinite(x), x, self.fill)
        if self.method == "scale":
            x = x * self.factor
        elif self.method in ("minmax", "standardize"):
            x = (x - self.offset) / self.scale
        if self.channel_mean is not None:
            x = (x - self.channel_mean) / self.channel_std
        if self.binarize == "threshold":
            x = (x > self.threshold).to(torch.float32)
        return x

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Outputs back to data units (a binarized input's reconstruction stays a probability)."""
        if self.channel_mean is not None:
            y = y * self.channel_std + self.channel_mean
        if self.method == "scale":
            y = y / self.factor
        elif self.method in ("minmax", "standardize"):
            y = y * self.scale + self.offset
        return y

    def describe(self, pre: Preprocessor) -> str:
        steps = []
        if pre.fill is not None:
            steps.append("non-finite values -> the training mean of their feature")
        steps.append({"none": "values as given", "scale": f"x * {pre.factor:.9g}",
                      "minmax": "(x - training min) / (training max - min) per feature",
                      "standardize": "(x - training mean) / training std per feature"}[pre.method])
        if pre.channel_mean is not None:
            steps.append("(x - channel mean) / channel std per channel")
        if pre.binarize == "threshold":
            steps.append(f"x > {pre.threshold:g} -> 1 else 0")
        elif pre.binarize == "dynamic":
            steps.append("intensities scored as they are (no Bernoulli sample)")
        return "; ".join(steps)


class RunScorer(nn.Module):
    """A run's scorer: ``forward(x_raw)`` → a tuple in the order of ``outputs``:

    - ``score`` (B,) float32: the run's anomaly score (higher = more anomalous), the
      deterministic definition of :mod:`aekit.tasks.anomaly` ("auto": −ELBO at the posterior
      mean for variational families, else recon + Mahalanobis combined), equal to
      ``aekit detect``'s for the same rows;
    - ``recon`` (B, *input_shape) float32: the deterministic reconstruction in data units
      (the inverse preprocessing applied);
    - ``code`` (B, D) float32: the code ``transform`` gives (the posterior mean for
      variational families).

    ``x_raw``: float32 rows as the user has them, before any preprocessing — shaped
    (B, *input_shape) or flat (B, prod(input_shape)); either is accepted, and an export's graph
    takes the first. Deterministic: no sampling, eval mode; the score's statistics and the
    threshold were fitted on the run's training data when the scorer was built and are buffers.
    """

    def __init__(self, model, pre: Preprocessor, *, outputs: Sequence[str] = OUTPUTS, head=None,
                 threshold: float | None = None, info: dict[str, Any] | None = None,
                 example: np.ndarray | None = None):
        super().__init__()
        if model.network.input_dtype == "long":
            raise AekitError(f"arch: the {model.network.name} network takes integer token ids, which a float32 "
                             "scorer of raw rows cannot carry; apply the model with aekit's Python API instead")
        self.outputs = check_outputs(outputs)
        if "score" in self.outputs and head is None:
            raise AekitError("outputs: 'score' needs statistics fitted on training data; build the scorer with "
                             "RunScorer.from_run(RUN) or from_model(model, fit_data=x_train), or drop 'score'")
        self.model = model.eval()
        self.input_shape = tuple(int(s) for s in model.config.input_shape)
        self.preprocess = Preprocess(pre, self.input_shape)
        self.head = head
        self.threshold = threshold
        self._pre = pre
        self._info = dict(info or {})
        self.example = example  # a few raw rows to trace and verify an export with (None: made up)
        self.eval()

    # -- building ----------------------------------------------------------------------------
    @classmethod
    def from_run(cls, run_dir, outputs: Sequence[str] = OUTPUTS, plugins: Sequence[str] = (), encoder=None,
                 decoder=None, *, contamination: float = 0.01, fit_data=None) -> RunScorer:
        """The scorer of a run directory. The score's statistics and the threshold (flagging a
        ``contamination`` fraction of the training rows, as ``aekit detect --contamination``)
        are fitted on the run's training data, reloaded as ``aekit detect`` reloads it; or on
        ``fit_data`` (raw rows) where given. ``plugins``, ``encoder``, ``decoder``: as
        :func:`aekit.load`."""
        from ..data.runs import run_data
        from ..models import load

        run = RunDir.of(run_dir).require_run()
        outputs = check_outputs(outputs)
        model = load(run, encoder=encoder, decoder=decoder, plugins=plugins)
        pre = run.read_preprocess()
        fitted_on = "fit_data"
        if fit_data is None and "score" in outputs:
            try:
                fit_data = run_data(run).x_train
            except AekitError as e:
                raise AekitError(f"{run.path}: the run's training data cannot be reloaded ({e}); the score's "
                                 "statistics and threshold are fitted on it: make it available, or pass "
                                 "fit_data=x_train (raw rows)") from None
            fitted_on = "run"
        info = {"run": str(run.path), "threshold_fitted_on": fitted_on}
        return cls.from_model(model, pre, outputs=outputs, fit_data=fit_data, contamination=contamination, info=info)

    @classmethod
    def from_model(cls, model, preprocess: Preprocessor | None = None, *, outputs: Sequence[str] = OUTPUTS,
                   fit_data=None, contamination: float = 0.01, info: dict[str, Any] | None = None) -> RunScorer:
        """The scorer of a model in memory. ``preprocess``: its preprocessing (none if not
        given); ``fit_data``: raw training rows, on which the score's statistics and the
        threshold are fitted (needed for the ``score`` output)."""
        from ..data.stream import rows

        pre = preprocess or Preprocessor("none")
        outputs = check_outputs(outputs)
        head = thr = None
        example = None
        info = {"threshold_fitted_on": "fit_data", **(info or {})}
        if fit_data is not None:
            if not isinstance(fit_data, np.ndarray):
                fit_data = np.asarray(fit_data.detach().cpu() if isinstance(fit_data, torch.Tensor) else fit_data)
            example = np.array(fit_data[:EXAMPLE_ROWS], dtype=np.float32)
            if "score" in outputs:
                scorer, thr = fit_scorer(model, rows(fit_data, pre), "auto", contamination)
                head = scorer.head()
                info.update(contamination=contamination, score_kind=scorer.resolved)
        return cls(model, pre, outputs=outputs, head=head, threshold=thr, info=info, example=example)

    # -- running -----------------------------------------------------------------------------
    def forward(self, x_raw: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.preprocess(x_raw.reshape(x_raw.shape[0], *self.input_shape))
        want = {"code"} if "code" in self.outputs else set()
        if "recon" in self.outputs:
            want.add("recon")
        if "score" in self.outputs:
            want.update(self.head.needs())
        parts = deterministic_outputs(self.model, x, want)
        out = {}
        if "score" in self.outputs:
            out["score"] = self.head(parts).to(torch.float32)
        if "recon" in self.outputs:
            out["recon"] = self.preprocess.inverse(parts["recon"].reshape(x.shape))
        if "code" in self.outputs:
            out["code"] = parts["code"]
        return tuple(out[k] for k in self.outputs)

    @torch.inference_mode()
    def run(self, x) -> dict[str, np.ndarray]:
        """``forward`` on a numpy batch (or tensor) → {output name: numpy array}."""
        t = torch.as_tensor(np.asarray(x, dtype=np.float32)) if not isinstance(x, torch.Tensor) else x
        return {k: v.numpy() for k, v in zip(self.outputs, self(t))}

    @torch.inference_mode()
    def tolerance(self, x_raw, rtol: float = 1e-5) -> dict[str, np.ndarray]:
        """How far another runtime's outputs for ``x_raw`` may lie from this module's when the two
        agree to ``rtol`` relative: {output: absolute bounds, broadcastable against it}.

        Reconstruction and code: rtol · |value| + rtol/10 · the output's largest magnitude (for
        values near 0, which are differences of larger numbers). Score: rtol × the scale of its
        parts (:meth:`~aekit.tasks.anomaly.ScoreHead.magnitude`): a combined score centred on
        its training medians and divided by their inter-quartile ranges can be near 0, or move
        by more than rtol · |score|, where its parts agree to rtol."""
        x = torch.as_tensor(np.asarray(x_raw, dtype=np.float32))
        out = dict(zip(self.outputs, (t.numpy() for t in self(x))))
        tol = {k: rtol * np.abs(v) + 0.1 * rtol * float(np.abs(v).max(initial=0.0)) for k, v in out.items()}
        if "score" in out:
            xt = self.preprocess(x.reshape(len(x), *self.input_shape))
            parts = deterministic_outputs(self.model, xt, self.head.needs())
            scale = self.head.magnitude(parts).numpy()
            tol["score"] = rtol * scale + 0.1 * rtol * float(scale.max(initial=0.0)) + 1e-30
        return tol

    def example_batch(self, n: int = 8) -> torch.Tensor:
        """``n`` raw rows (B, *input_shape) to trace and verify an export with: the training
        rows kept when the scorer was fitted, else values the preprocessing maps onto [0, 1]."""
        if self.example is not None and len(self.example):
            reps = -(-n // len(self.example))
            x = np.concatenate([self.example] * reps)[:n]
            return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).reshape(n, *self.input_shape)
        g = torch.Generator().manual_seed(0)
        u = torch.rand(n, *self.input_shape, generator=g)
        return self.preprocess.inverse(u) if self._pre.binarize == "none" else u

    # -- description -------------------------------------------------------------------------
    @property
    def metadata(self) -> dict[str, Any]:
        """What a consumer of the scorer or its export needs to know, JSON-able."""
        model, pre = self.model, self._pre
        shapes = {"score": ["batch"], "recon": ["batch", *self.input_shape],
                  "code": ["batch", self.code_dim()]}
        kind = self.head.kind if self.head is not None else None
        return {
            "aekit_version": __version__,
            "family": model.registry_name or type(model).__name__,
            "model_class": type(model).__name__,
            "network": model.config.arch,
            "input_name": INPUT_NAME,
            "input_names": [INPUT_NAME],
            "input_shape": list(self.input_shape),
            "input_dtype": "float32",
            "input": "raw rows as the user has them (before preprocessing), (batch, *input_shape); the Python "
                     "module also takes flat rows (batch, prod(input_shape))",
            "output_names": list(self.outputs),
            "output_shapes": {k: shapes[k] for k in self.outputs},
            "score": None if kind is None else {
                "kind": kind, "definition": SCORE_DEFINITIONS[kind] if kind != "combined" else
                SCORE_DEFINITIONS["combined"].replace("recon (elbo for variational families)",
                                                      "elbo" if self.head.base == "elbo" else "recon"),
                "higher": "more anomalous", "deterministic": True},
            "threshold": self.threshold,
            "is_anomaly": "score > threshold",
            "contamination": self._info.get("contamination"),
            "threshold_fitted_on": self._info.get("threshold_fitted_on") if self.threshold is not None else None,
            "preprocessing": {"description": self.preprocess.describe(pre), **pre.to_dict()},
            "recon_units": "data units (inverse preprocessing applied)",
        }

    def code_dim(self) -> int:
        with torch.inference_mode():
            return int(deterministic_outputs(self.model, self.preprocess(self.example_batch(2)), ("code",))["code"].shape[1])

    def extra_repr(self) -> str:
        return f"outputs={self.outputs}, input_shape={self.input_shape}, threshold={self.threshold}"
