"""The argument parser: one subcommand per task, each bound to its ``cmd_*`` function.

``aekit train``'s family flags are made from the families' config classes, which import torch;
they are added when the train subcommand parses (or prints its help), so ``aekit --help`` and
the other subcommands start without torch."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from .._version import __version__
from .commands import (
    cmd_convert,
    cmd_datasets,
    cmd_denoise,
    cmd_detect,
    cmd_embed,
    cmd_evaluate,
    cmd_export,
    cmd_interpolate,
    cmd_models,
    cmd_reconstruct,
    cmd_report,
    cmd_sample,
    cmd_serve,
    cmd_traverse,
)
from .fit import cmd_train
from .options import TRAIN_FLAGS, _data_flags, _flag, _series_flags, _text_flags, model_flags
from .text import cmd_translate


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that adds some of its arguments only once it is used: the functions
    given to :meth:`fill_later` run before its first parse or help text."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pending: list[Callable[[Parser, list[str]], None]] = []

    def fill_later(self, fn: Callable[[Parser, list[str]], None]) -> None:
        self._pending.append(fn)

    def _fill(self, args: list[str] | None) -> None:
        while self._pending:
            self._pending.pop(0)(self, list(sys.argv[1:] if args is None else args))

    def parse_known_args(self, args=None, namespace=None):
        self._fill(args)
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._fill([])
        return super().format_help()


def _model_flags(group) -> Callable[[Parser, list[str]], None]:
    """Adds one flag per option of the registered families (:func:`~aekit.cli.options.model_flags`)
    to ``group``, after importing the ``--plugin`` modules named in the arguments, whose families
    get flags too."""

    def fill(parser: Parser, args: list[str]) -> None:
        pre = argparse.ArgumentParser(prog=parser.prog, add_help=False)
        pre.add_argument("--plugin", action="append", default=[])
        plugins = pre.parse_known_args(args)[0].plugin
        if plugins:
            from ..errors import AekitError
            from ..nets.registry import load_plugins

            try:
                load_plugins(plugins)
            except AekitError as e:
                parser.error(str(e))
        taken = set(parser._option_string_actions)
        for f in model_flags():
            if _flag(f.name) not in taken:  # a plugin family's field named like a run flag stays YAML-only
                group.add_argument(_flag(f.name), dest=f.name, type=f.type, metavar=f.metavar, help=f.help)

    return fill


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aekit",
        description="Autoencoders of every family: train, evaluate, reconstruct, sample.",
    )
    p.add_argument("--version", action="version", version=f"aekit {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

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
    _series_flags(t)
    _text_flags(t)
    g = t.add_argument_group("model options", "each family's config fields; [families] where not all take it")
    t.fill_later(_model_flags(g))
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

    r = sub.add_parser("reconstruct", help="reconstruct an array file, an image, a folder of images, or text")
    r.add_argument("run", help="run directory")
    r.add_argument("input", nargs="+", help=".npy/.npz array, image file (PNG/JPEG) or folder of images; "
                                            "text runs: one or more items, printed with their reconstructions")
    r.add_argument("--out", default=None, help="output .npy (for arrays), image file or folder (needed except "
                                                "for text runs)")
    r.set_defaults(func=cmd_reconstruct)

    s = sub.add_parser("sample", help="draw samples from a generative model")
    s.add_argument("run", help="run directory")
    s.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--out", default=None, help="grid image (.png) or array (.npy); default RUN/samples.png")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--temperature", type=float, default=1.0,
                   help="text runs: sample each token from softmax(logits / T); 0 = greedy (default 1)")
    s.set_defaults(func=cmd_sample)

    dt = sub.add_parser("detect", help="anomaly scores for every row of a data file",
                        description="Score samples with a trained run (higher = more anomalous); write "
                                    "index,score,is_anomaly. With labels (y), print and save AUROC and AUPRC. "
                                    "A series run writes one row per step (timestamp or step, score, is_anomaly) "
                                    "with the score and threshold it was trained with; --score, --contamination "
                                    "and --elbo-samples are for runs of rows.")
    dt.add_argument("run", help="run directory")
    dt.add_argument("--data", required=True, help="a data file in any format train reads (.npy, .npz, CSV, TSV, Parquet, "
                                                   ".mat, HDF5, IDX); labels from its y, or a y/label/is_anomaly column")
    dt.add_argument("--out", default="scores.csv", help="CSV to write (default scores.csv); the summary goes to "
                                                        "OUT.json; a folder of series: a folder, one CSV per series")
    dt.add_argument("--score", default=None, help="auto, recon, elbo, mahalanobis or combined (default auto)")
    dt.add_argument("--contamination", type=float, default=None,
                    help="fraction of the training data above the threshold (default 0.01)")
    dt.add_argument("--events", default=None, metavar="CSV",
                    help="series runs: also write the merged anomalous intervals (start, end, peak, peak_score)")
    dt.add_argument("--impute", default=None, choices=("ffill", "linear", "drop"),
                    help="series runs: fill the series' gaps (empty or NaN values) by carrying the last value "
                         "forward, by linear interpolation, or drop those steps (default: as the run was trained; "
                         "a gap is refused)")
    dt.add_argument("--elbo-samples", type=int, default=None, metavar="K",
                    help="variational families: average -ELBO over K posterior samples (seeded) instead of "
                         "evaluating it at the posterior mean (default 0: the posterior mean, as exported models do)")
    dt.set_defaults(func=cmd_detect)

    ex = sub.add_parser("export", help="export a run to ONNX or torch.export (.pt2): preprocessing and score inside",
                        description="Write RUN's scorer (raw rows in; anomaly score, reconstruction in data units "
                                    "and code out) as an ONNX model or a torch.export program, run it with its "
                                    "runtime and check it against aekit before keeping it. ONNX needs the deploy "
                                    "extra: pip install 'aekit[deploy]'.")
    ex.add_argument("run", help="run directory")
    ex.add_argument("--format", default="onnx", help="onnx (default) or pt2")
    ex.add_argument("--out", help="file to write (default RUN/model.onnx or RUN/model.pt2)")
    ex.add_argument("--outputs", default=None,
                    help="comma-separated outputs: score, recon, code (default all three; a series run: score, "
                         "one per step)")
    ex.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's)")
    ex.add_argument("--contamination", type=float, default=None,
                    help="fraction of the training data above the threshold stored in the metadata (default 0.01, "
                         "as aekit detect)")
    ex.set_defaults(func=cmd_export)

    dn = sub.add_parser("denoise", help="denoise a data file, an image or a folder of images")
    dn.add_argument("run", help="run directory (a denoising AE, or any model)")
    dn.add_argument("input", help="data file (.npy, .npz, CSV, .mat …), image file or folder of images")
    dn.add_argument("--out", required=True, help="output .npy, image file or folder")
    dn.add_argument("--noise", help="corrupt clean inputs first, e.g. gaussian:0.5, masking:0.3, salt_pepper:0.2; "
                                    "prints PSNR/SSIM of noisy and denoised against the clean inputs")
    dn.add_argument("--seed", type=int, default=0, help="seed of the added noise")
    dn.set_defaults(func=cmd_denoise)

    ip = sub.add_parser("interpolate", help="decode a path between two inputs' codes to a PNG row")
    ip.add_argument("run", help="run directory")
    ip.add_argument("inputs", nargs="*", help="two image files A B (default: the run's test samples --index); "
                                              "text runs: two items, the path between them printed line by line")
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

    tr = sub.add_parser("translate", help="translate sentences with a seq2seq run",
                        description="Print the translation of each sentence given, or translate every line of "
                                    "--data into --out.")
    tr.add_argument("run", help="run directory (aekit train --model seq2seq)")
    tr.add_argument("text", nargs="*", help="sentences to translate")
    tr.add_argument("--data", help="a text file: translate every item (read as the run read its source column)")
    tr.add_argument("--out", help="with --data: write the translations here, one per line")
    tr.add_argument("--beam", type=int, default=1, help="beam width (default 1: greedy)")
    tr.add_argument("--length-penalty", type=float, default=1.0, metavar="A",
                    help="with --beam: keep the beam with the best log-probability / tokens^A (default 1: per "
                         "token; above 1 favours longer translations, 0 the plain log-probability)")
    tr.add_argument("--ensemble", action="append", default=[], metavar="RUN2",
                    help="another seq2seq run with the same tokenizer (e.g. trained with another --seed) that "
                         "decodes together with RUN: the mean of their next-token probabilities; repeat for more")
    tr.add_argument("--mbr", type=int, default=0, metavar="N",
                    help="minimum Bayes risk decoding: draw N translations per sentence (ε-sampling) and keep, of "
                         "them and the beam's rows, the one with the highest mean chrF against the draws "
                         "(default 0: off; 16-32 is typical, decoding takes about N+beam times as long)")
    tr.add_argument("--epsilon", type=float, default=0.02,
                    help="with --mbr: tokens below this probability are never drawn (default 0.02)")
    tr.add_argument("--seed", type=int, default=0, help="with --mbr: the seed of the draws (default 0)")
    tr.set_defaults(func=cmd_translate)

    em = sub.add_parser("embed", help="write the codes of a data set or file to a .npy array")
    em.add_argument("run", help="run directory")
    em.add_argument("--data", help="a data file (every row) or a data set name or image folder (default: the run's; "
                                   "a series run: a series file or folder, required)")
    em.add_argument("--data-root", help="folder holding the data set's files")
    em.add_argument("--split", default="test", help="for a data set name or folder: train, test or all (default test)")
    em.add_argument("--out", required=True, help="output .npy")
    em.add_argument("--impute", default=None, choices=("ffill", "linear", "drop"),
                    help="series runs: fill the series' gaps as detect --impute does")
    em.add_argument("--whole", action="store_true",
                    help="series runs: one code per series (the mean of its window codes) instead of one per window")
    em.set_defaults(func=cmd_embed)

    rp = sub.add_parser("report", help="write RUN/report.html: curves, reconstructions, samples, latent map …")
    rp.add_argument("run", help="run directory")
    rp.add_argument("--data", help="data set name or file (default: the run's own)")
    rp.add_argument("--data-root", help="folder holding the data set's files")
    rp.add_argument("--tsne", action="store_true", help="map the codes with t-SNE instead of PCA (slower)")
    rp.add_argument("--out", help="HTML file to write (default RUN/report.html)")
    rp.set_defaults(func=cmd_report)

    sv = sub.add_parser("serve", help="serve a run over HTTP: /score, /detect, /reconstruct, /embed (FastAPI)",
                        description="Serve RUN's scorer (preprocessing and anomaly score inside) over HTTP until "
                                    "Ctrl-C or SIGTERM, which let the requests in flight finish. API docs at /docs. "
                                    "Needs the serve extra: pip install 'aekit[serve]'.")
    sv.add_argument("run", help="run directory")
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    sv.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    sv.add_argument("--workers", type=int, default=1, help="worker processes, each with its own copy of the model "
                                                            "(default 1)")
    sv.add_argument("--onnx", action="store_true",
                    help="serve RUN/model.onnx (written by aekit export RUN) with onnxruntime instead of torch")
    sv.add_argument("--api-key", help="require Authorization: Bearer KEY on every endpoint but /health "
                                      "(default: the AEKIT_API_KEY environment variable, else no key)")
    sv.add_argument("--max-batch", type=int, default=2048, help="most rows in one request (default 2048)")
    sv.add_argument("--max-body-mb", type=float, default=16.0, help="largest request body in MiB (default 16)")
    sv.add_argument("--threads", type=int, help="torch threads per worker (default: the cores shared among the workers)")
    sv.add_argument("--no-batching", action="store_true",
                    help="run each request alone instead of merging concurrent requests into one forward pass")
    sv.add_argument("--access-log", action="store_true", help="log one line per request")
    sv.set_defaults(func=cmd_serve)

    m = sub.add_parser("models", help="list every model family with its paper (--networks: the networks)")
    m.add_argument("--networks", action="store_true", help="list the registered encoder/decoder networks instead")
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
    for name, sp in sub.choices.items():
        if name not in ("datasets", "convert"):
            sp.add_argument("--plugin", action="append", metavar="MODULE",
                            help="import MODULE first (repeatable): it registers your own networks or families; "
                                 "aekit never imports a module because a run's files name it")
    return p
