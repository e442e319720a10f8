"""The data container every job takes, the conversion of user objects to it, and splits."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import AekitError
from .lazy import DatasetRows, is_lazy
from .preprocess import Preprocessor


@dataclasses.dataclass
class Data:
    """Raw train/test arrays, labels where known, and the preprocessing fitted on train.

    ``x_*`` keep their stored dtype (e.g. uint8 images) and may be read-only memory maps or
    a torch Dataset's unread items (then :attr:`streaming` is true and the trainer reads
    batches as it goes);
    :meth:`train` / :meth:`test` return arrays of :attr:`dtype` with ``preprocess`` applied:
    float32, or the stored integers when the preprocessing leaves them as they are.
    ``batch_transform(batch, generator) -> batch``, when set, is applied by the trainer to
    every training batch as it is drawn (dynamic binarization sets it). ``chronological``:
    the rows are in time order, so the trainer holds out the last rows for validation
    instead of a random subset (:func:`aekit.data.files.from_arrays` sets it).
    """

    x_train: np.ndarray
    x_test: np.ndarray | None = None
    y_train: np.ndarray | None = None
    y_test: np.ndarray | None = None
    name: str = "array"
    preprocess: Preprocessor = dataclasses.field(default_factory=Preprocessor)
    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    batch_transform: Callable | None = None
    chronological: bool = False  # rows in time order: every hold-out (test, validation) is the last part

    def __post_init__(self) -> None:
        if self.batch_transform is None:
            self.batch_transform = self.preprocess.batch_transform

    def set_preprocess(self, pre: Preprocessor) -> Data:
        """Replace the preprocessing (and the batch transform it implies)."""
        self.preprocess = pre
        self.batch_transform = pre.batch_transform
        return self

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.x_train.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        """What :meth:`train`, :meth:`test` and the trainer's batches hold: integers (token
        ids) through an identity preprocessing, float32 otherwise."""
        return self.preprocess.output_dtype(self.x_train.dtype)

    @property
    def is_image(self) -> bool:
        return len(self.input_shape) == 3

    @property
    def streaming(self) -> bool:
        """True when the training data is read in batches (out-of-core): a memory map, or a
        torch Dataset (:class:`aekit.data.lazy.DatasetRows`)."""
        return is_lazy(self.x_train)

    def train(self) -> np.ndarray:
        return self.preprocess.transform(self.x_train)

    def test(self) -> np.ndarray:
        if self.x_test is None:
            raise AekitError(f"data {self.name!r} has no test split")
        return self.preprocess.transform(self.x_test, sample=True)

    def evaluation_rows(self):
        """What metrics are computed on: the test split, or the training rows when there is
        none, preprocessed as :meth:`test` does; out-of-core data stays on disk as
        :class:`aekit.data.stream.Rows`, preprocessed a chunk at a time."""
        rows = self.x_test if self.x_test is not None else self.x_train
        if self.streaming:
            from .stream import Rows

            return Rows(rows, self.preprocess, sample=True)
        return self.preprocess.transform(rows, sample=True)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "n_train": int(len(self.x_train)),
            "n_test": 0 if self.x_test is None else int(len(self.x_test)),
            **self.info,
        }


TRAIN_FIX = "drop or fix them, or pass --impute mean to fill them with the training mean"
SCORE_FIX = "drop or fix them, or score with a run trained with --impute mean (it fills them with its training mean)"


def check_finite(x: np.ndarray, where: str, block: int = 65536, fix: str = TRAIN_FIX) -> None:
    """Refuse NaN/inf with the count and the first row and column (a block at a time)."""
    if not np.issubdtype(x.dtype, np.floating):
        return
    count, first = 0, None
    from .pages import release

    for i in range(0, len(x), block):
        rows = x[i:i + block]
        bad = ~np.isfinite(rows)
        release(rows)
        if bad.any():
            count += int(bad.sum())
            if first is None:
                first = np.argwhere(bad)[0]
                first[0] += i
    if count:
        col = first[1:]
        raise AekitError(
            f"{where}: {count} NaN/inf values, first at row {first[0]}"
            + (f", column {col[0]}" if len(col) == 1 else f", position {tuple(int(c) for c in col)}" if len(col) else "")
            + f"; {fix}"
        )


def check_array(x: Any, where: str = "data", finite: bool = True, fix: str = TRAIN_FIX) -> np.ndarray:
    """A numeric array (N, ...) with N ≥ 1, finite, as numpy; one-line errors otherwise."""
    try:
        import torch

        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except Exception:
            raise AekitError(f"{where}: expected an array of numbers, got {type(x).__name__}") from None
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise AekitError(f"{where}: expected numbers, got dtype {x.dtype}; store numeric arrays")
    if x.ndim < 2:
        raise AekitError(f"{where}: expected shape (n_samples, n_features...), got {x.shape}; reshape 1-D data "
                          "with x.reshape(-1, 1), or, for a time series, use aekit.SeriesDetector (aekit train --window auto)")
    if len(x) == 0 or x[0].size == 0:
        raise AekitError(f"{where}: is empty (shape {x.shape}); point at a file with samples and features in it")
    if finite:
        check_finite(x, where, fix=fix)
    return x


def check_labels(y: Any, n: int, where: str) -> np.ndarray | None:
    if y is None:
        return None
    y = np.asarray(y)
    if y.ndim == 2 and 1 in y.shape:
        y = y.reshape(-1)
    if y.ndim != 1 or len(y) != n:
        raise AekitError(f"{where}: {len(y) if y.ndim else 0} labels (shape {y.shape}) for {n} samples; give one label per sample")
    return y


def split_indices(n: int, y: np.ndarray | None, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row indices: a seeded random split, stratified when every class of
    ``y`` has at least two samples and there are fewer classes than half the rows."""
    idx = np.arange(n)
    if test_size <= 0 or n < 5:
        return idx, idx[:0]
    from sklearn.model_selection import train_test_split

    strat = None
    if y is not None:
        classes, counts = np.unique(y, return_counts=True)
        if len(classes) < n // 2 and counts.min() >= 2:
            strat = y
    tr, te = train_test_split(idx, test_size=test_size, random_state=seed, stratify=strat)
    return np.sort(tr), np.sort(te)


