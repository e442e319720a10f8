"""Generation: GMM sampling for deterministic AEs, interpolation, traversal, and the CLI verbs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import aekit
from aekit.errors import AekitError
from aekit.tasks import generate
from aekit.tasks.common import codes
from conftest import run_cli


@pytest.fixture(scope="module")
def digits_ae():
    data = aekit.datasets.load("digits")
    torch.manual_seed(0)
    model = aekit.AE(input_shape=data.input_shape, latent_dim=6, hidden=(64,))
    aekit.Trainer(epochs=15, batch_size=64, val_split=0, progress=False).fit(model, data)
    return model, data


def test_gmm_sampling_returns_decodable_samples(digits_ae, tmp_path):
    model, data = digits_ae
    z = codes(model, data.train())
    gmm = generate.CodeGMM.fit(z, n_components=5, seed=0)
    x = generate.sample(model, 37, gmm=gmm, generator=torch.Generator().manual_seed(0))
    assert x.shape == (37, *data.input_shape)
    assert torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1
    # samples follow the mixture: their codes' mean is near the training codes' mean
    zs = gmm.sample(4000, torch.Generator().manual_seed(1))
    assert torch.allclose(zs.mean(0), z.mean(0), atol=0.15 * float(z.std()))
    torch.testing.assert_close(gmm.std.float(), z.std(0), rtol=0.1, atol=1e-3)
    gmm.save(tmp_path / "g.safetensors")
    back = generate.CodeGMM.load(tmp_path / "g.safetensors")
    torch.testing.assert_close(back.sample(5, torch.Generator().manual_seed(2)),
                               gmm.sample(5, torch.Generator().manual_seed(2)))
    with pytest.raises(AekitError, match="no prior"):
        generate.sample(model, 3)


def test_vae_samples_from_its_prior():
    vae = aekit.VAE(input_shape=(1, 8, 8), latent_dim=3, hidden=(8,))
    assert generate.sample(vae, 4).shape == (4, 1, 8, 8)


def test_interpolation_endpoints_reconstruct_inputs(digits_ae):
    model, data = digits_ae
    x = torch.from_numpy(data.test()[:2])
    path = generate.interpolate(model, x[0], x[1], steps=6)
    assert path.shape == (6, *data.input_shape)
    rec = model.reconstruct(x)
    torch.testing.assert_close(path[0], rec[0])
    torch.testing.assert_close(path[-1], rec[1])
    assert not torch.allclose(path[2], path[0])  # the middle is somewhere else


def test_slerp_keeps_norm_and_traverse_moves_one_dimension(digits_ae):
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    p = generate.slerp(a, b, torch.linspace(0, 1, 5))
    torch.testing.assert_close(p.norm(dim=1), torch.full((5,), 3.0))
    lin = 0.5 * a + 0.5 * b
    assert lin.norm() < 2.2  # linear interpolation shrinks it
    model, data = digits_ae
    vae = aekit.VAE(input_shape=(1, 8, 8), latent_dim=3, hidden=(8,))
    t = generate.traverse(vae, torch.from_numpy(data.test()[:1]), steps=5, span=2.0)
    assert t.shape == (3, 5, 1, 8, 8)
    t = generate.traverse(model, torch.from_numpy(data.test()[:1]), steps=5, dims=[2])
    assert t.shape == (1, 5, 1, 8, 8) and not torch.allclose(t[0, 0], t[0, -1])
    with pytest.raises(AekitError, match="dims"):
        generate.traverse(model, torch.from_numpy(data.test()[:1]), dims=[99])


def test_cli_sample_interpolate_traverse_for_a_deterministic_ae(tmp_path):
    from PIL import Image

    run = tmp_path / "run"
    r = run_cli("train", "--epochs", "5", "--latent-dim", "4", "--quiet", "--no-report", "--out", str(run))
    assert r.returncode == 0, r.stderr
    r = run_cli("sample", str(run), "-n", "16", "--out", str(tmp_path / "s.png"))
    assert r.returncode == 0, r.stderr
    assert (run / "code_gmm.safetensors").is_file()  # the fitted mixture is kept with the run
    assert Image.open(tmp_path / "s.png").size == (4 * 9 + 1, 4 * 9 + 1)
    r = run_cli("sample", str(run), "-n", "5", "--out", str(tmp_path / "s.npy"))
    assert r.returncode == 0 and np.load(tmp_path / "s.npy").shape == (5, 1, 8, 8)
    r = run_cli("interpolate", str(run), "--steps", "6", "--out", str(tmp_path / "i.png"))
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "i.png").size == (6 * 9 + 1, 10)
    r = run_cli("traverse", str(run), "--steps", "5", "--out", str(tmp_path / "t.png"))
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "t.png").size == (5 * 9 + 1, 4 * 9 + 1)  # one row per code dim
    r = run_cli("interpolate", str(run), "--index", "0", "99999", "--out", str(tmp_path / "x.png"))
    assert r.returncode == 2 and "--index" in r.stderr
