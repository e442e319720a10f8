"""The sequence networks (lstm, gru, tcn, transformer) on series windows (W, C).

What is special about each: shapes for odd and even W and one or several channels; the
recurrent decoder reconstructs in reverse order and teacher forcing feeds it the true window
(training only), its decay schedule counts training steps and survives save/load and resume;
the causal TCN does not look ahead; the transformer pads and crops a W that is not a multiple
of its patch; and each network learns a real ECG series (TSB-UAD's MIT-BIH excerpt).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import aekit
from aekit.data.windows import Windows
from aekit.nets.tcn import TemporalBlock
from conftest import SHARED, need

# small networks on a shared 2-core machine: two spinning threads per op cost 10-100x
pytestmark = pytest.mark.usefixtures("one_thread")

SEQUENCE = ("lstm", "gru", "tcn", "transformer")
SMALL = {"lstm": {"hidden": (16,)}, "gru": {"hidden": (16,)}, "tcn": {"channels": (8, 16)},
         "transformer": {"hidden": (32,), "net_options": {"d_model": 16, "heads": 2, "layers": 1, "patch": 4}}}


def model(arch, shape, family=aekit.AE, seed=0, **kw):
    torch.manual_seed(seed)
    opts = {**SMALL[arch], **kw}
    if "net_options" in kw and "net_options" in SMALL[arch]:
        opts["net_options"] = {**SMALL[arch]["net_options"], **kw["net_options"]}
    return family(input_shape=shape, arch=arch, latent_dim=4, **opts)


@pytest.mark.parametrize("arch", SEQUENCE)
@pytest.mark.parametrize("shape", [(16, 1), (15, 1), (16, 5), (9, 3), (1, 2)], ids=lambda s: "x".join(map(str, s)))
def test_shapes(arch, shape):
    x = torch.rand(3, *shape, generator=torch.Generator().manual_seed(0))
    for family, code in ((aekit.AE, 4), (aekit.VAE, 8)):  # the VAE's encoder gives μ and log σ²
        m = model(arch, shape, family)
        assert m.encoder(x).shape == (3, code)
        assert m.decoder(torch.zeros(3, 4)).shape == (3, *shape)
        m.train()
        out = m(x)
        assert out.recon.shape == x.shape and torch.isfinite(out.loss)
        assert m.reconstruct(x).shape == x.shape and m.score(x).shape == (3,)


@pytest.mark.parametrize("arch", SEQUENCE)
def test_other_shapes_are_refused_naming_the_network(arch):
    for shape in ((1, 8, 8), (64,)):
        with pytest.raises(aekit.AekitError, match=rf"the {arch} network takes series windows, input_shape=\(W, C\)"):
            aekit.AE(input_shape=shape, arch=arch)
    with pytest.raises(aekit.AekitError, match=f"net_options: the {arch} network takes no option 'nope'"):
        aekit.AE(input_shape=(8, 2), arch=arch, net_options={"nope": 1})


def test_option_values_are_checked():
    bad = [("lstm", {"teacher_forcing": 1.5}, "teacher_forcing must be a probability in"),
           ("gru", {"teacher_decay": 0.0}, r"teacher_decay must be a factor in \(0, 1\]"),
           ("lstm", {"dropout": 0.2}, "dropout acts between stacked layers"),
           ("tcn", {"causal": "yes"}, "causal must be true or false"),
           ("tcn", {"kernel_size": 1}, "kernel_size must be an integer ≥ 2"),
           ("transformer", {"heads": 3}, r"heads \(3\) must divide d_model \(16\)")]
    for arch, opts, msg in bad:
        with pytest.raises(aekit.AekitError, match=msg):
            model(arch, (8, 2), net_options=opts)
    with pytest.raises(aekit.AekitError, match="takes one recurrent width"):
        aekit.AE(input_shape=(8, 2), arch="lstm", hidden=(16, 8))


# -- the recurrent decoder: reverse order, teacher forcing ---------------------------------------

@pytest.mark.parametrize("arch", ["lstm", "gru"])
def test_decoder_reconstructs_in_reverse_order_from_the_true_window(arch):
    """With forcing, output step t is computed after reading x_W … x_{t+1} (the reversed
    window): its gradient reaches the true x_s for s > t only, and x_{t+1} always."""
    w = 6
    dec = model(arch, (w, 2), output="linear", net_options={"teacher_forcing": 1.0}).decoder.train()
    x = torch.randn(3, w, 2, requires_grad=True)
    z = torch.randn(3, 4)
    dec.handoff.x = x  # as put() leaves it, but keeping the graph to x (put() detaches)
    y = dec(z)
    for t in range(w):
        (g,) = torch.autograd.grad(y[:, t].sum(), x, retain_graph=True)
        per_step = g.abs().sum((0, 2))
        assert torch.all(per_step[:t + 1] == 0), (t, per_step)
        if t < w - 1:
            assert per_step[t + 1] > 0, (t, per_step)


@pytest.mark.parametrize("p", [1.0, 0.5])
@pytest.mark.parametrize("arch", ["lstm", "gru"])
def test_forced_and_free_running_decoders_agree_when_fed_the_same_values(arch, p):
    """Teacher-forced with the decoder's own free-running predictions, the forced path (one
    RNN call at p = 1, the loop otherwise) gives those predictions back: the two paths read the
    reversed window with the same alignment."""
    dec = model(arch, (7, 3), output="linear", net_options={"teacher_forcing": p, "layers": 2}).decoder
    z = torch.randn(5, 4)
    dec.eval()
    free = dec(z)
    dec.train()
    dec.handoff.put(free)
    torch.testing.assert_close(dec(z), free, rtol=1e-5, atol=1e-6)
    dec.handoff.put(torch.randn(5, 7, 3))
    assert not torch.allclose(dec(z), free, atol=1e-3)  # another teacher, another output


def test_teacher_forcing_reads_the_input_when_training_only():
    m = model("lstm", (12, 2), output="linear", net_options={"teacher_forcing": 1.0})
    x = torch.randn(4, 12, 2, generator=torch.Generator().manual_seed(0))
    m.train()
    z = m.encode(x)  # leaves x for the decoder
    forced = m.decode(z)
    free = m.decode(z)  # nothing handed over any more: runs free
    assert not torch.allclose(forced, free, atol=1e-4)
    m.eval()
    with torch.no_grad():
        z = m.encode(x)
        assert m.decoder.handoff.x is None  # eval: nothing left behind
        torch.testing.assert_close(m.decode(z), m.decode(z), rtol=0, atol=0)
        torch.testing.assert_close(m.decode(z), free.detach(), rtol=1e-5, atol=1e-6)  # eval = free running
    unforced = model("lstm", (12, 2), output="linear", net_options={"teacher_forcing": 0.0}).train()
    z = unforced.encode(x)
    a = unforced.decode(z)
    torch.testing.assert_close(a, unforced.decode(z), rtol=0, atol=0)  # p = 0: the window is not read


def test_a_copy_has_its_own_empty_handoff():
    m = model("gru", (6, 2)).train()
    m.encode(torch.randn(2, 6, 2))
    c = copy.deepcopy(m)
    assert c.encoder.handoff is c.decoder.handoff and c.encoder.handoff is not m.encoder.handoff
    assert c.decoder.handoff.x is None and m.decoder.handoff.x is not None


def test_teacher_decay_counts_training_steps_and_survives_save_load_and_resume(tmp_path):
    x = np.random.default_rng(0).normal(size=(40, 8, 2)).astype(np.float32)
    opts = {"teacher_forcing": 0.8, "teacher_decay": 0.9}
    m = model("lstm", (8, 2), output="linear", net_options=opts)
    assert m.decoder.forcing() == pytest.approx(0.8)
    run = tmp_path / "run"
    aekit.Trainer(epochs=2, batch_size=10, progress=False, val_split=0, out_dir=run).fit(m, x)
    assert int(m.decoder.steps) == 8  # 4 batches × 2 epochs
    assert m.decoder.forcing() == pytest.approx(0.8 * 0.9**8)
    with torch.no_grad():
        m.eval()
        m.decode(torch.zeros(2, 4))  # evaluation does not advance the schedule
    assert int(m.decoder.steps) == 8
    m.save_pretrained(tmp_path / "saved")
    same = aekit.load(tmp_path / "saved")
    assert int(same.decoder.steps) == 8 and same.decoder.forcing() == pytest.approx(0.8 * 0.9**8)
    fresh = model("lstm", (8, 2), output="linear", net_options=opts)
    aekit.Trainer(epochs=3, batch_size=10, progress=False, val_split=0).fit(
        fresh, x, resume=run / "checkpoint" / "last.pt")
    assert int(fresh.decoder.steps) == 12  # the third epoch continues from step 8


# -- tcn, transformer -------------------------------------------------------------------------

def test_causal_tcn_does_not_look_ahead():
    """Output step t of the causal encoder stack (2 stages: t covers input steps up to 4t)
    has no gradient from later inputs; the default, centred stack has."""
    w = 32
    for causal in (True, False):
        enc = model("tcn", (w, 3), net_options={"causal": causal, "kernel_size": 3, "blocks": 2}).encoder
        x = torch.randn(2, w, 3, requires_grad=True)
        h = enc.features(x)  # (B, 16, 8)
        assert h.shape == (2, 16, 8)
        ahead = 0.0
        for t in range(h.shape[2]):
            (g,) = torch.autograd.grad(h[..., t].sum(), x, retain_graph=True)
            per_step = g.abs().sum((0, 2))
            ahead += per_step[4 * t + 1:].sum().item()
            assert per_step[:4 * t + 1].sum() > 0
        assert (ahead == 0) == causal, ahead
    block = TemporalBlock(4, 3, 2, True, "tanh", 0.0)  # a residual block alone: step t sees steps ≤ t
    x = torch.randn(1, 4, 20, requires_grad=True)
    y = block(x)
    for t in range(20):
        (g,) = torch.autograd.grad(y[..., t].sum(), x, retain_graph=True)
        assert g[..., t + 1:].abs().sum() == 0 and g[..., t].abs().sum() > 0


def test_transformer_pads_the_window_to_whole_patches_and_crops_back():
    m = model("transformer", (13, 2), net_options={"patch": 4})
    x = torch.randn(3, 13, 2)
    tokens = m.encoder.tokens(x)
    assert tokens.shape == (3, 4, 8)  # ⌈13 / 4⌉ tokens of 4 steps × 2 channels
    back = tokens.reshape(3, 16, 2)
    torch.testing.assert_close(back[:, :13], x, rtol=0, atol=0)
    assert torch.all(back[:, 13:] == 0)
    assert m.decoder(torch.zeros(3, 4)).shape == (3, 13, 2)
    assert m.decoder.out.out_features == 8  # each token back to one patch
    exact = model("transformer", (12, 2), net_options={"patch": 4})
    assert exact.encoder.tokens(x[:, :12]).shape == (3, 3, 8)


# -- a real series ----------------------------------------------------------------------------

W = 32


@pytest.fixture(scope="module")
def ecg():
    """TSB-UAD's MIT-BIH ECG excerpt, standardized on its first 5,000 (normal) steps: windows
    of the first 5,000 train, windows of steps 5,000–6,900 (before the anomaly) test."""
    path = need(SHARED / "timeseries" / "tsb-uad" / "mitdb.csv")
    v = np.loadtxt(path, delimiter=",", skiprows=1, usecols=0, dtype=np.float32)  # columns data,label
    v = (v - v[:5000].mean()) / v[:5000].std()
    train = Windows(v[:5000], W, stride=2, name="mitdb")
    test = torch.from_numpy(np.asarray(Windows(v[5000:6900], W, stride=8)))
    return train, test


# the recurrent networks are trained free-running here, as they score: with the paper's full
# teacher forcing the free-running reconstruction lags far behind (see aekit.nets.recurrent)
REAL = {"lstm": {"hidden": (32,), "net_options": {"teacher_forcing": 0.0}},
        "gru": {"hidden": (32,), "net_options": {"teacher_forcing": 0.0}},
        "tcn": {"channels": (16, 32)},
        "transformer": {"hidden": (64,), "net_options": {"d_model": 32, "heads": 4, "layers": 1, "patch": 4}}}


@pytest.mark.parametrize("arch", SEQUENCE)
def test_each_network_learns_a_real_ecg_and_reloads_identically(arch, ecg, tmp_path, one_thread):
    train, test = ecg
    torch.manual_seed(0)
    m = aekit.AE(input_shape=(W, 1), arch=arch, latent_dim=8, output="linear", **REAL[arch])
    untrained = m.score(test).mean().item()
    data = aekit.data.Data(x_train=train, chronological=True)
    aekit.Trainer(epochs=8, batch_size=64, lr=3e-3, seed=0, progress=False, val_split=0).fit(m, data)
    trained = m.score(test).mean().item()
    assert trained < 0.3 * untrained, (untrained, trained)
    m.save_pretrained(tmp_path)
    same = aekit.load(tmp_path)
    torch.testing.assert_close(same.reconstruct(test), m.reconstruct(test), rtol=0, atol=0)
    torch.testing.assert_close(same.score(test), m.score(test), rtol=0, atol=0)
