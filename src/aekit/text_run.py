"""What ``aekit train`` does with a text family, and what the other commands do with a text run.

    train_text_run("sentence_vae", "quotes.txt", "runs/quotes", separator="%", epochs=10)
    run = TextRun.load("runs/quotes")
    run.sample(5, temperature=0.8)              # aekit sample runs/quotes -n 5
    run.interpolate("first", "second", 5)       # aekit interpolate runs/quotes "first" "second"
    run.reconstruct(["a sentence"])             # aekit reconstruct runs/quotes "a sentence"
    run.embed(texts), run.score(texts)          # aekit embed / aekit detect --data lines.txt

A text run is a run directory whose ``config.json`` has a ``data.text`` section (how the
file was read, the tokenizer, ``max_length``, the split) and whose ``tokenizer.json`` is the
tokenizer trained on the run's training items, applied again by every later command. The
items are split at random (seeded; items are independent) into training and test parts;
the tokenizer and the model see only the training part.

Test metrics (:func:`text_metrics`): the reconstruction's negative log-likelihood per item
and per token (teacher forced, at the item's code) and its perplexity, the share of items the
greedy decoder reconstructs exactly, and for the sentence VAE the KL, the −ELBO, the number
of active code units (Burda et al. 2015: Cov_x(E_q[z_u]) > 0.01) and, with ``nll_samples``,
the k-sample bound on −log p(x) (:func:`aekit.likelihoods.log_marginal`).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import AekitError
from .rundir import RunDir

log = logging.getLogger("aekit")

READ_KEYS = ("separator", "text_column", "encoding")


def is_text_family(model: Any) -> bool:
    from .registry import get_model_class

    cls = get_model_class(model) if isinstance(model, str) else type(model)
    return getattr(cls, "inputs", "features") == "tokens"


def is_text_run(run: Any) -> bool:
    rd = RunDir(run, arg="RUN")
    return rd.config_path.is_file() and isinstance(rd.section("data").get("text"), dict)


@torch.inference_mode()
def text_metrics(model, ids: np.ndarray, nll_samples: int = 0, batch_size: int = 256) -> dict[str, float]:
    """Metrics of ``model`` on token rows ``ids`` (N, L) — see the module docstring."""
    from .models.text import trim
    from .nets.modes import eval_mode

    x_all = torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64))
    sides = getattr(model, "sides", None)  # a translator scores and decodes the target side of a row
    nll, kl, exact, means, tokens = [], [], [], [], 0
    with eval_mode(model):
        for xb in x_all.split(batch_size):
            xb = trim(xb)
            target = sides(xb)[1] if sides else xb
            enc = model.encode(xb)
            z = enc.mode() if model.variational else enc
            nll.append(model.reconstruction_nll(z, xb))
            if model.variational:
                kl.append(enc.kl())
                means.append(enc.mean)
            rec = model.decode(z)[:, :target.shape[1]]
            exact.append((rec == target).all(1))
            tokens += int((target != 0).sum())
    nll_t = torch.cat(nll).double()
    out = {"items": len(x_all), "tokens": tokens, "nll": float(nll_t.mean()),
           "nll_token": float(nll_t.sum() / tokens), "perplexity": math.exp(float(nll_t.sum() / tokens)),
           "exact_match": float(torch.cat(exact).float().mean())}
    if model.variational:
        kl_t = torch.cat(kl).double()
        mu = torch.cat(means).double()
        out.update({"kl": float(kl_t.mean()), "neg_elbo": float((nll_t + kl_t).mean()),
                    "active_units": int((mu.var(0) > 0.01).sum()) if len(mu) > 1 else 0})
        if nll_samples:
            from .likelihoods import log_marginal

            lp = log_marginal(model, x_all, n_samples=nll_samples).double()
            out.update({"nll_bound": float(-lp.mean()), "nll_bound_token": float(-lp.sum() / tokens),
                        "nll_samples": int(nll_samples)})
    return out


def split_items(texts: list, test_size: float, seed: int) -> tuple[list, list]:
    """(training items, test items): a seeded random split, the same every time."""
    order = np.random.default_rng(seed).permutation(len(texts))
    n_test = max(1, int(round(test_size * len(texts))))
    return [texts[i] for i in order[n_test:]], [texts[i] for i in order[:n_test]]


def train_text_run(model: str = "seqae", data: Any = None, out: str | os.PathLike | RunDir | None = None, *,
                   overwrite: bool = False, separator: str | None = None, text_column: str | int | None = None,
                   target_column: str | int | None = None, encoding: str = "utf-8", tokenizer: str = "bpe",
                   max_length: int | None = None, test_size: float = 0.1, nll_samples: int = 0,
                   beam: int = 1, **options: Any) -> dict[str, Any]:
    """Train a text family on the items of ``data`` (a text file, a table column, a folder)
    into a run directory: tokenizer (``tokenizer`` kind, ``vocab_size`` tokens at most)
    trained on the training items, rows of ``max_length`` tokens (default: the 99th
    percentile of the training items' lengths, at most 256; longer items are truncated and
    counted), the family trained with :class:`~aekit.Trainer` (64 items a batch unless
    ``batch_size`` says otherwise, fewer for a small corpus), test metrics in metrics.json.
    ``seq2seq`` trains on pairs: ``text_column`` the source, ``target_column`` the target
    (one tokenizer for both sides; each side its own length), and its test metrics add BLEU
    and chrF of the translations (greedy, or a ``beam`` search) against the references.
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
    if "batch_size" not in train_opts:  # 64 items a batch, fewer when there are fewer to fit
        tcfg = tcfg.replace(batch_size=min(64, len(train) - int(round(tcfg.val_split * len(train)))))
    vocab = int(model_opts.pop("vocab_size", 8000))
    sides = [[p[0] for p in train], [p[1] for p in train]] if pairs else [train]
    tok = Tokenizer.train([t for side in sides for t in side], kind=tokenizer, vocab_size=vocab)
    lengths = [int(max_length or tok.suggest_max_length(side, 0.99, cap=256)) for side in sides]
    x_train, truncated = _rows(tok, train, lengths, pairs)
    x_test, _ = _rows(tok, test, lengths, pairs)
    if truncated:
        log.warning("%d training items are longer than %s tokens and were truncated (--max-length)", truncated,
                    " / ".join(map(str, lengths)))
    name = Path(str(data)).stem or "text"
    run = RunDir.of(out if out is not None else Path("runs") / f"{model}-{name}", "out").prepare(overwrite)
    torch.manual_seed(tcfg.seed)
    shape = {"source_length": lengths[0]} if pairs else {}
    net = cls(input_shape=(sum(lengths),), vocab_size=tok.vocab_size, **shape, **model_opts)
    log.info("training %s (%d parameters) on %d items of %s → %s", cls.__name__, net.n_params(), len(train), data,
             run.path)
    run.path.mkdir(parents=True, exist_ok=True)
    tok.save(run.tokenizer_path)
    trainer = Trainer(tcfg, out_dir=run.path)
    trainer.fit(net, Data(x_train=x_train, x_test=x_test, name=name))
    # the training items' scores, for aekit detect's threshold at any contamination
    quantiles = np.quantile(net.score(torch.from_numpy(x_train)).double().numpy(), np.linspace(0, 1, 1001))
    run.write_config(data={"text": {
        "source": os.path.abspath(data) if isinstance(data, str) else str(data),
        "read": {k: v for k, v in read_opts.items() if v is not None},
        "tokenizer": tok.kind, "vocab_size": tok.vocab_size, "max_length": lengths[-1],
        "train_items": len(train), "test_items": len(test), "truncated": truncated, "test_size": test_size,
        "seed": tcfg.seed, "score_quantiles": [float(q) for q in quantiles]}})
    metrics = {"split": "test", **text_metrics(net, x_test, nll_samples=nll_samples)}
    if pairs:
        result = TextRun(net, tok, {}, run.path)
        metrics.update(translation_metrics(result.translate([p[0] for p in test], beam=beam), [p[1] for p in test]))
        metrics["beam"] = beam
    run.write_metrics(metrics)
    return {"path": run.path, "model": net, "tokenizer": tok, "metrics": metrics, "history": trainer.history}


