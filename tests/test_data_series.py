"""Series: chronological splits (test and validation are the last rows, in order) and
per-channel scaling of channels-last arrays fitted on the training part only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import aekit
from aekit.data import Data, Preprocessor, from_arrays, load_file
from aekit.data.runs import load_any
from aekit.errors import AekitError

RNG = np.random.default_rng(0)
T, C = 400, 3
MU, SD = np.array([1.0, -2.0, 5.0]), np.array([0.5, 2.0, 3.0])


def series(shift: float = 100.0) -> np.ndarray:
    """(T, C) with a regime change: the last quarter is shifted by ``shift`` in every channel,
    so statistics that saw any of it are far from the first three quarters'."""
    x = RNG.normal(size=(T, C)) * SD + MU
    x[300:] += shift
    return x.astype(np.float32)


def test_chronological_split_of_a_file_keeps_order_and_reloads(tmp_path):
    x = series()
    np.save(tmp_path / "s.npy", x)
    np.save(tmp_path / "s.labels.npy", np.arange(T))
    d = load_file(tmp_path / "s.npy", split="chronological", preprocess="none")
    np.testing.assert_array_equal(d.x_train, x[:320])
    np.testing.assert_array_equal(d.x_test, x[320:])
    np.testing.assert_array_equal(d.y_test, np.arange(320, T))  # in order, never shuffled
    assert d.chronological and d.info["split"] == "chronological: first 320 rows train, last 80 test"
    assert d.info["source"]["split"] == "chronological"
    again = load_any(str(tmp_path / "s.npy"), **d.info["source"])  # what run_data does with config.json
    assert again.chronological
    np.testing.assert_array_equal(again.y_test, d.y_test)
    r = load_file(tmp_path / "s.npy")  # the default stays a seeded random split
    assert not r.chronological and not np.array_equal(r.y_test, np.arange(320, T))
    with pytest.raises(AekitError, match=r"split: unknown split 'time'; choose one of random, chronological"):
        load_file(tmp_path / "s.npy", split="time")
    with pytest.raises(AekitError, match=r"split: a streamed file is split by position"):
        load_file(tmp_path / "s.npy", split="random", stream=True)
    s = load_file(tmp_path / "s.npy", stream=True, test_size=0.25)
    assert s.chronological and isinstance(s.x_test, np.memmap) and len(s.x_test) == 100


def test_the_trainer_holds_out_the_last_rows_of_chronological_data():
    x = np.arange(200, dtype=np.float32)[:, None].repeat(4, 1)  # row i holds i: which rows were trained on?
    seen = []

    def rows_trained(data):
        seen.clear()
        model = aekit.AE(input_shape=(4,), latent_dim=2, hidden=(8,), output="linear")
        step = model.training_step
        model.training_step = lambda xb, *a, **k: (seen.append(xb[:, 0].clone()), step(xb, *a, **k))[1]
        aekit.Trainer(epochs=1, batch_size=32, val_split=0.25, progress=False).fit(model, data)
        return sorted(torch.cat(seen).long().tolist())

    assert rows_trained(Data(x_train=x, chronological=True)) == list(range(150))  # validation: rows 150..199
    assert rows_trained(Data(x_train=x)) != list(range(150))  # random hold-out otherwise


def test_per_channel_scaling_sees_the_training_part_only(tmp_path):
    x = series(shift=100.0)
    d = from_arrays(x, split="chronological", test_size=0.25, preprocess="none", channel_norm=True, channel_axis=-1)
    pre = d.preprocess
    # fitted on rows 0..299 alone: had the shifted test rows entered, every mean would be off by ~25
    np.testing.assert_allclose(pre.channel_mean, x[:300].mean(0), rtol=1e-5)
    np.testing.assert_allclose(pre.channel_std, x[:300].std(0), rtol=1e-4)
    t = d.train()
    np.testing.assert_allclose(t.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(t.std(0), 1, atol=1e-4)
    assert (d.test().mean(0) > 30).all()  # the test part is scaled with the training statistics
    back = Preprocessor.from_dict(pre.to_dict())  # preprocess.json keeps the axis
    assert back.channel_axis == -1
    np.testing.assert_allclose(back.inverse_transform(back.transform(x)), x, rtol=1e-5, atol=1e-4)


def test_per_channel_scaling_of_windows_pools_time_and_streams(tmp_path):
    """(N, W, C) windows: one mean/sd per channel over every window and time step; fitted a
    block of rows at a time from a memory map, the same as in memory."""
    from aekit.data.preprocess import BLOCK

    n = BLOCK + 4000  # two blocks
    w = (RNG.normal(size=(n, 4, C)) * SD + MU).astype(np.float32)
    np.save(tmp_path / "w.npy", w)
    mm = np.load(tmp_path / "w.npy", mmap_mode="r")
    for src in (w, mm):
        pre = Preprocessor.fit(src, "none", channel_norm=True, channel_axis=-1)
        np.testing.assert_allclose(pre.channel_mean, w.reshape(-1, C).astype(np.float64).mean(0), rtol=1e-6)
        np.testing.assert_allclose(pre.channel_std, w.reshape(-1, C).astype(np.float64).std(0), rtol=1e-6)
    t = pre.transform(w[:1000])
    assert t.shape == (1000, 4, C)
    np.testing.assert_allclose(t.reshape(-1, C).mean(0), 0, atol=0.05)
    np.testing.assert_allclose(t.reshape(-1, C).std(0), 1, atol=0.05)
    # standardizing per flattened feature first, then per channel: both fitted, both undone
    both = Preprocessor.fit(w, "minmax", channel_norm=True, channel_axis=-1)
    np.testing.assert_allclose(both.inverse_transform(both.transform(w[:50])), w[:50], rtol=1e-4, atol=1e-4)
    with pytest.raises(AekitError, match=r"channel_axis: 1 \(images, channels first\) or -1"):
        Preprocessor.fit(w, "none", channel_norm=True, channel_axis=2)
    with pytest.raises(AekitError, match=r"--channel-norm: needs images \(N, C, H, W\)"):
        Preprocessor.fit(w, "none", channel_norm=True)  # axis 1 stays the image convention
