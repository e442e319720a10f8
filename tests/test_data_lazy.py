"""A torch Dataset is read lazily, a batch at a time, and trains exactly as its stacked array."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import aekit
from aekit.data import Preprocessor, as_data
from aekit.data.lazy import DatasetRows
from aekit.errors import AekitError

RNG = np.random.default_rng(0)
X = (RNG.normal(size=(300, 2)) @ RNG.normal(size=(2, 6)) + 3).astype(np.float32)
Y = np.arange(300) % 3


class Counting(torch.utils.data.Dataset):
    """Items (x, y); every __getitem__ call is recorded."""

    def __init__(self, x, y=None):
        self.x, self.y, self.calls = x, y, []

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        self.calls.append(i)
        x = torch.as_tensor(self.x[i])
        return x if self.y is None else (x, int(self.y[i]))


def history(model_seed, data, **kw):
    torch.manual_seed(model_seed)
    model = aekit.AE(input_shape=(6,), latent_dim=2, hidden=(16,), output="linear")
    hist = aekit.Trainer(epochs=3, batch_size=64, val_split=0.2, progress=False, seed=5, **kw).fit(model, data)
    return model, [{k: v for k, v in row.items() if k != "seconds"} for row in hist]


def test_as_data_reads_item_0_only_and_training_matches_the_stacked_array():
    ds = Counting(X, Y)
    data = as_data(ds)
    assert ds.calls == [0]  # the shape, dtype and labels of one item; nothing stacked
    assert data.streaming and isinstance(data.x_train, DatasetRows) and data.input_shape == (6,)
    assert data.x_train.dtype == np.float32 and data.y_train.shape == (300,)
    model, lazy = history(0, data)
    reads = len(ds.calls) - 1
    # per epoch: the 240 training items in batches, the 60 validation items once
    assert reads == 3 * 300, reads
    _, whole = history(0, X)  # the same model seed and trainer seed on the stacked array
    assert lazy == whole  # same permutation, same validation split, same batches: identical floats
    # evaluation reads the rows in order, a batch at a time, preprocessed as in memory
    m = aekit.evaluate(model, data.evaluation_rows())
    ref = aekit.evaluate(model, X)
    assert m["mse"] == pytest.approx(ref["mse"], rel=1e-6)
    np.testing.assert_array_equal(np.asarray(data.y_train), Y)  # labels: read when asked for


def test_preprocessing_is_fitted_from_batches_and_applied_per_batch():
    ds = Counting(X)
    data = as_data(ds)
    pre = Preprocessor.fit(data.x_train[:200], "standardize")  # a lazy view of the training part
    assert set(ds.calls[1:]) == set(range(200))  # read once for the statistics, nothing past row 200
    np.testing.assert_allclose(pre.offset, X[:200].mean(0), rtol=1e-6)
    np.testing.assert_allclose(pre.scale, X[:200].std(0), rtol=1e-5)
    data.set_preprocess(pre)
    _, lazy = history(1, data)
    _, whole = history(1, aekit.data.Data(x_train=X, preprocess=pre))
    assert lazy == whole


def test_uint8_image_items_are_scaled_and_worker_processes_read():
    imgs = RNG.integers(0, 256, size=(20, 1, 4, 4), dtype=np.uint8)
    data = as_data(Counting(imgs), num_workers=1)
    assert data.preprocess.method == "scale" and data.x_train.dtype == np.uint8
    np.testing.assert_allclose(data.train(), imgs / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(data.x_train[3:5, 0, 1], imgs[3:5, 0, 1])


def test_bad_items_are_named():
    class Ragged(Counting):
        def __getitem__(self, i):
            return torch.zeros(3 if i == 7 else 4)

    data = as_data(Ragged(X))
    with pytest.raises(AekitError, match=r"Ragged: Dataset item 7 has shape \(3,\), item 0 has \(4,\); .*resize"):
        data.train()
    nan = X.copy()
    nan[11, 2] = np.nan
    with pytest.raises(AekitError, match=r"Counting: Dataset item 11 holds NaN/inf values"):
        aekit.Trainer(epochs=1, batch_size=64, progress=False).fit(aekit.AE(input_shape=(6,), latent_dim=2), Counting(nan))
    with pytest.raises(AekitError, match=r"Counting: the Dataset is empty"):
        as_data(Counting(X[:0]))
    with pytest.raises(AekitError, match=r"Counting: Dataset item 0 has shape \(\)"):
        as_data(Counting(np.ones(5, np.float32)))
