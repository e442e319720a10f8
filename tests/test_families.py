"""What is special about each family of the literature (the contract suite covers the rest)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import aekit
from aekit.errors import AekitError
from aekit.likelihoods import log_marginal, log_weights
from aekit.models import AAE, IWAE, VAE, VQVAE, WAE, BetaVAE, ContractiveAE, KSparseAE, ScheduledDAE
from aekit.models.wae import imq_mmd
from aekit.schedules import Schedule

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.one_thread


def quiet(**kw):
    return aekit.Trainer(progress=False, **kw)


# -- schedules --------------------------------------------------------------------------------
def test_schedule_values():
    lin = Schedule("linear", 1.0, 0.0, 4)
    assert lin.values(range(6)) == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    exp = Schedule("exponential", 1.0, 0.01, 2)
    assert exp.values(range(4)) == pytest.approx([1.0, 0.1, 0.01, 0.01])
    steps = Schedule("steps", 0.7, 0.1, 14, levels=7)  # Geras & Sutton: 0.7, 0.6, …, 0.1
    assert steps.values(range(0, 16, 2)) == pytest.approx([0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.1])
    whole = Schedule("linear", 0.0, 2.0)  # length 0: the whole run
    assert whole.value(epoch=5, epochs=10) == 1.0
    with pytest.raises(AekitError, match="exponential"):
        Schedule("exponential", 0.5, 0.0, 3)
    with pytest.raises(AekitError, match="positive length"):
        Schedule("linear", 1.0, 0.0, unit="step")


def test_scheduled_dae_noise_follows_its_schedule_exactly():
    x = torch.rand(64, 10, generator=torch.Generator().manual_seed(0)).numpy()
    model = ScheduledDAE(input_shape=(10,), hidden=(8,), latent_dim=4, noise_start=0.7, noise_level=0.1,
                         noise_schedule="steps", schedule_levels=4)
    hist = quiet(epochs=8, batch_size=16, val_split=0).fit(model, x)
    assert [r["noise_level"] for r in hist] == pytest.approx([0.7, 0.7, 0.5, 0.5, 0.3, 0.3, 0.1, 0.1])
    # by step: the level the corruption applies is the schedule's at each global step
    m = ScheduledDAE(input_shape=(10,), noise="masking", noise_start=0.8, noise_level=0.2,
                     noise_schedule="linear", schedule_unit="step", schedule_length=6)
    m.train()
    ones = torch.ones(20000, 10)
    for step in (0, 3, 6, 9):
        m.on_train_step(step)
        want = 0.8 - 0.6 * min(step / 6, 1)
        assert m.schedule_values()["noise_level"] == pytest.approx(want)
        dropped = (m.corrupt(ones) == 0).float().mean().item()
        assert dropped == pytest.approx(want, abs=0.01)
    # resume: the hooks alone restore the value, in any order
    m.on_train_step(100)
    m.on_train_step(3)
    assert m.corruption.level == pytest.approx(0.5)


def test_vae_kl_warmup_and_beta_vae():
    x = (torch.rand(64, 10, generator=torch.Generator().manual_seed(0)) > 0.5).float().numpy()
    model = VAE(input_shape=(10,), hidden=(8,), latent_dim=2, beta=2.0, beta_warmup=4)
    hist = quiet(epochs=6, batch_size=16, val_split=0).fit(model, x)
    assert [r["beta"] for r in hist] == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.0])
    model.eval()
    assert model.kl_weight() == 2.0  # evaluation uses the final β
    assert BetaVAE(input_shape=(10,)).config.beta == 4.0
    assert "beta" not in VAE(input_shape=(10,)).schedule_values()


# -- IWAE and the likelihood estimator ---------------------------------------------------------
def test_iwae_k1_equals_the_elbo_with_shared_draws():
    x = (torch.rand(7, 12, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    torch.manual_seed(0)
    iwae = IWAE(input_shape=(12,), hidden=(16,), latent_dim=3, iw_samples=1)
    vae = VAE(input_shape=(12,), hidden=(16,), latent_dim=3)
    vae.load_state_dict(iwae.state_dict())
    torch.manual_seed(42)
    bound = iwae(x).loss
    torch.manual_seed(42)
    q = vae.encode(x)
    z = q.sample()
    elbo = -vae.nll(vae.decode_params(z), x) + vae.prior_log_prob(z) - q.log_prob(z)
    torch.testing.assert_close(bound, -elbo.mean(), rtol=0, atol=1e-6)
    # ... and its expectation is the closed-form ELBO the VAE trains on
    torch.manual_seed(1)
    lw, _, _ = log_weights(vae, x, 20000, q)
    closed = -(vae.nll(vae.decode_params(q.sample(20000)), x).mean(0) + q.kl())
    torch.testing.assert_close(lw.mean(0), closed, rtol=0, atol=0.15)
    # more samples, a tighter bound (on average over draws)
    torch.manual_seed(2)
    b1 = torch.stack([iwae.iwae_bound(x, 1)[0] for _ in range(200)]).mean()
    b50 = torch.stack([iwae.iwae_bound(x, 50)[0] for _ in range(200)]).mean()
    assert b50 > b1 + 0.05


def test_nll_estimate_converges_to_exact_likelihood_by_quadrature():
    """1-D latent: log p(x) = log ∫ p(x|z) N(z; 0, 1) dz on a fine grid is exact."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(400, 1, generator=g)
    x = (torch.rand(400, 6, generator=g) < torch.sigmoid(z * torch.tensor([2.0, -2, 1, -1, 3, 0.5]))).float()
    torch.manual_seed(0)
    model = VAE(input_shape=(6,), latent_dim=1, hidden=(16,))
    quiet(epochs=20, batch_size=50, val_split=0).fit(model, x.numpy())
    xs = x[:8]
    with torch.no_grad():
        grid = torch.linspace(-10, 10, 20001).view(-1, 1, 1).expand(-1, len(xs), 1)
        joint = -model.nll(model.decode_params(grid), xs) + model.prior_log_prob(grid)  # (G, B)
        exact = torch.logsumexp(joint, 0) + math.log(20 / 20000)
    torch.manual_seed(1)
    est = log_marginal(model, xs, n_samples=5000)
    torch.manual_seed(1)
    chunked = log_marginal(model, xs, n_samples=5000, max_elements=500)  # 10 draws per chunk
    torch.manual_seed(1)
    one = log_marginal(model, xs, n_samples=1)
    assert (est - exact).abs().max() < 0.01
    torch.testing.assert_close(chunked, est, rtol=0, atol=1e-5)
    assert (one - exact).abs().mean() > 3 * (est - exact).abs().mean()
    # evaluate() reports it as nll
    m = aekit.evaluate(model, xs.numpy(), nll_samples=2000)
    assert m["nll"] == pytest.approx(-exact.mean().item(), abs=0.02)
    with pytest.raises(AekitError, match="variational"):
        log_marginal(aekit.AE(input_shape=(6,)), xs, 10)


