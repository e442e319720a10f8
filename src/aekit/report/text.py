"""The report of a text run (:mod:`aekit.text_run`): one self-contained HTML page like every
run's report (:mod:`aekit.report`), with what a text model shows, as text where it is text:

- a summary: family, network, tokenizer, row length, split, parameters, training, and the
  test metrics (``metrics.json``);
- training curves, per epoch;
- for the sentence VAE, the KL of each code dimension on the test items (collapsed dimensions
  sit at 0; Burda et al.'s active units are the ones whose posterior mean varies);
- reconstructions (a translator's: translations, with their references) of test items;
- samples from the prior at two temperatures (generative families);
- a homotopy between two test items' codes (Bowman et al. 2016, Table 3).
"""

from __future__ import annotations

import html
import time
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from ..rundir import RunDir
from . import Report, collect
from .page import Section, _page
from .sections import _fmt, _table, history_curves, metrics_html

SHOWN = 8  # items per table


def _lines(rows: list[tuple[str, ...]], head: tuple[str, ...]) -> str:
    """An HTML table of text rows (escaped; line breaks kept)."""
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(c).replace(chr(10), '<br>')}</td>" for c in r) + "</tr>"
                    for r in rows)
    return "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>" + cells + "</table>"


def _summary(run: RunDir, tr, metrics: dict) -> Section:
    m, s = tr.model, tr.settings
    c = m.config
    hist = run.read_history() if run.history_path.exists() else []
    t = run.section("training")
    rows = [
        ("family", f"{m.registry_name} ({type(m).__name__}): {m.paper}"),
        ("network", f"{c.arch}, state {c.hidden[0] if c.hidden else 256}, latent_dim {c.latent_dim}"),
        ("tokenizer", f"{s.get('tokenizer')}, {s.get('vocab_size')} tokens"),
        ("tokens per row", f"{tr.max_length}" + (f" source + {m.output_length()} target" if tr.pairs else "")),
        ("items", f"{s.get('train_items')} training, {s.get('test_items')} test "
                  f"({s.get('truncated', 0)} truncated)"),
        ("parameters", f"{m.n_params():,}"),
        ("training", f"{len(hist)} epochs, batch {t.get('batch_size', '?')}, lr {_fmt(t.get('lr', '?'))}"),
    ]
    pre = s.get("pretrained")
    if pre:  # aekit train --pretrain-epochs
        rows.append(("pretraining", f"encoder and decoder from denoising autoencoders of the source and target "
                                    f"sides, {pre['epochs']} epochs each ({pre['seconds']:.0f} s)"))
    return Section("summary", "Summary", _table(rows) + metrics_html(metrics))


def _curves(run: RunDir) -> Section | None:
    h = run.read_history() if run.history_path.exists() else []
    return history_curves(h, "Each loss term per epoch (nats per item; nll_token per token).") if h else None


def kl_per_dimension(model, ids: torch.Tensor) -> np.ndarray:
    """Mean KL(q(z_j|x) ‖ N(0, 1)) of each code dimension over the rows ``ids``. (D,)"""
    from ..nets.modes import eval_mode

    with torch.inference_mode(), eval_mode(model):
        q = model.encode(ids)
        return (0.5 * (q.mean.pow(2) + q.logvar.exp() - q.logvar - 1)).mean(0).double().numpy()


def _kl(tr, ids: torch.Tensor) -> Section | None:
    if not tr.model.variational:
        return None
    kl = kl_per_dimension(tr.model, ids)
    fig = Figure(figsize=(min(14.0, max(6.0, 0.3 * len(kl) + 2)), 3.8), layout="constrained")
    ax = fig.subplots()
    ax.bar(np.arange(len(kl)), kl, color="tab:blue")
    ax.set_xlabel("code dimension")
    ax.set_ylabel("mean KL (nats)")
    ax.set_title("KL per code dimension, test items")
    ax.grid(alpha=0.3, axis="y")
    sec = Section("kl", "KL per code dimension")
    sec.add("fig-kl", f"KL of each code dimension averaged over {len(ids)} test items: {float(kl.sum()):.3g} nats "
                      "in all; dimensions near 0 are not used (posterior collapse).", fig)
    return sec


def _reconstructions(tr, items: list, targets: list | None) -> Section:
    sec = Section("reconstructions", "Translations" if tr.pairs else "Reconstructions")
    if tr.pairs:
        rows = list(zip(items, tr.translate(items), targets))
        sec.html = _lines(rows, ("source", "translation (greedy)", "reference"))
    else:
        sec.html = _lines(list(zip(items, tr.reconstruct(items))), ("test item", "greedy reconstruction"))
    return sec


def _samples(tr, seed: int) -> Section | None:
    if not tr.model.generative:
        return None
    sec = Section("samples", "Samples")
    rows = [(f"{t:g}", s) for t in (0.0, 1.0) for s in tr.sample(4, temperature=t, seed=seed)]
    sec.html = ("<p>Codes drawn from the prior N(0, I), decoded greedily (temperature 0) and by sampling each "
                "token (temperature 1).</p>" + _lines(rows, ("temperature", "sample")))
    return sec


def _homotopy(tr, a: str, b: str) -> Section | None:
    if tr.pairs:
        return None
    sec = Section("homotopy", "Homotopy")
    path = tr.interpolate(a, b, steps=5)
    sec.html = ("<p>Greedy decodings of five codes on the line from the first test item's code to the second's "
                "(Bowman et al. 2016, Table 3).</p>"
                + _lines([("start", a)] + [(f"{t:.2f}", p) for t, p in zip(np.linspace(0, 1, 5), path)]
                         + [("end", b)], ("t", "text")))
    return sec


def build_text_report(run_dir: str | Path, *, out: str | Path | None = None, seed: int = 0, plugins=()) -> Report:
    """Write ``run_dir/report.html`` (or ``out``) for a text run. The test items are read and
    split again from the run's recorded file; sections that need them are left out (with a
    note) when it is not there."""
    from ..data.text import read_text
    from ..tasks.text import TextRun, split_items

    t0 = time.perf_counter()
    run = RunDir.of(run_dir).require_run()
    tr = TextRun.load(run.path, plugins=plugins)
    metrics = run.read_metrics() if run.metrics_path.exists() else {}
    s = tr.settings

    def test_items():
        got = read_text(s["source"], **s.get("read", {}))
        items = list(zip(got.texts, got.targets)) if tr.pairs else got.texts
        return split_items(items, s["test_size"], s["seed"])[1]

    parts = [("summary", lambda: _summary(run, tr, metrics)), ("curves", lambda: _curves(run))]
    found: list = []
    parts.append(("test items", lambda: found.extend(test_items())))  # a note if the file is gone
    sections, notes = collect(parts)
    test, parts = found, []
    if test:
        src = [t[0] for t in test] if tr.pairs else test
        shown = src[:SHOWN]
        parts += [("kl", lambda: _kl(tr, tr.encode(src[:1000]))),
                  ("reconstructions", lambda: _reconstructions(tr, shown, [t[1] for t in test[:SHOWN]]
                                                               if tr.pairs else None)),
                  ("samples", lambda: _samples(tr, seed)),
                  ("homotopy", lambda: _homotopy(tr, shown[0], shown[-1]) if len(shown) > 1 else None)]
    more, more_notes = collect(parts)
    sections, notes = sections + more, notes + more_notes
    title = f"aekit report: {type(tr.model).__name__} on text ({run.path.name})"
    path = run.write_report(_page(title, sections, notes), out)
    figs = [f[0] for sec in sections for f in sec.figures]
    return Report(path=path, figures=figs, notes=notes, seconds=time.perf_counter() - t0)
