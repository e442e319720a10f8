"""The first-step check: a family edited in its own class, without its hand-written step, trains
the edited loss through autograd (one warning naming the file to update); an unedited one
trains on the fast step exactly as it did without the check."""

from __future__ import annotations

import dataclasses
import warnings

import pytest
import torch

import aekit
from aekit.accel import FastPathMismatch, check
from aekit.models.sparse import SparseAE
from aekit.models.vae import VAE
from aekit.train import fastpath
from aekit.train.trainer import Trainer


@pytest.fixture(scope="module")
def digits():
    return aekit.datasets.load("digits")


def fit(make, data, fused, **kw):
    torch.manual_seed(0)
    model = make(data)
    t = Trainer(epochs=2, batch_size=64, progress=False, device="cpu", seed=0, fused=fused, **kw)
    hist = t.fit(model, data)
    return [{k: v for k, v in row.items() if k != "seconds"} for row in hist], model


def vae(d):
    return aekit.VAE(input_shape=d.input_shape, hidden=(32,), latent_dim=4)


def sparse(d):
    return aekit.SparseAE(input_shape=d.input_shape, hidden=(32,), latent_dim=8, sparsity="kl", sparsity_weight=0.5)


def dae(d):
    return aekit.DenoisingAE(input_shape=d.input_shape, hidden=(32,), latent_dim=8, noise="masking")


def edit_vae_forward(monkeypatch):
    """A VAE whose −ELBO is estimated from two draws of ε, averaged (an edit in the class
    itself; it also draws more random numbers than the hand-written step)."""
    forward = VAE.forward

    def edited(self, x):
        one, two = forward(self, x), forward(self, x)
        return dataclasses.replace(one, loss=(one.loss + two.loss) / 2)

    monkeypatch.setattr(VAE, "forward", edited)


def edit_sparse_penalty(monkeypatch):
    """A sparse AE whose penalty is the KL-ρ penalty squared (an edit in the class itself)."""
    penalty = SparseAE.penalty

    def edited(self, z, x):
        pen, terms = penalty(self, z, x)
        return pen * pen, terms

    monkeypatch.setattr(SparseAE, "penalty", edited)


@pytest.mark.parametrize("make,edit,file", [(vae, edit_vae_forward, "aekit/accel/vae.py"),
                                            (sparse, edit_sparse_penalty, "aekit/accel/sparse.py")],
                         ids=["VAE.forward", "SparseAE.penalty"])
def test_an_edited_loss_trains_through_autograd_with_one_warning(digits, monkeypatch, caplog, make, edit, file):
    edit(monkeypatch)
    m = make(digits)
    assert not isinstance(aekit.accel.build(m, [torch.optim.Adam(m.parameters())]), str)  # still qualifies
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        auto, a = fit(make, digits, "auto")
    mismatch = [w for w in caught if issubclass(w.category, FastPathMismatch)]
    assert len(mismatch) == 1, [str(w.message) for w in caught]
    msg = str(mismatch[0].message)
    assert type(m).__name__ in msg and "the loss" in msg and "through autograd" in msg and file in msg, msg
    assert sum("through autograd" in r.getMessage() for r in caplog.records if r.levelname == "WARNING") == 1
    off, b = fit(make, digits, "off")
    assert auto == off  # the edited objective, from the first step on (one optimizer step on batch 1)
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), n


@pytest.mark.parametrize("make", [vae, sparse, dae], ids=["vae", "sparse-kl", "dae"])
def test_an_unedited_model_trains_on_the_fast_step_as_before(digits, monkeypatch, make):
    """No warning, and the very history (and weights) of a fast fit without the check: the
    check replays the global RNG (corruption, ε) and the fast step takes the one update."""
    seen = []
    verify = check.verify

    def spy(*a, **k):
        out = verify(*a, **k)
        seen.append(out[1])
        return out

    monkeypatch.setattr(check, "verify", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FastPathMismatch)
        checked, a = fit(make, digits, "auto", grad_clip=1.0)
    assert seen == [None]  # checked once, and it agreed
    monkeypatch.setattr(fastpath, "first_step", lambda fast, model, xb, *rest: (fast(xb), fast))
    plain, b = fit(make, digits, "auto", grad_clip=1.0)
    assert checked == plain
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), n
    off, _ = fit(make, digits, "off", grad_clip=1.0)
    assert checked[-1]["train_loss"] == pytest.approx(off[-1]["train_loss"], rel=1e-3)  # and like autograd
