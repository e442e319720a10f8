"""How the trainer cuts its rows: the validation split and each epoch's batches.

In memory, an epoch is one permutation and batches sliced from the device tensor (no
per-sample ``__getitem__``, no collate); rows of token ids are batched by length; under
torchrun each rank takes every world-th row of each global batch. Out-of-core rows (a memory
map, a Dataset) are read a batch at a time (:mod:`aekit.data.stream`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..data.lazy import is_lazy
from ..errors import AekitError

BUCKET = 50  # batches per length-sorted chunk of token rows (see epoch_batches)


def split(x: np.ndarray, val_split: float, gen: torch.Generator,
          ordered: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """(training rows, validation rows or None): a random ``val_split`` share held out, or
    the last rows where the order matters (a series, ``ordered``) or ``x`` is a memory map
    (which then stays views of its file)."""
    n_val = int(round(val_split * len(x)))
    if n_val == 0:
        return x, None
    if n_val >= len(x):
        raise AekitError(f"val_split: {val_split} leaves no training data out of {len(x)} samples")
    if isinstance(x, np.memmap) or ordered:
        return x[:len(x) - n_val], x[len(x) - n_val:]
    perm = torch.randperm(len(x), generator=gen).numpy()
    return x[perm[n_val:]], x[perm[:n_val]]


def epoch_batches(xt: Any, gen: torch.Generator, batch_size: int, lengths: torch.Tensor | None = None,
                  rank: int = 0, world: int = 1, stream: tuple | None = None):
    """One epoch's batches of ``xt``. In memory: one permutation, batches sliced from the
    device tensor; under torchrun (``world`` > 1) each rank takes every world-th row of each
    global batch. With ``lengths`` (token rows), batches are of rows of similar length: the
    permutation is cut into chunks of BUCKET batches, each chunk sorted by length and cut
    into batches, and the batches are shuffled — the padding a batch carries then stays
    small (a text model drops the columns that are padding in every row of its batch).
    Out of core, ``stream`` = (preprocessing, device, input dtype) of the batches read.
    Yields (local batch, global batch size)."""
    n = len(xt)
    if is_lazy(xt):  # out-of-core (a memory map, a Dataset): read in batches (aekit.data.stream)
        from ..data.stream import iter_batches

        pre, device, dtype = stream
        pin = device.type == "cuda"
        for xb in iter_batches(xt, pre, batch_size, gen):
            # pinned host memory lets the copy to the GPU overlap with compute
            yield (xb.pin_memory() if pin else xb).to(device, dtype, non_blocking=True), len(xb)
        return
    perm = torch.randperm(n, generator=gen)
    if lengths is None:
        batches = perm.to(xt.device).split(batch_size)
    else:  # every chunk but the last is whole batches: as many batches as without buckets
        batches = [b for chunk in perm.split(batch_size * BUCKET)
                   for b in chunk[torch.argsort(lengths[chunk], stable=True)].split(batch_size)]
        batches = [batches[i].to(xt.device) for i in torch.randperm(len(batches), generator=gen)]
    for idx in batches:
        glob = len(idx)
        if world > 1:
            idx = idx[rank::world]
        yield xt.index_select(0, idx), glob  # (B, *input_shape)
