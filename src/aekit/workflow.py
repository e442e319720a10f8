"""``aekit train`` as Python functions: a whole run in one call.

:func:`train_run` resolves the data (a named set, a file, a :class:`~aekit.data.Data`, an
array or a Dataset), builds the model (a family by name with its options, or the user's
model), checks the run directory, fits with :class:`~aekit.Trainer`, evaluates the test split
into ``metrics.json`` and writes the report — the same files, messages and numbers as the
command, which is a thin shell around it. :func:`resume_run` continues a run from its
checkpoint (``aekit train --resume``)::

    import aekit
    result = aekit.train_run("vae", "digits", "runs/vae", epochs=20, latent_dim=8)
    result.metrics["mse"], result.run.report_path
    aekit.resume_run("runs/vae", epochs=40)       # extend it

Under ``torchrun`` every process calls the function; only rank 0 touches the run directory,
evaluates and reports (the other ranks return empty ``metrics``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import AekitError, close_matches
from .rundir import RunDir

log = logging.getLogger("aekit")

# options that say how to read a file (or name a set's preprocessing), as aekit train's data flags
DATA_OPTIONS = ("format", "key", "label_column", "image_size", "impute", "binarize", "channel_norm", "stream")


@dataclasses.dataclass
class RunResult:
    """What a run produced: its directory, the trained model (in eval mode), the data it was
    trained on, the history (one dict per epoch), the test metrics (as in ``metrics.json``) and
    the report (``None`` with ``report=False``)."""

    run: RunDir
    model: Any
    data: Any
    history: list[dict[str, float]]
    metrics: dict[str, Any]
    report: Any = None

    @property
    def path(self) -> Path:
        return self.run.path


def train_run(model: Any = "ae", data: Any = "digits", out: str | os.PathLike | RunDir | None = None, *,
              overwrite: bool = False, data_root: str | None = None, download: bool = True,
              preprocess: str | None = None, report: bool = True, tsne: bool = False, tensorboard: bool = False,
              callbacks: Sequence = (), **options: Any) -> RunResult:
    """Train a model into a run directory and evaluate it, as ``aekit train`` does.

    ``model``: a family name (``"ae"``, ``"vae"`` … — ``aekit models``) built with the family
    options among ``options`` and ``input_shape`` from the data (without ``arch``, the
    network that fits the data's shape, said in one log line: :func:`_choose_arch`), or an
    :class:`~aekit.Autoencoder` built by the caller. ``data``: a named set (``aekit datasets``)
    or a file/folder read with the data options among ``options`` (``format``, ``key``,
    ``label_column``, ``image_size``, ``impute``, ``binarize``, ``channel_norm``, ``stream``),
    or a :class:`~aekit.data.Data`, an array, an ``(x, y)`` tuple or a torch Dataset.
    ``out``: the run directory (default ``runs/MODEL-DATA-TIME``); it must be empty unless
    ``overwrite``. ``options`` also takes every :class:`~aekit.TrainConfig` field (``epochs``,
    ``batch_size``, ``lr``, ``seed``, ``progress`` …); a data set's suggested training settings
    fill in those not given, and the trainer sizes the batch size and epochs still unset to
    the data (:mod:`aekit.train.defaults`). ``preprocess``: ``auto``, ``none``, ``scale``, ``standardize`` …
    (fitted on the training split, saved as ``preprocess.json``). ``callbacks``: called after
    every epoch as ``cb(trainer, model, epoch, row)``; ``tensorboard`` adds a logger writing
    to ``RUN/tensorboard``. The model is seeded with ``seed`` before it is built, so the same
    seed gives the same run.
    """
    from .data.datasets import training_defaults
    from .registry import get_model_class
    from .train import TrainConfig

    if isinstance(data, os.PathLike):
        data = os.fspath(data)
    built = not isinstance(model, str)
    cls = type(model) if built else get_model_class(model)
    model_opts, train_opts, data_opts = _split_options(cls, options, built)
    data_name = data if isinstance(data, str) else getattr(data, "name", "array")
    tcfg = TrainConfig.from_dict({**training_defaults(data_name), **train_opts}, where="training options")
    d = _load_data(data, data_root, download, tcfg.seed, preprocess, data_opts)
    if not built:
        _choose_arch(cls, model_opts, d.input_shape)
        model = _build(cls, {**model_opts, "input_shape": d.input_shape}, d, tcfg.seed)
    if out is None:
        out = _default_out(cls.registry_name or cls.__name__.lower(), data_name)
    run = RunDir.of(out, "out")
    main = _is_main_process()
    if main:  # under torchrun only rank 0 touches the run directory
        from .train.setup import resolve_device

        resolve_device(tcfg.device)  # a device that is not there: said before a run to replace is cleared
        run.prepare(overwrite)
    log.info("training %s (%d parameters) on %s → %s", type(model).__name__, model.n_params(), d.name, run.path)
    callbacks = list(callbacks)
    if tensorboard and main:
        from .tensorboard import TensorBoardLogger

        x_show = d.preprocess.transform(d.x_train[:16]) if d.is_image else None
        callbacks.append(TensorBoardLogger(run.tensorboard_dir, x_show, seed=tcfg.seed))
    return _fit_and_finish(run, model, d, tcfg, callbacks, report=report, tsne=tsne)


def resume_run(run: str | os.PathLike | RunDir, *, epochs: int | None = None, device: str | None = None,
               progress: bool | None = None, report: bool = True, tsne: bool = False) -> RunResult:
    """Continue a run from ``RUN/checkpoint/last.pt`` as configured in its ``config.json``,
    to its number of epochs or to ``epochs`` (which extends a finished run); ``device`` and
    ``progress`` may change, nothing else. Ends with the weights an unbroken run would have
    had (on CPU), then writes metrics.json and the report again."""
    from .data.runs import run_data
    from .registry import get_model_class
    from .train import TrainConfig

    rd = RunDir.of(run, "run").require_run()
    rd.read_checkpoint()  # fail early, before anything is touched
    cfg = rd.read_config()
    cls = get_model_class(cfg.get("model_class", ""))
    model = cls(cls.config_class.from_saved(cfg["model"], where=str(rd.config_path)))
    known = TrainConfig.field_names()
    train = {k: v for k, v in rd.section("training").items() if k in known}
    for k, v in (("epochs", epochs), ("device", device), ("progress", progress)):
        if v is not None:
            train[k] = v
    tcfg = TrainConfig.from_dict(train, where=str(rd.config_path))
    data = run_data(rd)
    log.info("resuming %s in %s", cls.__name__, rd.path)
    return _fit_and_finish(rd, model, data, tcfg, [], report=report, tsne=tsne, resume=rd.checkpoint_path)


def _fit_and_finish(run: RunDir, model, data, tcfg, callbacks: list, *, report: bool, tsne: bool,
                    resume: Path | None = None) -> RunResult:
    """Train (or continue), then write metrics.json and the report."""
    from .metrics import evaluate
    from .train import Trainer

    trainer = Trainer(tcfg, out_dir=run.path, callbacks=callbacks)
    try:
        trainer.fit(model, data, resume=resume)
    finally:
        for cb in callbacks:
            close = getattr(cb, "close", None)
            if close is not None:
                close()
    result = RunResult(run=run, model=model, data=data, history=trainer.history, metrics={})
    if not _is_main_process():
        return result
    # the test split (the training rows when the data has none), as aekit evaluate reads it
    result.metrics = {"split": "test" if data.x_test is not None else "train",
                      **evaluate(model, data.evaluation_rows())}
    run.write_metrics(result.metrics)
    if report:
        from .report import build_report

        result.report = build_report(run, model=model, data=data, tsne=tsne, seed=tcfg.seed)
    return result


def _split_options(cls, options: dict, built: bool) -> tuple[dict, dict, dict]:
    """(model, training, data) options, split as aekit train splits its flags; an unknown
    name is refused with the close matches and the family's options."""
    from .train import TrainConfig

    train_keys = TrainConfig.field_names()
    data_opts = {k: options[k] for k in DATA_OPTIONS if k in options}
    train = {k: v for k, v in options.items() if k in train_keys and k not in data_opts}
    model = {k: v for k, v in options.items() if k not in train and k not in data_opts}
    known = [k for k in cls.config_class.field_names() if k != "input_shape"]
    for key in model:
        if built:
            raise AekitError(f"{key}: the model is already built; give its options to {cls.__name__}(...) "
                             "or pass the family's name as model=")
        if key not in known:
            raise AekitError(f"{key}: not an option of model {cls.registry_name!r}"
                             f"{close_matches(key, [*known, *train_keys, *DATA_OPTIONS])}; "
                             f"its options: {', '.join(known)}")
    return model, train, data_opts


def _load_data(data: Any, root: str | None, download: bool, seed: int, preprocess: str | None, opts: dict):
    from .data.bundle import as_data
    from .data.preprocess import Preprocessor
    from .data.runs import FIT_OPTIONS, load_any

    if isinstance(data, str):
        return load_any(data, root, download=download, seed=seed, preprocess=preprocess, **opts)
    read = [k for k in opts if k not in FIT_OPTIONS and opts[k] is not None]
    if read:
        raise AekitError(f"{read[0]}: reads a file or a named data set; data= is already a "
                         f"{type(data).__name__} (pass a path or a name to read it that way)")
    d = as_data(data)
    fit = {k: v for k, v in opts.items() if v is not None}
    if (preprocess and preprocess != "auto") or fit:  # refitted on the training split, as for a named set
        d.set_preprocess(Preprocessor.fit(d.x_train, preprocess or "auto", seed=seed, **fit))
    return d


def _build(cls, opts: dict, data, seed: int):
    import torch

    _fit_output_to_data(cls, opts, data)
    torch.manual_seed(seed)
    try:
        return cls(**opts)
    except (MemoryError, RuntimeError) as e:  # e.g. latent_dim=1e9: the weights cannot be allocated
        if not isinstance(e, MemoryError) and "memory" not in str(e).lower() and "overflow" not in str(e).lower():
            raise
        raise AekitError("model: the network is too large to allocate; lower --latent-dim, --hidden or --channels") from None


def _choose_arch(cls, model_opts: dict, shape: tuple[int, ...]) -> None:
    """Unless the user chose ``arch`` (or the family has a network of its own), the network
    that fits the samples' shape, said in one line: images (C, H, W) that halve at least twice
    → ``conv`` (smaller ones, such as 1×8×8 digits, and ``--hidden`` → ``mlp``); windows of a
    series (W, C) → ``tcn``, as a series run chooses (:class:`aekit.SeriesDetector`); tables
    and anything else → ``mlp``. A network whose config refuses the shape is passed over."""
    import dataclasses

    from .errors import AekitError
    from .models.base import ArchConfig
    from .nets.conv import conv_layout
    from .nets.registry import NETWORKS

    fields = {f.name: f for f in dataclasses.fields(cls.config_class)}
    if "arch" not in fields or "arch" in model_opts or fields["arch"].default != "mlp":
        return
    # a family with MLP layers of its own by default (k-sparse: the paper's linear encoder) keeps them
    own_mlp = "hidden" in fields and fields["hidden"].default != ArchConfig.__dataclass_fields__["hidden"].default
    dims = "×".join(map(str, shape))
    arch, why = "mlp", f"table, {shape[0]} columns" if len(shape) == 1 else f"samples of shape {dims}"
    if len(shape) == 3:
        why = f"image data, {dims}"
        try:
            stages = len(conv_layout(shape, ())[0])
        except AekitError:
            stages = 0
        if "hidden" in model_opts or "tied" in model_opts:
            why += "; --hidden/--tied are the MLP's"
        elif own_mlp:
            why += f"; {cls.__name__} is defined on fully connected layers"
        elif stages >= 2 or "channels" in model_opts:
            arch = "conv"
        else:
            why += ": too small or odd-sized for conv, which halves the height and width at least twice"
    elif len(shape) == 2 and "tcn" in NETWORKS and not (own_mlp or "hidden" in model_opts or "tied" in model_opts):
        arch, why = "tcn", f"series windows, {shape[0]} steps × {shape[1]} channels"
    if arch != "mlp":
        try:  # the network's own check of the shape and the options given
            cls.config_class.from_dict({**model_opts, "input_shape": shape, "arch": arch})
        except AekitError as e:
            arch, why = "mlp", f"{why}; {arch} does not take it ({e})"
    model_opts["arch"] = arch
    log.info("arch: %s (%s); pass --arch to choose", arch, why)


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
        tol = 1e-5  # min-max scaled in float32, the training maximum can land at 1.0000001
        outside = bool(x.size) and (float(np.min(x)) < -tol or float(np.max(x)) > 1 + tol)
    if not outside:
        return
    model_opts["output"] = "linear"
    if "likelihood" in fields and "likelihood" not in model_opts:
        model_opts["likelihood"] = "gaussian"
    log.info("data values lie outside [0, 1]: using a linear output%s (set --output to choose)",
             " and a Gaussian decoder" if "likelihood" in model_opts else "")


def _default_out(model: str, data: str) -> Path:
    stem = Path(data).stem if Path(data).suffix else data
    return Path("runs") / f"{model}-{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0
