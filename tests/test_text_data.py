"""Text data (aekit.data.text, aekit.data.tokens): reading the real fortunes and German–English
pairs, the rules for lines, separator blocks, table columns and folders, the catalogue of text a
reader refuses; the tokenizer's specials, row layout (tokens, EOS, PAD), truncation, exact
round trips (byte-level BPE, char) and the unigram one up to whitespace, saving and loading."""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from aekit.data.text import read_text
from aekit.data.tokens import BOS, EOS, KINDS, MASK, PAD, SPECIALS, UNK, Tokenizer
from aekit.errors import AekitError
from conftest import SHARED, need

pytestmark = pytest.mark.usefixtures("one_thread")

FORTUNES = SHARED / "text" / "fortunes"
PAIRS = SHARED / "text" / "trans-de-en" / "sentence_pairs.tsv"
N_FORTUNES = 14_397  # 14,396 fortunes + the folder's suffix-less `copyright` file, read as one item


@pytest.fixture(scope="module")
def fortunes() -> list[str]:
    return read_text(need(FORTUNES), separator="%").texts


@pytest.fixture(scope="module")
def corpus(fortunes) -> list[str]:
    """Every 7th fortune (2,057 items, from every file): tabs, newlines, backspaces, non-ASCII."""
    return fortunes[::7]


@pytest.fixture(scope="module")
def trained(corpus):
    cache = {}

    def get(kind: str) -> Tokenizer:
        if kind not in cache:
            cache[kind] = Tokenizer.train(corpus, kind=kind, vocab_size=2000)
        return cache[kind]

    return get


def write(path, data: str | bytes):
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# -- the real files -------------------------------------------------------------------------------
def test_the_fortunes_folder_reads_as_blocks_between_percent_lines(caplog):
    with caplog.at_level(logging.WARNING, logger="aekit.data.text"):
        data = read_text(need(FORTUNES), separator="%")
    assert len(data) == N_FORTUNES and data.targets is None
    assert all(t and t == t.strip() for t in data.texts)
    assert not any(line.strip() == "%" for t in data.texts for line in t.split("\n"))
    assert data.texts[0].startswith("7:30, Channel 5: The Bionic Dog (Action/Adventure)\n\tThe Bionic Dog")
    # four empty blocks ("%" twice in a row, or a file opening with "%") are skipped and logged
    assert data.skipped_empty == 4 and "skipped 4 empty items" in caplog.text
    # the data README's 14,395 is the number of "%" lines; five files end without a closing "%"
    # (their last fortune is an item all the same), four "%" lines close an empty block, and
    # `copyright` is a suffix-less file of the folder too
    files = [p for p in sorted(FORTUNES.iterdir()) if p.name != "copyright"]
    percent = sum(line == "%" for p in files for line in p.read_text(encoding="utf-8").split("\n"))
    unclosed = sum(p.read_text(encoding="utf-8").rstrip("\n").split("\n")[-1] != "%" for p in files)
    assert (percent, unclosed) == (14_395, 5)
    assert percent + unclosed - data.skipped_empty + len(read_text(FORTUNES / "copyright", separator="%")) == N_FORTUNES


def test_the_sentence_pairs_read_as_german_texts_and_english_targets():
    data = read_text(need(PAIRS), target_column=2)
    assert len(data) == len(data.targets) == 17_907 and data.skipped_empty == 0
    assert data.texts[0] == "Ich habe am ursprünglichen Entwurf ein paar Änderungen vorgenommen."
    assert data.targets[0] == "I’ve made one or two modifications to the original design."
    # a second opinion: every line split at its tab. TSV fields are not quoted: '"Proud" …' keeps its quotes
    lines = PAIRS.read_text(encoding="utf-8").splitlines()
    assert list(zip(data.texts, data.targets)) == [tuple(line.split("\t")) for line in lines]
    assert '"Proud" doesn\'t even begin to describe it!' in data.targets


