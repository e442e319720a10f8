"""Choosing the device and building optimizers by name."""

from __future__ import annotations

import contextlib

import torch

from ..errors import AekitError


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA, else MPS, else CPU; an explicit device must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise AekitError(f"device: {name!r} requested but CUDA is not available here; use --device cpu or auto")
        idx = torch.device(name).index
        if idx is not None and idx >= torch.cuda.device_count():
            raise AekitError(f"device: {name!r} does not exist ({torch.cuda.device_count()} CUDA devices)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise AekitError("device: 'mps' requested but MPS is not available here; use --device cpu or auto")
    return torch.device(name)


def make_optimizer(name: str, params, lr: float, weight_decay: float, momentum: float, device: torch.device):
    params = list(params)
    if name in ("adam", "adamw"):
        cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        # the fused kernel (one launch for all parameters) where this build has it
        try:
            return cls(params, lr=lr, weight_decay=weight_decay, fused=True)
        except (RuntimeError, TypeError, ValueError):
            return cls(params, lr=lr, weight_decay=weight_decay, foreach=True)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return torch.optim.Adagrad(params, lr=lr, weight_decay=weight_decay)


def _flushing() -> bool:
    """Is flush-to-zero on in this thread? (A denormal times one stays denormal only if not.)"""
    return (torch.tensor([1e-39]) * 1.0).item() == 0.0


@contextlib.contextmanager
def flush_denormals():
    """Treat denormal floats (|x| < 1.2e-38) as zero on the CPU while training, then restore.

    Adam's running averages for weights whose gradient is exactly zero (e.g. the weights of
    an always-black MNIST pixel) decay into the denormal range after a few hundred steps, where
    every CPU operation on them runs tens of times slower: measured, an MNIST run's epochs
    slowed by 15% from the third epoch on; with flushing they stayed flat and the losses were
    identical to 8 digits (BENCHMARKS.md).
    """
    was = _flushing()
    ok = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if ok and not was:
            torch.set_flush_denormal(False)
