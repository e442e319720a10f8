"""The model-agnostic training loop."""

from .trainer import TrainConfig, Trainer, resolve_device

__all__ = ["TrainConfig", "Trainer", "resolve_device"]
