"""Options of ``aekit train``: the flag tables, the YAML file, and how the two resolve into run,
model and training options (YAML first, flags override)."""

from __future__ import annotations

import argparse
from pathlib import Path

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
    ("tied", str, "true: the decoder reuses the encoder weights, transposed (mlp; default for ksparse)"),
    ("noise", str, "denoising corruption: gaussian, masking, salt_pepper"),
    ("noise_level", float, "σ for gaussian, fraction ν for masking / salt_pepper"),
    ("noise_clip", str, "denoising: clamp corrupted inputs to the data range, e.g. 0,1 (images)"),
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
    g.add_argument("--impute", default=None, help="fill NaN/inf with the training mean: mean (default: refuse them)")
    g.add_argument("--binarize", default=None, help="Bernoulli data: threshold, static (one sample) or dynamic "
                                                     "(a new sample per batch)")
    g.add_argument("--channel-norm", action="store_true", default=None, help="normalize each image channel to mean 0, sd 1")
    g.add_argument("--stream", action="store_true", default=None,
                   help="train from a memory-mapped .npy in batches (automatic above 1 GiB)")


def _data_opts(run: dict) -> dict:
    return {k: run[k] for k in DATA_KEYS if run.get(k) is not None}
