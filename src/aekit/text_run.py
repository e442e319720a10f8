"""What ``aekit train`` does with a text family: :func:`train_text_run`.

    train_text_run("sentence_vae", "quotes.txt", "runs/quotes", separator="%", epochs=10)
    train_text_run("seq2seq", "pairs.tsv", "runs/de-en", target_column=2)

A text run is a run directory whose ``config.json`` has a ``data.text`` section (how the
file was read, the tokenizer, ``max_length``, the split) and whose ``tokenizer.json`` is the
tokenizer trained on the run's training items, applied again by every later command
(:class:`aekit.tasks.text.TextRun`). The items are split at random (seeded; items are
independent) into training and test parts; the tokenizer and the model see only the
training part.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import AekitError
from .rundir import RunDir
from .tasks.text import (
    TextRun,
    chunked,
    is_text_run,
    split_items,
    text_metrics,
    token_rows,
    translation_metrics,
)

log = logging.getLogger("aekit")

__all__ = ["train_text_run", "pretrain_translator", "is_text_family", "TextRun", "is_text_run", "split_items",
           "text_metrics", "translation_metrics"]


def is_text_family(model: Any) -> bool:
    from .registry import get_model_class

    cls = get_model_class(model) if isinstance(model, str) else type(model)
    return getattr(cls, "inputs", "features") == "tokens"


def train_text_run(model: str = "seqae", data: Any = None, out: str | os.PathLike | RunDir | None = None, *,
                   overwrite: bool = False, separator: str | None = None, text_column: str | int | None = None,
                   target_column: str | int | None = None, encoding: str = "utf-8", tokenizer: str = "bpe",
                   max_length: int | None = None, truncate: bool = True, test_size: float = 0.1,
                   nll_samples: int = 0, beam: int = 1, pretrain_epochs: int = 0, report: bool = True,
                   **options: Any) -> dict[str, Any]:
    """Train a text family on the items of ``data`` (a text file, a table column, a folder)
    into a run directory: tokenizer (``tokenizer`` kind, ``vocab_size`` tokens at most)
    trained on the training items, rows of ``max_length`` tokens (default: the 99th
    percentile of the training items' lengths, at most 256; longer items are truncated and
    counted — or, with ``truncate=False``, refused here and at every later command on the run,
    the default length then holding every training item), the family trained with :class:`~aekit.Trainer` (64 items a batch unless
    ``batch_size`` says otherwise, fewer for a small corpus; epochs as in
    :mod:`aekit.train.defaults` unless ``epochs`` is given), test metrics in metrics.json.
    ``seq2seq`` trains on pairs: ``text_column`` the source, ``target_column`` the target
    (one tokenizer for both sides; each side its own length), and its test metrics add BLEU
    and chrF of the translations (greedy, or a ``beam`` search) against the references.
    ``pretrain_epochs`` (seq2seq only): first train a denoising autoencoder on each side of the
    training pairs for that many epochs and start the translator from them
    (:func:`pretrain_translator`). ``report``: write ``report.html`` (:mod:`aekit.report.text`).
    ``options``: the family's options and :class:`~aekit.TrainConfig` fields."""
    from .data.bundle import Data
    from .data.text import read_text
    from .data.tokens import Tokenizer
    from .registry import get_model_class
    from .train import TrainConfig, Trainer

    cls = get_model_class(model)
    if getattr(cls, "inputs", "features") != "tokens":
        raise AekitError(f"--model: {model!r} is not a text family; choose one of seqae, sentence_vae, "
                         "denoising_seqae, seq2seq")
    pairs = "source_length" in cls.config_class.field_names()
    if data is None:
        raise AekitError("--data: a text file, a .csv/.tsv with --text-column, or a folder of .txt files is needed")
    if pairs and target_column is None:
        raise AekitError("--target-column: seq2seq trains on pairs; name the target column of the .csv/.tsv "
                         "(e.g. --target-column 2 for German<TAB>English lines)")
    if not pairs and target_column is not None:
        raise AekitError(f"--target-column: only seq2seq reads pairs; {model} reconstructs one column")
    if not 0 < test_size < 1:
        raise AekitError(f"--test-size: must be in (0, 1), got {test_size}")
    if not isinstance(pretrain_epochs, int) or pretrain_epochs < 0:
        raise AekitError(f"--pretrain-epochs: must be a number of epochs ≥ 0, got {pretrain_epochs!r}")
    if pretrain_epochs and not pairs:
        raise AekitError(f"--pretrain-epochs: only seq2seq starts from pretrained autoencoders; {model} trains "
                         "from scratch")
    fields = set(cls.config_class.field_names())
    model_opts = {k: options.pop(k) for k in list(options) if k in fields}
    train_opts = {k: options.pop(k) for k in list(options) if k in TrainConfig.field_names()}
    if options:
        raise AekitError(f"options: {', '.join(sorted(options))} are not options of a text run")
    tcfg = TrainConfig.from_dict(train_opts, where="training options")
    read_opts = {"separator": separator, "text_column": text_column, "target_column": target_column,
                 "encoding": encoding}
    got = read_text(data, **read_opts)
    items = list(zip(got.texts, got.targets)) if pairs else got.texts
    if len(items) < 10:
        raise AekitError(f"--data: {data} holds {len(items)} items; a text run needs at least 10")
    train, test = split_items(items, test_size, tcfg.seed)
    vocab = int(model_opts.pop("vocab_size", 8000))
    sides = [[p[0] for p in train], [p[1] for p in train]] if pairs else [train]
    tok = Tokenizer.train([t for side in sides for t in side], kind=tokenizer, vocab_size=vocab)
    whole = 0.99 if truncate else 1.0  # the quantile of the items the default length holds whole
    lengths = [int(max_length or tok.suggest_max_length(side, whole, cap=256)) for side in sides]
    x_train, truncated = token_rows(tok, train, lengths, pairs)
    x_test, test_truncated = token_rows(tok, test, lengths, pairs)
    if not truncate and truncated + test_truncated:
        raise AekitError(f"--data: {truncated + test_truncated} items of {data} are longer than "
                         f"{' / '.join(str(n - 1) for n in lengths)} tokens (--max-length, EOS included); raise "
                         "--max-length, or leave out --no-truncate to cut them")
    if truncated:
        log.warning("%d training items are longer than %s tokens and were truncated (--max-length)", truncated,
                    " / ".join(map(str, lengths)))
    name = Path(str(data)).stem or "text"
    run = RunDir.of(out if out is not None else Path("runs") / f"{model}-{name}", "out").prepare(overwrite)
    torch.manual_seed(tcfg.seed)
    shape = {"source_length": lengths[0]} if pairs else {}
    net = cls(input_shape=(sum(lengths),), vocab_size=tok.vocab_size, **shape, **model_opts)
    if "arch" not in model_opts:
        log.info("arch: %s (text items, %d tokens a row); pass --arch to choose", net.config.arch, sum(lengths))
    log.info("training %s (%d parameters) on %d items of %s → %s", cls.__name__, net.n_params(), len(train), data,
             run.path)
    run.path.mkdir(parents=True, exist_ok=True)
    tok.save(run.tokenizer_path)
    pretrained = pretrain_translator(net, x_train, pretrain_epochs, tcfg) if pretrain_epochs else None
    trainer = Trainer(tcfg, out_dir=run.path)
    trainer.fit(net, Data(x_train=x_train, x_test=x_test, name=name))
    # the training items' scores, for aekit detect's threshold at any contamination
    quantiles = np.quantile(chunked(net.score, torch.from_numpy(x_train)).double().numpy(), np.linspace(0, 1, 1001))
    run.write_config(data={"text": {
        "source": os.path.abspath(data) if isinstance(data, str) else str(data),
        "read": {k: v for k, v in read_opts.items() if v is not None},
        "tokenizer": tok.kind, "vocab_size": tok.vocab_size, "max_length": lengths[-1],
        "train_items": len(train), "test_items": len(test), "truncated": truncated, "truncate": bool(truncate),
        "test_size": test_size,
        "seed": tcfg.seed, "score_quantiles": [float(q) for q in quantiles], **({"beam": beam} if pairs else {}),
        **({"pretrained": pretrained} if pretrained else {})}})
    metrics = {"split": "test", **text_metrics(net, x_test, nll_samples=nll_samples)}
    if pairs:
        result = TextRun(net, tok, {}, run.path)
        metrics.update(translation_metrics(result.translate([p[0] for p in test], beam=beam), [p[1] for p in test]))
        metrics["beam"] = beam
    run.write_metrics(metrics)
    rep = None
    if report:
        from .report.text import build_text_report

        rep = build_text_report(run.path, seed=tcfg.seed).path
    return {"path": run.path, "model": net, "tokenizer": tok, "metrics": metrics, "history": trainer.history,
            "report": rep}


