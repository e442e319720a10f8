"""Benchmark C: denoising MNIST digits with additive Gaussian noise.

Test images x in [0, 1] get x̃ = clip(x + σ ε, 0, 1), σ ∈ {0.3, 0.5} (seed 0). Methods:

  aekit-dae    aekit.DenoisingAE, conv, trained here on clean training images with Gaussian
               corruption at the same σ, clipped to [0, 1] like the test inputs
               (``noise_clip=(0, 1)``; ``--unclipped-training`` leaves it unclipped);
               one model per σ
  tv           skimage.restoration.denoise_tv_chambolle
  nl-means     skimage.restoration.denoise_nl_means (σ given)
  wavelet      skimage.restoration.denoise_wavelet (BayesShrink, σ given)
  pca          projection of x̃ onto the top-k principal components of clean training images

The classical methods' parameters (TV weight, NLM h, PCA k) are chosen per σ on 200
*training* images from a small grid; they are given the true σ. Every method is scored with
the same PSNR and SSIM code (:mod:`aekit.tasks.denoise`, Wang et al. 2004 SSIM) on the same
first ``--n-test`` test images.

    python benchmarks/denoise_mnist.py
    python benchmarks/denoise_mnist.py --n-test 200 --train-cap 2000 --epochs 1   # smoke test

Writes benchmarks/results/denoise_mnist{tag}.{json,md}. Needs scikit-image (pip install -e ".[bench]").

On a shared or busy machine run with ``OMP_NUM_THREADS=1``: PyTorch's two spinning OpenMP
threads slowed this benchmark down about tenfold when the cores were oversubscribed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import MNIST, command, machine, write_results


def per_image(fn, x):
    return np.stack([fn(im[0])[None] for im in x]).astype(np.float32)


def classical(name, param, sigma):
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, denoise_wavelet

    if name == "tv":
        return lambda im: denoise_tv_chambolle(im, weight=param)
    if name == "nl-means":
        return lambda im: denoise_nl_means(im, h=param * sigma, sigma=sigma, patch_size=3, patch_distance=5,
                                           fast_mode=True)
    return lambda im: denoise_wavelet(im, sigma=sigma, method="BayesShrink", mode="soft", rescale_sigma=True)


GRIDS = {"tv": [0.05, 0.1, 0.2, 0.3, 0.5], "nl-means": [0.6, 0.8, 1.0, 1.2], "wavelet": [None]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(MNIST))
    ap.add_argument("--sigmas", type=float, nargs="*", default=[0.3, 0.5])
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--train-cap", type=int, default=20000)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--latent-dim", type=int, default=128)
    ap.add_argument("--unclipped-training", action="store_true",
                    help="train on unclipped noise (DenoisingAE as is) instead of clipped noise")
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    import torch
    from sklearn.decomposition import PCA

    import aekit
    from aekit.tasks.denoise import add_noise, denoise, psnr, ssim

    data = aekit.datasets.load("mnist", root=args.root, download=False)
    xtr = data.train()[: args.train_cap]
    xte = data.test()[: args.n_test]
    xval = data.train()[-200:]  # parameter choice for the classical methods (not test data)
    results, t_all = {}, time.perf_counter()

    def metrics(clean, out):
        return float(psnr(clean, out).mean()), float(ssim(clean, out).mean())

    for si, sigma in enumerate(args.sigmas):
        noisy = add_noise(xte, "gaussian", sigma, seed=si).numpy()
        noisy_val = add_noise(xval, "gaussian", sigma, seed=100 + si).numpy()
        res = {"noisy": (*metrics(xte, noisy), 0.0)}
        for name, grid in GRIDS.items():
            t = time.perf_counter()
            best = max(grid, key=lambda p, name=name: float(
                psnr(xval, per_image(classical(name, p, sigma), noisy_val)).mean()))
            out = per_image(classical(name, best, sigma), noisy)
            res[name] = (*metrics(xte, out), time.perf_counter() - t)
            res[name + "_param"] = best
        t = time.perf_counter()
        flat = xtr.reshape(len(xtr), -1)
        pca = PCA(64, random_state=0).fit(flat)

        def project(x, k, pca=pca):
            z = (x.reshape(len(x), -1) - pca.mean_) @ pca.components_[:k].T
            return np.clip(z @ pca.components_[:k] + pca.mean_, 0, 1).reshape(x.shape).astype(np.float32)

        k = max([8, 16, 32, 64], key=lambda k: float(psnr(xval, project(noisy_val, k)).mean()))
        res["pca"] = (*metrics(xte, project(noisy, k)), time.perf_counter() - t)
        res["pca_param"] = k
        t = time.perf_counter()
        torch.manual_seed(0)
        dae = aekit.DenoisingAE(input_shape=(1, 28, 28), arch="conv", latent_dim=args.latent_dim,
                                noise="gaussian", noise_level=sigma,
                                noise_clip=() if args.unclipped_training else (0, 1))
        aekit.Trainer(epochs=args.epochs, batch_size=128, val_split=0, progress=False).fit(dae, xtr)
        res["aekit-dae"] = (*metrics(xte, denoise(dae, noisy).numpy()), time.perf_counter() - t)
        results[sigma] = res
        print(f"σ={sigma}: " + "  ".join(f"{k}={v[0]:.2f}dB/{v[1]:.3f}" for k, v in res.items()
                                         if isinstance(v, tuple)), flush=True)
    total = time.perf_counter() - t_all
    methods = ["noisy", "tv", "nl-means", "wavelet", "pca", "aekit-dae"]
    lines = ["| σ | " + " | ".join(methods) + " | aekit − best classical |", "|" + "---|" * (len(methods) + 2)]
    summary = {}
    for sigma, res in results.items():
        best = max(res[m][0] for m in ("tv", "nl-means", "wavelet", "pca"))
        gain = res["aekit-dae"][0] - best
        summary[str(sigma)] = {"gain_db": gain, **{m: {"psnr": res[m][0], "ssim": res[m][1], "seconds": res[m][2]}
                                                   for m in methods},
                               "params": {m: res[m + "_param"] for m in ("tv", "nl-means", "pca")}}
        lines.append(f"| {sigma} | " + " | ".join(f"{res[m][0]:.2f} dB / {res[m][1]:.3f}" for m in methods)
                     + f" | {gain:+.2f} dB |")
    result = {"command": command("denoise_mnist.py", argv), "machine": machine(),
              "n_test": len(xte), "n_train": len(xtr), "epochs": args.epochs, "results": summary,
              "seconds_total": total}
    write_results("denoise_mnist", args.tag, result, lines)
    print(f"total {total:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
