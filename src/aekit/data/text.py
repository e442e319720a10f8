"""Text: items of text (sentences, paragraphs, quotations, translation pairs) read from files.

:func:`read_text` turns a file or a folder into :class:`TextData`, a list of strings (and,
for translation pairs, a list of targets beside them):

- a plain text file (any suffix but ``.csv``/``.tsv``): one item per line, trailing
  whitespace stripped; with ``separator`` (``"%"`` in fortune files) an item is the block of
  lines between two lines equal to the separator (``line.strip() == separator``), its lines
  joined with ``"\\n"`` and the block stripped at its ends. A final separator ends the last
  item: the nothing after it is no item;
- a ``.csv`` / ``.tsv`` file: the ``text_column`` (default 1) and optional ``target_column``.
  A column given as an int is numbered from 1; given as a name, the first row is the header.
  ``.tsv`` fields are never quoted (a ``"`` is text, as in most TSV corpora), ``.csv``
  fields follow the CSV quoting rules;
- a folder: its ``.txt`` and suffix-less files (fortune files have no suffix), hidden files
  left out, sorted by name, read with the same rules, items concatenated.

Empty items (and rows whose text or target is empty) are skipped, counted in
``TextData.skipped_empty`` and logged as one warning. A missing path, a file that holds no
items, a column that does not exist and bytes that are not valid for ``encoding`` (with the
line number) are refused with one line naming the file and the fix. Turning the items into
token ids is :class:`aekit.data.tokens.Tokenizer`'s job.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
from pathlib import Path

from ..errors import AekitError, close_matches

log = logging.getLogger("aekit.data.text")

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
FOLDER_SUFFIXES = (".txt", "")

__all__ = ["TextData", "read_text"]


@dataclasses.dataclass
class TextData:
    """Text items: ``texts`` (one string per item), ``targets`` (the other side of each pair,
    from ``target_column``, else None), the ``source`` file or folder, and ``skipped_empty``
    (empty items and rows left out)."""

    texts: list[str]
    targets: list[str] | None
    source: str
    skipped_empty: int = 0

    def __len__(self) -> int:
        return len(self.texts)

    def __repr__(self) -> str:
        n = len(self.texts)
        what = ("item" if self.targets is None else "pair") + ("" if n == 1 else "s")
        return f"TextData({self.source}: {n} {what}, {self.skipped_empty} empty skipped)"


def read_text(path, *, separator: str | None = None, text_column: str | int | None = None,
              target_column: str | int | None = None, encoding: str = "utf-8") -> TextData:
    """The text items of the file or folder ``path`` (the rules are in the module docstring).

    ``separator``: for plain text files, the line that separates items (one item per line
    without it). ``text_column`` / ``target_column``: for ``.csv`` / ``.tsv`` files, a column
    number counted from 1 (the file has no header) or a header name; ``target_column`` gives
    ``TextData.targets`` (e.g. the English side of German TAB English pairs). ``encoding``:
    the files' encoding (bytes that are not valid for it are refused).
    """
    path = Path(path)
    if not path.exists():
        raise AekitError(f"{path}: no such file or folder; check the path")
    if separator is not None and (not isinstance(separator, str) or not separator.strip()):
        raise AekitError(f"separator: give the line that separates items (e.g. '%'), got {separator!r}")
    for arg, col in (("text_column", text_column), ("target_column", target_column)):
        if col is not None and (isinstance(col, bool) or not isinstance(col, (int, str))
                                or (isinstance(col, int) and col < 1)):
            raise AekitError(f"{arg}: give a column number counted from 1 or a header name, got {col!r}")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                       and p.suffix.lower() in FOLDER_SUFFIXES)
        if not files:
            raise AekitError(f"{path}: a folder with no .txt or suffix-less text files; put the text files "
                             "in it, or pass one file")
        if text_column is not None or target_column is not None:
            raise AekitError(f"{path}: text_column/target_column apply to one .csv/.tsv file, not a folder; "
                             "pass the file")
        texts: list[str] = []
        skipped = 0
        for f in files:
            t, s = _read_plain(f, separator, encoding)
            texts += t
            skipped += s
        targets = None
    elif path.suffix.lower() in TABLE_SUFFIXES:
        if separator is not None:
            raise AekitError(f"{path}: separator applies to plain text files; a .csv/.tsv file has one item "
                             "per row (choose it with text_column)")
        texts, targets, skipped = _read_table(path, text_column, target_column, encoding)
    else:
        if text_column is not None or target_column is not None:
            raise AekitError(f"{path}: text_column/target_column apply to .csv/.tsv files; this file is read "
                             "as plain text (one item per line, or per separator block)")
        texts, skipped = _read_plain(path, separator, encoding)
        targets = None
    if not texts:
        if path.suffix.lower() in TABLE_SUFFIXES:
            how = "every row's text is empty"
        else:
            how = f"read as blocks separated by lines '{separator}'" if separator else "read as lines"
        raise AekitError(f"{path}: holds no text items ({how}); point read_text at text with items in it")
    if skipped:
        log.warning("%s: skipped %d empty item%s", path, skipped, "" if skipped == 1 else "s")
    return TextData(texts, targets, str(path), skipped)


def _decode(path: Path, encoding: str) -> str:
    """The file's text; bytes not valid for ``encoding`` are refused with their line number."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise AekitError(f"{path}: cannot be read ({e.strerror or e}); check its permissions") from None
    try:
        text = data.decode(encoding, errors="strict")
    except LookupError:
        raise AekitError(f"encoding: unknown encoding {encoding!r}; use a Python codec name such as "
                         "'utf-8' or 'latin-1'") from None
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise AekitError(f"{path}: line {line}: byte {data[e.start:e.start + 1].hex()} is not valid "
                         f"{encoding}; re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8) "
                         "or pass its encoding=...") from None
    return text.removeprefix("\ufeff")  # a byte order mark is no text


