"""The ``{name: class}`` registry of model families (:mod:`aekit.models.registry`), with every
family of aekit registered: importing this module imports them all.
"""

from __future__ import annotations

from .models.registry import MODELS, get_model_class, model_names, register

__all__ = ["MODELS", "get_model_class", "model_names", "register"]
