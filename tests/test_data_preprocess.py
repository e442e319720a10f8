"""Preprocessing (fit on train, saved, applied and inverted), binarization, splits, streaming."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import aekit
from aekit.data import Preprocessor, load_file, split_indices
from aekit.data import stream as S
from aekit.data.bundle import Data
from aekit.errors import AekitError
from aekit.tasks.common import batched

RNG = np.random.default_rng(0)


def test_standardize_minmax_constant_columns_and_round_trip():
    x = RNG.normal(3.0, 2.0, size=(500, 4))
    x[:, 2] = 7.0  # a constant column
    for method in ("standardize", "minmax"):
        pre = Preprocessor.fit(x, method)
        t = pre.transform(x)
        assert np.isfinite(t).all() and np.all(t[:, 2] == 0)  # shifted, never divided by 0
        if method == "standardize":
            np.testing.assert_allclose(t[:, [0, 1, 3]].mean(0), 0, atol=1e-5)
            np.testing.assert_allclose(t[:, [0, 1, 3]].std(0), 1, atol=1e-4)
        else:
            np.testing.assert_allclose(t[:, [0, 1, 3]].min(0), 0, atol=1e-6)
            np.testing.assert_allclose(t[:, [0, 1, 3]].max(0), 1, atol=1e-6)
        back = Preprocessor.from_dict(pre.to_dict())  # what preprocess.json holds
        np.testing.assert_allclose(back.inverse_transform(back.transform(x)), x, rtol=1e-5, atol=1e-5)


def test_blocked_statistics_match_numpy():
    from aekit.data.preprocess import BLOCK

    x = RNG.normal(size=(BLOCK * 2 + 123, 3)) * [1, 10, 100] + [0, 5, -5]
    pre = Preprocessor.fit(x, "standardize")
    np.testing.assert_allclose(pre.offset, x.mean(0), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(pre.scale, x.std(0), rtol=1e-10)


def test_channel_norm_images_and_inverse():
    x = RNG.integers(0, 256, size=(50, 3, 4, 4), dtype=np.uint8)
    x[:, 1] //= 4
    pre = Preprocessor.fit(x, "scale", channel_norm=True)
    t = pre.transform(x)
    np.testing.assert_allclose(t.mean((0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(t.std((0, 2, 3)), 1, atol=1e-4)
    np.testing.assert_allclose(pre.inverse_transform(t), x, atol=1e-3)


def test_impute_mean_fitted_on_train():
    x = RNG.normal(size=(100, 3))
    x[5, 1] = np.nan
    x[9, 2] = np.inf
    with pytest.raises(AekitError, match=r"2 NaN/inf values, first at row 5, column 1; .*--impute mean"):
        aekit.data.check_array(x)
    pre = Preprocessor.fit(x, "none", impute="mean")
    t = pre.transform(x)
    assert t[5, 1] == pytest.approx(np.delete(x[:, 1], 5).mean(), rel=1e-5)
    assert t[9, 2] == pytest.approx(np.delete(x[:, 2], 9).mean(), rel=1e-5)


def test_binarize_threshold_static_and_dynamic():
    x = np.full((200, 10), 0.3, np.float32)
    th = Preprocessor.fit(x, "none", binarize="threshold", threshold=0.25).transform(x)
    assert th.min() == 1.0
    st = Preprocessor.fit(x, "none", binarize="static", seed=1)
    a, b = st.transform(x), st.transform(x)
    np.testing.assert_array_equal(a, b)  # one fixed sample
    assert set(np.unique(a)) == {0.0, 1.0} and abs(a.mean() - 0.3) < 0.03
    dyn = Preprocessor.fit(x, "none", binarize="dynamic")
    np.testing.assert_array_equal(dyn.transform(x), x)  # intensities; sampled per batch
    g = torch.Generator().manual_seed(0)
    s1, s2 = dyn.sample_batch(torch.from_numpy(x), g), dyn.sample_batch(torch.from_numpy(x), g)
    assert not torch.equal(s1, s2) and abs(s1.mean().item() - 0.3) < 0.03
    with pytest.raises(AekitError, match="needs values in \\[0, 1\\]"):
        Preprocessor.fit(x * 5, "none", binarize="dynamic")


@pytest.mark.parametrize("mode", ["static", "dynamic"])
def test_dynamic_binarization_draws_a_new_sample_each_epoch(mode):
    """The trainer sees a fresh Bernoulli sample per epoch with dynamic, the same with static.
    Column sums over the whole (single-batch) epoch do not depend on the row order."""
    x = np.tile(np.linspace(0.1, 0.9, 16, dtype=np.float32), (64, 1))
    data = Data(x_train=x, name="t").set_preprocess(Preprocessor.fit(x, "none", binarize=mode, seed=0))
    model = aekit.AE(input_shape=(16,), latent_dim=2, hidden=(8,))
    seen = []
    step = model.training_step
    model.training_step = lambda xb, *a, **k: (seen.append(xb.sum(0).clone()), step(xb, *a, **k))[1]
    aekit.Trainer(epochs=3, batch_size=64, val_split=0.0, progress=False).fit(model, data)
    assert len(seen) == 3 and all(set(torch.unique(s).tolist()) <= set(range(65)) for s in seen)
    same = [torch.equal(seen[0], s) for s in seen[1:]]
    assert same == ([True, True] if mode == "static" else [False, False])
    assert abs(seen[0].sum().item() / (64 * 16) - 0.5) < 0.05  # E[x̃] = x, mean 0.5


def test_integer_data_keeps_its_dtype_through_an_identity_preprocessing(tmp_path):
    """Token ids stay integers from the file to the model's input; anything that changes
    values (scaling, imputing, binarizing) gives float32, and uint8 images are scaled as ever."""
    tokens = RNG.integers(0, 50, size=(100, 12)).astype(np.int64)
    d = aekit.data.as_data(tokens)  # auto: integers other than uint8 are taken as they are
    assert d.preprocess.method == "none" and d.dtype == np.int64
    assert d.train().dtype == np.int64 and np.array_equal(d.train(), tokens)
    assert Data(x_train=tokens[:80], x_test=tokens[80:]).test().dtype == np.int64
    np.save(tmp_path / "t.npy", tokens)
    for stream in (False, True):
        f = load_file(tmp_path / "t.npy", preprocess="none", stream=stream)
        assert f.streaming == stream and f.dtype == np.int64
        assert f.train().dtype == np.int64 and f.test().dtype == np.int64
        assert f.evaluation_rows()[:5].dtype == np.int64
    g = torch.Generator().manual_seed(0)
    assert {b.dtype for b in S.iter_batches(f.x_train, f.preprocess, 32, g)} == {torch.int64}
    # the data layer hands integers on; the trainer gives the model what its network takes
    # (Autoencoder.input_dtype): a float network gets float32 batches of the same values
    seen = []
    model = aekit.AE(input_shape=(12,), latent_dim=2, hidden=(8,), output="linear")
    step = model.training_step
    model.training_step = lambda xb, *a, **k: (seen.append(xb.clone()), step(xb, *a, **k))[1]
    aekit.Trainer(epochs=1, batch_size=50, val_split=0.0, progress=False, fused="off").fit(model, d)
    assert [b.dtype for b in seen] == [torch.float32, torch.float32]
    got = torch.cat(seen)
    assert torch.equal(got.sort(0).values, torch.from_numpy(tokens).float().sort(0).values)
    # values change → float32
    assert Preprocessor.fit(tokens, "standardize").transform(tokens).dtype == np.float32
    assert Preprocessor.fit(tokens, "none", impute="mean").transform(tokens).dtype == np.float32
    assert Preprocessor.fit(tokens % 2, "none", binarize="threshold").transform(tokens % 2).dtype == np.float32
    assert Preprocessor("none").transform(tokens.astype(np.float64)).dtype == np.float32  # floats as before
    assert Preprocessor("none").transform(tokens > 3).dtype == np.float32  # booleans are Bernoulli data
    img = RNG.integers(0, 256, size=(10, 1, 4, 4), dtype=np.uint8)
    u = aekit.data.as_data(img)
    assert u.dtype == np.float32 and u.train().dtype == np.float32 and u.train().max() <= 1.0
    assert Preprocessor("none").transform(img).dtype == np.uint8  # bytes as tokens: asked for with none


def test_stratified_seeded_split():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    tr, te = split_indices(100, y, 0.2, seed=1)
    assert len(te) == 20 and np.bincount(y[te]).tolist() == [10, 6, 4]
    assert not set(tr) & set(te)
    assert np.array_equal(te, split_indices(100, y, 0.2, seed=1)[1])


# -- out-of-core ------------------------------------------------------------------------------------
def test_blocked_shuffle_visits_every_row_once(tmp_path):
    x = np.arange(1000 * 2, dtype=np.float32).reshape(1000, 2)
    np.save(tmp_path / "x.npy", x)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    g = torch.Generator().manual_seed(0)
    orders = []
    for _ in range(2):
        batches = list(S.iter_batches(mm, Preprocessor("none"), 64, g, block_rows=50, blocks_per_chunk=3))
        assert [len(b) for b in batches[:-1]] == [64] * (len(batches) - 1)
        rows = torch.cat(batches)[:, 0].numpy() / 2
        assert sorted(rows.tolist()) == list(range(1000))
        orders.append(rows)
    assert not np.array_equal(orders[0], orders[1])  # a new order each epoch
    assert not np.array_equal(orders[0], np.arange(1000))


def test_train_and_score_from_memory_map(tmp_path):
    x = (RNG.normal(size=(3000, 2)) @ RNG.normal(size=(2, 6)) * 3 + 1).astype(np.float32)  # rank 2
    np.save(tmp_path / "x.npy", x)
    data = load_file(tmp_path / "x.npy", stream=True)
    assert data.streaming and isinstance(data.x_train, np.memmap) and len(data.x_test) == 600
    np.testing.assert_allclose(data.preprocess.offset, x[:2400].min(0), rtol=1e-6)  # fitted on the train rows
    model = aekit.AE(input_shape=(6,), latent_dim=2, hidden=(32,), output="linear")
    before = S.mean_terms(model, data.x_test, data.preprocess)["loss"]
    hist = aekit.Trainer(epochs=6, batch_size=100, lr=3e-3, optimizer="rmsprop", progress=False).fit(model, data)
    assert hist[-1]["val_loss"] < 0.3 * before and hist[-1]["train_loss"] < hist[0]["train_loss"]
    m = aekit.evaluate(model, S.Rows(data.x_test, data.preprocess))
    ref = aekit.evaluate(model, data.preprocess.transform(np.asarray(data.x_test)))
    assert m["mse"] == pytest.approx(ref["mse"], rel=1e-5) and m["psnr"] == pytest.approx(ref["psnr"], rel=1e-5)
    scores = batched(model.eval().score, S.Rows(data.x_test, data.preprocess), batch_size=128).numpy()
    ref = model.score(torch.from_numpy(data.preprocess.transform(np.asarray(data.x_test)))).detach().numpy()
    np.testing.assert_allclose(scores, ref, rtol=1e-5, atol=1e-6)



def test_evaluate_streams_every_metric_of_an_out_of_core_split(tmp_path, monkeypatch):
    """aekit.evaluate reads a memory-mapped split a chunk at a time, ELBO, NLL and denoising
    metrics included, and gives the in-memory results (the random ones within noise)."""
    x = RNG.random((700, 12)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    arr = np.load(tmp_path / "x.npy", mmap_mode="r")
    pre = Preprocessor.fit(x, "none")
    reads = []
    real = S.Rows.__getitem__
    monkeypatch.setattr(S.Rows, "__getitem__", lambda self, sl: (reads.append(sl), real(self, sl))[1])
    torch.manual_seed(0)
    vae = aekit.VAE(input_shape=(12,), hidden=(16,), latent_dim=3)
    streamed = aekit.evaluate(vae, S.Rows(arr, pre), batch_size=100, nll_samples=200)
    assert len(reads) == 7  # 700 rows in 100-row chunks, read once
    whole = aekit.evaluate(vae, x, nll_samples=200)
    for k in ("mse", "psnr", "bce"):  # deterministic: the same to float rounding
        assert streamed[k] == pytest.approx(whole[k], rel=1e-5), k
    for k in ("neg_elbo", "nll"):  # one posterior sample / 200 importance samples per row
        assert streamed[k] == pytest.approx(whole[k], rel=0.02), (k, streamed[k], whole[k])
    assert streamed["nll"] <= streamed["neg_elbo"] + 0.05  # −log p(x) ≤ −ELBO
    dae = aekit.DenoisingAE(input_shape=(12,), hidden=(16,), latent_dim=3, noise_level=0.3)
    reads.clear()
    d_streamed = aekit.evaluate(dae, S.Rows(arr, pre), batch_size=100)
    assert len(reads) == 14  # the metrics pass and the denoising pass
    d_whole = aekit.evaluate(dae, x)
    assert d_streamed["noisy_psnr"] == pytest.approx(d_whole["noisy_psnr"], rel=0.01)
    assert d_streamed["denoised_psnr"] == pytest.approx(d_whole["denoised_psnr"], rel=0.01)

def test_convert_csv_streams_to_npy(tmp_path):
    from aekit.data.convert import convert

    x = RNG.normal(size=(300, 3)).round(3)
    lines = ["a,b,c,label"] + [f"{r[0]},{r[1]},{r[2]},{i % 3}" for i, r in enumerate(x)]
    (tmp_path / "t.csv").write_text("\n".join(lines))
    from aekit.data import tabular

    n, d = tabular.csv_to_npy(tmp_path / "t.csv", tmp_path / "t.npy", label_column="label", chunk_rows=7)
    assert (n, d) == (300, 3)
    np.testing.assert_allclose(np.load(tmp_path / "t.npy"), x, rtol=1e-6)
    np.testing.assert_array_equal(np.load(tmp_path / "t.labels.npy"), np.arange(300) % 3)
    data = load_file(tmp_path / "t.npy", stream=True)
    assert data.y_train is not None and len(data.y_train) == 240
    assert convert(tmp_path / "t.npy", tmp_path / "u.npy") == (300, 3)
