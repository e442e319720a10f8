"""Minimum Bayes risk (MBR) decoding of translations (Kumar & Byrne 2004; Eikema & Aziz 2020;
Freitag et al. 2022).

Beam search keeps the translation the model finds most likely; MBR keeps the one expected to
score best. For each source, a translator proposes candidates h (the beam's rows and draws)
and draws pseudo-references y ~ p(y | x); the translation kept is

    ĥ = argmax_h  (1/N) Σ_n u(h, y_n)

with u the sentence-level chrF (Popović 2015). The draws stand for the references the model
expects, so the pick is the candidate that agrees most with what the model would say: the
consensus, not the mode. No reference translation is read.

:func:`sentence_chrf` is sacrebleu's sentence chrF with its defaults (character n-grams of
orders 1–6 with whitespace removed, β = 2, no word n-grams, sacrebleu ≥ 2's effective-order
averaging). It works on n-gram counts computed once per distinct string (:func:`chrf_stats`),
however many comparisons the string enters. A test holds it equal to sacrebleu's
``sentence_chrf``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import torch

from ..errors import AekitError

CHAR_ORDER = 6  # sacrebleu's chrF defaults
BETA = 2.0


def chrf_stats(text: str) -> list[Counter]:
    """The character n-gram counts of ``text`` for orders 1..6, whitespace removed."""
    line = "".join(text.split())
    return [Counter(line[i:i + n] for i in range(len(line) - n + 1)) for n in range(1, CHAR_ORDER + 1)]


def sentence_chrf(hyp: list[Counter], ref: list[Counter]) -> float:
    """Sentence-level chrF (0–100) of a hypothesis against one reference, from their
    :func:`chrf_stats`: sacrebleu's ``sentence_chrf`` with its defaults."""
    factor = BETA ** 2
    prec_sum = rec_sum = 0.0
    orders = 0
    for h, r in zip(hyp, ref):
        if not h or not r:  # an order missing on either side leaves the average (effective order)
            continue
        n_hyp, n_ref = sum(h.values()), sum(r.values())
        match = sum(min(c, r[g]) for g, c in h.items() if g in r)
        prec_sum += match / n_hyp
        rec_sum += match / n_ref
        orders += 1
    if not orders:
        return 0.0
    prec, rec = prec_sum / orders, rec_sum / orders
    if prec + rec == 0:
        return 0.0
    return 100.0 * (1 + factor) * prec * rec / (factor * prec + rec)


def mbr_select(candidates: Sequence[str], references: Sequence[str]) -> int:
    """Index of the candidate with the highest mean chrF against the pseudo-references (the
    first such candidate on a tie)."""
    if not candidates or not references:
        raise AekitError("mbr_select: give at least one candidate and one pseudo-reference")
    cache: dict[str, list[Counter]] = {}

    def stats(s: str) -> list[Counter]:
        if s not in cache:
            cache[s] = chrf_stats(s)
        return cache[s]

    refs = [stats(r) for r in references]
    utility: dict[str, float] = {}
    best, best_u = 0, -1.0
    for i, c in enumerate(candidates):
        if c not in utility:  # a candidate drawn several times is scored once
            h = stats(c)
            utility[c] = sum(sentence_chrf(h, r) for r in refs) / len(refs)
        if utility[c] > best_u:
            best, best_u = i, utility[c]
    return best


def mbr_translate(candidates: Callable[[torch.Tensor], torch.Tensor], source: torch.Tensor, decode, samples: int,
                  chunk: int = 32) -> list[str]:
    """MBR translations of source token rows. ``candidates(rows)`` gives (B, N, L) candidate
    token rows per chunk of ``chunk`` sources, its last ``samples`` rows the draws that serve as
    pseudo-references (:meth:`aekit.models.Seq2Seq.candidates`); ``decode`` turns token rows
    into strings (a tokenizer's ``decode``). A progress bar runs on a terminal."""
    from tqdm.auto import tqdm

    if samples < 1:
        raise AekitError(f"samples: MBR needs at least one sampled pseudo-reference, got {samples}")
    out = []
    with tqdm(total=len(source), desc=f"MBR, {samples} samples", unit="sentence", leave=False, disable=None) as bar:
        for part in source.split(chunk):
            for r in candidates(part):
                texts = decode(r)
                out.append(texts[mbr_select(texts, texts[-samples:])])
            bar.update(len(part))
    return out
