"""Training and scoring throughput against the plain PyTorch loop and the machine's roofline.

    python benchmarks/throughput.py [--epochs 2] [--models classic,conv,vae] [--score-n 100000]

Per model: (a) aekit's Trainer with default settings, (b) a plain DataLoader + Adam loop,
(c) the roofline: a 2048×2048 fp32 matmul's FLOP/s measured in this process divided by the
network's training FLOPs per sample (forward + backward ≈ 3 × 2 × Σ multiply-adds).
Scoring: ``model.score`` on ``--score-n`` samples vs. the forward roofline (2 × Σ MACs).
Real MNIST from ../shared/data/mnist when present, else synthetic data of the same shape.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import aekit

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist"


def matmul_flops(n: int = 2048, reps: int = 20) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t)


def macs_per_sample(model: nn.Module, shape) -> int:
    """Multiply-adds of one forward pass, counted with hooks on Linear/Conv layers."""
    total = [0]

    def hook(m, inp, out):
        if isinstance(m, nn.Linear):
            total[0] += m.in_features * m.out_features
        elif isinstance(m, nn.Conv2d):
            total[0] += out[0].numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups
        elif isinstance(m, nn.ConvTranspose2d):
            total[0] += inp[0][0].numel() * m.out_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        model.eval()
        model(torch.rand(1, *shape))
    for h in hs:
        h.remove()
    return total[0]


def load_x(shape) -> tuple[np.ndarray, str]:
    if (MNIST / "train-images-idx3-ubyte.gz").exists():
        d = aekit.datasets.load("mnist", root=MNIST, download=False)
        return d.train().reshape(-1, *shape), "real MNIST (60,000)"
    return np.random.default_rng(0).random((60000, *shape), dtype=np.float32), "synthetic 60,000 (MNIST absent)"


def build(kind: str):
    torch.manual_seed(0)
    if kind == "classic":
        return aekit.AE(input_shape=(784,), hidden=(128,), latent_dim=64), (784,)
    if kind == "conv":
        return aekit.AE(input_shape=(1, 28, 28), arch="conv", latent_dim=32), (1, 28, 28)
    return aekit.VAE(input_shape=(784,), hidden=(400,), latent_dim=20), (784,)


def aekit_rate(kind: str, x: np.ndarray, epochs: int) -> float:
    model, _ = build(kind)
    aekit.Trainer(epochs=1, batch_size=256, progress=False, val_split=0).fit(model, x[:5120])  # warm-up
    model, _ = build(kind)
    t = aekit.Trainer(epochs=epochs, batch_size=256, progress=False, val_split=0)
    t0 = time.perf_counter()
    t.fit(model, x)
    return epochs * len(x) / (time.perf_counter() - t0)


def plain_rate(kind: str, x: np.ndarray, epochs: int) -> float:
    """What a tutorial does: TensorDataset + DataLoader(shuffle) + Adam + model(x).loss."""
    from torch.utils.data import DataLoader, TensorDataset

    model, _ = build(kind)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(torch.from_numpy(x)), batch_size=256, shuffle=True)
    model.train()

    def epoch(limit=None):
        for i, (xb,) in enumerate(loader):
            if limit is not None and i >= limit:
                break
            loss = model(xb).loss
            opt.zero_grad()
            loss.backward()
            opt.step()

    epoch(limit=20)
    t0 = time.perf_counter()
    for _ in range(epochs):
        epoch()
    return epochs * len(x) / (time.perf_counter() - t0)


def score_rate(kind: str, n: int) -> float:
    model, shape = build(kind)
    x = torch.rand(n, *shape)

    from aekit.tasks.common import batched

    batched(model.score, x[:4096])
    t0 = time.perf_counter()
    batched(model.score, x)  # 2048-row chunks, as every aekit scoring path uses
    return n / (time.perf_counter() - t0)


def lever_table(x: np.ndarray, epochs: int) -> None:
    """Each lever on the classic network, alone, against the plain DataLoader loop."""
    import aekit.train.trainer as T

    def fit(epochs_override: int | None = None, **kw) -> float:
        model, _ = build("classic")
        e = epochs_override or epochs
        t0 = time.perf_counter()
        aekit.Trainer(epochs=e, batch_size=256, progress=False, val_split=0, **kw).fit(model, x)
        return e * len(x) / (time.perf_counter() - t0)

    def slicing_loop() -> float:
        model, _ = build("classic")
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        xt = torch.from_numpy(x)
        t0 = time.perf_counter()
        for _ in range(epochs):
            perm = torch.randperm(len(xt))
            for i in range(0, len(xt), 256):
                loss = model(xt[perm[i:i + 256]]).loss
                opt.zero_grad()
                loss.backward()
                opt.step()
        return epochs * len(x) / (time.perf_counter() - t0)

    rows = [("plain DataLoader + Adam loop", plain_rate("classic", x, epochs)),
            ("plain loop, tensor slicing instead of DataLoader", slicing_loop()),
            ("aekit Trainer, defaults (fused Adam, eager)", fit())]
    orig = T.make_optimizer
    T.make_optimizer = lambda name, params, lr, wd, mom, dev: torch.optim.Adam(list(params), lr=lr, foreach=True)
    rows.append(("aekit Trainer, foreach Adam instead of fused", fit()))
    T.make_optimizer = orig
    rows.append(("aekit Trainer, compile=on (compile time included)", fit(compile="on")))

    def steady(**kw) -> float:
        """Rate over epochs 2-3 from history.csv's seconds: the compile happens in epoch 1."""
        model, _ = build("classic")
        hist = aekit.Trainer(epochs=3, batch_size=256, progress=False, val_split=0, **kw).fit(model, x)
        return 2 * len(x) / sum(r["seconds"] for r in hist[1:])

    rows.append(("aekit Trainer, eager, epochs 2-3 only", steady(compile="off")))
    rows.append(("aekit Trainer, compile=on, epochs 2-3 only (after the compile)", steady(compile="on")))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows.append(("aekit Trainer, defaults, 1 thread", fit()))
    torch.set_num_threads(threads)
    print(f"\n| lever (classic network, batch 256, {epochs} epochs) | samples/s | vs plain loop |\n|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r:,.0f} | {r / rows[0][1]:.2f} |", flush=True)


