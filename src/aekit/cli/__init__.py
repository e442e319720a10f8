"""The ``aekit`` command. Thin: it parses, then calls the public Python API.

Heavy modules (torch, the models) are imported inside the commands, so ``aekit --help``
starts without importing torch.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .._version import __version__

# Run-level options (not part of the model or training configs).
RUN_KEYS = ("model", "data", "data_root", "out", "overwrite", "config", "quiet", "no_download", "preprocess",
            "no_report", "tensorboard", "tsne",
            "format", "key", "label_column", "image_size", "impute", "binarize", "channel_norm", "stream")
DATA_KEYS = ("format", "key", "label_column", "image_size", "impute", "binarize", "channel_norm", "stream")

# Family options exposed as flags: (flag name, type, help). Any field of a family's config
# can also be given in the YAML file; a flag that does not apply to the family is an error.
MODEL_FLAGS = [
    ("arch", str, "network: mlp (default) or conv (images)"),
    ("latent_dim", int, "code size"),
    ("hidden", str, "hidden layer sizes of the MLP, e.g. 512,256"),
    ("channels", str, "conv channels per downsampling stage, e.g. 32,64"),
    ("activation", str, "relu, leaky_relu, elu, gelu, silu, tanh, sigmoid"),
    ("recon_loss", str, "mse or bce (deterministic families)"),
    ("output", str, "output activation: sigmoid (data in [0, 1]) or linear"),
    ("noise", str, "denoising corruption: gaussian, masking, salt_pepper"),
    ("noise_level", float, "σ for gaussian, fraction ν for masking / salt_pepper"),
    ("sparsity", str, "sparse AE penalty: l1, kl, topk"),
    ("sparsity_weight", float, "weight λ of the sparsity penalty"),
    ("rho", float, "target mean activation ρ for the KL sparsity penalty"),
    ("k", int, "units kept by top-k sparsity"),
    ("beta", float, "weight β of the KL term (VAE)"),
    ("likelihood", str, "VAE decoder: bernoulli or gaussian"),
    ("beta_warmup", int, "VAE KL warm-up: epochs over which β rises from 0 to --beta"),
    ("iw_samples", int, "IWAE: importance samples k per input"),
    ("prior", str, "AAE prior: gaussian, mixture, categorical"),
    ("n_components", int, "AAE mixture prior: Gaussians on a circle"),
    ("n_clusters", int, "AAE categorical prior: clusters"),
    ("balance_weight", float, "AAE categorical prior: weight of the cluster-balance term (0 = the paper)"),
    ("noise_start", float, "scheduled DAE: noise level at the start, lowered to --noise-level"),
    ("noise_schedule", str, "scheduled DAE: linear, exponential, steps"),
    ("schedule_unit", str, "scheduled DAE: lower the noise by epoch or by step"),
    ("schedule_length", int, "scheduled DAE: epochs (or steps) to reach --noise-level; 0 = whole run"),
    ("contractive_weight", float, "CAE: weight λ of the Jacobian penalty"),
    ("jacobian", str, "CAE: auto, closed_form, exact, hutchinson"),
    ("k_start", int, "k-sparse: k at the start, lowered to --k"),
    ("k_warmup", int, "k-sparse: epochs over which k is lowered"),
    ("alpha", float, "k-sparse: features keep α·k units"),
    ("codebook_size", int, "VQ-VAE: codebook vectors K"),
    ("code_dim", int, "VQ-VAE: size of one codebook vector"),
    ("commitment", float, "VQ-VAE: commitment weight β"),
    ("ema_decay", float, "VQ-VAE: EMA codebook decay (0 = learn it by its loss)"),
    ("mmd_weight", float, "WAE: weight λ of the MMD penalty"),
]

TRAIN_FLAGS = [
    ("epochs", int, "training epochs"),
    ("batch_size", int, "batch size"),
    ("lr", float, "learning rate"),
    ("optimizer", str, "adam (default), adamw, sgd, rmsprop, adagrad"),
    ("weight_decay", float, "weight decay"),
    ("val_split", float, "fraction of the training data held out for validation"),
    ("early_stopping", int, "stop after N epochs without a better validation loss (0 = off)"),
    ("lr_schedule", str, "constant or cosine"),
    ("grad_clip", float, "clip the global gradient norm (0 = off)"),
    ("seed", int, "random seed (same seed ⇒ same weights on CPU)"),
    ("device", str, "auto, cpu, cuda, cuda:N, mps"),
    ("precision", str, "fp32 (default), bf16, fp16 (CUDA): mixed-precision training"),
    ("compile", str, "torch.compile the forward pass: auto (default), on, off"),
    ("fused", str, "hand-written training step for MLP AE/DAE on CPU: auto (default), off"),
]

log = logging.getLogger("aekit")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aekit",
        description="Autoencoders of every family: train, evaluate, reconstruct, sample.",
    )
    p.add_argument("--version", action="version", version=f"aekit {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a model and write a run directory",
                       description="Train a model. With no arguments: a vanilla AE on the embedded digits data.")
    t.add_argument("--model", help="family name (see `aekit models`); default ae")
    t.add_argument("--data", help="data set name (see `aekit datasets`) or a file/folder (IDX, .npy, .npz, CSV, "
                                  "TSV, Parquet, .mat, HDF5, images); default digits")
    t.add_argument("--data-root", help="folder holding the data set's files")
    t.add_argument("--no-download", action="store_true", default=None, help="never download data")
    t.add_argument("--preprocess", help="auto (default), none, scale, minmax, standardize")
    _data_flags(t)
    t.add_argument("--out", help="run directory to write (default runs/MODEL-DATA-TIME)")
    t.add_argument("--overwrite", action="store_true", default=None, help="replace an existing --out")
    t.add_argument("--config", help="YAML file of options (same names as the flags); flags override it")
    t.add_argument("--quiet", action="store_true", default=None, help="no progress bar or logs")
    t.add_argument("--resume", metavar="RUN", help="continue RUN from its last checkpoint (with --epochs to extend it)")
    t.add_argument("--no-report", action="store_true", default=None, help="do not write RUN/report.html at the end")
    t.add_argument("--tsne", action="store_true", default=None, help="report: map the codes with t-SNE instead of PCA")
    t.add_argument("--tensorboard", action="store_true", default=None,
                   help="write TensorBoard event files to RUN/tensorboard (needs the tensorboard package)")
    g = t.add_argument_group("model options")
    for name, typ, hlp in MODEL_FLAGS:
        g.add_argument(_flag(name), dest=name, type=typ, help=hlp)
    g = t.add_argument_group("training options")
    for name, typ, hlp in TRAIN_FLAGS:
        g.add_argument(_flag(name), dest=name, type=typ, help=hlp)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="test-set metrics of a run")
    e.add_argument("run", help="run directory")
    e.add_argument("--data", help="data set name or file (default: the run's own)")
    e.add_argument("--data-root", help="folder holding the data set's files")
    e.add_argument("--json", action="store_true", help="print the metrics as JSON")
    e.add_argument("--nll-samples", type=int, default=0, metavar="K",
                   help="variational models: estimate log p(x) with K importance samples (e.g. 5000)")
    e.set_defaults(func=cmd_evaluate)

    r = sub.add_parser("reconstruct", help="reconstruct an array file, an image or a folder of images")
    r.add_argument("run", help="run directory")
    r.add_argument("input", help=".npy/.npz array, image file (PNG/JPEG) or folder of images")
    r.add_argument("--out", required=True, help="output .npy (for arrays), image file or folder")
    r.set_defaults(func=cmd_reconstruct)

    s = sub.add_parser("sample", help="draw samples from a generative model")
    s.add_argument("run", help="run directory")
    s.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--out", default=None, help="grid image (.png) or array (.npy); default RUN/samples.png")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_sample)

    dt = sub.add_parser("detect", help="anomaly scores for every row of a table (.npy/.npz/.csv)",
                        description="Score samples with a trained run (higher = more anomalous); write "
                                    "index,score,is_anomaly. With labels (y), print and save AUROC and AUPRC.")
    dt.add_argument("run", help="run directory")
    dt.add_argument("--data", required=True, help=".npy, .npz (X, optional y) or numeric .csv (optional y/label column)")
    dt.add_argument("--out", default="scores.csv", help="CSV to write (default scores.csv); the summary goes to OUT.json")
    dt.add_argument("--score", default="auto", help="auto, recon, elbo, mahalanobis or combined (default auto)")
    dt.add_argument("--contamination", type=float, default=0.01,
                    help="fraction of the training data above the threshold (default 0.01)")
    dt.set_defaults(func=cmd_detect)

    dn = sub.add_parser("denoise", help="denoise an array file, an image or a folder of images")
    dn.add_argument("run", help="run directory (a denoising AE, or any model)")
    dn.add_argument("input", help=".npy/.npz array, image file or folder of images")
    dn.add_argument("--out", required=True, help="output .npy, image file or folder")
    dn.add_argument("--noise", help="corrupt clean inputs first, e.g. gaussian:0.5, masking:0.3, salt_pepper:0.2; "
                                    "prints PSNR/SSIM of noisy and denoised against the clean inputs")
    dn.add_argument("--seed", type=int, default=0, help="seed of the added noise")
    dn.set_defaults(func=cmd_denoise)

    ip = sub.add_parser("interpolate", help="decode a path between two inputs' codes to a PNG row")
    ip.add_argument("run", help="run directory")
    ip.add_argument("inputs", nargs="*", help="two image files A B (default: the run's test samples --index)")
    ip.add_argument("--index", type=int, nargs=2, default=[0, 1], help="test-set rows to use (default 0 1)")
    ip.add_argument("--steps", type=int, default=10)
    ip.add_argument("--method", default="auto", help="linear, slerp or auto (slerp for Gaussian latents)")
    ip.add_argument("--out", default=None, help="PNG (or .npy); default RUN/interpolation.png")
    ip.set_defaults(func=cmd_interpolate)

    tv = sub.add_parser("traverse", help="vary each code dimension around one input; one PNG row per dimension")
    tv.add_argument("run", help="run directory")
    tv.add_argument("inputs", nargs="*", help="an image file (default: the run's test sample --index)")
    tv.add_argument("--index", type=int, default=0)
    tv.add_argument("--steps", type=int, default=7)
    tv.add_argument("--span", type=float, default=3.0, help="± span × the dimension's spread (default 3)")
    tv.add_argument("--dims", help="code dimensions to show, e.g. 0,1,5 (default all)")
    tv.add_argument("--out", default=None, help="PNG (or .npy); default RUN/traversal.png")
    tv.set_defaults(func=cmd_traverse)

    em = sub.add_parser("embed", help="write the codes of a data set or file to a .npy array")
    em.add_argument("run", help="run directory")
    em.add_argument("--data", help="a .npy/.npz/.csv file (every row) or a data set name (default: the run's)")
    em.add_argument("--data-root", help="folder holding the data set's files")
    em.add_argument("--split", default="test", help="for a named data set: train, test or all (default test)")
    em.add_argument("--out", required=True, help="output .npy")
    em.set_defaults(func=cmd_embed)

    rp = sub.add_parser("report", help="write RUN/report.html: curves, reconstructions, samples, latent map …")
    rp.add_argument("run", help="run directory")
    rp.add_argument("--data", help="data set name or file (default: the run's own)")
    rp.add_argument("--data-root", help="folder holding the data set's files")
    rp.add_argument("--tsne", action="store_true", help="map the codes with t-SNE instead of PCA (slower)")
    rp.add_argument("--out", help="HTML file to write (default RUN/report.html)")
    rp.set_defaults(func=cmd_report)

    m = sub.add_parser("models", help="list every model family with its paper")
    m.set_defaults(func=cmd_models)
    d = sub.add_parser("datasets", help="list the named data sets and where each looks for files")
    d.set_defaults(func=cmd_datasets)
    cv = sub.add_parser("convert", help="write any readable table/array file as .npy (CSV streamed, for out-of-core training)")
    cv.add_argument("src", help="CSV, TSV, Parquet, .npz, .mat or HDF5 file")
    cv.add_argument("dst", help="output .npy (labels, if any, go to DST.labels.npy)")
    cv.add_argument("--format", help="input format (default: from the extension or content)")
    cv.add_argument("--key", help="array name (.npz/.mat) or dataset path (HDF5)")
    cv.add_argument("--label-column", help="table column holding labels")
    cv.set_defaults(func=cmd_convert)
    return p


# -- helpers -------------------------------------------------------------------------------------
def _load_yaml(path: str) -> dict:
    import yaml

    from ..errors import AekitError

    p = Path(path)
    if not p.is_file():
        raise AekitError(f"--config: {p} not found")
    try:
        d = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise AekitError(f"--config: {p} is not valid YAML ({str(e).splitlines()[0]})") from None
    if d is None:
        return {}
    if not isinstance(d, dict):
        raise AekitError(f"--config: {p} must hold a mapping of option: value, got {type(d).__name__}")
    return {str(k).replace("-", "_"): v for k, v in d.items()}


def resolve_train_options(args: argparse.Namespace) -> tuple[dict, dict, dict]:
    """(run options, model options, training options): YAML first, flags override."""
    from ..errors import AekitError, close_matches
    from ..train import TrainConfig

    opts = _load_yaml(args.config) if args.config else {}
    for k, v in vars(args).items():
        if k in ("func", "command", "config") or v is None:
            continue
        opts[k] = v
    train_keys = TrainConfig.field_names()
    run = {k: opts.pop(k) for k in RUN_KEYS if k in opts}
    for k in ("model", "data", "data_root", "out", "preprocess", "format", "key"):
        if k in run and not isinstance(run[k], str):  # a YAML list, number or mapping where a name belongs
            raise AekitError(f"{_flag(k)}: expected a name or path, got {type(run[k]).__name__} {run[k]!r}")
    train = {k: opts.pop(k) for k in train_keys if k in opts}
    model = opts
    from ..registry import get_model_class

    cls = get_model_class(run.get("model", "ae"))
    known = cls.config_class.field_names()
    for key in model:
        if key not in known:
            everything = [_flag(k) for k in (*known, *train_keys, *RUN_KEYS)]
            raise AekitError(
                f"{_flag(key)}: not an option of --model {cls.registry_name}{close_matches(_flag(key), everything)}; "
                f"its options: {', '.join(_flag(k) for k in known if k != 'input_shape')}"
            )
    return run, model, train


def _data_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data options")
    g.add_argument("--format", default=None, help="file format when the extension does not say: idx, npy, npz, csv, "
                                                   "tsv, parquet, mat, hdf5, images")
    g.add_argument("--key", default=None, help="array name (.npz/.mat) or dataset path (HDF5, e.g. train/data)")
    g.add_argument("--label-column", default=None, help="table column holding labels (not a feature)")
    g.add_argument("--image-size", default=None, help="resize images to N or HxW (image folders)")
    g.add_argument("--impute", default=None, help="fill NaN/inf with the training mean: mean (default: refuse them)")
    g.add_argument("--binarize", default=None, help="Bernoulli data: threshold, static (one sample) or dynamic "
                                                     "(a new sample per batch)")
    g.add_argument("--channel-norm", action="store_true", default=None, help="normalize each image channel to mean 0, sd 1")
    g.add_argument("--stream", action="store_true", default=None,
                   help="train from a memory-mapped .npy in batches (automatic above 1 GiB)")


def _data_opts(run: dict) -> dict:
    return {k: run[k] for k in DATA_KEYS if run.get(k) is not None}


def _default_out(model: str, data: str) -> Path:
    import time

    stem = Path(data).stem if Path(data).suffix else data
    return Path("runs") / f"{model}-{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def _prepare_out(out: Path, overwrite: bool) -> None:
    """Check that ``out`` can be written before anything is trained; clear it on --overwrite."""
    import os
    import shutil

    from ..errors import AekitError

    if out.exists() and not out.is_dir():
        raise AekitError(f"--out: {out} exists and is not a directory; choose another --out")
    anc = out.parent if str(out.parent) else Path(".")
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise AekitError(f"--out: {anc} is a file, so {out} cannot be created; choose another --out")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise AekitError(f"--out: cannot write into {anc} (permission denied); choose a writable --out")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise AekitError(f"--out: {out} already exists and is not empty; pass --overwrite or choose another --out")
        if not os.access(out, os.W_OK | os.X_OK):
            raise AekitError(f"--out: cannot replace {out} (permission denied); choose a writable --out")
        shutil.rmtree(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AekitError(f"--out: cannot create {out.parent} ({e.strerror}); choose another --out") from None


def _is_main_process() -> bool:
    import os

    return int(os.environ.get("RANK", "0")) == 0


def _fmt_metrics(metrics: dict) -> str:
    return "  ".join(f"{k}={v:.5g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())


# -- commands ------------------------------------------------------------------------------------
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
        _prepare_out(out, bool(run.get("overwrite")))
    log.info("training %s (%d parameters) on %s → %s", type(model).__name__, model.n_params(), data.name, out)
    callbacks = []
    if run.get("tensorboard") and _is_main_process():
        from ..tensorboard import TensorBoardLogger

        x_show = data.preprocess.transform(data.x_train[:16]) if data.is_image else None
        callbacks.append(TensorBoardLogger(out / "tensorboard", x_show, seed=tcfg.seed))
    _fit_and_finish(out, model, data, tcfg, run, callbacks)
    return 0


def _fit_and_finish(out: Path, model, data, tcfg, run: dict, callbacks: list, resume: Path | None = None) -> None:
    """Train (or continue), then write metrics.json and the report; print where they are."""
    from .. import io
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
    if data.streaming:  # out-of-core: metrics read the memory-mapped rows a batch at a time
        from ..data.stream import evaluate as evaluate_rows

        rows = data.x_test if data.x_test is not None else data.x_train
        metrics = {"split": "test", **evaluate_rows(model, rows, data.preprocess, batch_size=tcfg.batch_size)}
    else:
        metrics = {"split": "test", **evaluate(model, data.test() if data.x_test is not None else data.train())}
    if data.x_test is None:
        metrics["split"] = "train"
    io.write_json(out / "metrics.json", metrics)
    print(f"run written to {out}")
    print(f"{metrics['split']} metrics: {_fmt_metrics({k: v for k, v in metrics.items() if k != 'split'})}")
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
    from .. import io
    from ..errors import AekitError
    from ..registry import get_model_class
    from ..train import TrainConfig
    from ..train.checkpoint import load_checkpoint

    run_dir = Path(args.resume)
    if not (run_dir / "config.json").is_file():
        raise AekitError(f"--resume: {run_dir} is not a run directory (no config.json)")
    load_checkpoint(run_dir)  # fail early, before anything is touched
    fixed = [n for n, _, _ in MODEL_FLAGS + TRAIN_FLAGS if n not in ("epochs", "device")]
    given = [k for k in [*fixed, "model", "data", "data_root", "out", "config"] if getattr(args, k, None) is not None]
    if given:
        raise AekitError(f"--resume: continues the run as configured; only --epochs, --device and --quiet may be "
                         f"given with it, not {', '.join(_flag(k) for k in given)}")
    cfg = io.read_json(run_dir / "config.json")
    cls = get_model_class(cfg.get("model_class", ""))
    model = cls(cls.config_class.from_dict(cfg["model"], where=str(run_dir / "config.json")))
    known = TrainConfig.field_names()
    train = {k: v for k, v in cfg.get("training", {}).items() if k in known}
    for k in ("epochs", "device"):
        if getattr(args, k) is not None:
            train[k] = getattr(args, k)
    if args.quiet:
        train["progress"] = False
    tcfg = TrainConfig.from_dict(train, where=str(run_dir / "config.json"))
    from ..data.runs import run_data

    data = run_data(run_dir)
    log.info("resuming %s in %s", cls.__name__, run_dir)
    run = {"no_report": args.no_report, "tsne": args.tsne}
    _fit_and_finish(run_dir, model, data, tcfg, run, [], resume=run_dir / "checkpoint" / "last.pt")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ..errors import AekitError
    from ..report import build_report

    run_dir = Path(args.run)
    if not (run_dir / "config.json").is_file():
        raise AekitError(f"{run_dir}: not a run directory (no config.json); pass a folder written by aekit train")
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

    from .. import io
    from ..metrics import evaluate
    from ..models import load

    run_dir = Path(args.run)
    from ..data.runs import run_data

    model = load(run_dir)
    data = run_data(run_dir, args.data, args.data_root)
    # the test split (the training rows when the data has none), as evaluated at training time
    if data.streaming and not args.nll_samples:  # out-of-core run: read the rows a batch at a time
        from ..data.stream import evaluate as evaluate_rows

        rows = data.x_test if data.x_test is not None else data.x_train
        metrics = {"split": "test", **evaluate_rows(model, rows, data.preprocess)}
    else:
        x = data.test() if data.x_test is not None else data.preprocess.transform(data.x_train, sample=True)
        metrics = {"split": "test", **evaluate(model, x, nll_samples=args.nll_samples)}
    from ..tasks.represent import run_representation_metrics

    metrics.update(run_representation_metrics(model, data))
    io.write_json(run_dir / "metrics.json", metrics)
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print(f"{run_dir}: {_fmt_metrics({k: v for k, v in metrics.items() if k != 'split'})}")
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from ..apply import reconstruct_path

    written = reconstruct_path(Path(args.run), Path(args.input), Path(args.out))
    print(f"wrote {written}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from ..apply import sample_to_path

    run_dir = Path(args.run)
    out = Path(args.out) if args.out else run_dir / "samples.png"
    sample_to_path(run_dir, args.n, out, seed=args.seed)
    print(f"wrote {out}")
    return 0


def cmd_detect(args: argparse.Namespace) -> int:
    from ..tasks.anomaly import detect_path

    summary = detect_path(Path(args.run), Path(args.data), Path(args.out), score=args.score,
                          contamination=args.contamination)
    print(f"wrote {args.out}: {summary['n_anomalies']} of {summary['n']} flagged "
          f"(score {summary['score']}, threshold {summary['threshold']:.5g})")
    if "auroc" in summary:
        print(f"AUROC={summary['auroc']:.4f}  AUPRC={summary['auprc']:.4f}  (saved to {Path(args.out).with_suffix('.json')})")
    return 0


def cmd_denoise(args: argparse.Namespace) -> int:
    from ..tasks.denoise import denoise_path

    summary = denoise_path(Path(args.run), Path(args.input), Path(args.out), noise=args.noise, seed=args.seed)
    print(f"wrote {summary.pop('out')}")
    if args.noise:
        print(_fmt_metrics(summary))
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    from ..apply import interpolate_to_path

    run_dir = Path(args.run)
    out = interpolate_to_path(run_dir, Path(args.out) if args.out else run_dir / "interpolation.png",
                              args.inputs, args.index, steps=args.steps, method=args.method)
    print(f"wrote {out}")
    return 0


def cmd_traverse(args: argparse.Namespace) -> int:
    from ..apply import traverse_to_path
    from ..errors import AekitError

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

    shape = embed_path(Path(args.run), args.data, Path(args.out), split=args.split, root=args.data_root)
    print(f"wrote {args.out}: codes of shape {shape}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from ..registry import MODELS, model_names

    for name in model_names():
        cls = MODELS[name]
        print(f"{name:<10} {cls.__name__:<14} {cls.paper}")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from ..data import describe

    for name, where in describe():
        print(f"{name:<14} {where}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from ..data.convert import convert

    n, d = convert(args.src, args.dst, fmt=args.format, key=args.key, label_column=args.label_column)
    print(f"wrote {args.dst} ({n} rows × {d} features, float32)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    quiet = bool(getattr(args, "quiet", False))
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s", stream=sys.stderr)
    from ..errors import AekitError

    try:
        return int(args.func(args) or 0)
    except AekitError as e:
        print(f"aekit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aekit: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("aekit: error: out of memory; lower --batch-size or use a smaller model", file=sys.stderr)
        return 1
    except RuntimeError as e:  # torch reports failed allocations as RuntimeError
        if "memory" not in str(e).lower():
            raise
        print("aekit: error: out of memory; lower --batch-size or use a smaller model", file=sys.stderr)
        return 1
