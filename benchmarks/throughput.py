"""Training and scoring throughput against the plain PyTorch loop and the machine's roofline.

    python benchmarks/throughput.py [--epochs 2] [--reps 3] [--models classic,conv,vae] [--levers] [--steps]

Per model: (a) aekit's Trainer with default settings, (b) a plain DataLoader + Adam loop over
the same network in stock ``torch.nn`` layers,
(c) the roofline: a 2048×2048 fp32 matmul's FLOP/s measured in this process (the median of
measurements taken before each repetition) divided by the network's training FLOPs per sample
(forward + backward ≈ 3 × 2 × Σ multiply-adds). (a) and (b) run ``--reps`` times, interleaved,
and the median is reported: this CPU's speed drifts by ±15% from minute to minute.
Scoring: ``model.score`` on ``--score-n`` samples vs. the forward roofline (2 × Σ MACs).
``--levers`` adds, for the classic network, each speed lever alone, the bare matrix products
of one training step (the floor no training loop can go under) and bf16 autocast per model.
``--steps`` adds each family's hand-written training step against autograd in the trainer,
and the conv AE with aekit's transposed convolution against the stock layer.
Real MNIST from ../shared/data/mnist when present, else synthetic data of the same shape.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _common import MNIST, tutorial_epoch
from torch import nn

import aekit


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


def load_test(shape) -> np.ndarray:
    if (MNIST / "t10k-images-idx3-ubyte.gz").exists():
        return aekit.datasets.load("mnist", root=MNIST, download=False).test().reshape(-1, *shape)
    return np.random.default_rng(1).random((10000, *shape), dtype=np.float32)


def build(kind: str):
    torch.manual_seed(0)
    if kind == "classic":
        return aekit.AE(input_shape=(784,), hidden=(128,), latent_dim=64), (784,)
    if kind == "conv":
        return aekit.AE(input_shape=(1, 28, 28), arch="conv", latent_dim=32), (1, 28, 28)
    return aekit.VAE(input_shape=(784,), hidden=(400,), latent_dim=20), (784,)


def aekit_rate(kind: str, x: np.ndarray, epochs: int, model_out: list | None = None, **kw) -> float:
    model, _ = build(kind)
    aekit.Trainer(epochs=1, batch_size=256, progress=False, val_split=0, **kw).fit(model, x[:5120])  # warm-up
    model, _ = build(kind)
    t = aekit.Trainer(epochs=epochs, batch_size=256, progress=False, val_split=0, **kw)
    t0 = time.perf_counter()
    t.fit(model, x)
    rate = epochs * len(x) / (time.perf_counter() - t0)
    if model_out is not None:
        model_out.append(model)
    return rate


def stock_layers(model: nn.Module) -> nn.Module:
    """The same network, weights and loss built from stock ``torch.nn`` layers: aekit's
    ``ConvTranspose2d`` (native forward kernel for few output channels) becomes
    ``nn.ConvTranspose2d``; aekit's other layers are the stock ones with gradients on."""
    from aekit.nets import ConvTranspose2d

    for m in list(model.modules()):
        for child_name, child in list(m.named_children()):
            if type(child) is ConvTranspose2d:
                stock = nn.ConvTranspose2d(child.in_channels, child.out_channels, child.kernel_size,
                                           stride=child.stride, padding=child.padding,
                                           output_padding=child.output_padding, dilation=child.dilation,
                                           groups=child.groups, bias=child.bias is not None)
                stock.load_state_dict(child.state_dict())
                setattr(m, child_name, stock)
    return model


def plain_rate(kind: str, x: np.ndarray, epochs: int) -> float:
    """What a tutorial does: TensorDataset + DataLoader(shuffle) + Adam + model(x).loss, with
    the network in stock torch.nn layers."""
    from torch.utils.data import DataLoader, TensorDataset

    model, _ = build(kind)
    model = stock_layers(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(torch.from_numpy(x)), batch_size=256, shuffle=True)

    def epoch(limit=None):
        tutorial_epoch(model, loader, opt, limit)

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


def gemm_floor(model: nn.Module, batch: int = 256, reps: int = 300, forward_only: bool = False) -> float:
    """Samples/s of the bare matrix products of one training step of an MLP autoencoder
    (forward addmm per layer, weight gradient per layer, input gradient for all but the first)
    or, with ``forward_only``, of its forward pass: no data, no activations, no optimizer.
    No loop can be faster in fp32 eager."""
    lins = [m for m in model.modules() if isinstance(m, nn.Linear)]
    ops = []
    for k, m in enumerate(lins):
        x, g = torch.randn(batch, m.in_features), torch.randn(batch, m.out_features)
        out, gw, gx = torch.empty(batch, m.out_features), torch.empty_like(m.weight), torch.empty(batch, m.in_features)
        w, b = m.weight.detach(), m.bias.detach()
        ops.append(lambda x=x, w=w, b=b, out=out: torch.addmm(b, x, w.t(), out=out))
        if forward_only:
            continue
        ops.append(lambda g=g, x=x, gw=gw: torch.mm(g.t(), x, out=gw))
        if k > 0:
            ops.append(lambda g=g, w=w, gx=gx: torch.mm(g, w, out=gx))
    for _ in range(20):
        for op in ops:
            op()
    t0 = time.perf_counter()
    for _ in range(reps):
        for op in ops:
            op()
    return batch * reps / (time.perf_counter() - t0)


