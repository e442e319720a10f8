"""Representation: clustering accuracy, linear probes, `aekit embed` and `evaluate`'s numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aekit.tasks.represent import (
    PROBE_CS,
    choose_probe_c,
    cluster_accuracy,
    kmeans_accuracy,
    linear_probe,
)
from conftest import run_cli


def test_cluster_accuracy_is_label_permutation_invariant():
    y = np.array([0, 0, 1, 1, 2, 2, 2])
    assert cluster_accuracy(y, (y + 1) % 3) == 1.0  # renamed clusters are still perfect
    assert cluster_accuracy(y, np.array([0, 0, 1, 1, 2, 2, 1])) == pytest.approx(6 / 7)
    assert cluster_accuracy(y, np.zeros(7)) == pytest.approx(3 / 7)  # one cluster: largest class


def test_probe_and_kmeans_on_separable_and_random_codes():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    z = rng.normal(size=(600, 4)) + 6 * np.eye(3, 4)[y]
    assert linear_probe(z[:400], y[:400], z[400:], y[400:]) > 0.97
    assert kmeans_accuracy(z, y) > 0.97
    noise = rng.normal(size=(600, 4))
    assert linear_probe(noise[:400], y[:400], noise[400:], y[400:]) < 0.5  # chance is 1/3


def test_probe_strength_is_chosen_on_held_out_training_codes():
    """C comes from a held-out part of the training codes (never the test codes): a strong
    signal in 1000 noisy features wants strong regularization; 4 samples per class hold none
    out (the weakest regularization is used)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 600)
    z = rng.normal(size=(600, 1000))
    z[:, :20] += 0.3 * (2 * y[:, None] - 1)
    c = choose_probe_c(z[:300], y[:300])
    assert c in PROBE_CS and c == 0.01  # measured: 0.75 test accuracy at C=0.01
    assert linear_probe(z[:300], y[:300], z[300:], y[300:]) == linear_probe(z[:300], y[:300], z[300:], y[300:], C=c)
    assert choose_probe_c(z[:8], np.array([0, 1] * 4)) == max(PROBE_CS)


def test_embed_and_evaluate_cli(tmp_path):
    run = tmp_path / "run"
    r = run_cli("train", "--epochs", "20", "--latent-dim", "8", "--quiet", "--no-report", "--out", str(run))
    assert r.returncode == 0, r.stderr
    r = run_cli("embed", str(run), "--out", str(tmp_path / "codes.npy"))
    assert r.returncode == 0, r.stderr
    assert np.load(tmp_path / "codes.npy").shape == (360, 8)  # the digits test split
    r = run_cli("embed", str(run), "--split", "all", "--out", str(tmp_path / "all.npy"))
    assert r.returncode == 0 and np.load(tmp_path / "all.npy").shape == (1797, 8)
    r = run_cli("evaluate", str(run), "--json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m["linear_probe_acc"] > 0.8  # 10 digit classes: chance is 0.1
    assert m["kmeans_acc"] > 0.4
    r = run_cli("embed", str(run), "--out", str(tmp_path / "codes.txt"))
    assert r.returncode == 2 and ".npy" in r.stderr
