"""Resume checkpoints: one file, ``RUN/checkpoint/last.pt``, written atomically after each
epoch and loaded with ``torch.load(weights_only=True)`` (tensors and plain containers only, so
a crafted pickle cannot run code). The file itself is read and written by
:class:`aekit.RunDir`; this module makes the state from the trainer's objects and puts it back."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import AekitError
from ..rundir import RunDir, read_checkpoint, write_checkpoint


def state(model, optimizers, schedulers, epochs_done: int, history: list, gen: torch.Generator, extra: dict) -> dict:
    """Everything a resumed run needs to continue exactly: weights, optimizer and scheduler
    state, epochs done, history, and the RNG states (``extra``: early-stopping state)."""
    return {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizers": [o.state_dict() for o in optimizers],
        "schedulers": [s.state_dict() for s in schedulers],
        "epoch": epochs_done,
        "history": history,
        "torch_rng": torch.get_rng_state(),
        "perm_rng": gen.get_state(),
        **extra,
    }


def save(path: str | Path | RunDir, model, optimizers, schedulers, epochs_done: int, history: list,
         gen: torch.Generator, extra: dict) -> None:
    """:func:`state`, written atomically to ``path`` (a file, or a run directory's checkpoint)."""
    target = path.checkpoint_path if isinstance(path, RunDir) else path
    write_checkpoint(target, state(model, optimizers, schedulers, epochs_done, history, gen, extra))


def load_checkpoint(path: str | Path | RunDir) -> dict:
    """A resume checkpoint (a file, or a run directory's ``checkpoint/last.pt``), loaded with
    ``weights_only=True``: tensors and plain containers only, so a crafted pickle cannot run code."""
    return read_checkpoint(path.checkpoint_path if isinstance(path, RunDir) else path)


def restore(path: str | Path | RunDir, model, optimizers, schedulers, gen: torch.Generator) -> dict:
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