# -- the reading rules ----------------------------------------------------------------------------
def test_a_plain_file_is_one_item_per_line_and_blank_lines_are_skipped(tmp_path):
    f = write(tmp_path / "a.txt", "first line  \r\n\n  indented\tline\n   \nlast")
    data = read_text(f)
    assert data.texts == ["first line", "  indented\tline", "last"] and data.skipped_empty == 2


def test_separator_blocks_are_stripped_at_their_ends_and_keep_their_inner_lines(tmp_path):
    f = write(tmp_path / "fortunes", "%\n\none\n  two\n\n  %  \n%\nthree\n\n\tfour\n%\n")
    data = read_text(f, separator="%")
    assert data.texts == ["one\n  two", "three\n\n\tfour"]
    assert data.skipped_empty == 2  # before the first "%" and between "  %  " and "%"; nothing after the last


def test_a_folder_reads_its_text_files_in_name_order(tmp_path):
    write(tmp_path / "b", "b1\nb2\n")
    write(tmp_path / "a.txt", "a1\n")
    write(tmp_path / ".hidden", "no\n")
    write(tmp_path / "c.csv", "no\n")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "d.txt", "no\n")
    assert read_text(tmp_path).texts == ["a1", "b1", "b2"]


def test_table_columns_by_number_or_by_header_name(tmp_path):
    f = write(tmp_path / "t.csv", 'id,text,label\n1,hello,a\n2,"quoted, with comma",b\n3,,c\n4,no label,\n')
    data = read_text(f, text_column="text", target_column="label")
    assert data.texts == ["hello", "quoted, with comma"] and data.targets == ["a", "b"]
    assert data.skipped_empty == 2
    g = write(tmp_path / "t.tsv", "x1\ty1\nx2\ty2\n")
    assert read_text(g).texts == ["x1", "x2"]  # column 1, no header
    assert read_text(g, text_column=2, target_column=1).targets == ["x1", "x2"]


def test_a_declared_encoding_reads_what_utf8_refuses(tmp_path):
    f = write(tmp_path / "latin.txt", "café\n".encode("latin-1"))
    assert read_text(f, encoding="latin-1").texts == ["café"]


# -- what the reader refuses ----------------------------------------------------------------------
CATALOGUE = [
    ("empty.txt", b"", {}, "holds no text items"),
    ("blank.txt", b"\n  \n\t\n\n", {}, "holds no text items"),
    ("only-separators", b"%\n%\n", {"separator": "%"}, "holds no text items"),
    ("header-only.csv", b"text,label\n", {"text_column": "text"}, "holds no text items"),
    ("names.csv", b"sentence,label\nx,y\n", {"text_column": "text"}, "'text' is not a column"),
    ("pairs.tsv", b"x\ty\n", {"target_column": 3}, "target_column 3 is past the last column; the file has 2"),
    ("latin1.txt", "café\n".encode("latin-1"), {}, "line 1: byte e9 is not valid utf-8; re-encode"),
    ("latin3.txt", "a\nb\ncafé\n".encode("latin-1"), {}, "line 3:"),
    ("plain.txt", b"x\n", {"target_column": 2}, "apply to .csv/.tsv files"),
]