def lever_table(x: np.ndarray, epochs: int, reps: int, flops: float) -> None:
    """Each lever on the classic network, alone, against the plain DataLoader loop."""
    import aekit.train.trainer as T

    def fit(**kw) -> float:
        return aekit_rate("classic", x, epochs, **kw)

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

    def foreach_adam() -> float:
        orig = T.make_optimizer
        T.make_optimizer = lambda name, params, lr, wd, mom, dev: torch.optim.Adam(list(params), lr=lr, foreach=True)
        try:
            return fit()
        finally:
            T.make_optimizer = orig

    def steady(**kw) -> float:
        """Rate over epochs 2-3 from history.csv's seconds: the compile happens in epoch 1."""
        model, _ = build("classic")
        hist = aekit.Trainer(epochs=3, batch_size=256, progress=False, val_split=0, **kw).fit(model, x)
        return 2 * len(x) / sum(r["seconds"] for r in hist[1:])

    def one_thread() -> float:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fit()
        finally:
            torch.set_num_threads(threads)

    levers = [
        ("plain DataLoader + Adam loop", lambda: plain_rate("classic", x, epochs)),
        ("plain loop, tensor slicing instead of DataLoader", slicing_loop),
        ("aekit Trainer, defaults (hand-written step, fused Adam)", fit),
        ("aekit Trainer, fused=off (autograd step)", lambda: fit(fused="off")),
        ("aekit Trainer, defaults but foreach Adam instead of fused", foreach_adam),
        ("aekit Trainer, compile=on (autograd + inductor; compile time included)", lambda: fit(compile="on")),
        ("aekit Trainer, fused=off, epochs 2-3 only", lambda: steady(fused="off")),
        ("aekit Trainer, compile=on, epochs 2-3 only (after the compile)", lambda: steady(compile="on")),
        ("aekit Trainer, precision=bf16 (autocast, autograd step)", lambda: fit(precision="bf16")),
        ("aekit Trainer, defaults, 1 thread", one_thread),
    ]
    rates: dict[str, list[float]] = {name: [] for name, _ in levers}
    for _ in range(reps):  # interleaved, so drift in the CPU's speed hits every lever alike
        for name, fn in levers:
            rates[name].append(fn())
    base = statistics.median(rates[levers[0][0]])
    print(f"\n| lever (classic network, batch 256, {epochs} epochs, median of {reps}) | samples/s | vs plain loop |")
    print("|---|---|---|")
    for name, _ in levers:
        r = statistics.median(rates[name])
        print(f"| {name} | {r:,.0f} | {r / base:.2f} |", flush=True)
    model, _ = build("classic")
    macs = macs_per_sample(model, (784,))
    floor = statistics.median(gemm_floor(model) for _ in range(5))
    print(f"\nBare matrix products of one classic-network training step (no data, activations or optimizer): "
          f"{floor:,.0f} samples/s = {floor / (flops / (6 * macs)):.2f} of the roofline.")
    floor = statistics.median(gemm_floor(model, batch=2048, reps=40, forward_only=True) for _ in range(5))
    print(f"Bare matrix products of its forward pass on 2048-row chunks (scoring's floor): "
          f"{floor:,.0f} samples/s = {floor / (flops / (2 * macs)):.2f} of the forward roofline.")


def bf16_table(epochs: int, reps: int) -> None:
    """precision=bf16 (autocast) against the fp32 defaults: speed and test loss after the same epochs."""
    print(f"\n| model ({epochs} epochs, median of {reps}) | fp32 defaults samples/s | bf16 samples/s | bf16/fp32 "
          "| fp32 test loss | bf16 test loss |\n|---|---|---|---|---|---|")
    for kind in ("classic", "conv", "vae"):
        _, shape = build(kind)
        x, _ = load_x(shape)
        xt = torch.from_numpy(load_test(shape))
        res = {}
        for p in ("fp32", "bf16"):
            models: list = []
            rates = [aekit_rate(kind, x, epochs, model_out=models, precision=p) for _ in range(reps)]
            with torch.inference_mode():
                loss = torch.cat([models[-1].score(xt[i:i + 2048]) for i in range(0, len(xt), 2048)]).mean().item()
            res[p] = (statistics.median(rates), loss)
        (f, lf), (b, lb) = res["fp32"], res["bf16"]
        print(f"| {kind} | {f:,.0f} | {b:,.0f} | {b / f:.2f} | {lf:.5g} | {lb:.5g} |", flush=True)