# -- AAE ----------------------------------------------------------------------------------------
def test_aae_discriminator_moves_toward_chance_as_codes_match_the_prior():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2000, 2, generator=g)
    x = torch.sigmoid(z @ torch.randn(2, 8, generator=g) + 0.05 * torch.randn(2000, 8, generator=g)).numpy()
    torch.manual_seed(0)
    model = AAE(input_shape=(8,), latent_dim=2, hidden=(64,), disc_hidden=(32, 32), output="linear")
    hist = quiet(epochs=40, batch_size=100, val_split=0).fit(model, x)
    acc = [r["train_disc_acc"] for r in hist]
    # measured over seeds 0-5: early max 0.82-0.91, mean of the last 10 epochs 0.57-0.62
    assert max(acc[:5]) > 0.78  # early on the codes are easy to tell from N(0, I)
    assert np.mean(acc[-10:]) < 0.66  # later the discriminator is near chance
    assert max(acc[:5]) - np.mean(acc[-10:]) > 0.15
    codes = model.transform(torch.from_numpy(x))
    assert codes.mean(0).abs().max() < 0.5 and (codes.std(0) - 1).abs().max() < 0.3
    assert hist[-1]["train_recon"] < 0.1 * hist[0]["train_recon"]


def test_aae_priors_and_phases():
    m = AAE(input_shape=(6,), latent_dim=2, prior="mixture", n_components=4, mixture_radius=3, mixture_std=0.1)
    draws = m.prior_sample(4000, torch.Generator().manual_seed(0))
    radius = draws.norm(dim=1)
    assert radius.mean() == pytest.approx(3, abs=0.05)
    angles = torch.atan2(draws[:, 1], draws[:, 0])
    assert len(torch.unique(torch.round(angles / (math.pi / 2)))) == 4 + 1  # ±π are the same mode
    c = AAE(input_shape=(6,), latent_dim=3, prior="categorical", n_clusters=5)
    d = c.prior_sample(100)
    assert torch.equal(d[:, :5].sum(1), torch.ones(100)) and d.shape == (100, 8)
    code = c.transform(torch.rand(10, 6))
    assert torch.allclose(code[:, :5].sum(1), torch.ones(10)) and c.cluster(torch.rand(10, 6)).max() < 5
    assert c.sample(3).shape == (3, 6)
    with pytest.raises(AekitError, match="categorical"):
        m.cluster(torch.rand(2, 6))
    # the optional balance term: log K − H(ȳ), log K for a batch all in one cluster, 0 for a uniform one
    b = AAE(input_shape=(6,), latent_dim=3, prior="categorical", n_clusters=5, balance_weight=2.0)
    b0 = AAE(input_shape=(6,), latent_dim=3, prior="categorical", n_clusters=5)
    b0.load_state_dict(b.state_dict())
    real = b.prior_sample(10)
    for ys, extra in [(torch.zeros(10, dtype=torch.long), 2 * math.log(5)), (torch.arange(10) % 5, 0.0)]:
        code = torch.cat([torch.nn.functional.one_hot(ys, 5).float(), torch.randn(10, 3)], 1)
        diff = b.adversarial(code, real)[1] - b0.adversarial(code, real)[1]
        assert diff.item() == pytest.approx(extra, abs=1e-5)
    # instance noise: in training each discriminator sees its input plus N(0, σ²), codes and prior
    # draws alike; in evaluation the exact input
    torch.manual_seed(0)
    n = AAE(input_shape=(6,), latent_dim=3, prior="categorical", n_clusters=5, disc_noise=0.5)
    seen = []
    for d in (n.disc_y, n.disc):
        d.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach()))
    code, real = n.prior_sample(4000), n.prior_sample(4000)
    n.train()
    n.adversarial(code, real)
    for got, want in zip(seen, [code[:, :5], code[:, 5:], real[:, :5], real[:, 5:]]):
        assert (got - want).std().item() == pytest.approx(0.5, rel=0.05)
        assert abs((got - want).mean().item()) < 0.02
    seen.clear()
    n.eval()
    n.adversarial(code, real)
    assert torch.equal(seen[0], code[:, :5]) and torch.equal(seen[3], real[:, 5:])
    with pytest.raises(AekitError, match="disc_noise"):
        AAE(input_shape=(6,), latent_dim=3, disc_noise=-0.1)
    # three optimizers: the decoder only in the first, the discriminators only in the second
    opts = c.configure_optimizers(lambda p: torch.optim.SGD(p, lr=0.1))
    ids = [{id(p) for g in o.param_groups for p in g["params"]} for o in opts]
    assert {id(p) for p in c.decoder.parameters()} <= ids[0] and not ids[0] & ids[1]
    assert {id(p) for p in c.disc_y.parameters()} <= ids[1] and ids[2] == {id(p) for p in c.encoder.parameters()}


