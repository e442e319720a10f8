"""The model-agnostic trainer: splits, schedules, early stopping, the run directory."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

import aekit
from aekit.errors import AekitError


@pytest.fixture(scope="module")
def digits():
    return aekit.datasets.load("digits")


def small_ae(d, **kw):
    torch.manual_seed(0)
    return aekit.AE(input_shape=d.input_shape, latent_dim=8, hidden=(32,), **kw)


def test_run_directory_is_complete(digits, tmp_path):
    m = small_ae(digits)
    t = aekit.Trainer(epochs=3, batch_size=64, progress=False, out_dir=tmp_path)
    hist = t.fit(m, digits)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"config.json", "model.safetensors", "preprocess.json", "history.csv", "checkpoint"} <= names
    assert not [p for p in tmp_path.rglob("*.tmp")], "temporary files left behind"
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["model_class"] == "AE" and cfg["model"]["latent_dim"] == 8
    assert cfg["data"]["name"] == "digits" and cfg["training"]["epochs"] == 3
    rows = list(csv.DictReader(open(tmp_path / "history.csv")))
    assert len(rows) == 3 == len(hist)
    assert {"train_loss", "train_recon", "val_loss", "val_recon", "lr"} <= set(rows[0])
    ck = torch.load(tmp_path / "checkpoint" / "last.pt", weights_only=True)
    assert ck["epoch"] == 3
    same = aekit.load(tmp_path)
    torch.testing.assert_close(same.state_dict(), m.state_dict())


def test_validation_loss_is_computed_in_eval_mode(digits):
    m = aekit.DenoisingAE(input_shape=digits.input_shape, latent_dim=8, noise="masking", noise_level=0.9)
    t = aekit.Trainer(epochs=1, batch_size=64, progress=False, val_split=0.2)
    t.fit(m, digits)
    x = torch.from_numpy(digits.train()[:100])
    ev = t.evaluate_terms(m, x)
    want = ((m.reconstruct(x) - x) ** 2).mean().item()
    assert ev["recon"] == pytest.approx(want, rel=1e-5)


def test_cosine_schedule_decays_the_learning_rate(digits):
    t = aekit.Trainer(epochs=4, batch_size=128, progress=False, lr=0.01, lr_schedule="cosine")
    hist = t.fit(small_ae(digits), digits)
    lrs = [r["lr"] for r in hist]
    want = [0.01 * (1 + np.cos(np.pi * e / 4)) / 2 for e in range(4)]
    np.testing.assert_allclose(lrs, want, rtol=1e-6)


def test_early_stopping_stops_and_restores_the_best(digits):
    # a huge SGD learning rate makes validation loss stop improving quickly
    t = aekit.Trainer(epochs=40, batch_size=64, progress=False, optimizer="sgd", lr=3.0, early_stopping=2)
    hist = t.fit(small_ae(digits), digits)
    assert len(hist) < 40
    best = min(r["val_loss"] for r in hist)
    assert hist[-1]["val_loss"] >= best


@pytest.mark.parametrize("opt", ["adam", "adamw", "sgd", "rmsprop", "adagrad"])
def test_optimizers_by_name(digits, opt):
    hist = aekit.Trainer(epochs=2, batch_size=64, progress=False, optimizer=opt, lr=0.01).fit(small_ae(digits), digits)
    assert np.isfinite(hist[-1]["train_loss"])


def test_accepts_numpy_and_tensors():
    x = np.random.default_rng(0).random((100, 12)).astype(np.float32)
    m = aekit.AE(input_shape=(12,), latent_dim=3, hidden=(8,))
    aekit.Trainer(epochs=1, batch_size=10, progress=False).fit(m, x)
    aekit.Trainer(epochs=1, batch_size=10, progress=False).fit(m, torch.from_numpy(x))
    aekit.Trainer(epochs=1, batch_size=10, progress=False).fit(m, (x, np.zeros(100)))


@pytest.mark.parametrize(
    "kwargs,data,match",
    [
        ({"batch_size": 500}, np.random.rand(100, 12), "batch_size: 500 is larger than the 90 training samples"),
        ({}, np.random.rand(100, 7), r"samples have shape \(7,\) but the model expects \(12,\)"),
        ({}, np.full((10, 12), np.nan), "NaN/inf values, first at row 0, column 0"),
        ({}, np.zeros((0, 12)), "empty"),
        ({"device": "cuda:7"}, np.random.rand(100, 12), "device"),
        ({"epochs": 0}, np.random.rand(100, 12), "epochs: must be a positive integer"),
        ({"optimizer": "adamm"}, np.random.rand(100, 12), "did you mean 'adam'"),
        ({"lr": -1.0}, np.random.rand(100, 12), "lr: learning rate must be positive"),
    ],
)
def test_bad_training_input_is_one_clear_error(kwargs, data, match):
    m = aekit.AE(input_shape=(12,), latent_dim=3, hidden=(8,))
    with pytest.raises(AekitError, match=match):
        aekit.Trainer(progress=False, batch_size=kwargs.pop("batch_size", 10), **kwargs).fit(m, data.astype(np.float32))


def test_divergence_is_reported_with_epoch_and_step(digits):
    t = aekit.Trainer(epochs=3, batch_size=64, progress=False, optimizer="sgd", lr=1e6, log_every=1)
    m = aekit.AE(input_shape=digits.input_shape, latent_dim=8, output="linear", activation="relu")
    with pytest.raises(AekitError, match=r"diverged at epoch \d+, step \d+.*--lr"):
        t.fit(m, digits)


def test_divergence_names_the_first_bad_step_and_term():
    class Bomb(aekit.AE):
        """An AE whose loss turns NaN at a chosen global step."""

        def on_train_step(self, step):
            self._step = step

        def penalty(self, z, x):
            boom = torch.tensor(float("nan") if self._step >= 7 else 0.0)
            return boom, {"boom": boom}

    x = np.random.default_rng(0).random((160, 6)).astype(np.float32)
    m = Bomb(input_shape=(6,), latent_dim=2, hidden=(4,))
    t = aekit.Trainer(epochs=3, batch_size=16, val_split=0, progress=False, log_every=50)
    with pytest.raises(AekitError, match=r"diverged at epoch 1, step 8: loss term\(s\) loss, boom became NaN"):
        t.fit(m, x)


def test_token_rows_are_batched_by_length_and_every_row_is_seen_once_per_epoch():
    """A text family's rows come in batches of similar length (buckets), in a fresh order each
    epoch; rows of numbers keep the plain permutation."""
    from aekit.train.batches import BUCKET, epoch_batches

    n, bs = 3 * BUCKET * 8 + 5, 8
    lengths = torch.randint(1, 60, (n,), generator=torch.Generator().manual_seed(0))
    x = torch.arange(n)[:, None]  # row i holds i: the batches say which rows they took
    epochs = []
    for seed in (1, 2):
        batches = [b[:, 0] for b, _ in epoch_batches(x, torch.Generator().manual_seed(seed), bs, lengths)]
        assert len(batches) == -(-n // bs)  # as many batches as without buckets
        assert sorted(torch.cat(batches).tolist()) == list(range(n))  # every row once
        spread = torch.stack([lengths[b].max() - lengths[b].min() for b in batches if len(b) == bs]).float()
        epochs.append(batches)
        plain = [b[:, 0] for b, _ in epoch_batches(x, torch.Generator().manual_seed(seed), bs)]
        plain_spread = torch.stack([lengths[b].max() - lengths[b].min() for b in plain if len(b) == bs]).float()
        assert spread.mean() < 0.25 * plain_spread.mean()
    assert not all(torch.equal(a, b) for a, b in zip(*epochs))
