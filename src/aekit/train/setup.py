"""Choosing the device and building optimizers by name."""

from __future__ import annotations

import contextlib
import logging

import torch

from ..errors import AekitError

log = logging.getLogger("aekit.train")

AUTO_COMPILE_STEPS = 2000


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
    every CPU operation on them is many times slower, and an MNIST run's epochs slow down
    from the third epoch on; with flushing they stay flat and the losses are unchanged (the
    measurement is in BENCHMARKS.md).
    """
    was = _flushing()
    ok = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if ok and not was:
            torch.set_flush_denormal(False)


def compile_forward(model, mode: str, device: torch.device, batch: int, steps: int):
    """``torch.compile`` the model's forward for full training batches (``mode``: the
    trainer's ``compile`` option).

    Only full batches of the training batch size go through the compiled graph (shapes
    are static, so the last partial batch and validation never trigger a recompile); a
    compiler that is missing or fails falls back to eager execution with a warning.
    ``compile="auto"`` compiles on CUDA for runs of at least ``AUTO_COMPILE_STEPS``
    steps; on CPU it stays eager (measured in BENCHMARKS.md: the compile time was not
    won back within realistic runs). Returns a function that undoes it.
    """
    if mode == "off" or (mode == "auto" and (device.type != "cuda" or steps < AUTO_COMPILE_STEPS)):
        return lambda: None
    try:
        compiled = torch.compile(model.forward, dynamic=False)
    except Exception as e:  # no compiler backend in this build
        log.warning("torch.compile unavailable (%s); training eagerly", e)
        return lambda: None
    eager = model.forward
    state = {"ok": True}

    def forward(x, *args, **kwargs):
        if state["ok"] and model.training and x.shape[0] == batch and torch.is_grad_enabled():
            try:
                return compiled(x, *args, **kwargs)
            except Exception as e:  # e.g. no C++ compiler for inductor: fall back once, for good
                state["ok"] = False
                log.warning("torch.compile failed (%s); training eagerly", str(e).splitlines()[0][:200])
        return eager(x, *args, **kwargs)

    model.forward = forward
    return lambda: model.__dict__.pop("forward", None)