# -- contractive AE -------------------------------------------------------------------------------
def test_contractive_penalty_closed_form_matches_autograd():
    torch.manual_seed(0)
    m = ContractiveAE(input_shape=(12,), hidden=(), latent_dim=5)
    assert m.method == "closed_form"
    x = torch.rand(9, 12)
    closed = m.jacobian_norm(x)
    exact = m.jacobian_norm(x, method="exact")
    torch.testing.assert_close(closed, exact, rtol=1e-5, atol=1e-7)
    brute = torch.stack([torch.autograd.functional.jacobian(m.code, x[i:i + 1]).pow(2).sum() for i in range(9)])
    torch.testing.assert_close(closed, brute.detach(), rtol=1e-5, atol=1e-7)
    hutch = ContractiveAE(input_shape=(12,), hidden=(), latent_dim=5, jacobian="hutchinson", n_projections=4000)
    hutch.load_state_dict(m.state_dict())
    torch.manual_seed(1)
    torch.testing.assert_close(hutch.jacobian_norm(x), closed, rtol=0.1, atol=0)
    # deep encoder: exact equals the brute-force Jacobian, also under inference mode
    deep = ContractiveAE(input_shape=(12,), hidden=(7,), latent_dim=3)
    assert deep.method == "exact"
    brute = torch.stack([torch.autograd.functional.jacobian(deep.code, x[i:i + 1]).pow(2).sum() for i in range(9)])
    torch.testing.assert_close(deep.jacobian_norm(x), brute.detach(), rtol=1e-5, atol=1e-7)
    with torch.inference_mode():
        out = deep(x)
    assert out.terms["contractive"].item() == pytest.approx(brute.mean().item(), rel=1e-5)
    # the penalty is trained: gradient of λ‖J‖² reaches the encoder
    m.zero_grad()
    m.jacobian_norm(x).mean().backward()
    assert m.encoder[-1].weight.grad.abs().sum() > 0


