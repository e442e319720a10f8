"""Options of ``aekit train``: the family flags (made from the families' config fields), the
training flag table, the YAML file, and how they resolve into run, model and training options
(YAML first, flags override)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NamedTuple

# Run-level options (not part of the model or training configs).
RUN_KEYS = ("model", "data", "data_root", "out", "overwrite", "config", "quiet", "no_download", "preprocess",
            "no_report", "tensorboard", "tsne", "plugin",
            "format", "key", "label_column", "image_size", "impute", "binarize", "channel_norm", "stream",
            "window", "stride", "train_steps", "test_size", "time_column", "columns", "threshold", "risk", "score",
            "separator", "text_column", "target_column", "tokenizer", "max_length", "truncate", "beam",
            "pretrain_epochs")
SERIES_KEYS = ("stride", "train_steps", "test_size", "time_column", "columns", "threshold", "risk", "score",
               "label_column", "impute")
TEXT_KEYS = ("separator", "text_column", "target_column", "tokenizer", "max_length", "truncate", "test_size",
             "beam", "pretrain_epochs")
TEXT_ONLY = tuple(k for k in TEXT_KEYS if k != "test_size")  # flags no image, table or series run takes
DATA_KEYS = ("format", "key", "label_column", "image_size", "impute", "binarize", "channel_norm", "stream")


def out_dir(run: dict):
    """``--out`` as a run directory whose errors name --out (None: the command's default folder)."""
    from ..rundir import RunDir

    return RunDir(run["out"], arg="--out") if run.get("out") else None


def format_metrics(metrics: dict) -> str:
    return "  ".join(f"{k}={v:.5g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())


# family options whose default aekit train chooses from the data (aekit.workflow._choose_arch)
CHOSEN_FROM_DATA = {"arch": " (default: from the data: conv for images C×H×W that halve at least twice "
                            "(e.g. 1×28×28), tcn for series windows W×C, mlp for tables and smaller images; text "
                            "families text-gru)"}


class ModelFlag(NamedTuple):
    """An ``aekit train`` flag for a family option, made from the config field(s) of that name."""

    name: str
    type: type  # int or float; str for everything the config parses itself (names, 512,256, true/false, JSON)
    help: str
    metavar: str | None
    families: tuple[str, ...]  # the registered families whose config has the field


def model_flags() -> list[ModelFlag]:
    """One flag per config field of any registered family (``input_shape`` aside: it comes from
    the data), in the order the fields first appear in the registry. The help text is the
    field's ``metadata["help"]``, followed by the families that take it when not all do;
    choices come from ``Literal`` annotations. Imports every family (and so torch): only
    ``aekit train`` calls it (:mod:`aekit.cli.parser`)."""
    import dataclasses
    import typing

    from ..registry import MODELS, model_names

    names = model_names()
    fields: dict[str, list[tuple[str, dataclasses.Field, object]]] = {}
    for fam in names:
        cfg = MODELS[fam].config_class
        hints = typing.get_type_hints(cfg)
        for f in dataclasses.fields(cfg):
            if f.name != "input_shape":
                fields.setdefault(f.name, []).append((fam, f, hints[f.name]))
    flags = []
    for name, uses in fields.items():
        fams = tuple(fam for fam, _, _ in uses)
        hints = [h for _, _, h in uses]
        text = next((f.metadata["help"] for _, f, _ in uses if f.metadata.get("help")), "")
        defaults = {repr(f.default) for _, f, _ in uses}
        if len(defaults) == 1 and uses[0][1].default is not dataclasses.MISSING:
            text += f" (default {_shown(uses[0][1].default)})"
        text += CHOSEN_FROM_DATA.get(name, "")
        if len(fams) < len(names):
            text += f" [{', '.join(fams)}]"
        kinds = {h if h in (int, float) else str for h in hints}
        flags.append(ModelFlag(name, kinds.pop() if len(kinds) == 1 else str, text, _metavar(hints), fams))
    return flags


def _shown(value) -> str:
    """A default as a user types it on the command line."""
    if isinstance(value, tuple):
        return ",".join(map(str, value)) if value else "none"
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "unset"}[value]
    return str(value)


def _metavar(hints: list) -> str | None:
    """``{a,b}`` for Literal and bool fields (the union over the families), ``N,N`` for tuples."""
    import typing

    choices: list[str] = []
    for h in hints:
        args = [a for a in typing.get_args(h) if a is not type(None)]
        if typing.get_origin(h) is typing.Literal:
            choices += [str(a) for a in args if str(a) not in choices]
        elif h is bool or args == [bool]:
            choices += [c for c in ("true", "false") if c not in choices]
        elif typing.get_origin(h) is tuple:
            return "X,X" if args and args[0] is float else "N,N"
        elif h is dict:
            return "JSON"
        else:
            return None
    return "{" + ",".join(choices) + "}" if choices else None


TRAIN_FLAGS = [
    ("epochs", int, "training epochs (default: about 2000 optimizer steps, ceil(2000 / batches per epoch) "
                    "within 3-300, with early stopping; digits 100; series runs 30)"),
    ("batch_size", int, "batch size (default: min(256, training rows); 64 for text families, series runs and "
                        "digits, at most the training rows)"),
    ("lr", float, "learning rate"),
    ("optimizer", str, "adam (default), adamw, sgd, rmsprop, adagrad"),
    ("weight_decay", float, "weight decay"),
    ("val_split", float, "fraction of the training data held out for validation"),
    ("early_stopping", int, "stop after N epochs without a better validation loss, keeping the best weights "
                            "(0 = off; default max(5, epochs / 10) with the default epochs, else off)"),
    ("lr_schedule", str, "constant or cosine"),
    ("grad_clip", float, "clip the global gradient norm (0 = off)"),
    ("seed", int, "random seed (same seed ⇒ same weights on CPU)"),
    ("device", str, "auto, cpu, cuda, cuda:N, mps"),
    ("precision", str, "fp32 (default), bf16, fp16 (CUDA): mixed-precision training"),
    ("compile", str, "torch.compile the forward pass: auto (default), on, off"),
    ("fused", str, "hand-written training step for MLP AE/DAE/sparse AE/VAE on CPU: auto (default), off"),
]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


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
    g.add_argument("--impute", default=None, help="fill NaN/inf with the training mean: mean (default: refuse them); "
                                                   "series runs: ffill, linear or drop")
    g.add_argument("--binarize", default=None, help="Bernoulli data: threshold, static (one sample) or dynamic "
                                                     "(a new sample per batch)")
    g.add_argument("--channel-norm", action="store_true", default=None, help="normalize each image channel to mean 0, sd 1")
    g.add_argument("--stream", action="store_true", default=None,
                   help="train from a memory-mapped .npy in batches (automatic above 1 GiB)")


def _series_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("series options", "with --window, --data is a time series (CSV/TSV/Parquet with an "
                                               "optional time column and a label column used only for evaluation, "
                                               "or .npy (T,) / (T, C)) and the run detects anomalies per timestep")
    g.add_argument("--window", default=None, help="steps per window, or auto (the series' dominant period)")
    g.add_argument("--stride", type=int, default=None, help="steps between training windows (default 1)")
    g.add_argument("--train-steps", type=int, default=None,
                   help="train on the first N steps, test on the rest (default: all but the last --test-size)")
    g.add_argument("--test-size", type=float, default=None, help="fraction of the steps at the end kept for testing "
                                                                  "(default 0.2); text runs: of the items, drawn at "
                                                                  "random (default 0.1)")
    g.add_argument("--time-column", default=None, help="the time column (default: found by name, or none)")
    g.add_argument("--columns", default=None, help="channel columns to use, e.g. Pressure,Temperature (default all)")
    g.add_argument("--threshold", default=None, help="pot (default: peaks over threshold), quantile, or a number")
    g.add_argument("--risk", type=float, default=None, help="pot: probability of a normal step above the threshold")
    g.add_argument("--score", default=None, help="per-timestep score: auto, recon, window or mahalanobis")


def _text_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("text options", "with a text family (--model seqae, sentence_vae, denoising_seqae, "
                                             "seq2seq), "
                                             "--data is a text file (one item per line), a .csv/.tsv column or a "
                                             "folder of .txt files; a tokenizer is trained on the training items")
    g.add_argument("--separator", default=None, help="items are blocks between lines equal to this, e.g. %% "
                                                     "(fortune files); default: one item per line")
    g.add_argument("--text-column", default=None, help=".csv/.tsv: the text column, a name or a 1-based number "
                                                       "(default 1)")
    g.add_argument("--target-column", default=None, help="seq2seq: the column of the translations, a name or a "
                                                         "1-based number (e.g. 2 for German<TAB>English lines)")
    g.add_argument("--beam", type=int, default=None, help="seq2seq: beam width of the test translations (default 1: "
                                                          "greedy)")
    g.add_argument("--pretrain-epochs", type=int, default=None, metavar="N",
                   help="seq2seq: first train a denoising autoencoder on each side of the training pairs for N "
                        "epochs and start the translator's encoder and decoder from them (default 0: from scratch)")
    g.add_argument("--tokenizer", default=None, help="bpe (default: byte-level BPE), unigram or char")
    g.add_argument("--max-length", type=int, default=None,
                   help="tokens per item, EOS included; longer items are truncated and counted "
                        "(default: the 99th percentile of the training items, at most 256)")
    g.add_argument("--no-truncate", dest="truncate", action="store_false", default=None,
                   help="refuse items longer than --max-length instead of truncating them, now and at every later "
                        "command on the run (the default length then holds every training item, at most 256)")


def text_opts(run: dict) -> dict:
    """The text options given, as :func:`aekit.text_run.train_text_run` takes them."""
    out = {k: run[k] for k in TEXT_KEYS if run.get(k) is not None}
    for k in ("text_column", "target_column"):
        if isinstance(out.get(k), str) and out[k].isdigit():
            out[k] = int(out[k])
    return out


def series_opts(run: dict) -> dict:
    """The series options given, as :func:`aekit.series_run.train_series_run` takes them."""
    from ..errors import AekitError

    out = {k: run[k] for k in SERIES_KEYS if run.get(k) is not None}
    if isinstance(out.get("columns"), str):
        out["columns"] = [c for c in out["columns"].split(",") if c]
    thr = out.get("threshold")
    if isinstance(thr, str) and thr not in ("pot", "quantile"):
        try:
            out["threshold"] = float(thr)
        except ValueError:
            raise AekitError(f"--threshold: expected pot, quantile or a number, got {thr!r}") from None
    w = run["window"]
    if isinstance(w, str) and w != "auto":
        try:
            w = int(w)
        except ValueError:
            raise AekitError(f"--window: expected a number of steps or auto, got {w!r}") from None
    out["window"] = w
    return out


def _data_opts(run: dict) -> dict:
    return {k: run[k] for k in DATA_KEYS if run.get(k) is not None}
