"""The ``{name: class}`` registry through which models are built and loaded.

Loading never unpickles: a saved model is ``config.json`` (the class name and its config)
plus ``model.safetensors``; the class is looked up here by name.
"""

from __future__ import annotations

from .errors import AekitError, unknown_name

MODELS: dict[str, type] = {}


def register(name: str):
    """Class decorator: register a model family under a CLI name (e.g. ``"vae"``)."""

    def deco(cls):
        cls.registry_name = name
        MODELS[name] = cls
        return cls

    return deco


def _ensure_loaded() -> None:
    from . import models  # noqa: F401  (importing registers every family)


def get_model_class(name: str) -> type:
    """Class registered under a CLI name or a class name (``"vae"`` or ``"VAE"``)."""
    _ensure_loaded()
    if not isinstance(name, str):
        raise AekitError(f"model: expected a model name such as 'vae', got {type(name).__name__} {name!r}")
    if name in MODELS:
        return MODELS[name]
    by_class = {cls.__name__: cls for cls in MODELS.values()}
    if name in by_class:
        return by_class[name]
    raise unknown_name("model", name, MODELS)


def model_names() -> list[str]:
    _ensure_loaded()
    return list(MODELS)