def cli_startup() -> float:
    exe = Path(sys.executable).with_name("aekit")
    best = 1e9
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([str(exe), "--help"], capture_output=True, check=True)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--models", default="classic,conv,vae")
    p.add_argument("--score-n", type=int, default=100_000)
    p.add_argument("--levers", action="store_true", help="also measure each speed lever on the classic network")
    a = p.parse_args()
    flops = matmul_flops()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}; 2048² fp32 matmul: {flops / 1e9:.1f} GFLOP/s")
    print("| model | data | MACs/sample | roofline train/s | aekit train/s | plain loop/s | aekit/roofline | aekit/plain "
          "| roofline score/s | aekit score/s | score/roofline |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for kind in a.models.split(","):
        model, shape = build(kind)
        macs = macs_per_sample(model, shape)
        x, src = load_x(shape)
        roof_train = flops / (6 * macs)
        roof_score = flops / (2 * macs)
        ours = aekit_rate(kind, x, a.epochs)
        plain = plain_rate(kind, x, a.epochs)
        sc = score_rate(kind, a.score_n)
        print(f"| {kind} | {src} | {macs:,} | {roof_train:,.0f} | {ours:,.0f} | {plain:,.0f} | {ours / roof_train:.2f} "
              f"| {ours / plain:.2f} | {roof_score:,.0f} | {sc:,.0f} | {sc / roof_score:.2f} |", flush=True)
    if a.levers:
        lever_table(load_x((784,))[0], a.epochs)
    print(f"\n`aekit --help` start-up: {cli_startup():.3f} s (best of 5)")


if __name__ == "__main__":
    main()