# -- k-sparse -------------------------------------------------------------------------------------
def test_ksparse_schedule_and_alpha_features():
    x = torch.rand(64, 10, generator=torch.Generator().manual_seed(0)).numpy()
    m = KSparseAE(input_shape=(10,), latent_dim=12, k=2, k_start=10, k_warmup=4, alpha=3)
    assert isinstance(m.encoder[0], torch.nn.Linear) and len(m.encoder) == 1  # linear encoder
    hist = quiet(epochs=6, batch_size=16, val_split=0).fit(m, x)
    assert [r["k"] for r in hist] == [10, 8, 6, 4, 2, 2]
    assert [round(r["train_mean_activation"] * 12) for r in hist] == [10, 8, 6, 4, 2, 2]
    xt = torch.from_numpy(x)
    assert ((m.code(xt) != 0).sum(1) == 2).all()  # reconstruction: k
    assert ((m.transform(xt) != 0).sum(1) == 6).all()  # features: α·k


# -- VQ-VAE ---------------------------------------------------------------------------------------
def test_vq_gradient_flows_to_the_encoder_through_the_quantizer():
    torch.manual_seed(0)
    m = VQVAE(input_shape=(1, 8, 8), arch="conv", latent_dim=4, code_dim=3, codebook_size=6, commitment=0.0)
    x = torch.rand(5, 1, 8, 8)
    ze = m.encode(x).detach().requires_grad_(True)
    zq, idx, _, _ = m.quantizer(ze)
    torch.testing.assert_close(zq, m.quantizer.codebook[idx])  # forward: the nearest code
    d2 = (ze.unsqueeze(-2) - m.quantizer.codebook).pow(2).sum(-1)
    assert torch.equal(idx, d2.argmin(-1))
    recon = m.recon_loss(m.decode_logits(zq), x)
    (g_ze,) = torch.autograd.grad(recon, ze)
    zq2 = m.quantizer.codebook[idx].detach().requires_grad_(True)
    (g_zq,) = torch.autograd.grad(m.recon_loss(m.decode_logits(zq2), x), zq2)
    torch.testing.assert_close(g_ze, g_zq)  # straight-through: ∂L/∂z_e = ∂L/∂z_q
    assert g_ze.abs().sum() > 0
    m.zero_grad()
    m.recon_loss(m.decode_logits(m.quantizer(m.encode(x))[0]), x).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.encoder.parameters() if p.dim() > 1)
    assert m.quantizer.codebook.grad is None  # the recon loss alone does not move the codebook


