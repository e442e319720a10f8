"""Resume checkpoints: one file, ``RUN/checkpoint/last.pt``, written atomically after each
epoch and loaded with ``torch.load(weights_only=True)`` (tensors and plain containers only, so
a crafted pickle cannot run code)."""

from __future__ import annotations

from pathlib import Path

import torch

from .. import io
from ..errors import AekitError


def save(path: Path, model, optimizers, schedulers, epochs_done: int, history: list, gen: torch.Generator,
         extra: dict) -> None:
    """Everything a resumed run needs to continue exactly: weights, optimizer and scheduler
    state, epochs done, history, and the RNG states (``extra``: early-stopping state)."""
    state = {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizers": [o.state_dict() for o in optimizers],
        "schedulers": [s.state_dict() for s in schedulers],
        "epoch": epochs_done,
        "history": history,
        "torch_rng": torch.get_rng_state(),
        "perm_rng": gen.get_state(),
        **extra,
    }
    with io.atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path) -> dict:
    """A resume checkpoint, loaded with ``weights_only=True``: tensors and plain containers
    only, so a crafted pickle cannot run code."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint" / "last.pt"
    if not path.is_file():
        raise AekitError(f"{path}: no checkpoint to resume from; a run writes checkpoint/last.pt after each epoch")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError for forbidden globals, RuntimeError/EOFError when truncated
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise AekitError(
            f"{path}: refused or unreadable checkpoint ({first[:160]}); it is corrupt or not an aekit checkpoint"
        ) from None
    if not isinstance(ck, dict) or not {"model", "optimizers", "epoch", "history"} <= set(ck):
        raise AekitError(f"{path}: not an aekit checkpoint (missing keys)")
    return ck


def restore(path: str | Path, model, optimizers, schedulers, gen: torch.Generator) -> dict:
    """Load ``path`` into the model, optimizers, schedulers and RNGs; returns the checkpoint."""
    ck = load_checkpoint(path)
    try:
        model.load_state_dict(ck["model"])
        for o, st in zip(optimizers, ck["optimizers"]):
            o.load_state_dict(st)
        for s, st in zip(schedulers, ck["schedulers"]):
            s.load_state_dict(st)
    except (RuntimeError, ValueError, KeyError) as e:
        raise AekitError(f"{path}: checkpoint does not match this model or trainer ({str(e).splitlines()[0]})") from None
    torch.set_rng_state(ck["torch_rng"])
    gen.set_state(ck["perm_rng"])
    return ck
