"""Writing a :class:`~aekit.deploy.RunScorer` as an ONNX model or a ``torch.export`` program,
checked against aekit before it is kept.

ONNX goes through ``torch.onnx.export(..., dynamo=True)``, the exporter PyTorch recommends
since 2.5 (``torch.export`` captures the graph, onnxscript translates it); the batch axis is
dynamic. The run's metadata (threshold, input shape and names, output names, score
definition, aekit version …) is stored in the model's ``metadata_props``, with a SHA-256 of
the graph so that :func:`aekit.deploy.load_onnx` refuses a file whose graph or weights were
altered. ``.pt2`` is ``torch.export.export`` + ``torch.export.save`` with the metadata in
``extra_files``.

Every file is written to a temporary name, loaded back with its runtime (onnxruntime, or
``torch.export.load``), run on a batch of the run's own training rows and on a single row,
and compared with the scorer in torch; only then is it renamed into place, so a failed
export or a disagreement leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import io as _io
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .. import io
from ..errors import AekitError
from ..rundir import RunDir
from .runtime import CHECKSUM_KEY, METADATA_KEY, graph_checksum, load_onnx, load_pt2
from .scorer import INPUT_NAME, OUTPUTS, RunScorer, check_outputs

log = logging.getLogger("aekit")

FORMATS = ("onnx", "pt2")
RTOL = 1e-5  # exported vs torch, relative (RunScorer.tolerance says relative to what)
MIN_OPSET, MAX_OPSET = 18, 23  # torch.onnx's dynamo exporter: 18 is its lowest native opset


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise AekitError(f"--format: unknown export format {fmt!r}; choose onnx or pt2")
    return fmt


def export(model_or_run, path=None, format: str = "onnx", outputs: Sequence[str] | str | None = None,
           opset: int | None = None, *, plugins: Sequence[str] = (), encoder=None, decoder=None,
           contamination: float = 0.01, fit_data=None) -> Path:
    """Export a run (a run directory), a :class:`RunScorer`, a model or a fitted
    :class:`~aekit.SeriesDetector` to ``path`` (a series run or detector: its per-step scorer,
    :class:`aekit.deploy.series.SeriesScorer`).

    ``format``: ``onnx`` or ``pt2``; ``path`` defaults to RUN/model.onnx (RUN/model.pt2) for a
    run. ``outputs``: any of score, recon, code (default all three). ``opset``: the ONNX opset
    (default: the exporter's). A model in memory takes ``fit_data`` (raw training rows) for the
    score's statistics and threshold. Returns the path written, after the exported file has
    been run with its runtime and found equal to aekit's outputs (``RTOL``)."""
    fmt = check_format(format)
    scorer = _series_scorer(model_or_run, outputs, plugins) or _scorer(model_or_run, outputs, plugins, encoder,
                                                                      decoder, contamination, fit_data)
    if path is None:
        if not isinstance(model_or_run, str | Path | RunDir):  # a scorer, a model or a SeriesDetector
            raise AekitError("path: give the file to write, e.g. model.onnx")
        path = RunDir.of(model_or_run).path / f"model.{fmt}"
    path = Path(path)
    if path.is_dir():
        raise AekitError(f"--out: {path} is a folder; give a file name such as {path / ('model.' + fmt)}")
    if opset is not None and fmt != "onnx":
        raise AekitError("--opset: applies to --format onnx only")
    if opset is not None and not MIN_OPSET <= opset <= MAX_OPSET:
        raise AekitError(f"--opset: the exporter writes opsets {MIN_OPSET} to {MAX_OPSET} (lower ones come out as "
                         f"graphs onnxruntime rejects), got {opset}; leave it out for the exporter's default")
    if fmt == "pt2" and getattr(scorer, "piece_windows", None):
        # torch.export keeps guards on the loop's piece count that a series length can break;
        # the program is the graph without the loop (score long series with score_in_pieces)
        scorer.piece_windows = None
    with io.atomic_path(path) as tmp:
        try:
            _write_verified(scorer, tmp, fmt, opset)
        except AekitError as e:
            if not getattr(scorer, "piece_windows", None):
                raise
            # a network the graph's loop cannot hold: the whole series in one pass instead
            log.info("export: scoring in pieces inside the graph failed (%s); exporting the whole-series graph "
                     "(its memory grows with the series: score long ones with score_in_pieces)", e)
            scorer.piece_windows = None
            _write_verified(scorer, tmp, fmt, opset)
    log.debug("exported %s to %s (%s; outputs %s)", scorer.metadata["model_class"], path, fmt, ", ".join(scorer.outputs))
    return path


def _write_verified(scorer, tmp: Path, fmt: str, opset: int | None) -> None:
    if fmt == "onnx":
        _write_onnx(scorer, tmp, opset)
        _verify(scorer, _onnx_runner(tmp), "onnxruntime")
    else:
        _write_pt2(scorer, tmp)
        _verify(scorer, _pt2_runner(tmp), "torch.export.load")


def _series_scorer(obj, outputs, plugins):
    """The per-step scorer of a series run directory or a fitted SeriesDetector (None for
    anything else)."""
    from ..series_detector import SeriesDetector
    from ..series_run import is_series_run
    from .series import GRAPH_PIECE, SeriesScorer, loop_supported

    if isinstance(obj, SeriesScorer):
        return obj
    info = {}
    if isinstance(obj, str | Path | RunDir):
        path = obj.path if isinstance(obj, RunDir) else Path(obj)
        if not is_series_run(path):
            return None
        info = {"run": str(path)}
        obj = SeriesDetector.load(path, plugins=plugins)
    if not isinstance(obj, SeriesDetector):
        return None
    if outputs is not None and tuple(check_outputs(outputs)) != ("score",):
        raise AekitError("--outputs: a series export has one output, score (one per step); leave --outputs out")
    scorer = SeriesScorer(obj, info, piece_windows=GRAPH_PIECE if loop_supported() else None)
    # the module against the detector itself, before anything is traced
    x = scorer.example_batch(8).numpy()
    want, got = obj.anomaly_score(x), scorer.run(x)["score"]
    bound = RTOL * np.abs(want) + 0.1 * RTOL * float(np.abs(want).max()) + 1e-30
    if not np.all(np.abs(got.astype(np.float64) - want) <= bound):
        raise AekitError(f"export: the series scorer differs from SeriesDetector.anomaly_score for this run (score "
                         f"{obj.score_kind_!r}); {NOT_KEPT}; score series with aekit detect")
    return scorer


def _scorer(obj, outputs, plugins, encoder, decoder, contamination, fit_data) -> RunScorer:
    from ..models import Autoencoder

    if isinstance(obj, RunScorer):
        if outputs is not None and tuple(outputs) != obj.outputs:
            raise AekitError(f"outputs: this RunScorer was built for {', '.join(obj.outputs)}; build it with "
                             "the outputs to export, or pass a run directory")
        return obj
    if isinstance(obj, Autoencoder):
        return RunScorer.from_model(obj, outputs=outputs or OUTPUTS, fit_data=fit_data, contamination=contamination)
    if isinstance(obj, str | Path | RunDir):
        return RunScorer.from_run(obj, outputs=outputs or OUTPUTS, plugins=plugins, encoder=encoder,
                                  decoder=decoder, contamination=contamination, fit_data=fit_data)
    raise AekitError(f"model_or_run: expected a run directory, a RunScorer or an aekit model, got {type(obj).__name__}")


def _why(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return (lines[0] if lines else type(e).__name__)[:300]


def _cannot(scorer: RunScorer, fmt: str, e: BaseException) -> AekitError:
    md = scorer.metadata
    other = "--format pt2" if fmt == "onnx" else "--format onnx"
    return AekitError(f"export: the {md['model_class']} on the {md['network']} network cannot be exported to {fmt} "
                      f"({type(e).__name__}: {_why(e)}); try {other}, or serve the run itself (aekit serve RUN)")


QUIET_LOGGERS = ("onnxscript", "onnx_ir", "torch.onnx", "torch.export", "torch._export")


@contextlib.contextmanager
def _quiet():
    """The exporters print progress to stdout and log each optimization pass at INFO; aekit
    says what it did in one line, and keeps theirs at debug level."""
    buf = _io.StringIO()
    loggers = [logging.getLogger(n) for n in QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(lg.getEffectiveLevel(), logging.ERROR))  # the file is verified; their warnings are internals
    try:
        with contextlib.redirect_stdout(buf):
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
    for line in buf.getvalue().splitlines():
        if line.strip():
            log.debug("%s", line)


def _dynamic(scorer):
    """The dynamic axis: the batch of rows, or a series' steps (the scorer says)."""
    own = getattr(scorer, "dynamic_shapes", None)
    return own() if own is not None else ({0: torch.export.Dim("batch")},)


def _write_onnx(scorer: RunScorer, tmp: Path, opset: int | None) -> None:
    try:
        import onnx
        import onnxscript  # noqa: F401 — the dynamo exporter needs it; fail here with the fix
    except ImportError as e:
        raise AekitError(f"--format onnx: needs the onnx and onnxscript packages ({e}); "
                         "pip install 'aekit[deploy]'") from None
    example = scorer.example_batch(8)
    try:
        with _quiet(), torch.no_grad(), _warnings_logged():
            program = torch.onnx.export(scorer, (example,), dynamo=True, input_names=[INPUT_NAME],
                                        output_names=list(scorer.outputs), dynamic_shapes=_dynamic(scorer),
                                        opset_version=opset, external_data=False, verbose=False)
    except AekitError:
        raise
    except Exception as e:  # noqa: BLE001 — whatever the exporter says, one line naming the model
        raise _cannot(scorer, "onnx", e) from None
    proto = program.model_proto
    meta = scorer.metadata
    meta["onnx"] = {"opset": _opset(proto), "onnx": onnx.__version__, "torch": torch.__version__}
    props = {METADATA_KEY: json.dumps(meta), "threshold": json.dumps(meta["threshold"]),
             "input_names": json.dumps(meta["input_names"]), "input_shape": json.dumps(meta["input_shape"]),
             "output_names": json.dumps(meta["output_names"]), "aekit_version": meta["aekit_version"],
             "score_definition": json.dumps(meta["score"]), CHECKSUM_KEY: graph_checksum(proto)}
    onnx.helper.set_model_props(proto, props)
    proto.producer_name, proto.doc_string = "aekit", f"aekit {meta['aekit_version']} scorer of a {meta['model_class']}"
    try:
        onnx.save_model(proto, str(tmp))
    except (ValueError, OSError) as e:
        raise AekitError(f"export: could not write the ONNX model ({_why(e)})") from None


def _opset(proto) -> int | None:
    return next((int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)


@contextlib.contextmanager
def _warnings_logged():
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        log.debug("exporter: %s", w.message)


def _write_pt2(scorer: RunScorer, tmp: Path) -> None:
    example = scorer.example_batch(8)
    try:
        with _quiet(), torch.no_grad(), _warnings_logged():
            program = torch.export.export(scorer, (example,), dynamic_shapes=_dynamic(scorer))
    except Exception as e:  # noqa: BLE001
        raise _cannot(scorer, "pt2", e) from None
    meta = scorer.metadata
    meta["pt2"] = {"torch": torch.__version__}
    buf = _io.BytesIO()  # torch.export.save wants a name ending in .pt2; the temporary name does not
    torch.export.save(program, buf, extra_files={f"{METADATA_KEY}.json": json.dumps(meta)})
    tmp.write_bytes(buf.getvalue())


NOT_KEPT = "the export is not kept (nothing written)"


def _onnx_runner(path: Path):
    return load_onnx(path, fix=NOT_KEPT, name="export").run


def _pt2_runner(path: Path):
    return load_pt2(path, fix=NOT_KEPT, name="export").run


def _verify(scorer: RunScorer, run, runtime: str) -> None:
    """The exported file, run by ``run`` (numpy batch → {output: array}), against the scorer in
    torch: a batch of training rows and one row (the batch axis is dynamic)."""
    batch = scorer.example_batch(8)
    own = getattr(scorer, "verify_inputs", None)
    for x in own() if own is not None else (batch, batch[:1]):
        with torch.inference_mode():
            want = dict(zip(scorer.outputs, (t.numpy() for t in scorer(x))))
        bounds = scorer.tolerance(x, RTOL)
        try:
            got = run(x.numpy())
        except Exception as e:  # noqa: BLE001 — a runtime failing on the exported graph
            raise AekitError(f"export: {runtime} fails to run the exported model ({_why(e)}); {NOT_KEPT}") from None
        for k, w in want.items():
            g = got[k]
            if g.shape != w.shape:
                raise AekitError(f"export: {runtime} gives {k} of shape {g.shape}, aekit {w.shape}; {NOT_KEPT}")
            tol = bounds[k]
            err = np.abs(g.astype(np.float64) - w)
            if not np.all(err <= tol):  # NaN fails too
                i = np.unravel_index(np.nanargmax(err / tol) if np.isfinite(err).all() else 0, err.shape)
                raise AekitError(f"export: {runtime}'s {k} differs from aekit's ({float(g[i]):.9g} vs "
                                 f"{float(w[i]):.9g} at {tuple(int(j) for j in i)}); {NOT_KEPT}")
