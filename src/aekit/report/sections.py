"""The report's sections: each takes the loaded run and returns a :class:`Section`, or ``None``
where it does not apply (e.g. reconstructions of tabular data), or raises to be left out with a note.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import torch

from .. import plots
from ..errors import AekitError
from .page import Section
from .run import _Run


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
    if arch in ("mlp", "conv", "resnet"):
        conv = arch != "mlp"
        layers = mc.get("channels") if conv else mc.get("hidden")
        arch_txt = (f"{arch}, {'channels' if conv else 'hidden'} {_fmt(layers or []) or 'default'}, "
                    f"latent_dim {mc.get('latent_dim')}, {mc.get('activation', '')}")
    else:  # the user's network: its modules as they print
        arch_txt = f"{arch}, latent_dim {mc.get('latent_dim')}"
        if getattr(m, "encoder", None) is not None:
            arch_txt += f"; encoder {type(m.encoder).__name__}, decoder {type(m.decoder).__name__}"
    skip = {"input_shape", "arch", "hidden", "channels", "latent_dim", "activation", "net_options"}
    if arch not in ("sequential", "module") and mc.get("net_options"):
        skip.discard("net_options")
    pre = run.run.read_preprocess().to_dict() if run.run.preprocess_path.exists() else {}
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
    return Section("summary", "Summary", _table(rows) + metrics_html(run.metrics))


def metrics_html(metrics: dict) -> str:
    """The metrics of a run (``metrics.json``) as a summary shows them: a heading naming the
    split, and a table; nothing without metrics."""
    if not metrics:
        return ""
    split = metrics.get("split", "test")
    return f"<h3>Final metrics ({html.escape(str(split))} set)</h3>" + _table(
        [(k, v) for k, v in metrics.items() if k != "split"])


def curves(run: _Run) -> Section | None:
    if not run.history:
        raise AekitError("history.csv is absent or empty")
    return history_curves(run.history, "Each loss term for the training and validation data, per epoch.")


def history_curves(h: list[dict], caption: str) -> Section:
    """The training-curves section of a run's history rows: each loss term per epoch, the
    scheduled values, and the values that stayed constant."""
    terms = []
    for k in h[0]:
        if k.startswith(("train_", "val_")):
            t = k.split("_", 1)[1]
            if t not in terms:
                terms.append(t)
    sec = Section("curves", "Training curves")
    sec.add("fig-loss", caption, plots.loss_curves(h, terms))
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
    sec = Section("reconstructions", "Reconstructions")
    if run.model.denoising:
        corr = run.model.corruption
        from ..corruption import corrupt

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
    if not m.generative or not run.is_image:
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
    gaussian = m.variational  # a N(0, I) prior: walk ±3 prior standard deviations
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

        # one thread: OpenMP's busy-waiting threads on a shared, loaded CPU made it far slower
        # (BENCHMARKS.md, "Threads")
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
