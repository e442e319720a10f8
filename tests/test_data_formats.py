"""Every file format: round trips on files the tests write, then the real files in ../shared/data."""

from __future__ import annotations

import gzip

import h5py
import numpy as np
import pytest
import scipy.io
import torch

import aekit
from aekit.data import formats, load_file
from aekit.data.files import read
from conftest import SHARED, need

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 5)).round(4)
Y = np.repeat(np.arange(2), 20)


def check_table(path, x=X, y=Y, **kw):
    got, labels, _ = read(path, **kw)
    np.testing.assert_allclose(np.asarray(got, np.float64), x, rtol=1e-6, atol=1e-6)
    if y is None:
        assert labels is None
    else:
        np.testing.assert_array_equal(labels, y)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    imgs = RNG.integers(0, 256, size=(7, 6, 4), dtype=np.uint8)
    p = tmp_path / ("imgs-idx3-ubyte" + (".gz" if gz else ""))
    formats.write_idx(p, imgs)
    assert formats.detect_format(p) == "idx"
    x, y, _ = read(p)
    assert x.shape == (7, 1, 6, 4) and y is None
    np.testing.assert_array_equal(x[:, 0], imgs)
    f = tmp_path / "f.idx"
    formats.write_idx(f, X.astype(np.float32))
    np.testing.assert_array_equal(formats.read_idx(f), X.astype(np.float32))


def test_npy_npz_round_trip(tmp_path):
    np.save(tmp_path / "x.npy", X)
    check_table(tmp_path / "x.npy", y=None)
    np.savez(tmp_path / "xy.npz", X=X, y=Y)
    check_table(tmp_path / "xy.npz")
    np.savez(tmp_path / "only.npz", feats=X)
    check_table(tmp_path / "only.npz", y=None)
    np.savez(tmp_path / "two.npz", a=X, b=X * 2)
    check_table(tmp_path / "two.npz", x=X * 2, y=None, key="b")
    mm = read(tmp_path / "x.npy", mmap=True)[0]
    assert isinstance(mm, np.memmap)


@pytest.mark.parametrize("delim,suffix", [(",", ".csv"), ("\t", ".tsv"), (",", ".txt")])
def test_csv_tsv_round_trip(tmp_path, delim, suffix):
    p = tmp_path / ("t" + suffix)
    names = ["f0", "f1", "f2", "f3", "f4", "cls"]
    lines = [delim.join(names)] + [delim.join([*map(str, row), "ab"[c]]) for row, c in zip(X, Y)]
    p.write_text("\n".join(lines) + "\n")
    check_table(p, label_column="cls")
    x, y, info = read(p, label_column="cls")
    assert info["columns"] == names[:5] and info["classes"] == ["a", "b"]
    q = tmp_path / ("noheader" + suffix)  # no header: columns by position
    q.write_text("\n".join(delim.join(map(str, row)) for row in X) + "\n")
    check_table(q, y=None)
    check_table(q, x=X[:, 1:], y=X[:, 0], label_column="0")


def test_parquet_round_trip(tmp_path):
    pa = pytest.importorskip("pyarrow", reason="Parquet needs pyarrow (pip install 'aekit[parquet]')")
    import pyarrow.parquet as pq

    cols = {f"f{i}": X[:, i] for i in range(5)}
    pq.write_table(pa.table({**cols, "y": Y}), tmp_path / "t.parquet")
    check_table(tmp_path / "t.parquet", label_column="y")
    assert formats.detect_format(tmp_path / "t.parquet") == "parquet"


def test_mat_v5_and_v73_round_trip(tmp_path):
    scipy.io.savemat(tmp_path / "v5.mat", {"X": X, "y": Y[:, None].astype(float)})
    check_table(tmp_path / "v5.mat")
    # v7.3 is HDF5 with a MATLAB header; MATLAB stores arrays column-major, so h5py sees X.T
    p = tmp_path / "v73.mat"
    with h5py.File(p, "w", userblock_size=512) as f:
        f["X"] = X.T
        f["y"] = Y[None, :].astype(float)
    with open(p, "r+b") as f:
        f.write(b"MATLAB 7.3 MAT-file, written by a test".ljust(128, b" "))
    assert formats.detect_format(p) == "mat" and formats.is_mat73(p)
    check_table(p)


def test_hdf5_by_path(tmp_path):
    p = tmp_path / "d.h5"
    with h5py.File(p, "w") as f:
        f["train/data"] = X
        f["train/target"] = Y
        f["test/data"] = X[:3]
    check_table(p, key="train/data")
    check_table(p, x=X[:3], y=None, key="/test/data")
    with h5py.File(tmp_path / "one.h5", "w") as f:
        f["features"] = X
    check_table(tmp_path / "one.h5", y=None)


