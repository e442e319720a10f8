"""Tokens: text items ↔ rows of token ids, through a Hugging Face ``tokenizers`` tokenizer.

:class:`Tokenizer` trains one of three kinds on a corpus (``Tokenizer.train(texts, kind=...)``):

- ``"bpe"``: byte-level BPE (GPT-2's scheme): text as UTF-8 bytes, merges learned from the
  corpus. Every string is encodable and ``decode(encode(t))`` gives ``t`` back exactly —
  newlines, tabs, "ü", "’" included. The 256 bytes are always in the vocabulary, so the
  actual vocabulary is at least 261 whatever ``vocab_size`` asks for;
- ``"unigram"``: a SentencePiece-style unigram model over words marked with ``▁``. Runs of
  whitespace (newlines and tabs included) become one space and the ends are stripped before
  encoding, so the round trip gives ``" ".join(t.split())``, not ``t``; a character never
  seen in training is UNK;
- ``"char"``: one token per character, the ``vocab_size − 5`` most frequent characters of the
  corpus; a character outside them is UNK. Exact round trip on text made of them.

The first five ids are the specials, in every kind (the text families depend on the numbers):
PAD 0, BOS 1, EOS 2, UNK 3, MASK 4. ``encode`` lays an item out as its tokens, EOS, then PAD
up to ``max_length``; no BOS is stored (a decoder prepends it). An item longer than
``max_length − 1`` tokens is cut to that and counted (or refused, with ``truncate=False``).
A special written in a text (``"<eos>"``) is text: byte-level BPE and char encode it as its
characters; a unigram model may match it as a piece, which ``encode`` turns into UNK.

``save`` writes the ``tokenizers`` JSON itself (``tokenizer.json``, readable by
``tokenizers.Tokenizer.from_file``), atomically; ``load`` reads the kind back from the model
type. ``tokenizers`` is imported when a tokenizer is trained or loaded, not on import.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np

from ..errors import AekitError, unknown_name
from ..io import write_text

PAD, BOS, EOS, UNK, MASK = 0, 1, 2, 3, 4
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>", "<mask>")
KINDS = ("bpe", "unigram", "char")
_CONTROL = (PAD, BOS, EOS, MASK)  # ids that only encode() and the models place
_MODEL_KIND = {"BPE": "bpe", "Unigram": "unigram", "WordLevel": "char"}  # tokenizer.json model type → kind

__all__ = ["Tokenizer", "Encoded", "PAD", "BOS", "EOS", "UNK", "MASK", "SPECIALS", "KINDS"]


@dataclasses.dataclass
class Encoded:
    """Rows of token ids: ``ids`` (N, max_length) int64, each the item's tokens, EOS, then PAD;
    ``lengths`` (N,) int64, the tokens of each row including its EOS; ``truncated``, how many
    items were cut to ``max_length − 1`` tokens."""

    ids: np.ndarray  # (N, max_length) int64
    lengths: np.ndarray  # (N,) int64
    truncated: int = 0


def _texts(texts, arg: str = "texts") -> list[str]:
    if isinstance(texts, str):
        return [texts]
    try:
        texts = list(texts)
    except TypeError:
        raise AekitError(f"{arg}: give a list of strings, got a {type(texts).__name__}") from None
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise AekitError(f"{arg}: item {i} is a {type(t).__name__}, not a string; pass text items "
                             "(e.g. read_text(...).texts)")
    return texts


class Tokenizer:
    """A trained tokenizer (see the module docstring); make one with :meth:`train` or :meth:`load`."""

    def __init__(self, tokenizer, kind: str):
        if kind not in KINDS:
            raise unknown_name("tokenizer kind", kind, KINDS)
        for i, name in enumerate(SPECIALS):
            if tokenizer.token_to_id(name) != i:
                raise AekitError(f"the tokenizer holds {name} at id {tokenizer.token_to_id(name)}, not {i}; "
                                 "aekit's tokenizers keep the specials at ids 0-4: train one with Tokenizer.train")
        try:
            tokenizer.encode_special_tokens = True  # "<eos>" written in a text is text, not EOS
        except AttributeError:  # tokenizers < 0.15.1: encode() turns such ids into UNK
            pass
        self._tok = tokenizer
        self._kind = kind

    # -- training --------------------------------------------------------------------------------
    @classmethod
    def train(cls, texts, kind: str = "bpe", vocab_size: int = 8000, lowercase: bool = False) -> Tokenizer:
        """A ``kind`` tokenizer ("bpe", "unigram" or "char") of about ``vocab_size`` tokens
        (specials included) learned from ``texts``; ``lowercase`` folds case first."""
        from tokenizers import Regex, decoders, models, normalizers, pre_tokenizers, trainers
        from tokenizers import Tokenizer as HFTokenizer

        if kind not in KINDS:
            raise unknown_name("tokenizer kind", kind, KINDS)
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size <= len(SPECIALS):
            raise AekitError(f"vocab_size: must be an integer > {len(SPECIALS)} (the special tokens and at least "
                             f"one more), got {vocab_size!r}")
        texts = _texts(texts)
        if not any(texts):
            raise AekitError("texts: no text to train the tokenizer on; pass read_text(...).texts")
        vocab_size = int(vocab_size)
        norms = [normalizers.Lowercase()] if lowercase else []
        if kind == "bpe":
            tok = HFTokenizer(models.BPE())
            tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
            tok.decoder = decoders.ByteLevel()
            trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIALS), show_progress=False,
                                          initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        elif kind == "unigram":
            tok = HFTokenizer(models.Unigram())
            norms += [normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()]
            tok.pre_tokenizer = pre_tokenizers.Metaspace()
            tok.decoder = decoders.Metaspace()
            trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=list(SPECIALS),
                                              unk_token=SPECIALS[UNK], show_progress=False)
        else:  # char: the most frequent characters, counted here (no merges to learn)
            counts = Counter()
            for t in texts:
                counts.update(t.lower() if lowercase else t)
            chars = sorted(counts, key=lambda c: (-counts[c], c))[: vocab_size - len(SPECIALS)]
            vocab = {s: i for i, s in enumerate(SPECIALS)} | {c: len(SPECIALS) + i for i, c in enumerate(chars)}
            tok = HFTokenizer(models.WordLevel(vocab, unk_token=SPECIALS[UNK]))
            tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
            tok.decoder = decoders.Fuse()
            trainer = None
        if norms:
            tok.normalizer = normalizers.Sequence(norms)
        if trainer is not None:
            try:
                tok.train_from_iterator(texts, trainer, length=len(texts))
            except Exception as e:  # tokenizers raises a bare Exception, e.g. for a vocabulary below the alphabet
                why = str(e).splitlines()[0] if str(e) else type(e).__name__
                raise AekitError(f"vocab_size: a {kind} tokenizer of {vocab_size} tokens cannot be trained on these "
                                 f"texts ({why}); raise vocab_size") from None
        tok.add_special_tokens(list(SPECIALS))  # never split, never merged into other tokens
        return cls(tok, kind)

    # -- properties ------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self._kind

    @property
    def vocab_size(self) -> int:
        """The number of token ids (specials included): a model's ``vocab_size``."""
        return self._tok.get_vocab_size(with_added_tokens=True)

    @property
    def backend(self):
        """The wrapped ``tokenizers.Tokenizer``."""
        return self._tok

    def __repr__(self) -> str:
        return f"Tokenizer({self._kind}, {self.vocab_size} tokens)"

    # -- encoding --------------------------------------------------------------------------------
    def _ids(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self._tok.encode_batch(texts, add_special_tokens=False)]

    def encode(self, texts, max_length: int, *, truncate: bool = True) -> Encoded:
        """Rows (N, max_length) of token ids: each item's tokens, EOS, PAD. An item of more than
        ``max_length − 1`` tokens is cut to that many (``Encoded.truncated`` counts them), or
        refused with ``truncate=False``."""
        if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)) or max_length < 2:
            raise AekitError(f"max_length: must be an integer ≥ 2 (at least one token and EOS), got {max_length!r}")
        texts = _texts(texts)
        max_length = int(max_length)
        ids = np.full((len(texts), max_length), PAD, dtype=np.int64)
        lengths = np.empty(len(texts), dtype=np.int64)
        truncated = 0
        room = max_length - 1
        for i, row in enumerate(self._ids(texts)):
            if len(row) > room:
                if not truncate:
                    raise AekitError(f"texts: item {i} has {len(row)} tokens, more than max_length − 1 = {room}; "
                                     "raise --max-length / max_length (or encode with truncate=True)")
                row = row[:room]
                truncated += 1
            ids[i, : len(row)] = row
            ids[i, len(row)] = EOS
            lengths[i] = len(row) + 1
        # a special written in a text ("<eos>") that a unigram model matched as a piece is no control token
        body = np.arange(max_length) < (lengths - 1)[:, None]
        ids[body & np.isin(ids, _CONTROL)] = UNK
        return Encoded(ids, lengths, truncated)

    def lengths(self, texts) -> np.ndarray:
        """Tokens of each item plus its EOS (N,) int64: the row length it needs."""
        return np.array([len(r) + 1 for r in self._ids(_texts(texts))], dtype=np.int64)

    def suggest_max_length(self, texts, quantile: float = 0.99, cap: int = 512) -> int:
        """A ``max_length`` that holds ``quantile`` of the items whole: the quantile of
        :meth:`lengths`, rounded up, at most ``cap`` and at least 2."""
        if not 0 < quantile <= 1:
            raise AekitError(f"quantile: must be in (0, 1], got {quantile!r}")
        n = self.lengths(texts)
        if not len(n):
            raise AekitError("texts: no items to measure; pass the texts you will encode")
        return max(2, min(int(cap), math.ceil(float(np.quantile(n, quantile)))))

    def decode(self, ids) -> list[str]:
        """Strings from rows of ids (N, L) (an array, a tensor or a list of lists): each row read
        up to its first EOS, PAD/BOS/MASK dropped; an UNK reads ``<unk>``."""
        if hasattr(ids, "detach"):  # a torch tensor, without importing torch
            ids = ids.detach().cpu().numpy()
        if isinstance(ids, np.ndarray):
            if ids.ndim != 2 or not (np.issubdtype(ids.dtype, np.integer) or ids.size == 0):
                raise AekitError(f"ids: decode takes rows of integer token ids (N, L), got {ids.dtype} of shape "
                                 f"{ids.shape}; pass [row] for one row")
            ids = ids.tolist()
        elif not all(isinstance(r, (list, tuple)) for r in ids):
            raise AekitError("ids: decode takes rows of token ids (a list of lists or an (N, L) array); "
                             "pass [row] for one row")
        n = self.vocab_size
        rows = []
        for i, row in enumerate(ids):
            row = list(row)
            if EOS in row:
                row = row[: row.index(EOS)]
            bad = [t for t in row if not isinstance(t, (int, np.integer)) or not 0 <= t < n]
            if bad:
                raise AekitError(f"ids: row {i} holds {bad[0]!r}, not a token id of this tokenizer (0 … {n - 1})")
            rows.append([int(t) for t in row if t not in (PAD, BOS, MASK)])
        return self._tok.decode_batch(rows, skip_special_tokens=False)

    # -- files -----------------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write the tokenizer to ``path`` (e.g. ``run/tokenizer.json``) atomically: a temporary
        file in the same folder, then renamed over ``path``."""
        path = Path(path)
        if not path.parent.is_dir():
            raise AekitError(f"{path}: the folder {path.parent} does not exist; create it first")
        text = self._tok.to_str()
        write_text(path, text)
        return path

    @classmethod
    def load(cls, path) -> Tokenizer:
        """The tokenizer saved at ``path`` by :meth:`save`."""
        from tokenizers import Tokenizer as HFTokenizer

        path = Path(path)
        if not path.is_file():
            raise AekitError(f"{path}: no such tokenizer file; check the path (Tokenizer.save writes one)")
        fix = "save it again with Tokenizer.save, or train a new one"
        try:
            text = path.read_text(encoding="utf-8")
            kind = _MODEL_KIND.get(json.loads(text)["model"]["type"])
            tok = HFTokenizer.from_str(text)
        except Exception as e:  # tokenizers raises its own exception types
            why = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise AekitError(f"{path}: not a readable tokenizer file ({why[:120]}); {fix}") from None
        if kind is None:
            raise AekitError(f"{path}: a tokenizer of a kind aekit does not train (model type "
                             f"{json.loads(text)['model']['type']!r}); {fix}")
        try:
            return cls(tok, kind)
        except AekitError as e:
            raise AekitError(f"{path}: {e}") from None
