"""Frozen, validated configuration dataclasses.

A family's config is the twin of its ``__init__`` signature: typed fields with defaults,
validated once in ``__post_init__``, never mutated afterwards, serialized to JSON.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Union, get_args, get_origin, get_type_hints

from .errors import AekitError, close_matches


def option(default: Any = dataclasses.MISSING, help: str = "", **kwargs: Any) -> Any:
    """A config field with its help text, ``latent_dim: int = option(32, "code size")``: a
    ``dataclasses.field`` whose ``metadata["help"]`` documents the option, and from which
    ``aekit train`` builds its flag (``--latent-dim``, typed from the annotation)."""
    return dataclasses.field(default=default, metadata={"help": help}, **kwargs)


def check(cond: bool, field: str, message: str) -> None:
    """Raise a one-line :class:`AekitError` naming ``field`` when ``cond`` is false."""
    if not cond:
        raise AekitError(f"{field}: {message}")


def as_mapping(value: Any, field: str) -> dict:
    """``value`` as a dict of options: a mapping, or a flag's JSON text ('{"causal": true}')."""
    return _coerce(value, dict, field)


def _coerce(value: Any, hint: Any, field: str) -> Any:
    """Coerce JSON/YAML/CLI values to the annotated type (lists → tuples, ints → floats)."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if value is None:
            if type(None) in get_args(hint):
                return None
            raise AekitError(f"{field}: a value is required, got None")
        errors = []
        for a in args:
            try:
                return _coerce(value, a, field)
            except AekitError as e:
                errors.append(str(e))
        raise AekitError(errors[0])
    if origin is typing.Literal:
        choices = get_args(hint)
        if isinstance(value, bool) and ("on" if value else "off") in choices:
            value = "on" if value else "off"  # YAML reads a bare on/off as a boolean
        if value not in choices:
            raise AekitError(
                f"{field}: {value!r} is not one of {', '.join(map(repr, choices))}"
                + close_matches(str(value), [str(c) for c in choices])
            )
        return value
    if origin is tuple:
        if isinstance(value, str):
            value = [v for v in value.replace(" ", "").split(",") if v]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise AekitError(f"{field}: expected a list, got {type(value).__name__} {value!r}")
        args = get_args(hint)
        item = args[0] if args else Any
        return tuple(_coerce(v, item, f"{field}[{i}]") for i, v in enumerate(value))
    if hint is dict or origin is dict:
        if isinstance(value, str):  # a flag's JSON text, e.g. --net-options '{"width": 8}'
            import json

            try:
                value = json.loads(value) if value.strip() else {}
            except ValueError as e:
                raise AekitError(f"{field}: expected a JSON mapping such as '{{\"width\": 8}}', got {value!r} ({e})") from None
        if not isinstance(value, dict):
            raise AekitError(f"{field}: expected a mapping of options, got {type(value).__name__} {value!r}")
        return dict(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise AekitError(f"{field}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise AekitError(f"{field}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise AekitError(f"{field}: expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, bool):
            raise AekitError(f"{field}: expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise AekitError(f"{field}: expected a number, got {value!r}")
    if hint is str:
        if not isinstance(value, str):
            raise AekitError(f"{field}: expected a string, got {value!r}")
        return value
    return value


@dataclasses.dataclass(frozen=True)
class Config:
    """Base of every aekit config: frozen, typed, validated, JSON round-trippable."""

    def __post_init__(self) -> None:
        hints = get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = _coerce(getattr(self, f.name), hints[f.name], f.name)
            object.__setattr__(self, f.name, value)
        self.validate()

    def validate(self) -> None:  # overridden by subclasses
        """Check ranges; raise :class:`AekitError` with the field name and the fix."""

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "config") -> Config:
        if not isinstance(d, dict):
            raise AekitError(f"{where}: expected a mapping of options, got {type(d).__name__}")
        names = cls.field_names()
        for key in d:
            if key not in names:
                raise AekitError(
                    f"{where}: unknown option {key!r} for {cls.__name__}"
                    + close_matches(key, names)
                    + "; known options: "
                    + ", ".join(names)
                )
        try:
            return cls(**d)
        except TypeError as e:  # e.g. a required field missing
            raise AekitError(f"{where}: {e}") from None

    @classmethod
    def from_saved(cls, d: dict[str, Any], where: str = "config") -> Config:
        """A config read back from a run's ``config.json``. A field added after the run was
        saved takes the value that meant the old behaviour (``LEGACY``), not today's
        default: a ``KSparseAE`` saved before ``tied`` existed was untied."""
        if not isinstance(d, dict):
            return cls.from_dict(d, where)
        return cls.from_dict({**getattr(cls, "LEGACY", {}), **d}, where)

    def replace(self, **changes: Any) -> Config:
        """A new config with ``changes`` applied (configs themselves never mutate)."""
        return self.from_dict({**self.to_dict(), **changes})
