"""Reading rows in blocks for inference: any array, tensor or out-of-core rows
(:class:`aekit.data.stream.Rows`, a lazy torch ``Dataset``) becomes float32 tensors one block
at a time, so evaluation, scoring and encoding run in bounded memory."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import AekitError


def as_tensor(x) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def chunk_rows(model, batch_size: int | None = None) -> int:
    """``batch_size``, or the model's :meth:`~aekit.models.base.Autoencoder.inference_batch_size`."""
    if batch_size is not None:
        return batch_size
    pick = getattr(model, "inference_batch_size", None)
    return pick() if callable(pick) else 2048


def chunks(x, batch_size: int):
    """``(start, float32 tensor)`` for consecutive blocks of ``batch_size`` rows of ``x`` (a
    tensor, an array or :class:`aekit.data.stream.Rows`), converted one block at a time."""
    n = len(x)
    if n == 0:
        raise AekitError("x: is empty (0 samples)")
    for i in range(0, n, batch_size):
        yield i, as_tensor(x[i:i + batch_size])


@torch.inference_mode()
def batched(fn, x, batch_size: int | None = None) -> torch.Tensor:
    """``fn`` applied to consecutive batches of ``x`` (a tensor, an array or :class:`aekit.data.stream.Rows`;
    eval mode is the caller's job), on CPU. Batches are converted one at a time, so ``x`` is
    never copied whole. Without ``batch_size``, a model method's ``fn`` picks its model's
    chunk size (:func:`chunk_rows`)."""
    batch_size = chunk_rows(getattr(fn, "__self__", None), batch_size)
    out = None
    for i, xb in chunks(x, batch_size):
        r = fn(xb).detach().cpu()
        if out is None:
            # one output allocated up front: keeping each batch's small result alive between the
            # batches' large temporaries fragmented the heap (BENCHMARKS.md, "Scoring memory")
            out = torch.empty((len(x), *r.shape[1:]), dtype=r.dtype)
        out[i:i + len(r)] = r
    return out
