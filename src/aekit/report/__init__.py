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

import dataclasses
import logging
import time
from pathlib import Path

from ..rundir import RunDir, read_history
from .page import Section, _page
from .run import _Run
from .sections import SECTIONS

__all__ = ["Report", "Section", "SECTIONS", "build_report", "read_history"]

log = logging.getLogger("aekit.report")


@dataclasses.dataclass
class Report:
    """What :func:`build_report` wrote: the page, the ids of its figures, the omitted sections."""

    path: Path
    figures: list[str]
    notes: list[str]
    seconds: float


def collect(builders) -> tuple[list[Section], list[str]]:
    """Run each ``(name, build)`` of a report: the sections built, and a note for each one left
    out — a section that fails is logged and noted, never the end of the report."""
    sections, notes = [], []
    for name, build in builders:
        try:
            s = build()
        except Exception as e:  # one failed figure must not cost the whole report
            log.warning("report: section %s left out: %s", name, e)
            notes.append(f"{name}: {e}")
            continue
        if s is not None:
            sections.append(s)
            notes += s.notes
    return sections, notes


def build_report(run_dir: str | Path, *, model=None, data=None, tsne: bool = False, max_points: int = 2000,
                 seed: int = 0, out: str | Path | None = None) -> Report:
    """Write ``run_dir/report.html`` (or ``out``) for a run directory; returns what it holds.

    ``model`` / ``data`` skip reloading them when the caller has them (``aekit train`` does);
    ``data`` is a :class:`aekit.data.Data` whose test split is shown.
    """
    t0 = time.perf_counter()
    run_dir = RunDir.of(run_dir).require_run().path
    run = _Run(run_dir, model, data, tsne=tsne, max_points=max_points, seed=seed)
    sections, notes = collect([(fn.__name__.replace("_", " "), lambda fn=fn: fn(run)) for fn in SECTIONS])
    title = f"aekit report: {type(run.model).__name__} on {run.cfg.get('data', {}).get('name', '?')} ({run_dir.name})"
    path = run.run.write_report(_page(title, sections, notes), out)
    figs = [f[0] for s in sections for f in s.figures]
    seconds = time.perf_counter() - t0
    log.info("report: %d figures written to %s in %.1f s", len(figs), path, seconds)
    return Report(path=path, figures=figs, notes=notes, seconds=seconds)
