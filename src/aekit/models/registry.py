"""The ``{name: class}`` registry of model families, through which models are built and loaded.

Loading never unpickles: a saved model is ``config.json`` (the class name and its config)
plus ``model.safetensors``; the class is looked up here by name. Each family registers itself
with :func:`register` when its module is imported, and importing any module of
:mod:`aekit.models` imports every family first (the package's ``__init__``), so the lookups
here see all of aekit's families, and a plug-in's once the user has imported it.
"""

from __future__ import annotations

from ..errors import AekitError, unknown_name

MODELS: dict[str, type] = {}


def register(name: str):
    """Class decorator: register a model family under a CLI name (e.g. ``"vae"``)."""

    def deco(cls):
        cls.registry_name = name
        MODELS[name] = cls
        return cls

    return deco


def get_model_class(name: str) -> type:
    """Class registered under a CLI name or a class name (``"vae"`` or ``"VAE"``)."""
    if not isinstance(name, str):
        raise AekitError(f"model: expected a model name such as 'vae', got {type(name).__name__} {name!r}")
    if name in MODELS:
        return MODELS[name]
    by_class = {cls.__name__: cls for cls in MODELS.values()}
    if name in by_class:
        return by_class[name]
    raise unknown_name("model", name, MODELS)


def model_names(inputs: str | None = None) -> list[str]:
    """Registered family names; ``inputs="features"`` (arrays of numbers: tables, images,
    series windows) or ``"tokens"`` (text) keeps the families that take those inputs."""
    return [n for n, cls in MODELS.items() if inputs is None or cls.inputs == inputs]
