"""The hand-written MLP and VAE training steps and the in-place inference path compute what
autograd and ``nn.Sequential`` compute; models they do not cover fall back to autograd."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

import aekit
from aekit import accel
from aekit.nets.mlp import Stack
from aekit.train import fastpath
from aekit.train.trainer import Trainer


def _both_ways(model, x, kind):
    """One step of ``model``'s hand-written step (it must be a ``kind``) and autograd on a
    copy, with the same random draws (corruption, ε): (step, its terms, autograd's output,
    [(name, hand-written gradient, autograd's gradient)]). The losses must agree."""
    ref = copy.deepcopy(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    step = accel.build(model, [opt])
    assert isinstance(step, kind), step
    torch.manual_seed(1)
    terms = step(x)
    torch.manual_seed(1)
    out = ref(x)
    out.loss.backward()
    assert terms["loss"].item() == pytest.approx(out.loss.item(), rel=1e-5)
    return step, terms, out, [(n, p.grad, q.grad) for (n, p), q in zip(model.named_parameters(), ref.parameters())]


def _grads_both_ways(model, x):
    return _both_ways(model, x, accel.MLPStep)[3]


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "elu", "tanh", "sigmoid", "gelu", "silu"])
@pytest.mark.parametrize("loss,output", [("mse", "sigmoid"), ("bce", "sigmoid"), ("mse", "linear")])
def test_hand_written_gradients_equal_autograd(act, loss, output):
    torch.manual_seed(0)
    model = aekit.AE(input_shape=(20,), hidden=(16, 12), latent_dim=5, activation=act, recon_loss=loss, output=output)
    x = torch.rand(33, 20)
    for name, g, ref in _grads_both_ways(model, x):
        assert torch.allclose(g, ref, rtol=1e-4, atol=1e-7), (name, (g - ref).abs().max().item())


@pytest.mark.parametrize("noise,clip", [("gaussian", ()), ("gaussian", (0, 1)), ("masking", ()), ("salt_pepper", ())])
def test_denoising_step_uses_the_corrupted_input_and_the_clean_target(noise, clip):
    torch.manual_seed(0)
    model = aekit.DenoisingAE(input_shape=(1, 6, 6), hidden=(), latent_dim=4, noise=noise, noise_clip=clip)
    model.train()
    x = torch.rand(17, 1, 6, 6)
    for name, g, ref in _grads_both_ways(model, x):
        assert torch.allclose(g, ref, rtol=1e-4, atol=1e-7), name


def test_which_models_take_the_hand_written_step():
    def reason(model):
        return accel.plan(model, [torch.optim.Adam(model.parameters())])

    assert not isinstance(reason(aekit.AE(input_shape=(8,))), str)
    assert not isinstance(reason(aekit.models.ScheduledDAE(input_shape=(8,))), str)
    assert "overrides" in reason(aekit.SparseAE(input_shape=(8,), sparsity="l1"))
    assert "not a plain AE" in reason(aekit.VAE(input_shape=(8,)))
    assert "'conv' network is not one" in reason(aekit.AE(input_shape=(1, 8, 8), arch="conv"))

    class Mine(aekit.AE):
        def forward(self, x):
            return super().forward(x)

    assert "overrides forward" in reason(Mine(input_shape=(8,)))
    spied = aekit.AE(input_shape=(8,))
    spied.training_step = lambda *a: None
    assert "overrides training_step" in reason(spied)
    frozen = aekit.AE(input_shape=(8,))
    frozen.encoder[0].weight.requires_grad_(False)
    assert "frozen" in reason(frozen)
    two = aekit.AE(input_shape=(8,))
    assert "one optimizer" in accel.plan(two, [torch.optim.Adam(two.encoder.parameters())])


def test_only_a_network_the_registry_vouches_for_takes_the_hand_written_step():
    """The user's nn.Sequential of Linear layers is the same structure as the mlp network, but
    only a network registered with ``fast_path`` qualifies; the reason names the network."""
    seq = aekit.AE(input_shape=(8,), encoder=torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3)),
                   decoder=torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.ReLU(), torch.nn.Linear(6, 8)))
    assert seq.network.name == "sequential"
    assert "'sequential' network is not one" in accel.plan(seq, [torch.optim.Adam(seq.parameters())])
    for make in (lambda: aekit.AE(input_shape=(8,)), lambda: aekit.VAE(input_shape=(8,)),
                 lambda: aekit.SparseAE(input_shape=(8,))):
        m = make()
        assert not isinstance(accel.build(m, [torch.optim.Adam(m.parameters())]), str)
        m.network = dataclasses.replace(m.network, fast_path=False)  # the same layers, not vouched for
        assert "'mlp' network is not one" in accel.build(m, [torch.optim.Adam(m.parameters())])


