"""The run report: one HTML page that shows what a trained autoencoder learned.

``build_report(run_dir)`` reads the run directory (``config.json``, ``metrics.json``,
``preprocess.json``, ``history.csv``, ``model.safetensors``), takes the run's test data
preprocessed exactly as at training time, and writes ``run_dir/report.html``: one
self-contained page, every figure an embedded base64 PNG. It shows what applies to the run:

- a summary (family, architecture, parameter count, data, preprocessing, time, device, metrics);
- training curves: each loss term, training and validation, per epoch; scheduled values;
- reconstructions x → x̂ = g(f(x)) (denoising runs: x, x̃ ~ q(x̃|x), g(f(x̃)));
- for generative families, samples x = g(z), z ~ N(0, I), an interpolation
  g((1 − t) z₁ + t z₂) between two test codes, and a traversal of single code units;
- a 2-D map of the test codes: the code itself when 2-D, else PCA, or t-SNE (van der Maaten &
  Hinton 2008) on request;
- with anomaly labels: score histograms, ROC and precision-recall curves with
  AUROC = P(s(x_anomalous) > s(x_normal)) and AUPRC (average precision);
- for tabular data: the mean squared reconstruction error of each feature.

A section that cannot be built is left out with a note on the page and a logged warning;
the report never fails because one figure did.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import html
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import io, plots
from .errors import AekitError

log = logging.getLogger("aekit.report")


@dataclasses.dataclass
class Section:
    id: str
    title: str
    html: str = ""
    figures: list[tuple[str, str, bytes]] = dataclasses.field(default_factory=list)  # (id, caption, png)
    notes: list[str] = dataclasses.field(default_factory=list)  # parts left out

    def add(self, fig_id: str, caption: str, fig) -> None:
        self.figures.append((fig_id, caption, plots.to_png(fig)))


@dataclasses.dataclass
class Report:
    """What :func:`build_report` wrote: the page, the ids of its figures, the omitted sections."""

    path: Path
    figures: list[str]
    notes: list[str]
    seconds: float


# -- reading the run ---------------------------------------------------------------------------
def read_history(path: Path) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        row = {}
        for k, v in r.items():
            try:
                row[k] = float(v) if v not in ("", None) else math.nan
            except ValueError:
                continue
        out.append(row)
    return out


class _Run:
    """Everything the sections read, loaded once."""

    def __init__(self, run_dir: Path, model, data, tsne: bool, max_points: int, seed: int, max_rows: int = 20000):
        from .data import Preprocessor
        from .data.runs import run_data
        from .models import load

        self.dir, self.tsne, self.max_points, self.seed = run_dir, tsne, max_points, seed
        self.cfg = io.read_json(run_dir / "config.json")
        if model is not None and next(model.parameters()).device.type != "cpu":
            import copy

            model = copy.deepcopy(model).cpu()  # the figures are drawn on the CPU; the caller's model stays put
        self.model = model if model is not None else load(run_dir)
        self.model.eval()
        self.metrics = io.read_json(run_dir / "metrics.json") if (run_dir / "metrics.json").is_file() else {}
        self.history = read_history(run_dir / "history.csv")
        self.shape = tuple(self.model.config.input_shape)
        self.x = self.y = None
        self.data_note = ""
        try:
            data = data if data is not None else run_data(run_dir)
            pre_path = run_dir / "preprocess.json"
            pre = Preprocessor.from_dict(io.read_json(pre_path)) if pre_path.is_file() else data.preprocess
            test = data.x_test is not None
            x, y = (data.x_test, data.y_test) if test else (data.x_train, data.y_train)
            rows = np.arange(len(x))
            if len(x) > max_rows:  # a large (possibly memory-mapped) split: a seeded subset of rows
                rows = np.sort(np.random.default_rng(seed).choice(len(x), max_rows, replace=False))
            self.x = pre.transform(np.asarray(x[rows]), sample=True)  # as `aekit evaluate` reads it
            self.y = None if y is None else np.asarray(y)[rows]
            self.split = "test" if test else "training"
            if len(x) > max_rows:
                self.split += f" (a random {max_rows} of {len(x)})"
        except Exception as e:  # the figures that need data are left out, the rest still shows
            self.data_note = f"the run's data could not be loaded ({e})"
            log.warning("report: %s", self.data_note)

    # -- derived facts ---
    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3 and self.shape[0] in (1, 3)

    @property
    def anomaly_labels(self) -> bool:
        if self.y is None or self.y.ndim != 1:
            return False
        u = np.unique(self.y)
        return len(u) == 2 and set(u.tolist()) <= {0, 1}

    def need_data(self) -> np.ndarray:
        if self.x is None:
            raise AekitError(self.data_note)
        return self.x

    def apply(self, fn: Callable[[torch.Tensor], torch.Tensor], x: np.ndarray, bs: int = 2048) -> np.ndarray:
        outs = []
        with torch.inference_mode():
            for i in range(0, len(x), bs):
                outs.append(fn(torch.from_numpy(np.ascontiguousarray(x[i:i + bs]))).float().cpu().numpy())
        return np.concatenate(outs)

    def display(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """Images in [0, 1] for showing; data outside [0, 1] is rescaled by the first array's range."""
        lo, hi = float(arrays[0].min()), float(arrays[0].max())
        if lo >= -0.01 and hi <= 1.01:
            return [np.clip(a, 0, 1) for a in arrays]
        return [np.clip((a - lo) / max(hi - lo, 1e-12), 0, 1) for a in arrays]

    def pick(self, n: int) -> np.ndarray:
        """n test indices, one per class first where labels exist."""
        if self.y is not None and self.y.ndim == 1 and len(np.unique(self.y)) <= 20:
            first = [int(np.flatnonzero(self.y == c)[0]) for c in np.unique(self.y)]
            rest = [i for i in range(len(self.y)) if i not in set(first)]
            return np.array((first + rest)[:n])
        return np.arange(min(n, len(self.x)))


