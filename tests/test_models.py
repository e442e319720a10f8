"""What is special about each core family, beyond the shared contract."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import aekit
from aekit.corruption import Corruption, corrupt
from aekit.errors import AekitError
from aekit.latents import GaussianPosterior, topk


def test_classic_network_is_exact():
    m = aekit.AE(input_shape=(784,), hidden=(128,), latent_dim=64)
    leaves = [type(x) for x in m.modules() if not list(x.children())]
    assert leaves == [nn.Linear, nn.ReLU, nn.Linear, nn.Linear, nn.ReLU, nn.Linear, nn.Sigmoid]
    shapes = [tuple(x.weight.shape) for x in m.modules() if isinstance(x, nn.Linear)]
    assert shapes == [(128, 784), (64, 128), (128, 64), (784, 128)]
    assert m.n_params() == 218_192
    out = m(torch.rand(3, 784))
    assert out.z.shape == (3, 64) and out.recon.shape == (3, 784)
    assert (out.recon >= 0).all() and (out.recon <= 1).all()


def test_mse_and_bce_losses_match_their_formulas():
    torch.manual_seed(0)
    x = torch.rand(5, 20)
    for loss in ("mse", "bce"):
        m = aekit.AE(input_shape=(20,), hidden=(8,), latent_dim=3, recon_loss=loss)
        out = m(x)
        xh = out.recon
        if loss == "mse":
            want = ((x - xh) ** 2).mean()
        else:
            want = -(x * xh.log() + (1 - x) * (1 - xh).log()).mean()
        torch.testing.assert_close(out.loss, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 64, 64)])
@pytest.mark.parametrize("cls", [aekit.AE, aekit.DenoisingAE, aekit.SparseAE, aekit.VAE])
def test_conv_architecture_shapes(cls, shape):
    m = cls(input_shape=shape, arch="conv", latent_dim=8)
    assert any(isinstance(x, nn.Conv2d) for x in m.encoder.modules())
    assert any(isinstance(x, nn.ConvTranspose2d) for x in m.decoder.modules())
    x = torch.rand(2, *shape)
    out = m(x)
    assert out.recon.shape == x.shape
    out.loss.backward()


@pytest.mark.parametrize("shape", [(784,), (1, 7, 7), (3, 15, 15), (1, 4, 4)])
def test_conv_refuses_unsupported_shapes_with_the_supported_ones(shape):
    with pytest.raises(AekitError, match=r"1×28×28, 3×32×32, 3×64×64"):
        aekit.AE(input_shape=shape, arch="conv")


def test_config_is_frozen_validated_and_suggests_typos():
    m = aekit.AE(input_shape=(10,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.config.latent_dim = 3  # frozen
    with pytest.raises(AekitError, match="latent_dim"):
        aekit.AE(input_shape=(10,), latent_dim=0)
    with pytest.raises(AekitError, match="did you mean 'latent_dim'"):
        aekit.AE(input_shape=(10,), latent_dims=4)
    with pytest.raises(AekitError, match="hidden"):
        aekit.AE(input_shape=(10,), hidden=(8, -1))
    with pytest.raises(AekitError, match="beta"):
        aekit.VAE(input_shape=(10,), beta=-1)
    with pytest.raises(AekitError, match="k: must be between 1 and latent_dim=4"):
        aekit.SparseAE(input_shape=(10,), latent_dim=4, sparsity="topk", k=5)
    with pytest.raises(AekitError, match="noise_level"):
        aekit.DenoisingAE(input_shape=(10,), noise_level=-0.1)


def test_kl_is_nonnegative_and_matches_monte_carlo():
    torch.manual_seed(0)
    q = GaussianPosterior(torch.randn(4, 3), torch.randn(4, 3))
    kl = q.kl()
    assert (kl >= 0).all()
    z = q.sample(200_000)  # (S, B, D)
    from aekit.latents import standard_normal_log_prob

    mc = (q.log_prob(z) - standard_normal_log_prob(z)).mean(0)
    torch.testing.assert_close(mc, kl, rtol=0.02, atol=0.02)
    zero = GaussianPosterior(torch.zeros(2, 3), torch.zeros(2, 3)).kl()
    torch.testing.assert_close(zero, torch.zeros(2))


def test_vae_score_is_negative_elbo_and_samples_have_data_shape():
    torch.manual_seed(0)
    m = aekit.VAE(input_shape=(1, 8, 8), latent_dim=3)
    x = torch.rand(5, 1, 8, 8).round()
    torch.manual_seed(1)
    s = m.score(x)
    torch.manual_seed(1)
    rec, kl, _, _ = m.elbo_terms(x)
    torch.testing.assert_close(s, rec + kl)
    assert m.sample(7).shape == (7, 1, 8, 8)


def test_topk_keeps_exactly_k():
    z = torch.randn(10, 12)
    out = topk(z, 3)
    assert ((out != 0).sum(1) == 3).all()
    kept = out.sort(dim=1, descending=True).values[:, :3]
    torch.testing.assert_close(kept, z.sort(dim=1, descending=True).values[:, :3])
    m = aekit.SparseAE(input_shape=(16,), latent_dim=8, sparsity="topk", k=3)
    o = m(torch.rand(6, 16))
    assert ((o.z != 0).sum(1) == 3).all()
    assert o.terms["mean_activation"].item() == pytest.approx(3 / 8)


def test_sparse_terms_report_penalty_and_activation():
    torch.manual_seed(0)
    x = torch.rand(8, 16)
    m = aekit.SparseAE(input_shape=(16,), latent_dim=6, sparsity="kl", rho=0.1, sparsity_weight=0.5)
    o = m(x)
    z = o.z
    assert (z > 0).all() and (z < 1).all()  # sigmoid code
    rho_hat = z.mean(0)
    want = (0.1 * torch.log(0.1 / rho_hat) + 0.9 * torch.log(0.9 / (1 - rho_hat))).sum()
    torch.testing.assert_close(o.terms["sparsity"], want.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(o.terms["mean_activation"], z.mean().detach())
    torch.testing.assert_close(o.loss, o.terms["recon"] + 0.5 * want.detach(), rtol=1e-5, atol=1e-6)
    l1 = aekit.SparseAE(input_shape=(16,), latent_dim=6, sparsity="l1", sparsity_weight=0.1)
    o = l1(x)
    torch.testing.assert_close(o.terms["sparsity"], o.z.abs().sum(1).mean().detach())


def test_masking_noise_drops_the_right_fraction():
    x = torch.ones(200, 500)
    y = corrupt(x, "masking", 0.3, generator=torch.Generator().manual_seed(0))
    assert (y == 0).float().mean().item() == pytest.approx(0.3, abs=0.005)
    sp = corrupt(torch.full((200, 500), 0.5), "salt_pepper", 0.2, generator=torch.Generator().manual_seed(0))
    assert (sp == 0).float().mean().item() == pytest.approx(0.1, abs=0.005)
    assert (sp == 1).float().mean().item() == pytest.approx(0.1, abs=0.005)
    g = corrupt(torch.zeros(400, 500), "gaussian", 0.5, generator=torch.Generator().manual_seed(0))
    assert g.std().item() == pytest.approx(0.5, rel=0.01)


def test_corruption_only_in_training_mode():
    c = Corruption("gaussian", 0.5)
    x = torch.rand(4, 10)
    c.train()
    assert not torch.equal(c(x), x)
    c.eval()
    assert torch.equal(c(x), x)
    m = aekit.DenoisingAE(input_shape=(10,), noise="masking", noise_level=0.9)
    m.eval()
    torch.testing.assert_close(m.reconstruct(x), m.decode(m.encode(x)))
    m.train()
    torch.manual_seed(0)
    train_loss = m(x).loss
    m.eval()
    assert not torch.isclose(train_loss, m(x).loss)


def test_noise_clip_keeps_corrupted_inputs_in_the_data_range():
    x = torch.rand(300, 50)
    torch.manual_seed(0)
    unclipped = Corruption("gaussian", 0.5)(x)
    assert unclipped.min() < -0.5 and unclipped.max() > 1.5
    torch.manual_seed(0)
    clipped = Corruption("gaussian", 0.5, clip=(0, 1))(x)
    assert clipped.min() == 0 and clipped.max() == 1
    torch.testing.assert_close(clipped, unclipped.clamp(0, 1))  # same noise, then clamped
    # the model config carries it (YAML/CLI give "0,1"); clamps in training only
    m = aekit.DenoisingAE(input_shape=[50], noise_clip="0,1", noise_level=0.5)
    assert m.config.noise_clip == (0.0, 1.0) and m.corruption.clip == (0.0, 1.0)
    m.train()
    assert m.corrupt(x).min() == 0 and m.corrupt(x).max() == 1
    m.eval()
    assert torch.equal(m.corrupt(x), x)
    for bad in [(1.0, 0.0), (0.0,), (0.0, 1.0, 2.0)]:
        with pytest.raises(AekitError, match="noise_clip: give the data range"):
            aekit.DenoisingAE(input_shape=(50,), noise_clip=bad)


def test_check_input_names_the_shape():
    m = aekit.AE(input_shape=(1, 8, 8))
    with pytest.raises(AekitError, match=r"expected shape \(batch, 1, 8, 8\)"):
        m.score(torch.rand(3, 10))
    assert m.score(torch.rand(3, 64)).shape == (3,)  # flat input of the right size is reshaped


def test_every_registered_family_is_a_top_level_name():
    from aekit.registry import MODELS

    for cls in MODELS.values():
        assert getattr(aekit, cls.__name__) is cls


def test_evaluate_stays_a_function_after_the_cli_imports_its_module():
    import aekit.cli  # noqa: F401
    from aekit import metrics  # noqa: F401  (importing the module must not shadow the function)

    assert callable(aekit.evaluate) and aekit.evaluate.__module__ == "aekit.metrics"


def test_tied_weights_share_one_parameter_and_sum_both_gradients():
    """tied=True: the decoder is the encoder's Linear layers transposed, with biases of its own;
    the shared weight's gradient is the encoder's plus the decoder's (checked against an
    untied copy holding the same values)."""
    from aekit.nets import TiedLinear

    torch.manual_seed(0)
    tied = aekit.AE(input_shape=(20,), hidden=(8,), latent_dim=3, tied=True, output="linear")
    names = [n for n, _ in tied.named_parameters()]
    assert names == ["encoder.0.weight", "encoder.0.bias", "encoder.2.weight", "encoder.2.bias",
                     "decoder.0.bias", "decoder.2.bias"]
    assert all(isinstance(tied.decoder[i], TiedLinear) for i in (0, 2))
    untied = aekit.AE(input_shape=(20,), hidden=(8,), latent_dim=3, output="linear")
    with torch.no_grad():
        for i in (0, 2):
            untied.encoder[i].weight.copy_(tied.encoder[i].weight)
            untied.encoder[i].bias.copy_(tied.encoder[i].bias)
        untied.decoder[0].weight.copy_(tied.encoder[2].weight.t())
        untied.decoder[2].weight.copy_(tied.encoder[0].weight.t())
        untied.decoder[0].bias.copy_(tied.decoder[0].bias)
        untied.decoder[2].bias.copy_(tied.decoder[2].bias)
    x = torch.rand(7, 20)
    tied(x).loss.backward()
    untied(x).loss.backward()
    torch.testing.assert_close(tied(x).loss, untied(x).loss)
    torch.testing.assert_close(tied.encoder[0].weight.grad, untied.encoder[0].weight.grad + untied.decoder[2].weight.grad.t())
    torch.testing.assert_close(tied.encoder[2].weight.grad, untied.encoder[2].weight.grad + untied.decoder[0].weight.grad.t())
    with pytest.raises(AekitError, match="tied weights need arch='mlp'"):
        aekit.AE(input_shape=(1, 28, 28), arch="conv", tied=True)


def test_tied_models_save_load_and_train(tmp_path):
    torch.manual_seed(0)
    m = aekit.AE(input_shape=(12,), hidden=(6,), latent_dim=2, tied=True)
    hist = aekit.Trainer(epochs=3, batch_size=16, val_split=0, progress=False, lr=1e-2).fit(m, torch.rand(64, 12))
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    m.save_pretrained(tmp_path / "run")
    back = aekit.load(tmp_path / "run")
    assert back.config.tied and "decoder.0.weight" not in back.state_dict()
    x = torch.rand(5, 12)
    torch.testing.assert_close(back.reconstruct(x), m.eval().reconstruct(x))


def test_ksparse_is_the_papers_tied_linear_model_and_old_runs_load_untied(tmp_path):
    import json

    m = aekit.KSparseAE(input_shape=(30,), latent_dim=40, k=4)
    assert m.config.tied and m.config.output == "linear" and m.config.hidden == ()
    assert not aekit.KSparseAE(input_shape=(1, 8, 8), arch="conv", latent_dim=8, k=2).config.tied
    # a run saved before `tied` existed: untied weights, no 'tied' key in config.json
    torch.manual_seed(0)
    old = aekit.KSparseAE(input_shape=(30,), latent_dim=40, k=4, tied=False, output="sigmoid")
    old.save_pretrained(tmp_path / "old")
    cfg = json.loads((tmp_path / "old" / "config.json").read_text())
    del cfg["model"]["tied"]
    (tmp_path / "old" / "config.json").write_text(json.dumps(cfg))
    back = aekit.load(tmp_path / "old")
    assert back.config.tied is False
    x = torch.rand(3, 30)
    torch.testing.assert_close(back.reconstruct(x), old.eval().reconstruct(x))