def _rows(tok, items: list, lengths: list[int], pairs: bool) -> tuple[np.ndarray, int]:
    """Token rows of items (or of (source, target) pairs: the two sides side by side), and how
    many items were truncated."""
    if not pairs:
        enc = tok.encode(items, lengths[0])
        return enc.ids, int(enc.truncated)
    src, tgt = tok.encode([p[0] for p in items], lengths[0]), tok.encode([p[1] for p in items], lengths[1])
    return np.concatenate([src.ids, tgt.ids], 1), int(src.truncated + tgt.truncated)


def translation_metrics(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """Corpus BLEU and chrF (sacrebleu, its default tokenization) of the hypotheses; empty
    with a warning where sacrebleu is not installed (pip install 'aekit[text]')."""
    try:
        import sacrebleu
    except ImportError:
        log.warning("BLEU and chrF need sacrebleu: pip install 'aekit[text]'")
        return {}
    return {"bleu": float(sacrebleu.corpus_bleu(hypotheses, [references]).score),
            "chrf": float(sacrebleu.corpus_chrf(hypotheses, [references]).score),
            "exact_match": float(np.mean([h.strip() == r.strip() for h, r in zip(hypotheses, references)]))}


class TextRun:
    """A trained text run: its model and tokenizer, and what the commands do with them."""

    def __init__(self, model, tokenizer, settings: dict, path: Path):
        self.model, self.tokenizer, self.settings, self.path = model, tokenizer, settings, path

    @classmethod
    def load(cls, run: str | os.PathLike, plugins=()) -> TextRun:
        from .data.tokens import Tokenizer
        from .models import load

        rd = RunDir(run, arg="RUN").require_run()
        settings = rd.section("data").get("text")
        if not isinstance(settings, dict):
            raise AekitError(f"{rd.path}: not a text run (config.json has no data.text section); train one with "
                             "aekit train --model sentence_vae --data FILE")
        return cls(load(rd.path, plugins=plugins), Tokenizer.load(rd.tokenizer_path), settings, rd.path)

    @property
    def max_length(self) -> int:
        """Tokens of an item (of the source side, for a translator)."""
        c = self.model.config
        return int(getattr(c, "source_length", c.input_shape[0]))

    @property
    def pairs(self) -> bool:
        return hasattr(self.model.config, "source_length")

    def encode(self, texts) -> torch.Tensor:
        """Token rows (N, max_length) of ``texts``, longer items truncated (logged); for a
        translator, source rows with an empty target side."""
        enc = self.tokenizer.encode(texts, self.max_length)
        if enc.truncated:
            log.warning("%d of %d items are longer than the run's %d tokens and were truncated",
                        enc.truncated, len(enc.ids), self.max_length)
        ids = torch.from_numpy(enc.ids)
        if self.pairs:
            ids = torch.cat([ids, torch.zeros(len(ids), self.model.output_length(), dtype=ids.dtype)], 1)
        return ids

    def translate(self, texts, beam: int = 1, length_penalty: float = 1.0) -> list[str]:
        """The translations of ``texts`` (greedy, or the best of a ``beam`` search)."""
        if not self.pairs:
            raise AekitError(f"translate: {self.path} is a {type(self.model).__name__} run, not a translator; "
                             "train one with aekit train --model seq2seq --data pairs.tsv --target-column 2")
        src = self.encode(texts)[:, :self.max_length]
        out = [self.model.translate(chunk, beam=beam, length_penalty=length_penalty) for chunk in src.split(256)]
        return self.tokenizer.decode(torch.cat(out))

    def _decode(self, z: torch.Tensor, **kw) -> list[str]:
        from .nets.modes import eval_mode

        with eval_mode(self.model):
            return self.tokenizer.decode(self.model.generate(z, **kw))

    def codes(self, texts) -> torch.Tensor:
        return self.model.transform(self.encode(texts))

    def reconstruct(self, texts) -> list[str]:
        """Greedy reconstructions (a translator's: translations) of ``texts``."""
        if self.pairs:
            return self.translate(texts)
        return self.tokenizer.decode(self.model.reconstruct(self.encode(texts)))

    def sample(self, n: int, temperature: float = 1.0, seed: int | None = None) -> list[str]:
        if not self.model.generative:
            raise AekitError(f"sample: a {type(self.model).__name__} has no prior to draw codes from; "
                             "train a sentence_vae to sample sentences")
        if n < 1:
            raise AekitError(f"-n: must be a positive number of samples, got {n}")
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        return self.tokenizer.decode(self.model.sample(n, generator=g, temperature=temperature))

    def interpolate(self, first: str, second: str, steps: int = 5) -> list[str]:
        """Greedy decodings of codes on the line from the first item's code to the second's
        (the homotopy of Bowman et al. 2016, Table 3): ``steps`` ≥ 2 points, ends included."""
        if steps < 2:
            raise AekitError(f"--steps: need at least 2 points (the two ends), got {steps}")
        a, b = self.codes([first, second])
        t = torch.linspace(0, 1, steps, dtype=a.dtype)[:, None]
        return self._decode((1 - t) * a + t * b)

    def embed(self, texts) -> np.ndarray:
        return self.codes(texts).numpy()

    def threshold(self, contamination: float) -> float:
        """The score above which a fraction ``contamination`` of the training items lie."""
        if not 0 < contamination < 1:
            raise AekitError(f"--contamination: must be in (0, 1), got {contamination}")
        q = np.asarray(self.settings["score_quantiles"], dtype=np.float64)
        return float(np.interp(1 - contamination, np.linspace(0, 1, len(q)), q))

    def test_ids(self) -> np.ndarray:
        """Token rows of the run's test items: its source read and split again as in training."""
        from .data.text import read_text

        s = self.settings
        if not s.get("source") or not Path(s["source"]).exists():
            raise AekitError(f"{self.path}: the training file {s.get('source')} is not there to take the test items "
                             "from; pass --data FILE to evaluate on other items")
        got = read_text(s["source"], **s.get("read", {}))
        if self.pairs:
            _, test = split_items(list(zip(got.texts, got.targets)), s["test_size"], s["seed"])
            lengths = [self.max_length, self.model.output_length()]
            return _rows(self.tokenizer, test, lengths, True)[0]
        _, test = split_items(got.texts, s["test_size"], s["seed"])
        return self.encode(test).numpy()

    def score(self, texts) -> np.ndarray:
        """One anomaly score per item: −log p(x | z) (seqae), −ELBO (sentence_vae), in nats."""
        if self.pairs:
            raise AekitError(f"detect: {self.path} is a translator, which scores pairs, not items; "
                             "detect unusual sentences with a seqae or sentence_vae run")
        return self.model.score(self.encode(texts)).double().numpy()