# -- sections ----------------------------------------------------------------------------------
def _table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.5g}"
    if isinstance(v, (list, tuple)):
        return "×".join(map(str, v)) if all(isinstance(i, int) for i in v) else ", ".join(map(_fmt, v))
    return str(v)


def summary(run: _Run) -> Section:
    m, cfg = run.model, run.cfg
    mc, data, tr = dict(cfg.get("model", {})), cfg.get("data", {}), cfg.get("training", {})
    arch = mc.get("arch", "mlp")
    layers = mc.get("channels") if arch == "conv" else mc.get("hidden")
    arch_txt = f"{arch}, {'channels' if arch == 'conv' else 'hidden'} {_fmt(layers or [])}, latent_dim {mc.get('latent_dim')}, {mc.get('activation', '')}"
    skip = {"input_shape", "arch", "hidden", "channels", "latent_dim", "activation"}
    pre = io.read_json(run.dir / "preprocess.json") if (run.dir / "preprocess.json").is_file() else {}
    last = run.history[-1] if run.history else {}
    rows = [
        ("family", f"{m.registry_name or type(m).__name__} ({type(m).__name__}): {m.paper}"),
        ("architecture", arch_txt),
        ("family options", ", ".join(f"{k}={_fmt(v)}" for k, v in mc.items() if k not in skip) or "defaults"),
        ("input shape", list(m.config.input_shape)),
        ("parameters", f"{m.n_params():,}"),
        ("data", f"{data.get('name', '?')}: {data.get('n_train', '?')} training / {data.get('n_test', '?')} test samples"
                 + (f" ({data['split']})" if data.get("split") else "")),
        ("preprocessing", pre.get("method", "?") + (f" (×{pre['factor']:.4g})" if pre.get("method") == "scale" else "")),
        ("training", f"{len(run.history)} of {tr.get('epochs', '?')} epochs, batch {tr.get('batch_size', '?')}, "
                     f"{tr.get('optimizer', '?')} lr {_fmt(tr.get('lr', '?'))}, {tr.get('lr_schedule', 'constant')} schedule"),
        ("training time", f"{float(tr.get('train_seconds', sum(r.get('seconds', 0) for r in run.history))):.1f} s"),
        ("device", tr.get("device_used", tr.get("device", "?"))),
    ]
    rows += [(f"final {k.replace('_', ' ')}", v) for k, v in last.items() if k.endswith("_loss")]
    sec = Section("summary", "Summary", _table(rows))
    if run.metrics:
        split = run.metrics.get("split", "test")
        sec.html += f"<h3>Final metrics ({html.escape(str(split))} set)</h3>" + _table(
            [(k, v) for k, v in run.metrics.items() if k != "split"])
    return sec


