"""``aekit train``: build the model from the resolved options, check the run directory, fit
(or resume from RUN/checkpoint), then write metrics.json and the report."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..rundir import RunDir
from .commands import format_metrics
from .options import TRAIN_FLAGS, _data_opts, _flag, model_flags, resolve_train_options

log = logging.getLogger("aekit")


def cmd_train(args: argparse.Namespace) -> int:
    from ..data.datasets import training_defaults
    from ..errors import AekitError
    from ..registry import get_model_class
    from ..train import TrainConfig

    if args.resume:
        return _resume_train(args)
    run, model_opts, train_opts = resolve_train_options(args)
    name = run.get("model", "ae")
    data_name = run.get("data", "digits")
    cls = get_model_class(name)
    train_opts = {**training_defaults(data_name), **train_opts}
    if run.get("quiet"):
        train_opts["progress"] = False
    tcfg = TrainConfig.from_dict(train_opts, where="training options")
    from ..data.runs import load_any

    data = load_any(data_name, run.get("data_root"), download=not run.get("no_download"),
                    seed=tcfg.seed, preprocess=run.get("preprocess"), **_data_opts(run))
    model_opts["input_shape"] = data.input_shape
    _fit_output_to_data(cls, model_opts, data)
    import torch

    torch.manual_seed(tcfg.seed)
    try:
        model = cls(**model_opts)
    except (MemoryError, RuntimeError) as e:  # e.g. --latent-dim 1e9: the weights cannot be allocated
        if not isinstance(e, MemoryError) and "memory" not in str(e).lower() and "overflow" not in str(e).lower():
            raise
        raise AekitError("model: the network is too large to allocate; lower --latent-dim, --hidden or --channels") from None
    out = Path(run["out"]) if run.get("out") else _default_out(cls.registry_name, data_name)
    if _is_main_process():  # under torchrun only rank 0 touches the run directory
        RunDir(out, arg="--out").prepare(bool(run.get("overwrite")))
    log.info("training %s (%d parameters) on %s → %s", type(model).__name__, model.n_params(), data.name, out)
    callbacks = []
    if run.get("tensorboard") and _is_main_process():
        from ..tensorboard import TensorBoardLogger

        x_show = data.preprocess.transform(data.x_train[:16]) if data.is_image else None
        callbacks.append(TensorBoardLogger(RunDir(out).tensorboard_dir, x_show, seed=tcfg.seed))
    _fit_and_finish(out, model, data, tcfg, run, callbacks)
    return 0


def _fit_and_finish(out: Path, model, data, tcfg, run: dict, callbacks: list, resume: Path | None = None) -> None:
    """Train (or continue), then write metrics.json and the report; print where they are."""
    from ..metrics import evaluate
    from ..train import Trainer

    trainer = Trainer(tcfg, out_dir=out, callbacks=callbacks)
    try:
        trainer.fit(model, data, resume=resume)
    finally:
        for cb in callbacks:
            cb.close()
    if not _is_main_process():
        return
    metrics = {"split": "test" if data.x_test is not None else "train", **evaluate(model, data.evaluation_rows())}
    RunDir(out).write_metrics(metrics)
    print(f"run written to {out}")
    print(f"{metrics['split']} metrics: {format_metrics({k: v for k, v in metrics.items() if k != 'split'})}")
    if not run.get("no_report"):
        from ..report import build_report

        rep = build_report(out, model=model, data=data, tsne=bool(run.get("tsne")), seed=tcfg.seed)
        print(f"report written to {rep.path}")


def _fit_output_to_data(cls, model_opts: dict, data) -> None:
    """Data outside [0, 1] (standardized tables, raw floats) cannot be reached by a sigmoid
    output or a Bernoulli decoder: unless the user chose, use a linear output (and a
    Gaussian decoder for variational families) and say so."""
    import numpy as np

    fields = cls.config_class.field_names()
    if "output" not in fields or "output" in model_opts:
        return
    if data.preprocess.method in ("standardize",):
        outside = True
    elif data.streaming:
        return
    else:
        x = data.train()
        outside = bool(x.size) and (float(np.min(x)) < 0 or float(np.max(x)) > 1)
    if not outside:
        return
    model_opts["output"] = "linear"
    if "likelihood" in fields and "likelihood" not in model_opts:
        model_opts["likelihood"] = "gaussian"
    log.info("data values lie outside [0, 1]: using a linear output%s (set --output to choose)",
             " and a Gaussian decoder" if "likelihood" in model_opts else "")


def _resume_train(args: argparse.Namespace) -> int:
    """``aekit train --resume RUN [--epochs N]``: continue from RUN/checkpoint/last.pt."""
    from ..errors import AekitError
    from ..registry import get_model_class
    from ..train import TrainConfig

    rd = RunDir(args.resume, arg="--resume").require_run()
    run_dir = rd.path
    rd.read_checkpoint()  # fail early, before anything is touched
    fixed = [f.name for f in model_flags()] + [n for n, _, _ in TRAIN_FLAGS if n not in ("epochs", "device")]
    given = [k for k in [*fixed, "model", "data", "data_root", "out", "config"] if getattr(args, k, None) is not None]
    if given:
        raise AekitError(f"--resume: continues the run as configured; only --epochs, --device and --quiet may be "
                         f"given with it, not {', '.join(_flag(k) for k in given)}")
    cfg = rd.read_config()
    cls = get_model_class(cfg.get("model_class", ""))
    model = cls(cls.config_class.from_saved(cfg["model"], where=str(rd.config_path)))
    known = TrainConfig.field_names()
    train = {k: v for k, v in rd.section("training").items() if k in known}
    for k in ("epochs", "device"):
        if getattr(args, k) is not None:
            train[k] = getattr(args, k)
    if args.quiet:
        train["progress"] = False
    tcfg = TrainConfig.from_dict(train, where=str(rd.config_path))
    from ..data.runs import run_data

    data = run_data(rd)
    log.info("resuming %s in %s", cls.__name__, run_dir)
    run = {"no_report": args.no_report, "tsne": args.tsne}
    _fit_and_finish(run_dir, model, data, tcfg, run, [], resume=rd.checkpoint_path)
    return 0


def _default_out(model: str, data: str) -> Path:
    import time

    stem = Path(data).stem if Path(data).suffix else data
    return Path("runs") / f"{model}-{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def _is_main_process() -> bool:
    import os

    return int(os.environ.get("RANK", "0")) == 0
