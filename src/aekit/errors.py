"""User-facing errors.

Every error a user can fix derives from :class:`AekitError`. Its message is one line that
names what is wrong (the argument, file or field) and how to fix it; the CLI prints exactly
that line and exits non-zero, without a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class AekitError(ValueError):
    """A problem with the user's input: bad argument, data, file or configuration."""


def close_matches(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a close match exists, else an empty string."""
    found = difflib.get_close_matches(str(word), list(choices), n=2, cutoff=0.6)
    if not found:
        return ""
    return " (did you mean " + " or ".join(repr(f) for f in found) + "?)"


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> AekitError:
    choices = sorted(choices)
    return AekitError(
        f"unknown {kind} {name!r}{close_matches(name, choices)}; choose one of: "
        + ", ".join(choices)
    )