def test_vq_usage_perplexity_ema_restart_and_sampling(tmp_path):
    torch.manual_seed(0)
    m = VQVAE(input_shape=(6,), latent_dim=4, code_dim=2, codebook_size=8, dead_code_threshold=0)
    x = torch.rand(10, 6)
    out = m(x)
    idx = m.codes(x)
    p = torch.bincount(idx.flatten(), minlength=8).float() / idx.numel()
    assert out.terms["usage"].item() == pytest.approx((p > 0).float().mean().item())
    perp = math.exp(-sum(v * math.log(v) for v in p.tolist() if v > 0))
    assert out.terms["perplexity"].item() == pytest.approx(perp, rel=1e-5)
    # EMA: with γ → 0 every used code jumps to the mean of the vectors assigned to it
    e = VQVAE(input_shape=(6,), latent_dim=4, code_dim=2, codebook_size=8, ema_decay=1e-6, dead_code_threshold=0)
    e.train()
    ze = e.encode(x).detach()
    idx = e.quantizer.nearest(ze)
    e.quantizer.update(ze, idx)
    for k in idx.unique():
        torch.testing.assert_close(e.quantizer.codebook[k], ze[idx == k].mean(0), rtol=1e-3, atol=1e-4)
    # dead codes are restarted at encoder outputs
    d = VQVAE(input_shape=(6,), latent_dim=4, code_dim=2, codebook_size=8, dead_code_threshold=0.5)
    d.train()
    d.quantizer.usage.fill_(0.001)
    ze = d.encode(x).detach()
    d.quantizer.update(ze, d.quantizer.nearest(ze))
    flat = ze.reshape(-1, 2)
    for row in d.quantizer.codebook:
        assert (flat - row).abs().sum(1).min() < 1e-6
    # counts survive save/load, so sampling is the same
    quiet(epochs=2, batch_size=5, val_split=0).fit(m, x.numpy())
    assert m.quantizer.counts.sum().item() == 10 * 2  # last epoch: 10 samples × 2 positions
    m.save_pretrained(tmp_path)
    same = aekit.load(tmp_path)
    torch.testing.assert_close(same.quantizer.counts, m.quantizer.counts)
    a = m.sample(16, torch.Generator().manual_seed(0))
    b = same.sample(16, torch.Generator().manual_seed(0))
    assert a.shape == (16, 6) and torch.equal(a, b)


# -- WAE ------------------------------------------------------------------------------------------
def test_wae_mmd_is_unbiased_and_detects_a_shift():
    g = torch.Generator().manual_seed(0)
    same = [imq_mmd(torch.randn(64, 4, generator=g), torch.randn(64, 4, generator=g), 8.0).item() for _ in range(200)]
    assert abs(np.mean(same)) < 3 * np.std(same) / math.sqrt(200)
    shifted = imq_mmd(torch.randn(64, 4, generator=g) + 1.0, torch.randn(64, 4, generator=g), 8.0).item()
    assert shifted > np.mean(same) + 10 * np.std(same)
    m = WAE(input_shape=(6,), latent_dim=2, prior_std=2.0)
    assert m.sample(5).shape == (5, 6)


