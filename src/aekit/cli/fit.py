"""``aekit train``: parse the flags, call :func:`aekit.train_run` (or :func:`aekit.resume_run`
for ``--resume``), print where the run was written and its test metrics."""

from __future__ import annotations

import argparse
import logging

from ..rundir import RunDir
from .commands import format_metrics
from .options import (
    TEXT_ONLY,
    TRAIN_FLAGS,
    _data_opts,
    _flag,
    model_flags,
    out_dir,
    resolve_train_options,
)

log = logging.getLogger("aekit")


def cmd_train(args: argparse.Namespace) -> int:
    from ..workflow import train_run

    if args.resume:
        return _resume_train(args)
    run, model_opts, train_opts = resolve_train_options(args)
    if run.get("quiet"):
        train_opts["progress"] = False
    if _text_family(run.get("model", "ae")):
        from . import text

        return text.train(run, model_opts, train_opts)
    given = [k for k in TEXT_ONLY if run.get(k) is not None]
    if given:
        from ..errors import AekitError

        raise AekitError(f"{_flag(given[0])}: an option of the text families (--model seqae, sentence_vae, "
                         f"denoising_seqae, seq2seq), not of --model {run.get('model', 'ae')}")
    if run.get("window") is None and _dated_file(run):
        run["window"] = "auto"
    if run.get("window") is not None:
        return _train_series(run, model_opts, train_opts)
    result = train_run(
        run.get("model", "ae"), run.get("data", "digits"), out_dir(run),
        overwrite=bool(run.get("overwrite")), data_root=run.get("data_root"), download=not run.get("no_download"),
        preprocess=run.get("preprocess"), report=not run.get("no_report"), tsne=bool(run.get("tsne")),
        tensorboard=bool(run.get("tensorboard")), **_data_opts(run), **model_opts, **train_opts)
    _print(result)
    return 0


def _text_family(model: str) -> bool:
    from ..text_run import is_text_family

    return is_text_family(model)


TABLE_ONLY = ("format", "key", "image_size", "binarize", "channel_norm", "stream", "preprocess", "tsne", "tensorboard")


def _dated_file(run: dict) -> bool:
    """``--data FILE`` without ``--window``: a CSV/TSV/Parquet file with a column of dates is a
    time series (a table cannot use that column), so the run is a series run with ``--window
    auto``, said in one line; so is a folder of such files (the first one decides). Not when a
    flag of image or table runs is given."""
    from pathlib import Path

    from ..data.series import TABULAR, date_column

    data = run.get("data")
    if not isinstance(data, str) or any(run.get(k) for k in TABLE_ONLY) or not Path(data).exists():
        return False
    files = [Path(data)]
    if files[0].is_dir():  # a folder of series files, one per machine (not images, not a mix)
        files = sorted(p for p in files[0].iterdir() if p.is_file() and not p.name.startswith("."))
        if not files or any(p.suffix.lower() not in TABULAR for p in files):
            return False
    col = date_column(files[0])
    if col is None:
        return False
    what = (f"{data} has a column of dates ({col!r}): read as a time series" if files[0] == Path(data) else
            f"{data} holds {len(files)} files whose first, {files[0].name}, has a column of dates ({col!r}): read "
            f"as {len(files)} time series")
    log.info("data: %s with --window auto; pass --window N to choose the window", what)
    return True


def _train_series(run: dict, model_opts: dict, train_opts: dict) -> int:
    """``aekit train --window N --data series.csv``: a series detector run."""
    from ..errors import AekitError
    from ..series_run import train_series_run
    from .options import series_opts

    for k in TABLE_ONLY:
        if run.get(k):
            raise AekitError(f"{_flag(k)}: not an option of a series run (--window)")
    if not run.get("data"):
        raise AekitError("--data: a series file (CSV, TSV, Parquet, .npy) is needed with --window")
    result = train_series_run(run.get("model", "ae"), run["data"], out_dir(run), overwrite=bool(run.get("overwrite")),
                              report=not run.get("no_report"), **series_opts(run), **model_opts, **train_opts)
    m = result["metrics"]
    print(f"run written to {result['path']}")
    shown = {k: v for k, v in m.items() if k != "split"}
    if m["split"] == "none":
        print("no test part (every step trained): no test metrics; score new data with aekit detect")
    else:
        print(f"{m['split']} metrics: {format_metrics(shown)}")
    if result["report"] is not None:
        print(f"report written to {result['report']}")
    return 0


def _resume_train(args: argparse.Namespace) -> int:
    """``aekit train --resume RUN [--epochs N]``: continue from RUN/checkpoint/last.pt."""
    from ..errors import AekitError
    from ..workflow import resume_run

    rd = RunDir(args.resume, arg="--resume").require_run()
    from .commands import refuse_series

    refuse_series(args.resume, "train --resume", "; train a new series run with the --epochs you want")
    rd.read_checkpoint()  # fail early, before anything is touched
    fixed = [f.name for f in model_flags()] + [n for n, _, _ in TRAIN_FLAGS if n not in ("epochs", "device")]
    given = [k for k in [*fixed, "model", "data", "data_root", "out", "config"] if getattr(args, k, None) is not None]
    if given:
        raise AekitError(f"--resume: continues the run as configured; only --epochs, --device and --quiet may be "
                         f"given with it, not {', '.join(_flag(k) for k in given)}")
    result = resume_run(rd, epochs=args.epochs, device=args.device, progress=False if args.quiet else None,
                        report=not args.no_report, tsne=bool(args.tsne))
    _print(result)
    return 0


def _print(result) -> None:
    from ..workflow import _is_main_process

    if not _is_main_process():  # under torchrun rank 0 reports
        return
    metrics = result.metrics
    print(f"run written to {result.path}")
    print(f"{metrics['split']} metrics: {format_metrics({k: v for k, v in metrics.items() if k != 'split'})}")
    if result.report is not None:
        print(f"report written to {result.report.path}")