def as_data(obj: Any, name: str = "array", num_workers: int = 0) -> Data:
    """Accept a :class:`Data`, an array/tensor, an ``(x, y)`` tuple, or a torch ``Dataset``.

    A Dataset is not stacked: it becomes :class:`aekit.data.lazy.DatasetRows`, read a batch
    at a time (``num_workers`` DataLoader workers), with only item 0 read here."""
    if isinstance(obj, Data):
        return obj
    y = None
    if isinstance(obj, tuple) and len(obj) == 2:
        obj, y = obj
    elif not isinstance(obj, np.ndarray) and hasattr(obj, "__getitem__") and hasattr(obj, "__len__") \
            and type(obj).__module__.split(".")[0] != "numpy" and not _is_tensor(obj) and not isinstance(obj, (list, tuple)):
        return _from_dataset(obj, type(obj).__name__ if name == "array" else name, num_workers)
    x = check_array(obj, where=name)
    y = check_labels(y, len(x), where=f"{name} labels")
    pre = Preprocessor.fit_auto(x)
    return Data(x_train=x, y_train=y, name=name, preprocess=pre)


def _from_dataset(ds: Any, name: str, num_workers: int = 0) -> Data:
    """A torch ``Dataset`` (items ``x`` or ``(x, label, …)``) → lazily read :class:`Data`."""
    x = DatasetRows(ds, num_workers=num_workers, name=name)
    return Data(x_train=x, y_train=x.labels(), name=name, preprocess=Preprocessor.fit_auto(x))


def _is_tensor(obj: Any) -> bool:
    try:
        import torch

        return isinstance(obj, torch.Tensor)
    except ImportError:  # pragma: no cover
        return False