# families with a hand-written training step: (builder, batch size)
STEP_MODELS = {
    "classic AE 784-128-64": (lambda: aekit.AE(input_shape=(784,), hidden=(128,), latent_dim=64), 256),
    "sparse AE 784-128-64, L1": (lambda: aekit.SparseAE(input_shape=(784,), hidden=(128,), latent_dim=64, sparsity="l1"), 256),
    "sparse AE 784-128-64, KL-ρ": (lambda: aekit.SparseAE(input_shape=(784,), hidden=(128,), latent_dim=64, sparsity="kl"), 256),
    "sparse AE 784-128-64, top-k (k = 8)": (
        lambda: aekit.SparseAE(input_shape=(784,), hidden=(128,), latent_dim=64, sparsity="topk", k=8), 256),
    "k-sparse AE 784-1000, tied (benchmark D's)": (
        lambda: aekit.KSparseAE(input_shape=(784,), latent_dim=1000, k=25, k_start=100, k_warmup=5, alpha=3.0), 128),
    "VAE 784-400-20": (lambda: aekit.VAE(input_shape=(784,), hidden=(400,), latent_dim=20), 256),
    "VAE 784-400-20, Gaussian": (
        lambda: aekit.VAE(input_shape=(784,), hidden=(400,), latent_dim=20, likelihood="gaussian"), 256),
}


def steps_table(epochs: int, reps: int) -> None:
    """The trainer with each hand-written training step against the same trainer through
    autograd (``fused="off"``), and the conv AE with aekit's transposed convolution (native
    forward kernel for its one-channel last layer) against the stock layer."""
    x, _ = load_x((784,))
    xc, _ = load_x((1, 28, 28))

    def rate(make, data, bs, **kw) -> float:
        torch.manual_seed(0)
        aekit.Trainer(epochs=1, batch_size=bs, progress=False, val_split=0, **kw).fit(make(), data[:2048])  # warm-up
        torch.manual_seed(0)
        model = make()
        t0 = time.perf_counter()
        aekit.Trainer(epochs=epochs, batch_size=bs, progress=False, val_split=0, **kw).fit(model, data)
        return epochs * len(data) / (time.perf_counter() - t0)

    rows = [(name, lambda m=make, b=bs: rate(m, x, b), lambda m=make, b=bs: rate(m, x, b, fused="off"))
            for name, (make, bs) in STEP_MODELS.items()]
    conv = lambda: build("conv")[0]  # noqa: E731
    rows.append(("conv AE 1×28×28: aekit's ConvTranspose2d vs the stock layer",
                 lambda: rate(conv, xc, 256), lambda: rate(lambda: stock_layers(conv()), xc, 256)))
    rates: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name, _, _ in rows}
    for _ in range(reps):  # interleaved
        for name, fast, base in rows:
            rates[name][0].append(fast())
            rates[name][1].append(base())
    print(f"\n| model ({epochs} epochs, median of {reps}) | aekit samples/s | without (autograd / stock layer) | ratio |")
    print("|---|---|---|---|")
    for name, (a, b) in rates.items():
        a, b = statistics.median(a), statistics.median(b)
        print(f"| {name} | {a:,.0f} | {b:,.0f} | {a / b:.2f} |", flush=True)


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
    p.add_argument("--reps", type=int, default=3, help="repetitions per measurement; the median is reported")
    p.add_argument("--models", default="classic,conv,vae")
    p.add_argument("--score-n", type=int, default=100_000)
    p.add_argument("--levers", action="store_true", help="also measure each speed lever and bf16 autocast")
    p.add_argument("--steps", action="store_true",
                   help="also each hand-written training step against autograd, and the conv AE's native kernel")
    a = p.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}")
    print("| model | data | MACs/sample | roofline train/s | aekit train/s | plain loop/s | aekit/roofline | aekit/plain "
          "| roofline score/s | aekit score/s | score/roofline |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    all_flops = []
    for kind in a.models.split(","):
        model, shape = build(kind)
        macs = macs_per_sample(model, shape)
        x, src = load_x(shape)
        ours, plain, score, flops = [], [], [], []
        for _ in range(a.reps):
            flops.append(matmul_flops())
            ours.append(aekit_rate(kind, x, a.epochs))
            plain.append(plain_rate(kind, x, a.epochs))
            score.append(score_rate(kind, a.score_n))
        all_flops += flops
        f = statistics.median(flops)
        ours, plain, sc = statistics.median(ours), statistics.median(plain), statistics.median(score)
        roof_train, roof_score = f / (6 * macs), f / (2 * macs)
        print(f"| {kind} | {src} | {macs:,} | {roof_train:,.0f} | {ours:,.0f} | {plain:,.0f} | {ours / roof_train:.2f} "
              f"| {ours / plain:.2f} | {roof_score:,.0f} | {sc:,.0f} | {sc / roof_score:.2f} |", flush=True)
    f = statistics.median(all_flops)
    print(f"\n2048² fp32 matmul: median {f / 1e9:.0f} GFLOP/s (range {min(all_flops) / 1e9:.0f}-{max(all_flops) / 1e9:.0f})")
    if a.levers:
        lever_table(load_x((784,))[0], a.epochs, a.reps, f)
        bf16_table(a.epochs, a.reps)
    if a.steps:
        steps_table(a.epochs, a.reps)
    print(f"\n`aekit --help` start-up: {cli_startup():.3f} s (best of 5)")


if __name__ == "__main__":
    main()
