"""The registry of file readers: a format is a name, the file names it claims, and a function.

A reader is ``fn(path, *, key, label_column, image_size, mmap) -> (x, y or None, info)``:
features as an array ``(N, ...)``, labels (one per sample) or ``None``, and a dict of facts
worth keeping in ``config.json`` (column names, class names …). ``key`` picks an array
inside an archive and ``mmap`` asks for a memory map where the format allows one; a reader is
free to ignore either. ``--label-column`` and ``--image-size`` are refused for a reader that
does not list them in ``takes``, so a misplaced option is an error rather than a no-op.

Detection (:func:`detect_format`): a folder is ``images``; a file is matched by the end of
its name (longest suffix first, case-insensitive), then by its first bytes, each reader's
``sniff(head)`` in turn: readers a user registered first, then the built-in ones (binary
formats before the text tables, which accept anything without a NUL byte). The built-in
formats are registered in :mod:`aekit.data.files`; a user's own format::

    from aekit.data import register_reader

    @register_reader("spectra", suffixes=(".spc",))
    def read_spectra(path, *, key, label_column, image_size, mmap):
        x = np.loadtxt(path, skiprows=1)
        return x, None, {}

after which ``--data file.spc`` trains, evaluates, detects and converts like any file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from ..errors import AekitError

OPTIONS = ("label_column", "image_size")  # the options a reader must say it takes
HEAD_BYTES = 520  # enough for every built-in magic number (HDF5 may sit behind a 512-byte user block)


@dataclasses.dataclass(frozen=True)
class Reader:
    name: str
    fn: Callable
    suffixes: tuple[str, ...] = ()
    takes: tuple[str, ...] = ()
    sniff: Callable[[bytes], bool] | None = None
    folder: bool = False
    builtin: bool = False


READERS: dict[str, Reader] = {}


def register_reader(name: str, suffixes: tuple[str, ...] | list[str] = (), *, takes: tuple[str, ...] | list[str] = (),
                    sniff: Callable[[bytes], bool] | None = None, folder: bool = False, builtin: bool = False):
    """Decorator: register ``fn`` as the reader of format ``name``.

    ``suffixes``: file name endings it claims (``".spc"``, ``".spc.gz"``, ``"-ubyte"``).
    ``takes``: which of ``label_column`` / ``image_size`` it uses. ``sniff(head)``: true when
    the first bytes of a file of unknown name are this format. ``folder``: it reads folders
    (chosen with ``fmt=`` / ``--format``; a folder otherwise reads as ``images``).
    A name or suffix that is registered already is refused.
    """
    if not isinstance(name, str) or not name or name != name.strip():
        raise AekitError(f"register_reader: the format name must be a non-empty string, got {name!r}")
    if name in READERS:
        raise AekitError(f"register_reader: a reader named {name!r} is registered already; choose another name")
    if isinstance(suffixes, str):
        suffixes = (suffixes,)
    suffixes = tuple(s.lower() for s in suffixes)
    for s in suffixes:
        if not s or s != s.strip():
            raise AekitError(f"register_reader: {name!r}: bad suffix {s!r}; give file name endings such as '.spc'")
        owner = next((r.name for r in READERS.values() if s in r.suffixes), None)
        if owner is not None:
            raise AekitError(f"register_reader: {name!r}: files ending in {s!r} are read by {owner!r} already; "
                             f"choose another suffix or pass fmt={name!r} / --format {name}")
    bad = [t for t in takes if t not in OPTIONS]
    if bad:
        raise AekitError(f"register_reader: {name!r}: takes={list(takes)}: {bad[0]!r} is not one of {', '.join(OPTIONS)}")

    def deco(fn: Callable) -> Callable:
        READERS[name] = Reader(name, fn, suffixes, tuple(takes), sniff, folder, builtin)
        return fn

    return deco


def names() -> list[str]:
    """Registered format names, built-in ones first."""
    return list(READERS)


def get(fmt: str) -> Reader:
    if fmt not in READERS:
        raise AekitError(f"--format: unknown format {fmt!r}; choose one of {', '.join(READERS)}")
    return READERS[fmt]


def by_suffix(name: str) -> str | None:
    """The format whose longest registered suffix ends ``name`` (lower case), or None."""
    best, fmt = 0, None
    for r in READERS.values():
        for s in r.suffixes:
            if len(s) > best and name.endswith(s):
                best, fmt = len(s), r.name
    return fmt


def detect_format(path: str | Path) -> str:
    """The format of ``path``: a folder is ``images``; a file by its name, else by its content."""
    path = Path(path)
    if path.is_dir():
        return "images"
    fmt = by_suffix(path.name.lower())
    if fmt is not None:
        return fmt
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
    except OSError as e:
        raise AekitError(f"--data: cannot read {path} ({e.strerror})") from None
    if not head:
        raise AekitError(f"--data: {path} is empty (0 bytes); point --data at a file with data in it")
    for r in sorted(READERS.values(), key=lambda r: r.builtin):  # the user's first: they are the more specific
        if r.sniff is not None and r.sniff(head):
            return r.name
    raise AekitError(
        f"--data: cannot tell the format of {path}; name it with an extension or pass --format "
        f"({', '.join(READERS)})"
    )