@pytest.mark.parametrize("kw", [
    {"sparsity": "l1", "sparsity_weight": 0.1},
    {"sparsity": "kl", "sparsity_weight": 0.5, "rho": 0.1},
    {"sparsity": "kl", "sparsity_weight": 0.5, "recon_loss": "bce"},
    {"sparsity": "topk", "k": 3},
    {"sparsity": "topk", "k": 2, "output": "linear", "activation": "tanh"},
    {"sparsity": "l1", "sparsity_weight": 0.1, "hidden": ()},
])
def test_hand_written_sparse_gradients_equal_autograd(kw):
    """L1, KL-ρ (through the sigmoid code) and top-k (through the kept units): the same loss,
    logged terms and gradient for every parameter as autograd."""
    torch.manual_seed(0)
    model = aekit.SparseAE(input_shape=(20,), **{"hidden": (16,), "latent_dim": 8, **kw})
    _, terms, out, grads = _both_ways(model, torch.rand(33, 20), accel.SparseStep)
    for k, v in out.terms.items():
        assert terms[k].item() == pytest.approx(v.item(), rel=1e-5, abs=1e-7), k
    for name, g, ref in grads:
        assert torch.allclose(g, ref, rtol=1e-4, atol=1e-6), (name, (g - ref).abs().max().item())


@pytest.mark.parametrize("make", [
    lambda: aekit.KSparseAE(input_shape=(20,), latent_dim=12, k=3),  # the default: tied, linear output
    lambda: aekit.KSparseAE(input_shape=(20,), latent_dim=12, k=3, hidden=(16,), activation="tanh"),
    lambda: aekit.AE(input_shape=(20,), hidden=(16,), latent_dim=5, tied=True),
    lambda: aekit.SparseAE(input_shape=(20,), hidden=(16,), latent_dim=8, sparsity="l1", tied=True, recon_loss="bce"),
], ids=["ksparse", "ksparse-deep", "ae", "sparse-l1-bce"])
def test_tied_weights_get_both_gradients_in_the_hand_written_step(make):
    """A weight shared by an encoder layer and a tied decoder layer gets the sum of both
    layers' gradients, as autograd gives it; it is updated once."""
    torch.manual_seed(0)
    model = make()
    step, _, _, grads = _both_ways(model, torch.rand(33, 20), (accel.MLPStep, accel.SparseStep))
    assert len(step.params) == len(list(model.parameters()))  # the shared weight once
    for name, g, ref in grads:
        assert torch.allclose(g, ref, rtol=1e-4, atol=1e-6), (name, (g - ref).abs().max().item())


@pytest.mark.parametrize("tied", [False, True])
def test_k_sparse_trains_with_it_like_autograd(tied):
    """A k-sparse AE with its k schedule, tied or not, with gradient clipping: the trainer's
    histories (loss, k) match the autograd run epoch by epoch."""
    d = aekit.datasets.load("digits")
    runs = {}
    for mode in ("auto", "off"):
        torch.manual_seed(0)
        m = aekit.KSparseAE(input_shape=d.input_shape, latent_dim=40, k=5, k_start=20, k_warmup=2, tied=tied)
        t = Trainer(epochs=3, batch_size=64, progress=False, fused=mode, seed=0, grad_clip=1.0)
        t.device = torch.device("cpu")
        step = fastpath.choose(t.config, m, [torch.optim.Adam(m.parameters())], 1, t.device)
        assert isinstance(step, accel.SparseStep) == (mode == "auto")
        runs[mode] = t.fit(m, d)
    for ra, rb in zip(runs["auto"], runs["off"]):
        for k in ("train_loss", "train_mean_activation", "val_loss", "k"):
            assert ra[k] == pytest.approx(rb[k], rel=1e-3), k


@pytest.mark.parametrize("kw", [{}, {"beta": 4.0}, {"activation": "tanh", "hidden": (30, 20)},
                                {"activation": "gelu", "output": "linear"}, {"hidden": ()},
                                {"likelihood": "gaussian"}, {"likelihood": "gaussian", "output": "linear"}])
def test_hand_written_vae_gradients_equal_autograd(kw):
    """Same ε (the same torch.randn draw), same −ELBO terms, same gradient for every parameter
    (the Gaussian decoder's log σ included)."""
    torch.manual_seed(0)
    model = aekit.VAE(input_shape=(50,), **{"hidden": (32,), "latent_dim": 5, **kw})
    if kw.get("likelihood") == "gaussian":
        with torch.no_grad():
            model.log_scale.uniform_(-1, 1)  # a learned σ per feature, not all ones
    _, terms, out, grads = _both_ways(model, torch.rand(17, 50), accel.VAEStep)
    for k in ("recon", "kl", "neg_elbo"):
        assert terms[k].item() == pytest.approx(out.terms[k].item(), rel=1e-5, abs=1e-6), k
    for name, g, ref in grads:
        assert torch.allclose(g, ref, rtol=1e-4, atol=1e-6), (name, (g - ref).abs().max().item())


