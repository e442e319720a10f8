"""The fast paths change speed, not results: mixed precision, torch.compile (and its
fallback), and the trainer vs. the plain PyTorch loop on real data."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch

import aekit


def test_trainer_matches_the_plain_loop_on_real_mnist(mnist):
    """Same network, seed, batch and epochs (4 epochs of 24k images): the same test loss (within run-to-run noise)."""
    from torch.utils.data import DataLoader, TensorDataset

    x = mnist.train()[:24000].reshape(-1, 784)
    x_test = torch.from_numpy(mnist.test()[:2000].reshape(-1, 784))
    torch.manual_seed(0)
    ours = aekit.AE(input_shape=(784,), hidden=(128,), latent_dim=64)
    aekit.Trainer(epochs=4, batch_size=256, progress=False, val_split=0).fit(ours, x)
    torch.manual_seed(0)
    plain = aekit.AE(input_shape=(784,), hidden=(128,), latent_dim=64)
    opt = torch.optim.Adam(plain.parameters(), lr=1e-3)
    for _ in range(4):
        for (xb,) in DataLoader(TensorDataset(torch.from_numpy(x)), batch_size=256, shuffle=True):
            loss = plain(xb).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
    a, b = ours.score(x_test).mean().item(), plain.score(x_test).mean().item()
    assert a == pytest.approx(b, rel=0.1)
    assert a < 0.04  # both learned (the mean image gives 0.067)


def test_bf16_autocast_trains_to_the_same_quality():
    d = aekit.datasets.load("digits")
    res = {}
    for p in ("fp32", "bf16"):
        torch.manual_seed(0)
        m = aekit.AE(input_shape=d.input_shape, latent_dim=16)
        aekit.Trainer(epochs=10, batch_size=64, progress=False, precision=p).fit(m, d)
        res[p] = aekit.evaluate(m, d.test())["mse"]
        assert all(v.dtype == torch.float32 for v in m.state_dict().values())
    assert res["bf16"] == pytest.approx(res["fp32"], rel=0.25)


def test_fp16_needs_cuda():
    m = aekit.AE(input_shape=(4,))
    if torch.cuda.is_available():
        pytest.skip("CUDA present: fp16 is allowed here")
    with pytest.raises(aekit.AekitError, match="fp16 needs a CUDA device"):
        aekit.Trainer(precision="fp16", batch_size=4, device="cpu").fit(m, np.ones((10, 4), np.float32))


def test_compile_falls_back_to_eager_when_the_compiler_fails(monkeypatch, caplog):
    def broken(fn, **kw):
        def call(*a, **k):
            raise RuntimeError("no C++ compiler")
        return call

    monkeypatch.setattr(torch, "compile", broken)
    x = np.random.default_rng(0).random((64, 12)).astype(np.float32)
    torch.manual_seed(0)
    a = aekit.AE(input_shape=(12,), hidden=(8,), latent_dim=3)
    with caplog.at_level(logging.WARNING, logger="aekit"):
        aekit.Trainer(epochs=2, batch_size=16, progress=False, compile="on", val_split=0).fit(a, x)
    assert "training eagerly" in caplog.text
    assert "forward" not in a.__dict__  # the model is left as it was
    torch.manual_seed(0)
    b = aekit.AE(input_shape=(12,), hidden=(8,), latent_dim=3)
    aekit.Trainer(epochs=2, batch_size=16, progress=False, compile="off", val_split=0).fit(b, x)
    for k, v in a.state_dict().items():
        torch.testing.assert_close(v, b.state_dict()[k])


def test_denormals_are_flushed_during_fit_and_the_setting_restored_after():
    from aekit.train.setup import _flushing

    seen = []
    m = aekit.AE(input_shape=(4,), hidden=(), latent_dim=2)
    t = aekit.Trainer(epochs=2, batch_size=4, progress=False, callbacks=[lambda *a: seen.append(_flushing())])
    before = _flushing()
    t.fit(m, np.random.default_rng(0).random((20, 4), dtype=np.float32))
    assert seen == [True, True]
    assert _flushing() == before


def test_inference_chunks_shrink_with_the_widest_activation():
    """2048 rows for MLPs; conv nets chunk so that their widest feature map stays within 8 MiB."""
    assert aekit.AE(input_shape=(784,), hidden=(128,)).inference_batch_size() == 2048
    assert aekit.AE(input_shape=(1, 28, 28), arch="conv").inference_batch_size() == 256  # 32×14×14 floats
    assert aekit.AE(input_shape=(3, 64, 64), arch="conv").inference_batch_size() == 64  # 32×32×32 floats
    assert aekit.AE(input_shape=(100_000,), hidden=(64,)).inference_batch_size() == 64  # the floor


def _ran(op: str, fn) -> bool:
    """Did ``fn()`` call the ATen operator ``op`` (e.g. "aten::slow_conv_transpose2d")?"""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    return any(e.key == op for e in prof.key_averages())


@pytest.mark.parametrize(
    "cin, cout, kernel, stride, padding, output_padding, dilation, bias",
    [(32, 1, 4, 2, 1, 0, 1, True), (8, 3, 3, 1, 1, 0, 1, False), (5, 1, 3, 2, 0, 1, 1, True),
     (4, 2, (4, 2), (2, 1), (1, 0), 0, 2, True)],
)
def test_few_channel_transposed_convolution_runs_the_native_kernel_with_the_stock_results(
    cin, cout, kernel, stride, padding, output_padding, dilation, bias
):
    """aekit.nets.ConvTranspose2d computes ≤ 3 output channels forward with ATen's native
    kernel, in inference and in training; outputs and every gradient are nn.ConvTranspose2d's."""
    from aekit.nets import ConvTranspose2d

    torch.manual_seed(0)
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, bias=bias)
    fast, stock = ConvTranspose2d(cin, cout, kernel, **kw), torch.nn.ConvTranspose2d(cin, cout, kernel, **kw)
    stock.load_state_dict(fast.state_dict())
    x = torch.randn(6, cin, 9, 7, requires_grad=True)
    with torch.no_grad():
        want = stock(x)
        assert _ran("aten::slow_conv_transpose2d", lambda: fast(x))
        torch.testing.assert_close(fast(x), want, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(want)
    got = fast(x)
    assert "_NativeForward" in type(got.grad_fn).__name__  # the native forward, in training too
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    mine = torch.autograd.grad(got, [x, *fast.parameters()], g)
    ref = torch.autograd.grad(stock(x), [x, *stock.parameters()], g)
    for a, b in zip(mine, ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_transposed_convolution_to_many_channels_is_the_stock_layer():
    from aekit.nets import ConvTranspose2d

    layer = ConvTranspose2d(8, 4, 4, stride=2, padding=1)
    x = torch.randn(2, 8, 5, 5)
    assert "Convolution" in type(layer(x).grad_fn).__name__
    with torch.no_grad():
        assert not _ran("aten::slow_conv_transpose2d", lambda: layer(x))


def test_conv_decoders_use_the_native_layer_and_train_and_score_like_the_stock_layer():
    from aekit.nets import ConvTranspose2d

    torch.manual_seed(0)
    model = aekit.AE(input_shape=(1, 28, 28), arch="conv", latent_dim=8)
    assert isinstance(model.decoder[-1], ConvTranspose2d)
    x = torch.rand(5, 1, 28, 28)
    fast = model.score(x)
    out = model(x)
    out.loss.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    last = model.decoder[-1]
    stock = torch.nn.ConvTranspose2d(last.in_channels, 1, 4, stride=2, padding=1)
    stock.load_state_dict(last.state_dict())
    model.decoder[-1] = stock
    model.zero_grad()
    torch.testing.assert_close(fast, model.score(x), rtol=1e-5, atol=1e-6)
    ref = model(x)
    torch.testing.assert_close(out.loss, ref.loss, rtol=1e-5, atol=1e-6)
    ref.loss.backward()
    for a, p in zip(grads, model.parameters()):
        torch.testing.assert_close(a, p.grad, rtol=1e-4, atol=1e-6)


ONEDNN = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


@pytest.mark.parametrize(
    "act",
    [None, torch.nn.ReLU(), torch.nn.Sigmoid(), torch.nn.Tanh(), torch.nn.SiLU(), torch.nn.LeakyReLU(0.2),
     torch.nn.GELU(), torch.nn.GELU(approximate="tanh")],
    ids=lambda a: "none" if a is None else repr(a),
)
def test_fused_linear_equals_the_layer_and_its_activation(act):
    from aekit.nets.mlp import fused_linear

    torch.manual_seed(0)
    lin = torch.nn.Linear(37, 23)
    x = torch.randn(50, 37)
    want = lin(x) if act is None else act(lin(x))
    assert fused_linear(x, lin, act) is None  # gradients on: never fused
    with torch.inference_mode():
        got = fused_linear(x, lin, act)
    if not ONEDNN:
        pytest.skip("this PyTorch build has no oneDNN linear fusion")
    assert got is not None  # the fused kernel ran
    torch.testing.assert_close(got, want.detach(), rtol=1e-5, atol=1e-6)


def test_fused_linear_declines_what_it_cannot_compute(monkeypatch):
    from aekit.nets.mlp import fused_linear

    lin, x = torch.nn.Linear(4, 3), torch.randn(2, 4)
    with torch.inference_mode():
        assert fused_linear(x, lin, torch.nn.ELU()) is None  # no oneDNN post-op for ELU
        assert fused_linear(x.double(), lin.double(), None) is None
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert fused_linear(x, lin, None) is None
        monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)
        assert fused_linear(x, lin, None) is None


@pytest.mark.parametrize("act", ["relu", "elu", "gelu", "tanh"])
def test_inference_with_fused_layers_matches_training_mode_outputs(act):
    """Scoring fuses each linear layer with the activation after it (and the sigmoid output
    into the last one); the scores equal those of the plain module chain."""
    torch.manual_seed(0)
    model = aekit.AE(input_shape=(30,), hidden=(16, 8), latent_dim=4, activation=act).eval()
    x = torch.rand(11, 30)
    want = (model.decode(model.encode(x)).detach() - x).pow(2).mean(1)  # gradients on: nn.Sequential
    torch.testing.assert_close(model.score(x), want, rtol=1e-5, atol=1e-7)


def test_a_hook_on_a_layer_sees_its_own_output_in_inference():
    """A forward hook on a linear layer or on the activation after it turns fusion off there."""
    model = aekit.AE(input_shape=(12,), hidden=(6,), latent_dim=3).eval()
    seen = {}
    model.encoder[0].register_forward_hook(lambda m, i, o: seen.__setitem__("linear", o.clone()))
    model.encoder[1].register_forward_hook(lambda m, i, o: seen.__setitem__("relu", o.clone()))
    x = torch.rand(4, 12)
    with torch.inference_mode():
        model.encode(x)
    pre = model.encoder[0](x).detach()
    torch.testing.assert_close(seen["linear"], pre)
    torch.testing.assert_close(seen["relu"], pre.relu())


def test_bernoulli_nll_without_gradients_equals_the_fused_loss():
    """Inference computes softplus(h) − x·h; training keeps the loss kernel autograd
    differentiates. Same values, for K posterior samples broadcast against x and for logits
    far in both tails."""
    import torch.nn.functional as F

    from aekit.likelihoods import bernoulli_nll

    torch.manual_seed(0)
    h = (torch.randn(3, 6, 2, 4) * 30).requires_grad_()
    x = torch.rand(6, 2, 4)
    want = F.binary_cross_entropy_with_logits(h, x.expand_as(h), reduction="none").flatten(-2).sum(-1)
    got = bernoulli_nll(h, x, event_dims=2)
    assert got.requires_grad and got.shape == (3, 6)
    with torch.no_grad():
        fast = bernoulli_nll(h, x, event_dims=2)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(fast, want.detach(), rtol=1e-5, atol=1e-4)
    ends = torch.tensor([[-200.0, -30.0, 0.0, 30.0, 200.0]])
    with torch.no_grad():
        torch.testing.assert_close(bernoulli_nll(ends, torch.tensor([[1.0, 0.0, 0.5, 1.0, 0.0]])),
                                   torch.tensor([200.0 + math.log(2) + 200.0]), rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("arch,shape", [("mlp", (30,)), ("conv", (1, 8, 8))])
def test_exported_models_record_the_stock_operators(arch, shape):
    """torch.export (what ONNX export and other deployment paths trace through) records the
    stock layers, not aekit's CPU kernels, and the exported model computes what the model
    computes."""
    torch.manual_seed(0)
    model = aekit.AE(input_shape=shape, arch=arch, hidden=(16,), latent_dim=4).eval()
    x = torch.rand(5, *shape)

    class Recon(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, t):
            return self.model.decode(self.model.encode(t))

    with torch.no_grad():
        exported = torch.export.export(Recon(), (x,))
        graph = str(exported.graph)
        assert "linear_pointwise" not in graph and "slow_conv_transpose2d" not in graph
        torch.testing.assert_close(exported.module()(x), model.decode(model.encode(x)), rtol=1e-5, atol=1e-6)
