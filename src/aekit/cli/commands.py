"""The commands that apply a trained run (report, evaluate, reconstruct, sample, detect, denoise,
interpolate, traverse, embed, serve) and the listings (models, datasets) and ``convert``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from . import text
from .options import format_metrics

log = logging.getLogger("aekit")


def cmd_report(args: argparse.Namespace) -> int:
    from ..report import build_report
    from ..rundir import RunDir

    run_dir = RunDir(args.run).require_run().path
    if text.is_text(args.run):
        from ..report.text import build_text_report

        rep = build_text_report(run_dir, out=args.out)
        print(f"wrote {rep.path} ({len(rep.figures)} figures" + (f", {len(rep.notes)} sections left out)" if rep.notes else ")"))
        return 0
    if _series_run(args.run):
        from ..report.series import build_series_report
        from ..series_run import read, recorded_read

        series = read(args.data, recorded_read(run_dir), scoring=True)[0] if args.data else None
        rep = build_series_report(run_dir, series=series, out=args.out)
        print(f"wrote {rep.path} ({len(rep.figures)} figures" + (f", {len(rep.notes)} sections left out)" if rep.notes else ")"))
        return 0
    try:
        from ..data.runs import run_data

        data = run_data(run_dir, args.data, args.data_root)
    except Exception as e:  # the report still shows the summary and the curves
        log.warning("report: the run's data could not be loaded (%s); figures that need it are left out", e)
        data = None
    rep = build_report(run_dir, data=data, tsne=args.tsne, out=args.out)
    print(f"wrote {rep.path} ({len(rep.figures)} figures" + (f", {len(rep.notes)} sections left out)" if rep.notes else ")"))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    if text.is_text(args.run):
        return text.evaluate(args)
    if _series_run(args.run):
        from ..series_run import evaluate_series_run

        metrics = evaluate_series_run(args.run, args.data)
        if args.json:
            print(json.dumps(metrics, indent=2))
        else:
            print(f"{args.run} ({metrics['split']}): {format_metrics({k: v for k, v in metrics.items() if k != 'split'})}")
        return 0

    from ..data.runs import run_data
    from ..metrics import evaluate
    from ..models import load
    from ..rundir import RunDir

    run = RunDir(args.run)
    run_dir = run.path
    model = load(run)
    data = run_data(run, args.data, args.data_root)
    # the test split (the training rows when the data has none), as evaluated at training time
    metrics = {"split": "test" if data.x_test is not None else "train",
               **evaluate(model, data.evaluation_rows(), nll_samples=args.nll_samples)}
    from ..tasks.represent import run_representation_metrics

    metrics.update(run_representation_metrics(model, data))
    run.write_metrics(metrics)
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print(f"{run_dir}: {format_metrics({k: v for k, v in metrics.items() if k != 'split'})}")
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from ..apply import reconstruct_path
    from ..errors import AekitError

    if text.is_text(args.run):
        return text.reconstruct(args)
    refuse_series(args.run, "reconstruct", "; the report shows reconstructed windows (aekit report RUN --data FILE)")
    if len(args.input) != 1:
        raise AekitError(f"input: one array file, image or folder, got {len(args.input)} arguments")
    if not args.out:
        raise AekitError("--out: where to write the reconstructions (.npy, an image file or a folder)")
    written = reconstruct_path(Path(args.run), Path(args.input[0]), Path(args.out))
    print(f"wrote {written}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from ..apply import sample_to_path

    if text.is_text(args.run):
        return text.sample(args)
    refuse_series(args.run, "sample")
    run_dir = Path(args.run)
    out = Path(args.out) if args.out else run_dir / "samples.png"
    sample_to_path(run_dir, args.n, out, seed=args.seed)
    print(f"wrote {out}")
    return 0


def _series_run(run: str) -> bool:
    from ..series_run import is_series_run

    return is_series_run(run)


def refuse_series(run: str, command: str, hint: str = "") -> None:
    """A one-line error for the commands that do not take a series run (its samples are windows
    of a file, not rows of a data set the command could reload)."""
    from ..errors import AekitError

    if _series_run(run):
        raise AekitError(f"{command}: {run} is a series run, which {command} does not take; series runs have detect, "
                         f"evaluate, embed, report, serve and export{hint}")


def _rows_only(args: argparse.Namespace, series: bool, command: str, names: tuple[str, ...]) -> None:
    """Refuse options of runs of rows that a series run would silently ignore."""
    given = [n for n in names if getattr(args, n) is not None]
    if series and given:
        from ..errors import AekitError

        flag = "--" + given[0].replace("_", "-")
        raise AekitError(f"{flag}: {args.run} is a series run, which {command}s with the score and threshold it was "
                         f"trained with (recorded in its config.json); leave {flag} out, or train again with "
                         "--score/--threshold to change them")


def _impute(args: argparse.Namespace) -> dict:
    """--impute for reading a series (left out: as the run was trained)."""
    return {"impute": args.impute} if args.impute else {}


def cmd_detect(args: argparse.Namespace) -> int:
    from ..tasks.anomaly import detect_path

    series = not text.is_text(args.run) and _series_run(args.run)
    _rows_only(args, series, "detect", ("score", "contamination", "elbo_samples"))
    args.score, args.elbo_samples = args.score or "auto", args.elbo_samples or 0
    args.contamination = 0.01 if args.contamination is None else args.contamination
    if text.is_text(args.run):
        return text.detect(args)
    if series:
        from ..series_run import detect_series_path

        s = detect_series_path(args.run, args.data, args.out, events=args.events, **_impute(args))
        many = f"{s['series']} score files to " if "series" in s else ""
        print(f"wrote {many}{args.out}: {s['flagged']} of {s['steps']} steps flagged in {s['events']} events "
              f"(threshold {s['threshold']:.5g})" + (f"; events in {args.events}" if args.events else ""))
        if "metrics" in s:
            print(f"{format_metrics(s['metrics'])}  (saved to {Path(args.out).with_suffix('.json')})")
        elif many:
            print(f"summary and any metrics per series in {Path(args.out) / 'summary.json'}")
        return 0
    if args.events or args.impute:
        from ..errors import AekitError

        if args.events:
            raise AekitError(f"--events: {args.run} is not a series run; train one with aekit train --window N")
        raise AekitError(f"--impute: fills a series' gaps; {args.run} is a run of rows, which fills NaN/inf itself "
                         "when trained with --impute mean")

    summary = detect_path(Path(args.run), Path(args.data), Path(args.out), score=args.score,
                          contamination=args.contamination, n_draws=args.elbo_samples)
    print(f"wrote {args.out}: {summary['n_anomalies']} of {summary['n']} flagged "
          f"(score {summary['score']}, threshold {summary['threshold']:.5g})")
    if "auroc" in summary:
        print(f"AUROC={summary['auroc']:.4f}  AUPRC={summary['auprc']:.4f}  (saved to {Path(args.out).with_suffix('.json')})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..deploy import check_format, check_outputs, export
    from ..deploy.scorer import OUTPUTS
    from ..rundir import RunDir

    text.refuse(args.run, "export")
    fmt = check_format(args.format)  # every argument is checked before the run is loaded
    outputs = None if args.outputs is None else check_outputs(args.outputs, "--outputs")
    run = RunDir(args.run).require_run()
    series = _series_run(args.run)
    _rows_only(args, series, "export", ("contamination",))
    path = export(run, Path(args.out) if args.out else None, format=fmt, outputs=outputs, opset=args.opset,
                  plugins=tuple(args.plugin or ()),
                  contamination=0.01 if args.contamination is None else args.contamination)
    what = "a series scorer: score per step" if series else f"outputs {', '.join(outputs or OUTPUTS)}"
    print(f"wrote {path} ({fmt}; {what}; checked against aekit)")
    return 0


def cmd_denoise(args: argparse.Namespace) -> int:
    from ..tasks.denoise import denoise_path

    text.refuse(args.run, "denoise")
    refuse_series(args.run, "denoise")
    summary = denoise_path(Path(args.run), Path(args.input), Path(args.out), noise=args.noise, seed=args.seed)
    print(f"wrote {summary.pop('out')}")
    if args.noise:
        print(format_metrics(summary))
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    from ..apply import interpolate_to_path

    if text.is_text(args.run):
        return text.interpolate(args)
    refuse_series(args.run, "interpolate")
    run_dir = Path(args.run)
    out = interpolate_to_path(run_dir, Path(args.out) if args.out else run_dir / "interpolation.png",
                              args.inputs, args.index, steps=args.steps, method=args.method)
    print(f"wrote {out}")
    return 0


def cmd_traverse(args: argparse.Namespace) -> int:
    from ..apply import traverse_to_path
    from ..errors import AekitError

    text.refuse(args.run, "traverse")
    refuse_series(args.run, "traverse")
    run_dir = Path(args.run)
    try:
        dims = [int(d) for d in args.dims.split(",")] if args.dims else None
    except ValueError:
        raise AekitError(f"--dims: expected comma-separated integers such as 0,1,5, got {args.dims!r}") from None
    out = traverse_to_path(run_dir, Path(args.out) if args.out else run_dir / "traversal.png", args.inputs,
                           args.index, steps=args.steps, span=args.span, dims=dims)
    print(f"wrote {out}")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from ..tasks.represent import embed_path

    if text.is_text(args.run):
        return text.embed(args)
    if _series_run(args.run):
        from ..series_run import embed_series_path

        if not args.data:
            from ..errors import AekitError

            raise AekitError("--data: a series run embeds the series file given with --data")
        shape = embed_series_path(args.run, args.data, Path(args.out), whole=args.whole, **_impute(args))
        print(f"wrote {args.out}: codes of shape {shape}")
        return 0

    if args.impute:
        from ..errors import AekitError

        raise AekitError(f"--impute: fills a series' gaps; {args.run} is a run of rows, which fills NaN/inf itself "
                         "when trained with --impute mean")
    shape = embed_path(Path(args.run), args.data, Path(args.out), split=args.split, root=args.data_root)
    print(f"wrote {args.out}: codes of shape {shape}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    from ..errors import AekitError
    from ..serve import serve

    text.refuse(args.run, "serve")

    if args.max_batch < 1:
        raise AekitError(f"--max-batch: must be at least 1, got {args.max_batch}")
    if not args.max_body_mb > 0:
        raise AekitError(f"--max-body-mb: must be positive, got {args.max_body_mb}")
    if args.threads is not None and args.threads < 1:
        raise AekitError(f"--threads: must be at least 1, got {args.threads}")
    serve(Path(args.run), host=args.host, port=args.port, workers=args.workers, access_log=args.access_log,
          onnx=args.onnx, api_key=args.api_key or os.environ.get("AEKIT_API_KEY") or None,
          max_batch=args.max_batch, max_body_bytes=int(args.max_body_mb * (1 << 20)),
          plugins=tuple(args.plugin or ()), batching=not args.no_batching, threads=args.threads)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from ..registry import MODELS, model_names

    if args.networks:
        from ..nets import get_network, network_names

        names = [*network_names(), "module"]
        width = max(12, *map(len, names))
        for name in names:
            net = get_network(name)
            origin = "" if net.origin == "aekit" else f"  (from {net.origin})"
            print(f"{name:<{width}} {net.description}{origin}")
        return 0
    for name in model_names():
        cls = MODELS[name]
        print(f"{name:<16} {cls.__name__:<15} {cls.paper}")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from ..data import describe

    for name, where in describe():
        print(f"{name:<14} {where}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from ..data.convert import convert

    convert(args.src, args.dst, fmt=args.format, key=args.key, label_column=args.label_column)
    import numpy as np

    x = np.load(args.dst, mmap_mode="r")  # what was written, as written
    print(f"wrote {args.dst} (shape {tuple(x.shape)}, {x.dtype})")
    return 0