def test_image_folder_gray_rgb_resize_and_classes(tmp_path):
    from PIL import Image

    imgs = RNG.integers(0, 256, size=(6, 10, 12), dtype=np.uint8)
    flat = tmp_path / "flat"
    flat.mkdir()
    for i, a in enumerate(imgs):
        Image.fromarray(a).save(flat / f"{i}.png")
    x, y, info = read(flat)
    assert x.shape == (6, 1, 10, 12) and y is None and info["channels"] == 1
    np.testing.assert_array_equal(x[:, 0], imgs)  # PNG is lossless
    x, _, _ = read(flat, image_size="5x6")
    assert x.shape == (6, 1, 5, 6)
    classes = tmp_path / "classes"
    smooth = (np.add.outer(np.arange(10) * 12, np.arange(12) * 8) + 20).astype(np.uint8)  # JPEG-friendly
    for k, name in enumerate(["cat", "dog"]):
        (classes / name).mkdir(parents=True)
        for i in range(3):
            rgb = np.stack([smooth + 10 * i, smooth, 255 - smooth], -1).astype(np.uint8)
            Image.fromarray(rgb).save(classes / name / f"{i}.{'jpg' if k else 'png'}", quality=95)
    d = load_file(classes, test_size=0.0)
    assert d.input_shape == (3, 10, 12) and d.info["classes"] == ["cat", "dog"]
    np.testing.assert_array_equal(d.y_train, [0, 0, 0, 1, 1, 1])
    assert d.preprocess.method == "scale" and 0 <= d.train().min() and d.train().max() <= 1
    np.testing.assert_array_equal(d.x_train[1, 2], 255 - smooth)  # PNG: exact, channel order kept
    assert np.abs(d.x_train[4, 2].astype(int) - (255 - smooth)).mean() < 8  # JPEG: lossy, close


def test_torch_dataset(tmp_path):
    class Squares(torch.utils.data.Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            return torch.full((1, 4, 4), i / 10), i % 2

    d = aekit.data.as_data(Squares())
    assert d.input_shape == (1, 4, 4) and d.name == "Squares"
    np.testing.assert_allclose(d.x_train[:, 0, 0, 0], np.arange(10) / 10, rtol=1e-6)
    np.testing.assert_array_equal(d.y_train, np.arange(10) % 2)


def test_load_file_splits_fits_on_train_only(tmp_path):
    np.savez(tmp_path / "xy.npz", X=X, y=Y)
    d = load_file(tmp_path / "xy.npz", seed=3)
    assert len(d.x_train) == 32 and len(d.x_test) == 8
    assert np.bincount(d.y_test).tolist() == [4, 4]  # stratified
    assert d.preprocess.method == "minmax"  # tabular floats → [0, 1], the default sigmoid output's range
    np.testing.assert_allclose(d.preprocess.offset, d.x_train.min(0), rtol=1e-6, atol=1e-9)
    t = d.train()
    assert t.min() == 0 and t.max() == pytest.approx(1)
    assert d.test().min() != 0 or d.test().max() != pytest.approx(1)  # fitted on train only
    s = load_file(tmp_path / "xy.npz", seed=3, preprocess="standardize")
    np.testing.assert_allclose(s.preprocess.offset, s.x_train.mean(0), rtol=1e-6, atol=1e-9)
    assert abs(s.train().mean()) < 1e-6 and abs(s.test().mean()) > 1e-4
    again = load_file(tmp_path / "xy.npz", seed=3)
    np.testing.assert_array_equal(again.x_test, d.x_test)
    other = load_file(tmp_path / "xy.npz", seed=4)
    assert not np.array_equal(other.x_test, d.x_test)


# -- the real files ---------------------------------------------------------------------------
def test_real_mnist_idx():
    p = need(SHARED / "mnist" / "t10k-labels-idx1-ubyte.gz")
    y = formats.read_idx(p)
    assert y.shape == (10000,) and np.bincount(y).tolist()[:3] == [980, 1135, 1032]
    assert len(gzip.decompress(p.read_bytes())) == 8 + 10000  # header + one byte per label


@pytest.mark.parametrize("name,n,d,anomalies", [("6_cardio", 1831, 21, 176), ("42_WBC", 223, 9, 10), ("34_smtp", 95156, 3, 30)])
def test_real_adbench_npz(name, n, d, anomalies):
    x, y, _ = read(need(SHARED / "adbench" / f"{name}.npz"))
    assert x.shape == (n, d) and int(y.sum()) == anomalies


@pytest.mark.parametrize("name,shape,anomalies", [("cardio", (1831, 21), 176), ("thyroid", (3772, 6), 93),
                                                  ("arrhythmia", (452, 274), 66), ("smtp", (95156, 3), 30)])
def test_real_odds_mat(name, shape, anomalies):
    p = need(SHARED / "odds" / f"{name}.mat")
    x, y, _ = read(p)
    assert x.shape == shape and y.shape == (shape[0],) and int(y.sum()) == anomalies
    assert formats.is_mat73(p) == (name == "smtp")
    if name == "cardio":  # the same data as ADBench's 6_cardio.npz, row for row
        ref, _, _ = read(need(SHARED / "adbench" / "6_cardio.npz"))
        np.testing.assert_allclose(x, ref)


def test_real_frey_usps_olivetti():
    frey = aekit.datasets.load("frey-face", root=need(SHARED / "freyface"), download=False)
    assert frey.input_shape == (1, 28, 20) and len(frey.x_train) + len(frey.x_test) == 1965
    usps = aekit.datasets.load("usps", root=need(SHARED / "usps"), download=False)
    assert (len(usps.x_train), len(usps.x_test)) == (7291, 2007) and usps.input_shape == (1, 16, 16)
    assert np.bincount(usps.y_test).tolist()[:2] == [359, 264]
    oli = aekit.datasets.load("olivetti", root=need(SHARED / "olivetti"), download=False)
    assert oli.input_shape == (1, 64, 64) and np.bincount(oli.y_test).tolist() == [2] * 40
    # upright faces: the forehead (top rows) is brighter than the chin/neck (bottom rows) on average
    mean = oli.train().mean(0)[0]
    assert mean[:8].mean() > mean[-8:].mean()
    # column-major: a face is symmetric left-right far more than top-bottom
    assert np.abs(mean - mean[:, ::-1]).mean() < np.abs(mean - mean[::-1]).mean()
