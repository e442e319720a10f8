"""Minimum Bayes risk decoding (aekit.tasks.mbr): the chrF utility equals sacrebleu's sentence
chrF, and the selection keeps the candidate the pseudo-references agree with."""

from __future__ import annotations

import random

import pytest
import torch

import aekit
from aekit.tasks.mbr import chrf_stats, mbr_select, mbr_translate, sentence_chrf


def test_sentence_chrf_equals_sacrebleus_on_real_and_edge_case_sentences():
    sacrebleu = pytest.importorskip("sacrebleu", reason="the reference chrF is sacrebleu's: pip install 'aekit[text]'")
    rng = random.Random(0)
    words = ["the", "cat", "sat", "on", "mat", "Tom", "isn't", "here", ".", ",", "!", "naïve", "Größe", "a", "I",
             "don't", "know", "(hi)", "x"]
    pairs = [("", ""), ("", "a"), ("a", ""), ("a", "a"), ("ab", "a"), ("a b", "ab"), ("  ", "x"),
             ("Tom isn't here.", "Tom is not here."), ("I don't know.", "I do not know!")]
    for _ in range(300):
        pairs.append((" ".join(rng.choices(words, k=rng.randint(0, 12))),
                      " ".join(rng.choices(words, k=rng.randint(0, 12)))))
    for h, r in pairs:
        want = sacrebleu.sentence_chrf(h, [r]).score
        assert sentence_chrf(chrf_stats(h), chrf_stats(r)) == pytest.approx(want, abs=1e-9), (h, r)


def test_mbr_select_keeps_the_consensus_and_the_first_of_equals():
    refs = ["the cat sat on the mat .", "the cat sat on a mat .", "a cat sat on the mat ."]
    cands = ["dogs bark loudly .", "the cat sat on the mat .", "the cat is on the mat ."]
    assert mbr_select(cands, refs) == 1
    assert mbr_select(["same words", "same words"], ["same words"]) == 0  # a tie keeps the first
    # the pick depends on the references: agreeing with the other two outweighs matching one exactly
    assert mbr_select(["xyz", "abc def", "abc deg"], ["abc def", "abc deg", "abc deh"]) in (1, 2)
    assert mbr_select(["abc def", "xyz"], ["xyz", "xyz", "abc def"]) == 1
    with pytest.raises(aekit.AekitError, match="candidate"):
        mbr_select([], refs)


def test_mbr_translate_picks_per_source_from_its_own_candidates():
    """Each source's candidates are compared with its own last `samples` rows, chunk by chunk."""
    vocab = {1: "a", 2: "b", 3: "c", 4: "d"}

    def decode(rows):
        return [" ".join(vocab[int(t)] for t in r if int(t)) for r in rows]

    def candidates(src):  # per source row s: candidates [s, s+1], samples [s+1, s+1, s]
        s = src[:, :1]
        return torch.stack([s, s + 1, s + 1, s + 1, s], 1)  # (B, 5, 1)

    src = torch.tensor([[1], [2], [3]])
    assert mbr_translate(candidates, src, decode, samples=3, chunk=2) == ["b", "c", "d"]
    with pytest.raises(aekit.AekitError, match="samples"):
        mbr_translate(candidates, src, decode, samples=0)