# -- the command line -----------------------------------------------------------------------------
def test_cli_trains_a_family_and_evaluates_nll(tmp_path, capsys):
    """The real CLI's code path, run in-process (``aekit`` = ``aekit.cli.main``)."""
    import json

    from aekit.cli import main

    out = tmp_path / "run"
    assert main(["train", "--model", "vae", "--beta-warmup", "2", "--epochs", "3", "--latent-dim", "4",
                 "--out", str(out), "--quiet"]) == 0
    history = (out / "history.csv").read_text().splitlines()
    beta = history[0].split(",").index("beta")
    assert [float(row.split(",")[beta]) for row in history[1:]] == [0.0, 0.5, 1.0]
    capsys.readouterr()
    assert main(["evaluate", str(out), "--nll-samples", "50", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["nll"] <= metrics["neg_elbo"] + 0.5  # the tighter bound, within MC noise
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    for name, paper in [("aae", "Makhzani"), ("sdae", "Geras"), ("iwae", "Burda"), ("cae", "Rifai"),
                        ("ksparse", "Makhzani & Frey"), ("vqvae", "van den Oord"), ("wae", "Tolstikhin"),
                        ("beta_vae", "Higgins")]:
        assert any(line.startswith(name + " ") and paper in line for line in listing.splitlines()), name


# -- resume: schedules and multi-optimizer steps come back exactly ------------------------------
@pytest.mark.parametrize("cls,opts", [
    (ScheduledDAE, {"noise_schedule": "linear", "schedule_unit": "step", "schedule_length": 10}),
    (AAE, {"prior": "categorical", "n_clusters": 3, "disc_hidden": (8,)}),
    (VQVAE, {"latent_dim": 4, "code_dim": 2, "codebook_size": 8}),
    (KSparseAE, {"latent_dim": 8, "k": 2, "k_start": 8, "k_warmup": 3}),
], ids=["sdae", "aae", "vqvae", "ksparse"])
def test_resumed_run_equals_uninterrupted_run(cls, opts, tmp_path):
    x = torch.rand(64, 10, generator=torch.Generator().manual_seed(0)).numpy()

    def run(epochs, **kw):
        torch.manual_seed(0)
        model = cls(input_shape=(10,), hidden=(8,), **opts)
        trainer = quiet(epochs=epochs, batch_size=16, val_split=0, out_dir=kw.pop("out", None))
        return model, trainer.fit(model, x, **kw)

    full, h_full = run(4)
    run(2, out=tmp_path)
    resumed, h_res = run(4, resume=tmp_path / "checkpoint" / "last.pt")
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in h_full], \
        [{k: v for k, v in r.items() if k != "seconds"} for r in h_res]
    assert strip[0] == strip[1]


# -- the VAE's σ(z) Gaussian decoder (Kingma & Welling 2013, App. C.2) ----------------------------

@pytest.mark.parametrize("shape,arch", [((6,), "mlp"), ((1, 8, 8), "conv"), ((16, 3), "tcn")])
def test_the_sigma_z_decoder_doubles_the_channels_and_its_nll_is_the_gaussian_of_both_halves(shape, arch):
    torch.manual_seed(0)
    model = VAE(input_shape=shape, latent_dim=2, hidden=(16,), arch=arch, likelihood="gaussian",
                gaussian_scale="decoder", output="linear")
    assert not hasattr(model, "log_scale")
    at = 1 if len(shape) == 2 else 0  # a series window's channels are last
    doubled = list(shape)
    doubled[at] *= 2
    z, x = torch.randn(3, 5, 2), torch.randn(5, *shape)
    h = model.decode_params(z)  # sample dims first, as log_marginal calls it
    assert h.shape == (3, 5, *doubled)
    k, dim = shape[at], at - len(shape)
    mean, log_sigma = h.narrow(dim, 0, k), h.narrow(dim, k, k)
    want = torch.distributions.Normal(mean, log_sigma.exp()).log_prob(x).flatten(2).sum(-1)
    torch.testing.assert_close(model.nll(h, x), -want, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(model.decoder_mean(h), mean)
    assert model.sample(4).shape == (4, *shape)


def test_the_sigma_z_decoder_learns_noise_that_depends_on_the_code():
    """Rows x_j = a_j u + (0.02 + 0.3 u) ε_j, u ~ U(0, 1): the noise grows with the factor u.
    The σ(z) decoder's σ follows it (correlation > 0.9 with the true noise scale) and its
    held-out −ELBO is below the per-feature σ's, which can only fit one σ per feature; the
    hand-written VAE step steps aside for it."""
    from aekit.accel.vae import plan_vae

    g = torch.Generator().manual_seed(0)

    def rows(n):
        u = torch.rand(n, 1, generator=g)
        return u, u * torch.tensor([1.0, -1.0, 0.5, 2.0]) + (0.02 + 0.3 * u) * torch.randn(n, 4, generator=g)

    _, train = rows(4000)
    u, held = rows(1000)
    scores = {}
    for scale in ("feature", "decoder"):
        torch.manual_seed(0)
        model = VAE(input_shape=(4,), latent_dim=1, hidden=(32,), likelihood="gaussian", output="linear",
                    gaussian_scale=scale)
        aekit.Trainer(epochs=40, batch_size=100, lr=3e-3, val_split=0, progress=False).fit(model, train.numpy())
        scores[scale] = float(model.score(held).mean())
        if scale == "decoder":
            assert isinstance(plan_vae(model, [torch.optim.Adam(model.parameters())]), str)
            with torch.no_grad():
                sigma = model.decode_params(model.eval().encode(held).mode())[:, 4:].exp()  # (B, 4)
            for j in range(4):
                r = np.corrcoef(sigma[:, j].numpy(), (0.02 + 0.3 * u[:, 0]).numpy())[0, 1]
                assert r > 0.9, (j, r)
    assert scores["decoder"] < scores["feature"] - 0.5, scores


def test_the_sigma_z_decoder_is_refused_where_it_cannot_be_built():
    for opts, needle in (({"likelihood": "bernoulli"}, "likelihood='gaussian'"),
                         ({"likelihood": "gaussian", "arch": "sequential",
                           "net_options": {"encoder": [["Linear", 4, 8]], "decoder": [["Linear", 2, 4]]}}, "own")):
        with pytest.raises(AekitError, match="gaussian_scale") as err:
            VAE(input_shape=(4,), latent_dim=2, gaussian_scale="decoder", **opts)
        assert needle in str(err.value) and "\n" not in str(err.value)
