"""Benchmark R: the resnet network against the conv network, one AE each, on Olivetti faces
(64×64) or MNIST (28×28).

Two ``aekit.AE`` models (latent 32, sigmoid output, MSE loss) that differ only in their
networks: ``arch="conv"`` with its default channels and ``arch="resnet"`` with channels chosen
to give a similar parameter count (both counts are reported). Same seed, same data order, Adam
(lr 1e-3) for a fixed number of epochs, one torch thread. Per data set (``--data``):

  olivetti  conv 32-64-128-256, resnet 16-32-64-256; batch 32, 60 epochs. Test split: the
            aekit loader's 80/20 split stratified by person (320 training faces, 80 test faces
            of the same 40 people). ``--val``: 6 of each person's 8 training faces fitted, the
            other 2 scored (240 / 80).
  mnist     conv 32-64, resnet 16-64; batch 128, 10 epochs. Test split: all 60,000 training
            images fitted, the 10,000 test images scored. ``--val``: the first 50,000 training
            images fitted, the last 10,000 scored.

With ``--val`` the test split is not read: it is the split on which design choices are made.
Measured:

  mse     reconstruction error per pixel on the scored split
  psnr    mean per-image PSNR in dB (data in [0, 1])
  params  parameters of encoder + decoder
  train_s wall-clock training time; score_ms: reconstructing the scored split once

``--variants`` adds resnet variants (GroupNorm; two blocks per stage with narrower stages, and
for MNIST a wider first stage) for the design comparison; ``--only`` runs a subset by label.

    python benchmarks/resnet_vs_conv.py                                   # Olivetti, test split
    python benchmarks/resnet_vs_conv.py --val --variants --tag _val       # Olivetti, design choices
    python benchmarks/resnet_vs_conv.py --data mnist                      # MNIST, test split
    python benchmarks/resnet_vs_conv.py --data mnist --val --variants --tag _val

Writes benchmarks/results/resnet_vs_conv{_mnist}{tag}.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from _common import DATA, MNIST, command, machine, write_results

# per data set: defaults, and the resnet variants of the design comparison, as
# (label, resnet channels, net_options of the resnet network)
SETS = {
    "olivetti": {
        "root": DATA / "olivetti", "epochs": 60, "batch_size": 32, "resnet_channels": (16, 32, 64, 256),
        "variants": [("resnet norm=group", (16, 32, 64, 256), {"norm": "group"}),
                     ("resnet blocks=2", (16, 32, 64, 128), {"blocks": 2})],
    },
    "mnist": {
        "root": MNIST, "epochs": 10, "batch_size": 128, "resnet_channels": (16, 64),
        "variants": [("resnet norm=group", (16, 64), {"norm": "group"}),
                     ("resnet blocks=2", (16, 48), {"blocks": 2}),
                     ("resnet 32-56", (32, 56), {}),
                     ("resnet blocks=2 norm=group", (16, 48), {"blocks": 2, "norm": "group"})],
    },
}


def channels(s: str) -> tuple[int, ...]:
    return tuple(int(c) for c in s.split(",") if c)


def validation_split(y: np.ndarray, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, held out): ``per_class`` rows of every label held out, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    held = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per_class] for c in np.unique(y)])
    fit = np.setdiff1d(np.arange(len(y)), held)
    return fit, np.sort(held)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", choices=sorted(SETS), default="olivetti")
    ap.add_argument("--root", default=None, help="the data set's folder (default: ../shared/data/<data>)")
    ap.add_argument("--epochs", type=int, default=None, help="default: 60 (olivetti), 10 (mnist)")
    ap.add_argument("--batch-size", type=int, default=None, help="default: 32 (olivetti), 128 (mnist)")
    ap.add_argument("--latent-dim", type=int, default=32)
    ap.add_argument("--conv-channels", type=channels, default=())
    ap.add_argument("--resnet-channels", type=channels, default=None,
                    help="default: 16,32,64,256 (olivetti), 16,64 (mnist)")
    ap.add_argument("--val", action="store_true", help="score a validation split of the training data, not the test split")
    ap.add_argument("--variants", action="store_true", help="also train the resnet variants (design comparison)")
    ap.add_argument("--only", type=lambda s: s.split(","), default=None,
                    help="comma-separated labels of the networks to run (e.g. 'conv' or 'resnet blocks=2')")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    spec = SETS[args.data]
    for k in ("root", "epochs", "batch_size", "resnet_channels"):
        if getattr(args, k) is None:
            setattr(args, k, spec[k])
    args.root = str(args.root)

    import torch

    import aekit
    from aekit.nets import network_names
    from aekit.nets.conv import n_params
    from aekit.nets.resnet import resnet_layout

    d = aekit.datasets.load(args.data, root=args.root, download=False)
    if args.val:  # the test split is not read
        xtr = d.train()
        if args.data == "olivetti":
            fit, held = validation_split(d.y_train, 2, args.seed)
            xtr, xte = xtr[fit], xtr[held]
        else:
            xtr, xte = xtr[:-10_000], xtr[-10_000:]
    else:
        xtr, xte = d.train(), d.test()
    shape = d.input_shape
    assert "resnet" in network_names(), "aekit.nets has no resnet network"

    runs = [("conv", "conv", args.conv_channels, {}), ("resnet", "resnet", args.resnet_channels, {})]
    if args.variants:
        runs += [(label, "resnet", ch, opts) for label, ch, opts in spec["variants"]]
    if args.only:
        runs = [r for r in runs if r[0] in args.only]
    rows = []
    for label, arch, ch, opts in runs:
        torch.manual_seed(args.seed)
        model = aekit.AE(input_shape=shape, latent_dim=args.latent_dim, arch=arch, channels=ch,
                         **({"net_options": opts} if opts else {}))
        trainer = aekit.Trainer(epochs=args.epochs, batch_size=args.batch_size, lr=1e-3, progress=False,
                                val_split=0, seed=args.seed)
        t0 = time.perf_counter()
        trainer.fit(model, xtr)
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        m = aekit.evaluate(model, xte)
        score_ms = 1000 * (time.perf_counter() - t0)
        layout = aekit.nets.conv_layout if arch == "conv" else resnet_layout
        row = {"network": label, "channels": list(layout(shape, ch)[0]),
               **opts, "params": n_params(model), "mse": m["mse"], "psnr": m["psnr"],
               "train_mse": aekit.evaluate(model, xtr)["mse"], "train_s": round(train_s, 1),
               "score_ms": round(score_ms, 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)

    base = n_params(aekit.AE(input_shape=shape, latent_dim=args.latent_dim, arch="conv", channels=args.conv_channels))
    if args.data == "olivetti":
        split = "validation (2 held-out training faces per person)" if args.val else "test"
        head = (f"Olivetti faces {shape[1]}×{shape[2]}, {len(xtr)} training faces, {split} split of "
                f"{len(xte)}")
    else:
        split = "validation (the last 10,000 training images)" if args.val else "test"
        head = f"MNIST {shape[1]}×{shape[2]}, {len(xtr):,} training images, {split} split of {len(xte):,}"
    cols = ["network", "channels", "params", "mse", "psnr", "train_mse", "train_s", "score_ms"]

    def fmt(r, c):
        v = r.get(c)
        if c == "params":
            return f"{v:,} ({v / base:.2f}×)"
        if c == "channels":
            return "-".join(map(str, v))
        return f"{v:.5f}" if c.endswith("mse") else f"{v:.2f}" if c == "psnr" else str(v)

    lines = [
        f"{head}; AE latent {args.latent_dim}, sigmoid output, MSE; Adam 1e-3, batch {args.batch_size}, "
        f"{args.epochs} epochs, seed {args.seed}. mse/psnr on the {split} split; train_mse on the training data.",
        "",
        f"`{command('resnet_vs_conv.py', argv)}` — {machine()}",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "---|" * len(cols),
        *("| " + " | ".join(fmt(r, c) for c in cols) + " |" for r in rows),
    ]
    result = {"args": {**vars(args), "conv_channels": list(args.conv_channels),
                       "resnet_channels": list(args.resnet_channels)}, "rows": rows, "machine": machine()}
    write_results("resnet_vs_conv" + ("" if args.data == "olivetti" else f"_{args.data}"), args.tag, result, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