def curves(run: _Run) -> Section | None:
    h = run.history
    if not h:
        raise AekitError("history.csv is absent or empty")
    terms = []
    for k in h[0]:
        if k.startswith(("train_", "val_")):
            t = k.split("_", 1)[1]
            if t not in terms:
                terms.append(t)
    sec = Section("curves", "Training curves")
    sec.add("fig-loss", "Each loss term for the training and validation data, per epoch.", plots.loss_curves(h, terms))
    other = [k for k in h[0] if k not in ("epoch", "seconds") and not k.startswith(("train_", "val_"))]
    varying = [k for k in other if len({round(r.get(k, math.nan), 12) for r in h}) > 1]
    constant = [k for k in other if k not in varying]
    if varying:
        sec.add("fig-schedule", "Values that follow a schedule during training, per epoch.",
                plots.schedule_curves(h, varying))
    if constant:
        sec.html = "<p>Constant during training: " + ", ".join(
            f"{html.escape(k)} = {_fmt(h[-1][k])}" for k in constant) + ".</p>"
    return sec


def reconstructions(run: _Run) -> Section | None:
    if not run.is_image:
        return None
    x = run.need_data()[run.pick(12)]
    corr = getattr(run.model, "corruption", None)
    sec = Section("reconstructions", "Reconstructions")
    if corr is not None and hasattr(corr, "kind"):
        from .corruption import corrupt

        noisy = corrupt(torch.from_numpy(x), corr.kind, float(corr.level), generator=torch.Generator().manual_seed(run.seed)).numpy()
        den = run.apply(run.model.reconstruct, noisy)
        clean, noisy_d, den = run.display(x, noisy, den)
        sec.add("fig-recon", f"Test inputs (clean), corrupted by {corr.kind} noise at level {corr.level:.3g}, "
                "and the model's reconstruction of the corrupted input (denoised).",
                plots.image_rows([("clean", clean), ("noisy", noisy_d), ("denoised", den)], "Denoising: clean, noisy, denoised"))
    else:
        r = run.apply(run.model.reconstruct, x)
        xd, rd = run.display(x, r)
        sec.add("fig-recon", "Test inputs (top) and their reconstructions (bottom).",
                plots.image_rows([("input", xd), ("reconstruction", rd)], "Test inputs and reconstructions"))
    return sec


