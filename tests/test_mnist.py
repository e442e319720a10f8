"""Short runs on real MNIST (../shared/data/mnist); skipped with a reason where absent."""

from __future__ import annotations

import json

import numpy as np
import torch

import aekit
from conftest import run_cli


def test_classic_ae_reaches_paper_quality_through_the_cli(mnist_root, tmp_path):
    out = tmp_path / "ae"
    r = run_cli("train", "--model", "ae", "--hidden", "128", "--latent-dim", "64", "--data", "mnist",
                "--data-root", str(mnist_root), "--epochs", "5", "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["n"] == 10_000
    # measured 0.0128 (the mean image gives 0.067); a model that learned little stays far above
    assert m["mse"] <= 0.016


def test_vae_improves_its_test_elbo_by_a_wide_margin(mnist):
    x_test = mnist.test()[:2000]
    torch.manual_seed(0)
    vae = aekit.VAE(input_shape=mnist.input_shape, latent_dim=16, hidden=(256,))
    before = aekit.evaluate(vae, x_test)["neg_elbo"]
    sub = aekit.Data(x_train=mnist.x_train[:20000], preprocess=mnist.preprocess)
    aekit.Trainer(epochs=3, batch_size=128, progress=False, val_split=0).fit(vae, sub)
    after = aekit.evaluate(vae, x_test)["neg_elbo"]
    # untrained: about 543 nats (784 · log 2); 3 epochs on 20k images: about 130
    assert before > 500
    assert after < 0.35 * before
    assert np.isfinite(after)