def _read_plain(path: Path, separator: str | None, encoding: str) -> tuple[list[str], int]:
    lines = _decode(path, encoding).split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the file's final newline ends the last line; it starts no item
    lines = [ln.removesuffix("\r") for ln in lines]
    if separator is None:
        items = [ln.rstrip() for ln in lines]
    else:
        items, block = [], []
        for ln in lines:
            if ln.strip() == separator:
                items.append("\n".join(block).strip())
                block = []
            else:
                block.append(ln)
        if block:  # text after the last separator (or a file without one) is an item; nothing after it is not
            items.append("\n".join(block).strip())
    texts = [t for t in items if t]
    return texts, len(items) - len(texts)


def _column(path: Path, arg: str, col, header: list[str] | None, width: int) -> int:
    """The 0-based index of ``col`` (a 1-based number or a header name)."""
    if isinstance(col, str):  # a name: the header was read
        if col in header:
            return header.index(col)
        shown = ", ".join(repr(h) for h in header[:20]) + (" …" if len(header) > 20 else "")
        raise AekitError(f"{path}: {arg} {col!r} is not a column{close_matches(col, header)}; columns: {shown}")
    if col > width:
        raise AekitError(f"{path}: {arg} {col} is past the last column; the file has {width} "
                         f"column{'' if width == 1 else 's'} (numbered from 1)")
    return col - 1


def _read_table(path: Path, text_column, target_column, encoding: str) -> tuple[list[str], list[str] | None, int]:
    text = _decode(path, encoding)
    delimiter = TABLE_SUFFIXES[path.suffix.lower()]
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting))
    except csv.Error as e:
        raise AekitError(f"{path}: not a readable {path.suffix} file ({e}); check its quoting") from None
    text_column = 1 if text_column is None else text_column
    named = isinstance(text_column, str) or isinstance(target_column, str)
    header = [h.strip() for h in rows[0]] if named and rows else None
    if named:
        rows = rows[1:]
    width = len(header) if header is not None else (len(rows[0]) if rows else 0)
    if not rows:
        raise AekitError(f"{path}: holds no text items (no rows{' below the header' if named else ''}); "
                         "point read_text at a file with text in it")
    ti = _column(path, "text_column", text_column, header, width)
    gi = None if target_column is None else _column(path, "target_column", target_column, header, width)
    texts, targets = [], ([] if gi is not None else None)
    skipped = 0
    for row in rows:
        t = row[ti].strip() if ti < len(row) else ""
        g = (row[gi].strip() if gi < len(row) else "") if gi is not None else None
        if not t or g == "":
            skipped += 1
            continue
        texts.append(t)
        if targets is not None:
            targets.append(g)
    return texts, targets, skipped