def generative(run: _Run) -> Section | None:
    m = run.model
    if not hasattr(m, "sample") or not run.is_image:
        return None
    g = torch.Generator().manual_seed(run.seed)
    sec = Section("generative", "Samples, interpolation and traversal")
    s = m.sample(64, generator=g).float().cpu().numpy()
    sec.add("fig-samples", f"64 samples drawn by the model from its prior ({type(m).__name__}.sample).",
            plots.image_grid(run.display(s)[0], "Samples from the prior"))
    if run.x is None:
        sec.notes.append(f"interpolation and traversal: {run.data_note}")
        return sec
    x = run.x
    z = run.apply(m.code, x[run.pick(8)])  # (8, *code_shape): flat codes, or a grid of them (VQ-VAE)
    shape, z = z.shape[1:], z.reshape(len(z), -1)

    def decode(flat: np.ndarray) -> np.ndarray:
        return run.display(run.apply(m.decode, flat.reshape(len(flat), *shape)))[0]

    t = np.linspace(0, 1, 10, dtype=np.float32)[:, None]
    rows = [(f"pair {i + 1}", decode((1 - t) * z[2 * i] + t * z[2 * i + 1])) for i in range(min(4, len(z) // 2))]
    sec.add("fig-interpolation", "Decoded codes on the straight line between the codes of two test inputs (left → right).",
            plots.image_rows(rows, "Interpolation between test codes", xlabel="t from 0 (first input) to 1 (second)"))
    codes = run.apply(m.code, x[: run.max_points]).reshape(min(len(x), run.max_points), -1)
    mu, sd = codes.mean(0), codes.std(0)
    dims = np.argsort(-sd)[:8].tolist()  # the units that vary most over the test set
    steps = np.linspace(-3, 3, 9, dtype=np.float32)
    gaussian = bool(getattr(m, "variational", False))  # a N(0, I) prior: walk ±3 prior standard deviations
    grid = []
    for d in dims:
        zz = np.repeat(z[:1], len(steps), 0)
        zz[:, d] = steps if gaussian else mu[d] + steps * sd[d]
        grid.append(decode(zz))
    span = "from −3 to +3 (prior units)" if gaussian else "from its test-set mean − 3σ to mean + 3σ"
    sec.add("fig-traversal", "Each row sets one code unit of one test input's code " + span + " (the 8 units that vary "
            "most over the test set), all others fixed.",
            plots.traversal(np.stack(grid), dims, f"unit value {span}", "Latent traversal"))
    return sec


def latent_map(run: _Run) -> Section | None:
    x = run.need_data()
    n = min(len(x), run.max_points)
    z = run.apply(run.model.code, x[:n]).reshape(n, -1)
    if z.shape[1] == 2:
        z2, method = z, "code"
    elif run.tsne:
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits

        # one thread: OpenMP's busy-waiting threads on a shared, loaded CPU made it 20× slower
        with threadpool_limits(1):
            tsne = TSNE(2, init="pca", random_state=run.seed, perplexity=min(30.0, (n - 1) / 3))
            z2, method = tsne.fit_transform(z), "t-SNE"
    elif z.shape[1] == 1:
        z2, method = np.concatenate([z, np.zeros_like(z)], 1), "code"
    else:
        from sklearn.decomposition import PCA

        z2, method = PCA(2, random_state=run.seed).fit_transform(z), "PCA"
    labels, names = None, None
    if run.y is not None and run.y.ndim == 1 and len(np.unique(run.y)) <= 20:
        labels = run.y[:n]
        names = {0: "normal", 1: "anomalous"} if run.anomaly_labels else None
    sec = Section("latent", "Latent space")
    sec.add("fig-latent", f"The codes of {n} {run.split} samples, {'as they are' if method == 'code' else 'projected by ' + method}"
            + (", coloured by label." if labels is not None else "."), plots.latent_map(z2, labels, method, names))
    return sec


def anomaly(run: _Run) -> Section | None:
    if not run.anomaly_labels:
        return None
    scores = run.apply(run.model.score, run.need_data())
    y = run.y.astype(int)
    sec = Section("anomaly", "Anomaly detection")
    sec.add("fig-scores", "Anomaly scores (the model's score(x)) of normal and anomalous test samples.",
            plots.score_histogram(scores, y))
    fig, auroc, auprc = plots.roc_pr(scores, y)
    sec.add("fig-roc-pr", "ROC and precision-recall curves of the anomaly score.", fig)
    sec.html = _table([("AUROC", auroc), ("AUPRC", auprc), ("normal samples", int((y == 0).sum())),
                       ("anomalous samples", int((y == 1).sum()))])
    return sec


def features(run: _Run, max_features: int = 60) -> Section | None:
    if len(run.shape) != 1:
        return None
    x = run.need_data()
    err = (run.apply(run.model.reconstruct, x) - x) ** 2  # (N, D)
    names = run.cfg.get("data", {}).get("feature_names") or [f"x{i}" for i in range(x.shape[1])]
    if len(names) != x.shape[1]:
        names = [f"x{i}" for i in range(x.shape[1])]
    groups = {"normal": err[run.y == 0].mean(0), "anomalous": err[run.y == 1].mean(0)} if run.anomaly_labels \
        else {"all test samples": err.mean(0)}
    keep = np.arange(x.shape[1])
    note = ""
    if len(keep) > max_features:
        keep = np.sort(np.argsort(-err.mean(0))[:max_features])
        note = f" The {max_features} features with the largest error of {x.shape[1]} are shown."
    sec = Section("features", "Reconstruction error per feature")
    sec.add("fig-features", "Mean squared reconstruction error of each feature over the test set." + note,
            plots.feature_error({k: v[keep] for k, v in groups.items()}, [str(names[i]) for i in keep]))
    return sec


SECTIONS = (summary, curves, reconstructions, generative, latent_map, anomaly, features)

CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222}h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ddd;padding:.3em .7em;text-align:left;
vertical-align:top}th{background:#f6f6f6;font-weight:600}figure{margin:1em 0}img{max-width:100%;height:auto}
figcaption{color:#555;font-size:.92em}.note{background:#fff6e0;border-left:4px solid #e0a800;padding:.5em 1em}
nav a{margin-right:1em}"""


def _page(title: str, sections: list[Section], notes: list[str]) -> str:
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<link rel='icon' href='data:,'>", f"<style>{CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>", "<nav>" + "".join(
                 f"<a href='#{s.id}'>{html.escape(s.title)}</a>" for s in sections) + "</nav>"]
    for s in sections:
        parts.append(f"<section id='{s.id}'><h2>{html.escape(s.title)}</h2>{s.html}")
        for fid, caption, png in s.figures:
            b64 = base64.b64encode(png).decode("ascii")
            parts.append(f"<figure id='{fid}'><img src='data:image/png;base64,{b64}' alt='{html.escape(caption, quote=True)}'>"
                         f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        parts.append("</section>")
    if notes:
        parts.append("<section id='notes'><h2>Left out</h2><div class='note'><ul>"
                     + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul></div></section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def build_report(run_dir: str | Path, *, model=None, data=None, tsne: bool = False, max_points: int = 2000,
                 seed: int = 0, out: str | Path | None = None) -> Report:
    """Write ``run_dir/report.html`` (or ``out``) for a run directory; returns what it holds.

    ``model`` / ``data`` skip reloading them when the caller has them (``aekit train`` does);
    ``data`` is a :class:`aekit.data.Data` whose test split is shown.
    """
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise AekitError(f"{run_dir}: not a run directory (no config.json); pass a folder written by aekit train")
    run = _Run(run_dir, model, data, tsne=tsne, max_points=max_points, seed=seed)
    sections, notes = [], []
    for fn in SECTIONS:
        try:
            s = fn(run)
        except Exception as e:  # one failed figure must not cost the whole report
            log.warning("report: section %s left out: %s", fn.__name__, e)
            notes.append(f"{fn.__name__.replace('_', ' ')}: {e}")
            continue
        if s is not None:
            sections.append(s)
            notes += s.notes
    path = Path(out) if out is not None else run_dir / "report.html"
    title = f"aekit report: {type(run.model).__name__} on {run.cfg.get('data', {}).get('name', '?')} ({run_dir.name})"
    io.write_text(path, _page(title, sections, notes))
    figs = [f[0] for s in sections for f in s.figures]
    seconds = time.perf_counter() - t0
    log.info("report: %d figures written to %s in %.1f s", len(figs), path, seconds)
    return Report(path=path, figures=figs, notes=notes, seconds=seconds)
