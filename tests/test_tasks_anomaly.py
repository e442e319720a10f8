"""Anomaly scores and `aekit detect`: each score ranks real anomalies far above chance."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import aekit
from aekit.errors import AekitError
from aekit.tasks.anomaly import AnomalyScorer, ranking_metrics, threshold
from conftest import SHARED, need, run_cli


def test_scorer_kinds_and_roundtrip():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5)).astype(np.float32)
    model = aekit.AE(input_shape=(5,), latent_dim=2, hidden=(16,), output="linear")
    aekit.Trainer(epochs=10, batch_size=64, val_split=0, progress=False).fit(model, x)
    far = np.full((3, 5), 6.0, dtype=np.float32)
    for kind in ("recon", "mahalanobis", "combined"):
        s = AnomalyScorer(kind).fit(model, x)
        assert s.score(model, far).min() > np.percentile(s.score(model, x), 99), kind
        again = AnomalyScorer.from_dict(json.loads(json.dumps(s.to_dict())))
        np.testing.assert_allclose(again.score(model, x), s.score(model, x))
    comb = AnomalyScorer("combined").fit(model, x).score(model, x)
    assert abs(np.median(comb)) < 0.5  # each part centred on its training median
    with pytest.raises(AekitError, match="variational"):
        AnomalyScorer("elbo").fit(model, x)
    with pytest.raises(AekitError, match="unknown anomaly score"):
        AnomalyScorer("nope")


def test_elbo_score_is_the_elbo_at_the_posterior_mean_and_sampling_is_an_option():
    """auto picks −ELBO for a VAE, evaluated at z = μ(x) (what an exported graph computes);
    n_draws=K averages K seeded samples instead: reproducible, and a different estimate."""
    torch.manual_seed(0)
    x = np.random.default_rng(1).random((64, 6)).astype(np.float32)
    vae = aekit.VAE(input_shape=(6,), latent_dim=2, hidden=(8,))
    s = AnomalyScorer("auto").fit(vae, x)
    assert s.resolved == "elbo"
    got = s.score(vae, x)
    with torch.inference_mode():
        xt = torch.from_numpy(x)
        q = vae.encode(xt)
        want = (vae.nll(vae.decode_params(q.mean), xt) + q.kl()).double().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)
    sampled = AnomalyScorer("auto", n_draws=4).fit(vae, x)
    a = sampled.score(vae, x)
    np.testing.assert_array_equal(a, sampled.score(vae, x))
    assert not np.allclose(a, got, rtol=1e-3)
    again = AnomalyScorer.from_dict(json.loads(json.dumps(sampled.to_dict())))
    np.testing.assert_array_equal(again.score(vae, x), a)
    with pytest.raises(AekitError, match="n_draws"):
        AnomalyScorer("auto", n_draws=-1)


def test_threshold_and_metrics():
    s = np.arange(100, dtype=float)
    assert threshold(s, 0.1) == pytest.approx(89.1)
    y = (s >= 90).astype(int)
    m = ranking_metrics(y, s)
    assert m["auroc"] == pytest.approx(1.0) and m["auprc"] == pytest.approx(1.0)
    assert ranking_metrics(y, -s)["auroc"] == 0.0
    with pytest.raises(AekitError, match="contamination"):
        threshold(s, 0.9)


def test_one_class_mnist_digit_beats_chance(mnist):
    """Ruff et al.'s one-class protocol in small: train on 1000 images of digit 1, score 1000
    test images; AUROC of "not 1" vs "1"."""
    from sklearn.metrics import roc_auc_score

    from aekit.sklearn import AnomalyDetector

    xtr = mnist.train()[mnist.y_train == 1][:1000]
    xte, yte = mnist.test()[:1000], mnist.y_test[:1000]
    det = AnomalyDetector(latent_dim=16, hidden=(128,), preprocess="none", epochs=5,
                          batch_size=50, random_state=0).fit(xtr)
    auc = roc_auc_score(yte != 1, -det.score_samples(xte))
    assert auc > 0.95, auc


def test_detect_cli_on_real_adbench(tmp_path):
    src = need(SHARED / "adbench" / "42_WBC.npz")
    d = np.load(src)
    x, y = d["X"].astype(np.float32), d["y"]
    np.save(tmp_path / "normal.npy", x[y == 0][:150])
    np.savez(tmp_path / "all.npz", X=x, y=y)
    run = tmp_path / "run"
    r = run_cli("train", "--data", str(tmp_path / "normal.npy"), "--preprocess", "standardize", "--output", "linear",
                "--latent-dim", "4", "--hidden", "32", "--epochs", "30", "--batch-size", "32", "--quiet",
                "--out", str(run), "--no-report")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "scores.csv"
    r = run_cli("detect", str(run), "--data", str(tmp_path / "all.npz"), "--out", str(out), "--contamination", "0.05")
    assert r.returncode == 0, r.stderr
    assert "AUROC=" in r.stdout
    rows = out.read_text().splitlines()
    assert rows[0] == "index,score,is_anomaly" and len(rows) == len(x) + 1
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["auroc"] > 0.85, summary  # chance is 0.5
    flags = np.array([int(r.split(",")[2]) for r in rows[1:]])
    assert flags[y == 1].mean() > flags[y == 0].mean()
    bad = run_cli("detect", str(run), "--data", str(tmp_path / "missing.npz"))
    assert bad.returncode == 2 and "not found" in bad.stderr


def test_detect_scores_a_npy_file_a_chunk_at_a_time(tmp_path, monkeypatch):
    """A .npy is opened as a memory map and scored in pieces: the same scores as scoring the
    whole array in memory, a NaN in the last rows is a one-line error naming the file, and no
    half-written output is left behind."""
    from aekit.data import stream
    from aekit.data.preprocess import Preprocessor
    from aekit.tasks import anomaly

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(5000, 6)) @ rng.normal(size=(6, 12))).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    run = tmp_path / "run"
    torch.manual_seed(0)
    data = aekit.data.Data(x_train=x[:3000], name="t").set_preprocess(Preprocessor.fit(x[:3000], "standardize"))
    model = aekit.AE(input_shape=(12,), hidden=(16,), latent_dim=3, output="linear")
    aekit.Trainer(epochs=2, batch_size=256, progress=False, val_split=0.0, out_dir=run).fit(model, data)

    chunks = []
    real = stream.Rows.__getitem__
    monkeypatch.setattr(stream.Rows, "__getitem__", lambda self, sl: (chunks.append(sl), real(self, sl))[1])
    out = tmp_path / "scores.csv"
    summary = anomaly.detect_path(run, tmp_path / "x.npy", out, score="recon", fit_on="data")
    assert summary["n"] == 5000 and len(chunks) >= 3  # read in 2048-row pieces, twice (fit and score)
    got = np.array([float(r.split(",")[1]) for r in out.read_text().splitlines()[1:]])
    model = aekit.load(run)
    pre = Preprocessor.from_dict(json.loads((run / "preprocess.json").read_text()))
    want = anomaly.reconstruction_error(model, pre.transform(x))
    assert np.allclose(got, want, rtol=1e-5)

    x[-3, 4] = np.nan
    np.save(tmp_path / "bad.npy", x)
    with pytest.raises(AekitError, match="bad.npy"):
        anomaly.detect_path(run, tmp_path / "bad.npy", tmp_path / "bad.csv", score="recon")
    assert not (tmp_path / "bad.csv").exists()


def test_detect_and_embed_read_every_format_train_reads(tmp_path):
    """Trained on an ODDS .mat file, the run scores that same .mat (labels from its y), a CSV
    whose 'label' column is found by name, and embeds the .mat; text labels are refused with
    the fix, since the anomaly class of text labels is unknown."""
    from aekit.data.files import load_file
    from aekit.tasks import anomaly, represent

    src = need(SHARED / "odds" / "cardio.mat")
    data = load_file(src, preprocess="standardize")
    run = tmp_path / "run"
    torch.manual_seed(0)
    model = aekit.AE(input_shape=data.x_train.shape[1:], hidden=(16,), latent_dim=3, output="linear")
    aekit.Trainer(epochs=10, batch_size=64, progress=False, val_split=0.0, out_dir=run).fit(model, data)

    s_mat = anomaly.detect_path(run, src, tmp_path / "mat.csv", score="recon")
    x, y, _ = aekit.tasks.common.read_table(src)
    assert s_mat["n"] == len(x) == 1831 and s_mat["auroc"] > 0.7, s_mat  # chance is 0.5

    header = ",".join([f"f{i}" for i in range(x.shape[1])] + ["Label"])
    np.savetxt(tmp_path / "t.csv", np.column_stack([x, y]), delimiter=",", header=header, comments="")
    s_csv = anomaly.detect_path(run, tmp_path / "t.csv", tmp_path / "csv.csv", score="recon")
    assert s_csv["auroc"] == pytest.approx(s_mat["auroc"], abs=1e-6)

    text = np.where(y == 1, "anomaly", "normal")
    rows = [header] + [",".join([*map(str, r), t]) for r, t in zip(x, text)]
    (tmp_path / "text.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(AekitError, match="text.csv: the label column holds text"):
        anomaly.detect_path(run, tmp_path / "text.csv", tmp_path / "text_scores.csv", score="recon")
    assert not (tmp_path / "text_scores.csv").exists()

    assert represent.embed_path(run, str(src), tmp_path / "z.npy") == (1831, 3)
    with pytest.raises(AekitError, match="is a folder; give a data file"):
        anomaly.detect_path(run, tmp_path, tmp_path / "folder_scores.csv", score="recon")
