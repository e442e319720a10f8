"""A torch ``Dataset`` as rows read on demand, never stacked whole.

:func:`aekit.data.as_data` wraps a Dataset in :class:`DatasetRows`. Only item 0 is read up
front (for the shape and dtype of a sample, and whether items are ``(x, y, …)`` pairs);
everything else is fetched a batch at a time through a ``torch.utils.data.DataLoader`` whose
batch sampler is the order asked for (``num_workers`` worker processes; 0, the default, reads
in this process). Indexing by a slice or an index array gives another :class:`DatasetRows`
over those items, still unread, so a split or the trainer's validation hold-out costs
nothing; ``np.asarray(rows)`` reads them.

The trainer treats it as out-of-core data (``Data.streaming``): each epoch draws one
permutation of the training items, the same permutation the in-memory path draws from the
same generator, and reads each batch's items, so training on a Dataset gives the history
training on its stacked array gives. Random access is what a Dataset offers, so there is no
blocked shuffle as for memory maps (:mod:`aekit.data.stream`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import AekitError

READ_BATCH = 256  # items per DataLoader batch when a whole view is read


def _to_numpy(v: Any) -> np.ndarray:
    """A tensor, a PIL image (→ (C, H, W)), a number or an array-like → numpy."""
    if hasattr(v, "detach"):
        return v.detach().cpu().numpy()
    if type(v).__module__.startswith("PIL."):
        a = np.asarray(v)
        return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    return np.asarray(v)


def _split_item(item: Any) -> tuple[Any, Any]:
    """(features, label or None) of one Dataset item: ``x`` or ``(x, label, …)``."""
    if isinstance(item, (tuple, list)):
        return item[0], (item[1] if len(item) > 1 else None)
    return item, None


def _collate(items: list) -> list[tuple[Any, Any]]:
    """Keep the items apart: numpy stacking (and the checks) happen in :meth:`DatasetRows._stack`."""
    return [_split_item(it) for it in items]


class RandomRows:
    """Rows with cheap random access, read a batch at a time (``batches(batch_size, order)``):
    the trainer draws one permutation per epoch over them, as for in-memory rows; scoring
    reads them in order. :class:`DatasetRows` (a torch Dataset) and
    :class:`aekit.data.windows.Windows` (windows of a series) are such rows."""

    def batches(self, batch_size: int, order: np.ndarray | None = None):  # pragma: no cover - abstract
        raise NotImplementedError


class DatasetRows(RandomRows):
    """The items of a torch ``Dataset`` (``field=0``: features, ``field=1``: labels) at
    positions ``index``, read in batches when asked for.

    Array-like enough for the data layer: ``len``, ``shape``, ``ndim``, ``dtype``, indexing
    (a slice or index array → a lazy view; an int → one item), ``np.asarray``.
    """

    def __init__(self, dataset: Any, index: np.ndarray | None = None, *, field: int = 0, num_workers: int = 0,
                 name: str | None = None, _first: dict | None = None):
        self.dataset, self.field, self.num_workers = dataset, field, int(num_workers)
        self.name = name or type(dataset).__name__
        n = len(dataset)
        self.index = np.arange(n, dtype=np.int64) if index is None else np.asarray(index, dtype=np.int64)
        if _first is None:
            if n == 0:
                raise AekitError(f"{self.name}: the Dataset is empty (len 0)")
            x0, y0 = _split_item(dataset[0])
            x0 = _to_numpy(x0)
            if x0.dtype == object or not (np.issubdtype(x0.dtype, np.number) or x0.dtype == bool):
                raise AekitError(f"{self.name}: Dataset item 0 holds {x0.dtype}, not numbers; return arrays or tensors of numbers")
            if x0.ndim == 0 or x0.size == 0:
                raise AekitError(f"{self.name}: Dataset item 0 has shape {x0.shape}; items must be arrays (features…), "
                                 "e.g. torch.tensor([v]) for one feature")
            y0 = None if y0 is None else _to_numpy(y0)
            _first = {"shape": (x0.shape, None if y0 is None else y0.shape),
                      "dtype": (x0.dtype, None if y0 is None else (np.dtype(np.int64) if y0.dtype.kind in "iub" else y0.dtype))}
        self._first = _first
        if self._first["dtype"][field] is None:
            raise AekitError(f"{self.name}: Dataset items carry no labels; return (x, y) pairs for labels")

    # -- array-like -------------------------------------------------------------------------------
    @property
    def has_labels(self) -> bool:
        return self._first["dtype"][1] is not None

    def labels(self) -> DatasetRows | None:
        """The labels of these items (lazy; reading them reads the items), or None."""
        return self._view(self.index, field=1) if self.has_labels else None

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index), *self._first["shape"][self.field])

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> np.dtype:
        return self._first["dtype"][self.field]

    def __len__(self) -> int:
        return len(self.index)

    def __repr__(self) -> str:
        what = "labels" if self.field else "items"
        return f"DatasetRows({self.name}: {what} shape {self.shape}, {self.dtype}, unread)"

    def _view(self, index: np.ndarray, field: int | None = None) -> DatasetRows:
        return DatasetRows(self.dataset, index, field=self.field if field is None else field,
                           num_workers=self.num_workers, name=self.name, _first=self._first)

    def __getitem__(self, key: Any):
        if isinstance(key, tuple):  # x[rows, j, …]: read the rows, then index what was read
            head, rest = key[0], key[1:]
            if isinstance(head, (int, np.integer)):
                return self[head][rest]
            return np.asarray(self[head])[(slice(None), *rest)]
        if isinstance(key, (int, np.integer)):
            return self.read(np.asarray([key]))[0]
        return self._view(self.index[key])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        a = self.read()
        return a if dtype is None else a.astype(dtype, copy=False)

    # -- reading ----------------------------------------------------------------------------------
    def read(self, positions: np.ndarray | None = None) -> np.ndarray:
        """The items at ``positions`` of this view (all of them by default), stacked."""
        parts = list(self.batches(READ_BATCH, positions))
        if not parts:
            return np.empty((0, *self.shape[1:]), self.dtype)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def batches(self, batch_size: int, order: np.ndarray | None = None):
        """Stacked numpy batches of ``batch_size`` items, taken in ``order`` (positions in
        this view; all of them, in order, by default)."""
        from torch.utils.data import DataLoader

        order = np.arange(len(self.index)) if order is None else np.asarray(order, dtype=np.int64)
        items = self.index[order]
        sampler = [items[i:i + batch_size].tolist() for i in range(0, len(items), batch_size)]
        if not sampler:
            return
        loader = DataLoader(self.dataset, batch_sampler=sampler, collate_fn=_collate, num_workers=self.num_workers)
        for idx, batch in zip(sampler, loader):
            yield self._stack(idx, batch)

    def _stack(self, idx: list[int], batch: list[tuple[Any, Any]]) -> np.ndarray:
        want, dtype = self._first["shape"][self.field], self.dtype
        out = np.empty((len(batch), *want), dtype)
        for j, (i, pair) in enumerate(zip(idx, batch)):
            v = pair[self.field]
            if v is None:
                raise AekitError(f"{self.name}: Dataset item {i} has no label, item 0 has one; return (x, y) pairs throughout")
            a = _to_numpy(v)
            if a.shape != want:
                raise AekitError(f"{self.name}: Dataset item {i} has shape {a.shape}, item 0 has {want}; "
                                 "items must agree in shape: resize them in its transform")
            out[j] = a
        if self.field == 0 and out.dtype.kind == "f" and not np.isfinite(out).all():
            bad = idx[int(np.flatnonzero(~np.isfinite(out.reshape(len(out), -1)).all(1))[0])]
            raise AekitError(f"{self.name}: Dataset item {bad} holds NaN/inf values; drop or fix them in the Dataset")
        return out


def is_lazy(x: Any) -> bool:
    """True for data read a batch at a time: a memory map or :class:`RandomRows` (a
    Dataset's items, a series' windows)."""
    return isinstance(x, (np.memmap, RandomRows))