def test_which_vaes_take_the_hand_written_step():
    def reason(model):
        step = accel.build(model, [torch.optim.Adam(model.parameters())])
        return step if isinstance(step, str) else type(step).__name__

    assert reason(aekit.VAE(input_shape=(8,))) == "VAEStep"
    assert reason(aekit.models.BetaVAE(input_shape=(8,))) == "VAEStep"
    assert reason(aekit.VAE(input_shape=(8,), likelihood="gaussian")) == "VAEStep"
    assert "overrides forward" in reason(aekit.models.IWAE(input_shape=(8,)))
    assert "'conv' network is not one" in reason(aekit.VAE(input_shape=(1, 8, 8), arch="conv"))
    assert reason(aekit.AE(input_shape=(8,))) == "MLPStep"


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_trainer_trains_a_vae_with_it_like_autograd(likelihood):
    """Epoch by epoch, train and validation −ELBO match the autograd run (same seed, same ε),
    with a β warm-up whose schedule the step reads each step."""
    d = aekit.datasets.load("digits")
    runs = {}
    for mode in ("auto", "off"):
        torch.manual_seed(0)
        m = aekit.VAE(input_shape=d.input_shape, hidden=(32,), latent_dim=4, beta_warmup=2, likelihood=likelihood)
        t = Trainer(epochs=3, batch_size=64, progress=False, fused=mode, seed=0)
        t.device = torch.device("cpu")
        assert (fastpath.choose(t.config, m, [torch.optim.Adam(m.parameters())], 1, t.device) is not None) == (mode == "auto")
        runs[mode] = t.fit(m, d)
    for ra, rb in zip(runs["auto"], runs["off"]):
        for k in ("train_loss", "train_kl", "train_neg_elbo", "val_neg_elbo", "beta"):
            assert ra[k] == pytest.approx(rb[k], rel=1e-3), k
    drop = {"bernoulli": 0.9, "gaussian": 0.97}[likelihood]  # the Gaussian −ELBO carries log σ terms
    assert runs["auto"][-1]["train_neg_elbo"] < drop * runs["auto"][0]["train_neg_elbo"]  # it learned


def test_trainer_uses_it_by_default_and_it_trains_like_autograd():
    d = aekit.datasets.load("digits")
    runs = {}
    for mode in ("auto", "off"):
        torch.manual_seed(0)
        m = aekit.AE(input_shape=d.input_shape, hidden=(32,), latent_dim=8)
        t = Trainer(epochs=3, batch_size=64, progress=False, fused=mode, grad_clip=1.0, lr_schedule="cosine")
        t.device = torch.device("cpu")
        step = fastpath.choose(t.config, m, [torch.optim.Adam(m.parameters())], 1, t.device)
        assert (step is not None) == (mode == "auto")
        hist = t.fit(m, d)
        runs[mode] = (m, hist)
    (a, ha), (b, hb) = runs["auto"], runs["off"]
    for ra, rb in zip(ha, hb):
        assert ra["train_loss"] == pytest.approx(rb["train_loss"], rel=1e-4)
        assert ra["val_loss"] == pytest.approx(rb["val_loss"], rel=1e-4)
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.allclose(p, q, atol=1e-4), n
    assert ha[-1]["train_loss"] < 0.85 * ha[0]["train_loss"]  # it learned


def test_fused_step_is_off_where_it_does_not_apply():
    m = aekit.AE(input_shape=(8,))
    opts = [torch.optim.Adam(m.parameters())]
    for kw in ({"precision": "bf16"}, {"compile": "on"}, {"fused": "off"}):
        t = Trainer(**kw)
        t.device = torch.device("cpu")
        assert fastpath.choose(t.config, m, opts, 1, t.device) is None, kw


@pytest.mark.parametrize("arch,shape", [("mlp", (20,)), ("conv", (1, 8, 8))])
def test_in_place_inference_matches_the_module_chain(arch, shape):
    torch.manual_seed(0)
    model = aekit.AE(input_shape=shape, arch=arch, hidden=(16,), latent_dim=4).eval()
    assert isinstance(model.encoder, Stack) and isinstance(model.decoder, Stack)
    x = torch.rand(9, *shape)
    keep = x.clone()
    with torch.enable_grad():
        want = model.decode(model.encode(x)).detach()
        want_score = (want - x).pow(2).flatten(1).mean(1)
    with torch.inference_mode():
        got = model.decode(model.encode(x))
    assert torch.equal(x, keep)  # the caller's input is never overwritten
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.allclose(model.score(x), want_score, rtol=1e-5, atol=1e-8)
    assert torch.equal(x, keep)


def test_stack_leaves_tensors_it_does_not_own_alone():
    """An activation as the first module sees the caller's tensor: it must not run in place."""
    s = Stack(torch.nn.ReLU(), torch.nn.Linear(3, 3), torch.nn.Tanh())
    x = torch.tensor([[-1.0, 2.0, -3.0]])
    with torch.no_grad():
        s(x)
    assert torch.equal(x, torch.tensor([[-1.0, 2.0, -3.0]]))


def test_stack_keeps_the_parameter_names_saved_models_use():
    m = aekit.AE(input_shape=(6,), hidden=(4,), latent_dim=2)
    assert list(m.state_dict()) == ["encoder.0.weight", "encoder.0.bias", "encoder.2.weight", "encoder.2.bias",
                                    "decoder.0.weight", "decoder.0.bias", "decoder.2.weight", "decoder.2.bias"]
