"""A trained text run applied: its model and tokenizer (:class:`TextRun`), the seeded split of
its items, and the metrics of a text model on token rows.

    run = TextRun.load("runs/quotes")
    run.sample(5, temperature=0.8)              # aekit sample runs/quotes -n 5
    run.interpolate("first", "second", 5)       # aekit interpolate runs/quotes "first" "second"
    run.reconstruct(["a sentence"])             # aekit reconstruct runs/quotes "a sentence"
    run.translate(["Guten Morgen!"], beam=5)    # aekit translate runs/de-en "Guten Morgen!"
    run.embed(texts), run.score(texts)          # aekit embed / aekit detect --data lines.txt

Metrics (:func:`text_metrics`): the reconstruction's negative log-likelihood per item and per
token (teacher forced, at the item's code) and its perplexity, the share of items the greedy
decoder reconstructs exactly, and for the sentence VAE the KL, the −ELBO at the posterior mean,
the number of active code units (Burda et al. 2015: Cov_x(E_q[z_u]) > 0.01) and, with
``nll_samples``, the k-sample bound on −log p(x) (:func:`aekit.likelihoods.log_marginal`); for
a translator, BLEU and chrF (:func:`translation_metrics`), and whether one translator (or one
training method, over seeds) is better than another on the same sentences
(:func:`paired_bootstrap`). Training a text run:
:func:`aekit.text_run.train_text_run`.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import AekitError
from ..rundir import RunDir

log = logging.getLogger("aekit")


def is_text_run(run: Any) -> bool:
    rd = RunDir(run, arg="RUN")
    return rd.config_path.is_file() and isinstance(rd.section("data").get("text"), dict)


@torch.inference_mode()
def text_metrics(model, ids: np.ndarray, nll_samples: int = 0, batch_size: int = 256) -> dict[str, float]:
    """Metrics of ``model`` on token rows ``ids`` (N, L) — see the module docstring."""
    from ..models.text import trim
    from ..nets.modes import eval_mode

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
            rec = (model.translate(sides(xb)[0]) if sides else model.decode(z))[:, :target.shape[1]]
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
            from ..likelihoods import log_marginal

            lp = log_marginal(model, x_all, n_samples=nll_samples).double()
            out.update({"nll_bound": float(-lp.mean()), "nll_bound_token": float(-lp.sum() / tokens),
                        "nll_samples": int(nll_samples)})
    return out


CHUNK = 256  # rows per forward pass: a file of any length goes through the network in pieces


def chunked(fn, rows: torch.Tensor) -> torch.Tensor:
    """``fn`` applied to ``rows`` CHUNK rows at a time (:func:`aekit.data.batches.batched`)."""
    from ..data.batches import batched

    return batched(fn, rows, CHUNK)


def split_items(texts: list, test_size: float, seed: int) -> tuple[list, list]:
    """(training items, test items): a seeded random split, the same every time."""
    order = np.random.default_rng(seed).permutation(len(texts))
    n_test = max(1, int(round(test_size * len(texts))))
    return [texts[i] for i in order[n_test:]], [texts[i] for i in order[:n_test]]


def token_rows(tok, items: list, lengths: list[int], pairs: bool) -> tuple[np.ndarray, int]:
    """Token rows of items (or of (source, target) pairs: the two sides side by side), and how
    many items were truncated."""
    if not pairs:
        enc = tok.encode(items, lengths[0])
        return enc.ids, int(enc.truncated)
    src, tgt = tok.encode([p[0] for p in items], lengths[0]), tok.encode([p[1] for p in items], lengths[1])
    return np.concatenate([src.ids, tgt.ids], 1), int(src.truncated + tgt.truncated)


def translation_metrics(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """Corpus BLEU and chrF (sacrebleu, its default tokenization) of the hypotheses, and BLEU's
    length ratio (hypothesis tokens over reference tokens: below 1, the translations are short,
    which BLEU's brevity penalty and chrF's recall both punish); empty with a warning where
    sacrebleu is not installed (pip install 'aekit[text]')."""
    try:
        import sacrebleu
    except ImportError:
        log.warning("BLEU and chrF need sacrebleu: pip install 'aekit[text]'")
        return {}
    bleu = sacrebleu.corpus_bleu(hypotheses, [references])
    return {"bleu": float(bleu.score), "chrf": float(sacrebleu.corpus_chrf(hypotheses, [references]).score),
            "length_ratio": float(bleu.sys_len / max(bleu.ref_len, 1)),
            "exact_match": float(np.mean([h.strip() == r.strip() for h, r in zip(hypotheses, references)]))}


def paired_bootstrap(baseline: list, system: list, references: list[str], n_samples: int = 1000,
                     seed: int = 12345) -> dict[str, dict[str, float]]:
    """Is `system` better than `baseline` on the same references? Paired bootstrap resampling
    (Koehn 2004) of corpus BLEU and chrF (sacrebleu, its defaults): `n_samples` resamples of the
    sentences, each system scored on the same resampled sentences; the p-value is two-sided, as
    sacrebleu computes it.

    `baseline` and `system` are each one list of hypotheses, or several (one per training seed,
    paired by position): the statistic is then the difference of the mean scores over the runs,
    every run scored on the same resampled sentences. This resamples the test sentences only; the
    spread over seeds enters through the mean of the runs given, so name at least two per side
    for a claim about a training method rather than about one trained model. With one run a side
    this is sacrebleu's ``PairedTest(..., test_type="bs")``, value for value, except that two
    sides with the same outputs get p = 1 (sacrebleu's count gives them its smallest p).

    Returns, per metric ("bleu", "chrf"): the mean score of each side over its runs
    ("baseline", "system"), "p", and "ci", the 95% half-width of the system's mean score."""
    try:
        from sacrebleu.metrics import BLEU, CHRF
        from sacrebleu.significance import _compute_p_value, estimate_ci
    except ImportError as e:
        raise AekitError("the paired bootstrap needs sacrebleu: pip install 'aekit[text]'") from e
    if not references:
        raise AekitError("paired_bootstrap: no references; give one reference per hypothesis")
    sides = {}
    for name, runs in (("baseline", baseline), ("system", system)):
        runs = [runs] if runs and isinstance(runs[0], str) else list(runs)
        if not runs:
            raise AekitError(f"paired_bootstrap: {name} has no hypotheses")
        for r in runs:
            if len(r) != len(references):
                raise AekitError(f"paired_bootstrap: a {name} run has {len(r)} hypotheses for "
                                 f"{len(references)} references; give one hypothesis per reference")
        sides[name] = runs
    if len(sides["baseline"]) != len(sides["system"]):
        raise AekitError(f"paired_bootstrap: {len(sides['baseline'])} baseline runs against "
                         f"{len(sides['system'])} system runs; pair them one to one (e.g. by seed)")
    idxs = np.random.default_rng(seed).choice(len(references), size=(n_samples, len(references)), replace=True)
    out = {}
    for key, metric in (("bleu", BLEU()), ("chrf", CHRF())):
        real, resampled = {}, {}
        for name, runs in sides.items():
            reals, samples = [], []
            for hyps in runs:
                stats = metric._extract_corpus_statistics(hyps, [references])
                reals.append(metric._aggregate_and_compute(stats).score)
                stats = np.array(stats, dtype="float32")
                samples.append([metric._compute_score_from_stats(s.sum(0)).score for s in stats[idxs]])
            real[name], resampled[name] = float(np.mean(reals)), np.mean(samples, axis=0)
        diffs = np.abs(resampled["system"] - resampled["baseline"])
        real_diff = abs(real["system"] - real["baseline"])
        # identical outputs: sacrebleu's count gives its smallest p (1/(n+1)); no difference is p = 1
        p = 1.0 if real_diff == 0 and not diffs.any() else _compute_p_value(diffs - diffs.mean(), real_diff)
        out[key] = {**real, "p": float(p), "ci": float(estimate_ci(resampled["system"])[1])}
    return out


class TextRun:
    """A trained text run: its model and tokenizer, and what the commands do with them."""

    def __init__(self, model, tokenizer, settings: dict, path: Path):
        self.model, self.tokenizer, self.settings, self.path = model, tokenizer, settings, path

    @classmethod
    def load(cls, run: str | os.PathLike, plugins=()) -> TextRun:
        from ..data.tokens import Tokenizer
        from ..models import load

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
        """Token rows (N, max_length) of ``texts``, longer items truncated (logged) or, for a run
        trained with ``truncate=False`` (``--no-truncate``), refused; for a translator, source
        rows with an empty target side."""
        enc = self.tokenizer.encode(texts, self.max_length)
        if enc.truncated and self.settings.get("truncate") is False:
            raise AekitError(f"{enc.truncated} of {len(enc.ids)} items are longer than the run's "
                             f"{self.max_length - 1} tokens, and {self.path} was trained with --no-truncate; "
                             "shorten them or split them into several items")
        if enc.truncated:
            log.warning("%d of %d items are longer than the run's %d tokens and were truncated",
                        enc.truncated, len(enc.ids), self.max_length)
        ids = torch.from_numpy(enc.ids)
        if self.pairs:
            ids = torch.cat([ids, torch.zeros(len(ids), self.model.output_length(), dtype=ids.dtype)], 1)
        return ids

    def translate(self, texts, beam: int = 1, length_penalty: float = 1.0, ensemble=(), mbr: int = 0,
                  epsilon: float = 0.02, seed: int = 0) -> list[str]:
        """The translations of ``texts`` (greedy, or the best of a ``beam`` search). ``ensemble``:
        other translator runs (:class:`TextRun`) with the same tokenizer and row layout, which
        decode together with this one (the mean of their next-token probabilities,
        :func:`aekit.models.translate_ensemble`). ``mbr`` > 0: minimum Bayes risk decoding
        (:mod:`aekit.tasks.mbr`): ``mbr`` ε-samples (``epsilon``, drawn with ``seed``) per
        sentence serve as pseudo-references, and of the beam's rows (the greedy row when
        ``beam`` is 1) and the samples, the one with the highest mean chrF against them is kept."""
        if not isinstance(mbr, int) or mbr < 0:
            raise AekitError(f"mbr: the number of samples is an integer ≥ 0 (0: no MBR), got {mbr!r}")
        if not 0.0 <= epsilon < 1.0:
            raise AekitError(f"epsilon: the smallest probability a sampled token may have, in [0, 1), got {epsilon}")
        for run in (self, *ensemble):
            if not run.pairs:
                raise AekitError(f"translate: {run.path} is a {type(run.model).__name__} run, not a translator; "
                                 "train one with aekit train --model seq2seq --data pairs.tsv --target-column 2")
        for run in ensemble:
            if run.tokenizer.backend.to_str() != self.tokenizer.backend.to_str():
                raise AekitError(f"ensemble: {run.path}'s tokenizer differs from {self.path}'s; the runs of an "
                                 "ensemble must be trained on the same data with the same tokenizer settings")
            mine, theirs = self.model.config, run.model.config
            if (theirs.source_length, tuple(theirs.input_shape)) != (mine.source_length, tuple(mine.input_shape)):
                raise AekitError(f"ensemble: {run.path}'s rows ({theirs.source_length} source tokens of "
                                 f"{theirs.input_shape[0]}) differ from {self.path}'s ({mine.source_length} of "
                                 f"{mine.input_shape[0]}); train them on the same pairs with the same --max-length")
        src = self.encode(texts)[:, :self.max_length]
        if mbr:
            return self._translate_mbr(src, beam, length_penalty, ensemble, mbr, epsilon, seed)
        if ensemble:
            from ..models.seq2seq import translate_ensemble

            models = [self.model, *(run.model for run in ensemble)]
            return self.tokenizer.decode(chunked(
                lambda c: translate_ensemble(models, c, beam=beam, length_penalty=length_penalty), src))
        return self.tokenizer.decode(chunked(
            lambda c: self.model.translate(c, beam=beam, length_penalty=length_penalty), src))

    def _translate_mbr(self, src, beam, length_penalty, ensemble, samples, epsilon, seed) -> list[str]:
        from ..models.seq2seq import ensemble_candidates
        from .mbr import mbr_translate

        kw = {"beam": beam, "samples": samples, "length_penalty": length_penalty, "epsilon": epsilon,
              "generator": torch.Generator().manual_seed(seed)}
        if ensemble:
            models = [self.model, *(run.model for run in ensemble)]
            return mbr_translate(lambda c: ensemble_candidates(models, c, **kw), src, self.tokenizer.decode, samples)
        return mbr_translate(lambda c: self.model.candidates(c, **kw), src, self.tokenizer.decode, samples)

    def _decode(self, z: torch.Tensor, **kw) -> list[str]:
        from ..nets.modes import eval_mode

        with eval_mode(self.model):
            return self.tokenizer.decode(chunked(lambda c: self.model.generate(c, **kw), z))

    def codes(self, texts) -> torch.Tensor:
        return chunked(self.model.transform, self.encode(texts))

    def reconstruct(self, texts) -> list[str]:
        """Greedy reconstructions (a translator's: translations) of ``texts``."""
        if self.pairs:
            return self.translate(texts)
        return self.tokenizer.decode(chunked(self.model.reconstruct, self.encode(texts)))

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

    def test_items(self) -> list:
        """The run's test items (a translator's: (source, target) pairs): its file read and
        split again as in training."""
        from ..data.text import read_text

        s = self.settings
        if not s.get("source") or not Path(s["source"]).exists():
            raise AekitError(f"{self.path}: the training file {s.get('source')} is not there to take the test items "
                             "from; pass --data FILE to evaluate on other items")
        got = read_text(s["source"], **s.get("read", {}))
        return split_items(list(zip(got.texts, got.targets)) if self.pairs else got.texts, s["test_size"], s["seed"])[1]

    def test_ids(self) -> np.ndarray:
        """Token rows of the run's test items."""
        test = self.test_items()
        if self.pairs:
            return token_rows(self.tokenizer, test, [self.max_length, self.model.output_length()], True)[0]
        return self.encode(test).numpy()

    def score(self, texts) -> np.ndarray:
        """One anomaly score per item: −log p(x | z) (seqae), −ELBO (sentence_vae), in nats."""
        if self.pairs:
            raise AekitError(f"detect: {self.path} is a translator, which scores pairs, not items; "
                             "detect unusual sentences with a seqae or sentence_vae run")
        return chunked(self.model.score, self.encode(texts)).double().numpy()