@pytest.mark.parametrize("name, data, kwargs, message", CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_bad_text_is_refused_in_one_line_naming_the_file(tmp_path, name, data, kwargs, message):
    f = write(tmp_path / name, data)
    with pytest.raises(AekitError) as err:
        read_text(f, **kwargs)
    text = str(err.value)
    assert "\n" not in text and str(f) in text and message in text, text


def test_a_missing_path_and_an_empty_folder_are_refused_in_one_line(tmp_path):
    for path, message in ((tmp_path / "nope.txt", "no such file"), (tmp_path, "no .txt or suffix-less")):
        with pytest.raises(AekitError) as err:
            read_text(path)
        assert "\n" not in str(err.value) and str(path) in str(err.value) and message in str(err.value)


# -- the tokenizer --------------------------------------------------------------------------------
def test_the_special_ids_are_fixed_in_every_kind(trained):
    assert (PAD, BOS, EOS, UNK, MASK) == (0, 1, 2, 3, 4)
    assert SPECIALS == ("<pad>", "<bos>", "<eos>", "<unk>", "<mask>")
    for kind in KINDS:
        tok = trained(kind)
        assert tok.kind == kind and 5 < tok.vocab_size <= 2000
        assert [tok.backend.token_to_id(s) for s in SPECIALS] == [0, 1, 2, 3, 4]


def test_bpe_round_trips_its_corpus_and_unseen_text_exactly(trained, corpus):
    tok = trained("bpe")
    enc = tok.encode(corpus, max_length=int(tok.lengths(corpus).max()))
    assert enc.truncated == 0 and tok.decode(enc.ids) == corpus
    assert sum(any(ord(c) > 127 for c in t) for t in corpus) == 2 and sum("\t" in t for t in corpus) > 1000
    # byte-level: German and English it never saw (ü, Ä, ß, ’) come back too
    pairs = read_text(need(PAIRS), target_column=2)
    unseen = pairs.texts[:200] + pairs.targets[:200] + ["tab\there\nnew line  <eos> <pad> ü’"]
    assert tok.decode(tok.encode(unseen, max_length=256, truncate=False).ids) == unseen


def test_char_round_trips_its_corpus_exactly_and_reads_unseen_characters_as_unk(trained, corpus):
    tok = trained("char")
    enc = tok.encode(corpus, max_length=max(map(len, corpus)) + 1)
    assert enc.truncated == 0 and (enc.lengths == [len(t) + 1 for t in corpus]).all()
    assert tok.decode(enc.ids) == corpus
    assert tok.encode(["a\u2603b"], 8).ids[0, :3].tolist() == [tok.backend.token_to_id("a"), UNK,
                                                               tok.backend.token_to_id("b")]


def test_unigram_round_trips_its_corpus_up_to_runs_of_whitespace(trained, corpus):
    tok = trained("unigram")
    enc = tok.encode(corpus, max_length=int(tok.lengths(corpus).max()))
    assert enc.truncated == 0 and tok.decode(enc.ids) == [" ".join(t.split()) for t in corpus]


@pytest.mark.parametrize("kind", KINDS)
def test_rows_are_tokens_then_eos_then_padding_as_int64(trained, corpus, kind):
    tok = trained(kind)
    texts = corpus[:300]
    enc = tok.encode(texts, max_length=2048)
    assert enc.ids.dtype == np.int64 and enc.lengths.dtype == np.int64 and enc.ids.shape == (300, 2048)
    assert (enc.lengths == tok.lengths(texts)).all() and enc.truncated == 0
    pos = np.arange(2048)
    body = pos < (enc.lengths - 1)[:, None]
    assert (enc.ids[np.arange(300), enc.lengths - 1] == EOS).all()
    assert (enc.ids[pos >= enc.lengths[:, None]] == PAD).all()
    assert not np.isin(enc.ids[body], [PAD, BOS, EOS, MASK]).any()  # no BOS stored, no early EOS


@pytest.mark.parametrize("kind", KINDS)
def test_a_special_written_in_a_text_never_becomes_a_control_token(trained, kind):
    enc = trained(kind).encode(["a <eos> b <pad> c <bos> <mask>"], 64)
    n = int(enc.lengths[0])
    assert not np.isin(enc.ids[0, : n - 1], [PAD, BOS, EOS, MASK]).any() and enc.ids[0, n - 1] == EOS


def test_long_items_are_cut_and_counted_or_refused_by_index(trained, corpus):
    tok = trained("bpe")
    texts = corpus[:200]
    full = tok.lengths(texts)
    enc = tok.encode(texts, max_length=8)
    long = full > 8
    assert enc.truncated == int(long.sum()) > 0
    assert (enc.lengths == np.minimum(full, 8)).all() and (enc.ids[long, 7] == EOS).all()
    wide = tok.encode(texts, max_length=int(full.max()))
    assert (enc.ids[long, :7] == wide.ids[long, :7]).all()  # the item's first tokens, then EOS
    first = int(np.argmax(long))
    with pytest.raises(AekitError) as err:
        tok.encode(texts, max_length=8, truncate=False)
    text = str(err.value)
    assert "\n" not in text and f"item {first} has {full[first] - 1} tokens" in text and "max_length" in text


def test_suggested_max_length_is_the_quantile_of_the_lengths_capped(trained, corpus):
    tok = trained("bpe")
    n = tok.lengths(corpus)
    assert tok.suggest_max_length(corpus) == math.ceil(np.quantile(n, 0.99))
    assert tok.suggest_max_length(corpus, quantile=0.5, cap=10) == 10
    assert tok.suggest_max_length([""]) == 2


def test_decode_stops_at_eos_and_drops_pad_bos_and_mask(trained):
    tok = trained("char")
    a, b, c = (tok.backend.token_to_id(x) for x in "abc")
    rows = [[BOS, a, MASK, b, PAD, EOS, c, PAD], [c, PAD, PAD, PAD, PAD, PAD, PAD, PAD]]
    assert tok.decode(rows) == ["ab", "c"]
    assert tok.decode(torch.tensor(rows)) == tok.decode(np.array(rows)) == ["ab", "c"]
    with pytest.raises(AekitError, match="rows"):
        tok.decode(np.array(rows[0]))


def test_tokenizer_arguments_are_checked():
    with pytest.raises(AekitError, match="choose one of: bpe, char, unigram"):
        Tokenizer.train(["x"], kind="wordpiece")
    with pytest.raises(AekitError, match="vocab_size"):
        Tokenizer.train(["x"], vocab_size=5)
    with pytest.raises(AekitError, match="raise vocab_size"):
        Tokenizer.train(["Hello World"], kind="unigram", vocab_size=6)
    tok = Tokenizer.train(["abc"], kind="char", vocab_size=10)
    with pytest.raises(AekitError, match="max_length"):
        tok.encode(["abc"], max_length=1)


# -- saving and loading ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_save_and_load_give_the_same_tokenizer(tmp_path, trained, corpus, kind):
    from tokenizers import Tokenizer as HFTokenizer

    tok = trained(kind)
    path = tok.save(tmp_path / "tokenizer.json")
    assert sorted(os.listdir(tmp_path)) == ["tokenizer.json"]  # no temporary file left
    same = Tokenizer.load(path)
    assert (same.kind, same.vocab_size) == (kind, tok.vocab_size)
    texts = corpus[:300] + ["a <eos> b"]
    assert (same.encode(texts, 128).ids == tok.encode(texts, 128).ids).all()
    assert HFTokenizer.from_file(str(path)).get_vocab_size() == tok.vocab_size  # the plain tokenizers file


def test_a_corrupt_or_missing_tokenizer_file_is_refused_in_one_line(tmp_path, trained):
    good = trained("char").save(tmp_path / "good.json").read_text()
    for name, text in (("garbage.json", "{not json"), ("half.json", good[: len(good) // 2]),
                       ("other.json", '{"model": {"type": "BPE"}}')):
        f = write(tmp_path / name, text)
        with pytest.raises(AekitError) as err:
            Tokenizer.load(f)
        assert "\n" not in str(err.value) and str(f) in str(err.value) and "Tokenizer.save" in str(err.value)
    with pytest.raises(AekitError, match="no such tokenizer file"):
        Tokenizer.load(tmp_path / "absent.json")


def test_a_failed_save_leaves_nothing_half_written(tmp_path, trained, monkeypatch):
    tok = trained("char")
    with pytest.raises(AekitError, match="does not exist"):
        tok.save(tmp_path / "missing" / "tokenizer.json")
    assert os.listdir(tmp_path) == []
    target = write(tmp_path / "tokenizer.json", "the previous file")

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        tok.save(target)
    assert os.listdir(tmp_path) == ["tokenizer.json"] and target.read_text() == "the previous file"


def test_importing_aekit_data_does_not_import_tokenizers():
    code = "import sys, aekit, aekit.data; aekit.Tokenizer; assert 'tokenizers' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