def pretrain_translator(net: Any, x_train: np.ndarray, epochs: int, config: Any = None) -> dict[str, Any]:
    """Start the translator ``net`` (a :class:`~aekit.models.Seq2Seq`) from two denoising
    sequence autoencoders (:class:`~aekit.models.DenoisingSeqAE`, its default corruption), one
    trained for ``epochs`` on the source side of the training rows ``x_train`` and one on their
    target side, with the translator's token network and its options (``feed_code`` included;
    not ``attention``), widths, code size and vocabulary: the
    source autoencoder's encoder and the target one's decoder are copied in
    (``Seq2Seq.init_from``; an attending decoder keeps its own attention layers). Each is
    trained with ``config``'s optimizer, learning rate, batch size and seed (a
    :class:`~aekit.TrainConfig`), on every row (no validation split). Returns
    ``{"epochs", "seconds", "source_loss", "target_loss"}`` (each autoencoder's last training loss)."""
    import time

    from .models.seq2seq import Seq2Seq
    from .models.text_denoising import DenoisingSeqAE
    from .train import TrainConfig, Trainer

    if not isinstance(net, Seq2Seq):
        raise AekitError(f"net: pretraining starts a seq2seq translator, got {type(net).__name__}")
    if not isinstance(epochs, int) or epochs < 1:
        raise AekitError(f"epochs: pretraining needs at least 1 epoch, got {epochs!r}")
    c, n = net.config, net.config.source_length
    if x_train.ndim != 2 or x_train.shape[1] != c.input_shape[0]:
        raise AekitError(f"x_train: expected token rows (N, {c.input_shape[0]}), got {tuple(x_train.shape)}")
    config = config if config is not None else TrainConfig()
    # every option the two families share (network, widths, code, vocabulary), less the row length
    both = set(DenoisingSeqAE.config_class.field_names()) & set(c.field_names()) - {"input_shape"}
    shared = {k: getattr(c, k) for k in both}
    shared["net_options"] = {k: v for k, v in c.net_options.items() if k != "attention"}  # an autoencoder never attends
    t, daes, losses = time.perf_counter(), [], []
    for side, rows in (("source", x_train[:, :n]), ("target", x_train[:, n:])):
        torch.manual_seed(config.seed)
        dae = DenoisingSeqAE(input_shape=(rows.shape[1],), **shared)
        log.info("pretraining the %s side: %s (%d parameters), %d epochs", side, type(dae).__name__, dae.n_params(),
                 epochs)
        history = Trainer(config.replace(epochs=epochs, val_split=0.0)).fit(dae, np.ascontiguousarray(rows))
        daes.append(dae)
        losses.append(float(history[-1]["train_loss"]))
    net.init_from(*daes)
    return {"epochs": epochs, "seconds": round(time.perf_counter() - t, 1), "source_loss": losses[0],
            "target_loss": losses[1]}
