"""USAD (Audibert et al. 2020): what is special about it.

The two losses are the paper's at epoch n, each phase steps on its own loss and moves only its
own parameters (by default, as the paper's code computes, the decoders only on their
reconstruction terms), the score is the α/β mix of AE1's error and the adversarial error, a resumed run
continues the 1/n schedule, the user's decoder is copied into an independent D2, the sequence
networks take its place, and on a real ECG series (TSB-UAD's MIT-BIH excerpt) it scores the
labelled anomaly above the normal beats. (The contract suite runs it on every network.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import aekit
from aekit.data.windows import Windows, per_timestep
from aekit.models import USAD, Autoencoder
from aekit.nets import network_names
from conftest import SHARED, need

# small networks on a shared 2-core machine: two spinning threads per op cost 10-100x
pytestmark = pytest.mark.usefixtures("one_thread")

SHAPE = (12, 2)  # a window: 12 steps × 2 channels


def small(seed=0, **kw) -> USAD:
    torch.manual_seed(seed)
    return USAD(input_shape=SHAPE, latent_dim=3, hidden=(8,), **kw)


def windows(n=10, seed=1) -> torch.Tensor:
    return torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(seed))


def by_hand(m: USAD, x: torch.Tensor):
    """AE1(W), AE2(W), AE2(AE1(W)) (B, W·C) and E(W), from the modules (mlp: flat input, sigmoid)."""
    flat = x.flatten(1)
    z = m.encoder(flat)
    w1 = torch.sigmoid(m.decoder(z))
    w2 = torch.sigmoid(m.decoder2(z))
    w3 = torch.sigmoid(m.decoder2(m.encoder(w1)))
    return w1, w2, w3, z


def paper_losses(m: USAD, x: torch.Tensor, n: int):
    """(L_AE1, L_AE2, ‖W − AE1(W)‖², ‖W − AE2(W)‖², ‖W − AE2(AE1(W))‖²), means over elements."""
    w1, w2, w3, _ = by_hand(m, x)
    flat = x.flatten(1)
    r1, r2, adv = ((flat - w1) ** 2).mean(), ((flat - w2) ** 2).mean(), ((flat - w3) ** 2).mean()
    return r1 / n + (1 - 1 / n) * adv, r2 / n - (1 - 1 / n) * adv, r1, r2, adv


@pytest.mark.parametrize("n", [1, 2, 10])
def test_the_losses_are_the_papers_at_epoch_n(n):
    m = small()
    m.on_train_epoch_start(n - 1, 10)  # the trainer counts epochs from 0
    x = windows()
    out = m(x)
    l1, l2, r1, r2, adv = paper_losses(m, x, n)
    for name, want in [("loss1", l1), ("loss2", l2), ("recon1", r1), ("recon2", r2), ("adv", adv), ("recon", r1)]:
        torch.testing.assert_close(out.terms[name], want.detach(), msg=name)
    torch.testing.assert_close(out.loss, l1 + l2)
    torch.testing.assert_close(out.loss, (r1 + r2) / n)  # the adversarial parts cancel in the sum
    w1, _, _, z = by_hand(m, x)
    torch.testing.assert_close(out.recon, w1.reshape(x.shape))
    torch.testing.assert_close(out.z, z)
    torch.testing.assert_close(m.reconstruct(x), w1.reshape(x.shape).detach())  # reconstruct is AE1
    torch.testing.assert_close(m.transform(x), z.detach())
    assert m.schedule_values() == {"recon_weight": 1 / n}


def grads(m: USAD, part: str) -> dict[str, torch.Tensor | None]:
    return {k: p.grad for k, p in getattr(m, part).named_parameters()}


@pytest.mark.parametrize("updates", ["reference", "equations"])
def test_each_phase_steps_on_its_own_loss(updates):
    """Phase 1's gradients are ∂L_AE1/∂(E, D1) and phase 2's ∂L_AE2/∂(E, D2), the other decoder
    getting none, with ``updates="equations"``; with ``"reference"`` (the paper's code, the
    default) a decoder's are those of its reconstruction term only, (1/n)‖W − AEi(W)‖², while
    the encoder's are still the whole loss's."""
    n = 3
    m = small(updates=updates)
    m.on_train_epoch_start(n - 1, 10)
    x = windows()
    seen = []

    def backward_only(loss, opt):  # no update, so phase 2 runs at the same weights as phase 1
        opt.zero_grad(set_to_none=True)
        loss.backward()
        seen.append({part: {k: None if g is None else g.clone() for k, g in grads(m, part).items()}
                     for part in ("encoder", "decoder", "decoder2")})

    opts = m.configure_optimizers(lambda p: torch.optim.SGD(p, lr=0.0))
    terms = m.training_step(x, opts, backward_only)
    assert len(seen) == 2
    l1, l2, r1, r2, _ = paper_losses(m, x, n)
    torch.testing.assert_close(terms["loss1"], l1.detach())
    torch.testing.assert_close(terms["loss2"], l2.detach())
    for phase, (loss, recon, own, other) in enumerate([(l1, r1, "decoder", "decoder2"), (l2, r2, "decoder2", "decoder")]):
        got = seen[phase]
        assert all(g is None for g in got[other].values()), f"phase {phase + 1} reached {other}"
        enc = dict(m.encoder.named_parameters())
        want = torch.autograd.grad(loss, list(enc.values()), retain_graph=True)
        for (k, _), g in zip(enc.items(), want):
            torch.testing.assert_close(got["encoder"][k], g, msg=f"phase {phase + 1} encoder.{k}")
        dec = dict(getattr(m, own).named_parameters())
        target = loss if updates == "equations" else recon / n
        want = torch.autograd.grad(target, list(dec.values()), retain_graph=True)
        for (k, _), g in zip(dec.items(), want):
            torch.testing.assert_close(got[own][k], g, msg=f"phase {phase + 1} {own}.{k}")
    assert all(p.requires_grad for p in m.parameters()) and all(p.grad is None for p in m.parameters())


def test_each_optimizer_moves_only_its_own_parameters():
    m = small()
    m.on_train_epoch_start(1, 10)
    opt1, opt2 = m.configure_optimizers(lambda p: torch.optim.Adam(p, lr=1e-2))
    ids = lambda *mods: {id(p) for mod in mods for p in mod.parameters()}  # noqa: E731
    assert {id(p) for g in opt1.param_groups for p in g["params"]} == ids(m.encoder, m.decoder)
    assert {id(p) for g in opt2.param_groups for p in g["params"]} == ids(m.encoder, m.decoder2)
    m.decoder2[0].bias.requires_grad_(False)  # the user's own freezing survives the phases

    def snapshot():
        return {part: [p.detach().clone() for p in getattr(m, part).parameters()]
                for part in ("encoder", "decoder", "decoder2")}

    moved = []

    def step(loss, opt):
        before = snapshot()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        after = snapshot()
        moved.append({part for part in before if any(not torch.equal(a, b) for a, b in zip(before[part], after[part]))})

    for _ in range(2):
        m.training_step(windows(), [opt1, opt2], step)
    assert moved == [{"encoder", "decoder"}, {"encoder", "decoder2"}] * 2
    assert not m.decoder2[0].bias.requires_grad and m.decoder2[0].weight.requires_grad


def test_the_score_is_the_alpha_beta_mix():
    x = windows()
    m = small(alpha=0.3, beta=0.7)
    w1, _, w3, _ = by_hand(m, x)
    flat = x.flatten(1)
    want = (0.3 * (flat - w1) ** 2 + 0.7 * (flat - w3) ** 2).detach()
    sm = m.score_map(x)
    assert sm.shape == x.shape
    torch.testing.assert_close(sm, want.reshape(x.shape))
    torch.testing.assert_close(m.score(x), want.mean(1))
    ae1, adv = small(alpha=1.0, beta=0.0), small(alpha=0.0, beta=1.0)
    for other in (ae1, adv):
        other.load_state_dict(m.state_dict())
    # α = 1, β = 0: AE1's reconstruction error, the base class's score map
    torch.testing.assert_close(ae1.score_map(x), Autoencoder.score_map(ae1, x))
    torch.testing.assert_close(ae1.score(x), ((m.reconstruct(x) - x) ** 2).flatten(1).mean(1))
    torch.testing.assert_close(adv.score(x), ((flat - w3) ** 2).mean(1).detach())
    assert not torch.allclose(ae1.score(x), adv.score(x))  # the two parts differ, so the mix matters


def test_bad_weights_are_refused_in_one_line():
    for kw, msg in [({"alpha": -0.1}, "alpha: must be a finite weight ≥ 0"),
                    ({"beta": float("nan")}, "beta: must be a finite weight ≥ 0"),
                    ({"alpha": 0.0, "beta": 0.0}, "alpha: alpha and beta are both 0"),
                    ({"updates": "both"}, "updates")]:
        with pytest.raises(aekit.AekitError, match=msg) as e:
            USAD(input_shape=SHAPE, **kw)
        assert "\n" not in str(e.value)


def test_a_resumed_run_continues_the_one_over_n_schedule(tmp_path):
    x = windows(64, seed=2).numpy()

    def run(epochs, **kw):
        m = small(seed=0)
        trainer = aekit.Trainer(epochs=epochs, batch_size=16, val_split=0, progress=False, out_dir=kw.pop("out", None))
        return m, trainer.fit(m, x, **kw)

    full, h_full = run(4)
    run(2, out=tmp_path)
    resumed, h_res = run(4, resume=tmp_path / "checkpoint" / "last.pt")
    assert [r["recon_weight"] for r in h_res] == [1, 1 / 2, 1 / 3, 1 / 4] and resumed.n == 4
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    strip = [[{k: v for k, v in r.items() if k != "seconds"} for r in h] for h in (h_full, h_res)]
    assert strip[0] == strip[1]


def test_the_users_decoder_is_copied_into_an_independent_second_decoder(tmp_path):
    enc = nn.Sequential(nn.Flatten(), nn.Linear(24, 8), nn.ReLU(), nn.Linear(8, 3))
    dec = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 24), nn.Unflatten(1, SHAPE))
    torch.manual_seed(0)
    m = USAD(input_shape=SHAPE, encoder=enc, decoder=dec)
    assert m.decoder is dec and repr(m.decoder2) == repr(dec)
    ptrs = {p.data_ptr() for p in dec.parameters()}
    assert not ptrs & {p.data_ptr() for p in m.decoder2.parameters()}
    assert all(not torch.equal(a, b) for a, b in zip(dec.parameters(), m.decoder2.parameters()))  # re-initialized
    aekit.Trainer(epochs=1, batch_size=8, val_split=0, progress=False).fit(m, windows(16).numpy())
    m.save_pretrained(tmp_path)
    again = aekit.load(tmp_path, encoder=enc, decoder=dec)  # D2's weights come from the file
    torch.testing.assert_close(again.score_map(windows()), m.score_map(windows()), rtol=0, atol=0)
    named = small()  # a named network builds D2 itself, with its own draw of weights
    assert not torch.equal(named.decoder[0].weight, named.decoder2[0].weight)


SEQUENCE = [a for a in ("lstm", "gru", "tcn", "transformer") if a in network_names()]
SMALL_NETS = {"lstm": {"hidden": (8,)}, "gru": {"hidden": (8,)}, "tcn": {"channels": (4, 8)},
              "transformer": {"hidden": (16,), "net_options": {"d_model": 8, "heads": 2, "layers": 1, "patch": 4}}}


@pytest.mark.parametrize("arch", SEQUENCE)
def test_the_sequence_networks_take_both_decoders(arch):
    torch.manual_seed(0)
    m = USAD(input_shape=(16, 3), latent_dim=4, arch=arch, **SMALL_NETS[arch])
    assert type(m.decoder2) is type(m.decoder) and m.decoder2 is not m.decoder
    x = torch.rand(8, 16, 3, generator=torch.Generator().manual_seed(1))
    hist = aekit.Trainer(epochs=2, batch_size=4, val_split=0, progress=False).fit(m, x.numpy())
    assert np.isfinite(hist[-1]["train_loss"]) and hist[-1]["recon_weight"] == 0.5
    assert m.score_map(x).shape == x.shape and m.score(x).shape == (8,)


def test_reference_updates_keep_ae2_reconstructing_where_the_equations_do_not():
    """On real ECG windows, with the paper's equations taken literally (``updates="equations"``)
    AE2 soon maximizes its own error (once AE1(W) ≈ W, −(1 − 1/n)‖W − AE2(AE1(W))‖² outweighs
    (1/n)‖W − AE2(W)‖²); with the paper's code's updates, whose decoders step only on their
    reconstruction terms, it stays small. Measured: 0.42 vs 0.012 after 10 epochs."""
    s = mitdb()[0][:2000]
    train = np.asarray(Windows(s, 64, 4))
    recon2 = {}
    for updates in ("equations", "reference"):
        torch.manual_seed(0)
        m = USAD(input_shape=(64, 1), latent_dim=8, hidden=(32, 16), updates=updates)
        h = aekit.Trainer(epochs=10, batch_size=32, val_split=0, progress=False).fit(m, train)
        recon2[updates] = h[-1]["train_recon2"]
        assert h[-1]["train_recon1"] < 0.05, updates  # AE1 reconstructs in both (0.11 in epoch 1)
    assert recon2["reference"] < 0.03 < 0.3 < recon2["equations"], recon2


def mitdb() -> tuple[np.ndarray, np.ndarray]:
    """TSB-UAD's MIT-BIH ECG excerpt, min-max scaled with the statistics of its first 2,000
    (unlabelled) points: (values (T, 1) float32, labels (T,))."""
    a = np.loadtxt(need(SHARED / "timeseries" / "tsb-uad" / "mitdb.csv"), delimiter=",", skiprows=1, dtype=np.float32)
    v, y = a[:, 0], a[:, 1]
    assert not y[:2000].any()
    lo, hi = v[:2000].min(), v[:2000].max()
    return ((v - lo) / (hi - lo))[:, None], y


def test_usad_scores_the_labelled_anomaly_of_a_real_ecg_above_normal_beats():
    """Trained on windows of the first 2,000 points (no label), scored on the other 5,500 (one
    352-point anomaly: a premature beat and its missing T wave) per timestep from ``score_map``
    averaged over channels and windows. Measured: AUC-ROC 0.744 (seed 0; 0.716–0.744 over seeds
    0–3). Chance is 0.5 and the reversed score gets 0.26. An untrained model gets 0.740 too:
    the labelled stretch lies below the training level, which any error against a flat output
    rewards; that the model learned the beats is the reconstruction check below."""
    from sklearn.metrics import roc_auc_score

    s, y = mitdb()
    W = 64
    torch.manual_seed(0)
    m = USAD(input_shape=(W, 1), latent_dim=8, hidden=(W // 2, W // 4))  # the paper's widths for W·C = 64
    test = Windows(s[2000:], W)
    xt = torch.from_numpy(np.asarray(test))
    untrained = ((m.reconstruct(xt) - xt) ** 2).mean().item()
    aekit.Trainer(epochs=20, batch_size=64, val_split=0, progress=False).fit(m, np.asarray(Windows(s[:2000], W)))
    trained = ((m.reconstruct(xt) - xt) ** 2).mean().item()
    assert trained < 0.25 * untrained, (trained, untrained)  # 0.010 vs 0.128: it learned the beats
    per_step = per_timestep(test.starts, m.score_map(xt).mean(-1).numpy(), len(s) - 2000, W)
    auc = roc_auc_score(y[2000:], per_step)
    assert auc > 0.7, auc
