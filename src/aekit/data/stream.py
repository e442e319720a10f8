"""Out-of-core batches from a memory-mapped array, so memory does not grow with the file.

A full random permutation of N rows would touch the file everywhere at once, so the shuffle
is *blocked*: the rows are cut into blocks of ``block_rows`` contiguous rows; each epoch
visits the blocks in a random order, reads ``blocks_per_chunk`` of them at a time (each a
sequential read), shuffles the rows of that chunk, and yields batches from it. Rows left over
at the end of a chunk are carried into the next, so every batch but the last is full. Peak
memory is one chunk (``block_rows · blocks_per_chunk`` rows), whatever N is: the file's pages
are handed back to the kernel once a block is copied out (:func:`aekit.data.pages.release`).

A torch Dataset (:class:`aekit.data.lazy.DatasetRows`) and a series' windows
(:class:`aekit.data.windows.Windows`) offer random access, so its items are
read in one permutation per epoch instead, batch by batch.

Every batch goes through the fitted :class:`~aekit.data.preprocess.Preprocessor`, exactly as
in-memory data does; scoring and metrics read the rows in order, a batch at a time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch

from ..errors import AekitError
from .lazy import RandomRows, is_lazy
from .pages import release
from .preprocess import Preprocessor


def n_batches(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)


def iter_batches(arr: np.ndarray, preprocess: Preprocessor, batch_size: int, generator: torch.Generator,
                 block_rows: int = 1024, blocks_per_chunk: int = 16) -> Iterator[torch.Tensor]:
    """Preprocessed batches (B, *shape) of ``arr`` (float32, or integers kept by an identity
    preprocessing) in a blocked-shuffled order; a
    Dataset's items (:class:`~aekit.data.lazy.DatasetRows`) in one permutation, as in memory."""
    if preprocess.binarize == "static":  # one fixed sample per row needs every row at once
        raise AekitError("--binarize static: needs the data in memory; for out-of-core data (--stream, a torch Dataset) "
                         "use dynamic or threshold")
    if isinstance(arr, RandomRows):  # random access is cheap: the in-memory path's permutation
        perm = torch.randperm(len(arr), generator=generator).numpy()
        for xb in arr.batches(batch_size, perm):
            yield torch.from_numpy(preprocess.transform(xb))
        return
    n = len(arr)
    block_rows = max(1, min(block_rows, n))
    order = torch.randperm(math.ceil(n / block_rows), generator=generator).tolist()
    carry: np.ndarray | None = None
    for c in range(0, len(order), blocks_per_chunk):
        parts = [arr[b * block_rows:(b + 1) * block_rows] for b in order[c:c + blocks_per_chunk]]
        chunk = preprocess.transform(np.concatenate(parts))  # (rows, *shape)
        for p in parts:
            release(p)
        perm = torch.randperm(len(chunk), generator=generator).numpy()
        chunk = chunk[perm]
        if carry is not None:
            chunk = np.concatenate([carry, chunk])
        full = len(chunk) // batch_size * batch_size
        for i in range(0, full, batch_size):
            yield torch.from_numpy(chunk[i:i + batch_size])
        carry = chunk[full:] if full < len(chunk) else None
    if carry is not None:
        yield torch.from_numpy(np.ascontiguousarray(carry))


def iter_ordered(arr: np.ndarray, preprocess: Preprocessor, batch_size: int, sample: bool = False) -> Iterator[torch.Tensor]:
    """Preprocessed batches of ``arr`` in row order (evaluation, scoring)."""
    if isinstance(arr, RandomRows):
        for rows in arr.batches(batch_size):
            yield torch.from_numpy(preprocess.transform(rows, sample=sample))
        return
    for i in range(0, len(arr), batch_size):
        rows = arr[i:i + batch_size]
        xb = preprocess.transform(rows, sample=sample)
        if not xb.flags.writeable:  # an identity transform returns the read-only map itself
            xb = xb.copy()
        release(rows)
        yield torch.from_numpy(xb)


@torch.inference_mode()
def mean_terms(model, arr: np.ndarray, preprocess: Preprocessor, batch_size: int | None = None,
               device: torch.device | str = "cpu") -> dict[str, float]:
    """Mean loss terms of ``model`` over ``arr`` in eval mode (the streamed validation loss)."""
    batch_size = batch_size or model.inference_batch_size()
    was_training = model.training
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    for xb in iter_ordered(arr, preprocess, batch_size):
        xb = xb.to(device, model.input_dtype())
        out = model(xb)
        for k, v in {"loss": out.loss, **out.terms}.items():
            sums[k] = sums[k] + v * len(xb) if k in sums else v * len(xb)
    model.train(was_training)
    return {k: v.item() / len(arr) for k, v in sums.items()}


class Rows:
    """The rows of a (memory-mapped) array, preprocessed a chunk at a time.

    Supports ``len`` and slicing, which is all :func:`aekit.tasks.common.batched` and
    :func:`aekit.metrics.evaluate` need, so a file larger than memory is scored or evaluated in
    pieces: each slice is read, preprocessed, and its pages of the memory map given back
    (:func:`aekit.data.pages.release`). ``sample``: dynamic binarization draws its fixed
    evaluation sample, as :meth:`aekit.data.Data.test` does.
    """

    def __init__(self, x: np.ndarray, preprocess=None, sample: bool = False):
        self.x, self.preprocess, self.sample = x, preprocess, sample

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, sl: slice) -> np.ndarray:
        view = self.x[sl]
        chunk = np.array(view)  # a copy in the stored dtype: the preprocessing decides the output's
        release(view)
        return chunk if self.preprocess is None else self.preprocess.transform(chunk, sample=self.sample)


def rows(x: np.ndarray, preprocess) -> np.ndarray | Rows:
    """``preprocess`` applied to every row of ``x``: at once for an in-memory array, lazily
    (:class:`Rows`) for a memory map or a Dataset's items."""
    return Rows(x, preprocess) if is_lazy(x) else preprocess.transform(x)
