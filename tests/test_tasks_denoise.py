"""Denoising: PSNR/SSIM are right, a denoising AE raises PSNR on real MNIST, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import aekit
from aekit.errors import AekitError
from aekit.tasks import denoise as D
from conftest import run_cli


def test_psnr_and_ssim_values():
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    y = x + 0.1
    torch.testing.assert_close(D.psnr(x, y), torch.full((4,), 20.0), rtol=0, atol=1e-4)  # 10 log10(1 / 0.01)
    torch.testing.assert_close(D.ssim(x, x), torch.ones(4))
    other = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))  # not the global RNG: a test
    assert D.ssim(x, y).mean() > D.ssim(x, other).mean()  # that seeded it with 0 would make it x itself
    skm = pytest.importorskip("skimage.metrics")
    a, b = x[0, 0].double().numpy(), (x[0, 0] * 0.7 + 0.1).double().numpy()
    ref = skm.structural_similarity(a, b, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False)
    assert D.ssim(torch.from_numpy(a)[None, None], torch.from_numpy(b)[None, None]).item() == pytest.approx(ref, abs=1e-5)


def test_parse_noise_and_clipped_noise():
    assert D.parse_noise("gaussian:0.5") == ("gaussian", 0.5)
    with pytest.raises(AekitError, match="KIND:LEVEL"):
        D.parse_noise("gaussian")
    with pytest.raises(AekitError, match="unknown corruption"):
        D.parse_noise("blur:1")
    x = torch.full((2, 10), 0.5)
    n = D.add_noise(x, "gaussian", 2.0, seed=3)
    assert n.min() >= 0 and n.max() <= 1
    torch.testing.assert_close(n, D.add_noise(x, "gaussian", 2.0, seed=3))


@pytest.fixture(scope="module")
def mnist_dae(mnist):
    x = mnist.train()[:3000]
    torch.manual_seed(0)
    model = aekit.DenoisingAE(input_shape=(1, 28, 28), hidden=(256,), latent_dim=32, noise="gaussian", noise_level=0.5)
    aekit.Trainer(epochs=5, batch_size=32, val_split=0, progress=False).fit(model, x)
    return model


def test_denoising_raises_psnr_on_real_mnist(mnist, mnist_dae):
    m = D.denoising_metrics(mnist_dae, mnist.test()[:500], "gaussian", 0.5, seed=0)
    assert m["noisy_psnr"] == pytest.approx(9.3, abs=0.6)  # σ = 0.5 clipped to [0, 1]
    assert m["denoised_psnr"] > m["noisy_psnr"] + 3, m  # measured +4.1 dB after 5 short epochs
    assert 0 < m["denoised_ssim"] < 1 and 0 < m["noisy_ssim"] < 1
    # aekit.evaluate reports the same numbers for a denoising model
    ev = aekit.evaluate(mnist_dae, mnist.test()[:500])
    assert ev["denoised_psnr"] == pytest.approx(m["denoised_psnr"], rel=1e-5)


def test_denoise_cli_folder_and_array(mnist, mnist_dae, tmp_path):
    from aekit.data.images import write_image

    run = tmp_path / "run"
    mnist_dae.save_pretrained(run)
    (run / "preprocess.json").write_text(json.dumps({"method": "scale", "factor": 1 / 255}))
    imgs = tmp_path / "imgs"
    for i in range(3):
        write_image(imgs / f"{i}.png", mnist.test()[i])
    r = run_cli("denoise", str(run), str(imgs), "--out", str(tmp_path / "clean"), "--noise", "gaussian:0.5")
    assert r.returncode == 0, r.stderr
    assert "denoised_psnr" in r.stdout
    assert sorted(p.name for p in (tmp_path / "clean").iterdir()) == [
        "0.noisy.png", "0.png", "1.noisy.png", "1.png", "2.noisy.png", "2.png"]
    np.save(tmp_path / "x.npy", mnist.x_test[:20])
    r = run_cli("denoise", str(run), str(tmp_path / "x.npy"), "--out", str(tmp_path / "d.npy"))
    assert r.returncode == 0, r.stderr
    d = np.load(tmp_path / "d.npy")
    assert d.shape == (20, 1, 28, 28) and d.max() > 100  # back in the file's units (0..255)
    r = run_cli("denoise", str(run), str(tmp_path / "x.npy"), "--out", str(tmp_path / "e.npy"), "--noise", "gauss:1")
    assert r.returncode == 2 and "--noise" in r.stderr
