"""Benchmark R: the resnet network against the conv network, one AE each, on Olivetti faces.

Two ``aekit.AE`` models (latent 32, sigmoid output, MSE loss) that differ only in their
networks: ``arch="conv"`` with its default channels (32, 64, 128, 256) and ``arch="resnet"``
with channels chosen to give a similar parameter count (both counts are reported). Same seed,
same data order, Adam (lr 1e-3, batch 32) for ``--epochs`` epochs, one torch thread. Measured:

  mse     reconstruction error per pixel on the test split (the official aekit loader's 80/20
          split stratified by person: 320 training faces, 80 test faces of the same 40 people)
  psnr    mean per-image PSNR in dB (data in [0, 1])
  params  parameters of encoder + decoder
  train_s wall-clock training time; score_ms: reconstructing the test split once

``--val`` trains on 6 of each person's 8 training faces and scores the other 2 (240 / 80): the
split on which design choices were compared; the test split is not read. ``--variants`` adds
resnet variants (GroupNorm; two blocks per stage with a narrower last stage) for that comparison.

    python benchmarks/resnet_vs_conv.py                                  # test split
    python benchmarks/resnet_vs_conv.py --val --variants --tag _val      # design choices

Writes benchmarks/results/resnet_vs_conv{tag}.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from _common import DATA, command, machine, write_results

RESNET_CHANNELS = (16, 32, 64, 256)
VARIANTS = [  # (label, resnet channels, options of resnet_encoder/resnet_decoder)
    ("resnet norm=group", RESNET_CHANNELS, {"norm": "group"}),
    ("resnet blocks=2", (16, 32, 64, 128), {"blocks": 2}),
]


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
    ap.add_argument("--root", default=str(DATA / "olivetti"))
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--latent-dim", type=int, default=32)
    ap.add_argument("--conv-channels", type=channels, default=())
    ap.add_argument("--resnet-channels", type=channels, default=RESNET_CHANNELS)
    ap.add_argument("--val", action="store_true", help="score a validation split of the training faces, not the test split")
    ap.add_argument("--variants", action="store_true", help="also train the resnet variants (design comparison)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)

    import torch

    import aekit
    from aekit.nets import network_names
    from aekit.nets.conv import n_params
    from aekit.nets.resnet import resnet_decoder, resnet_encoder, resnet_layout

    d = aekit.datasets.load("olivetti", root=args.root, download=False)
    xtr, xte = d.train(), d.test()
    if args.val:
        fit, held = validation_split(d.y_train, 2, args.seed)
        xtr, xte = xtr[fit], xtr[held]
    shape = d.input_shape
    assert "resnet" in network_names(), "aekit.nets has no resnet network"

    runs = [("conv", "conv", args.conv_channels, {}), ("resnet", "resnet", args.resnet_channels, {})]
    if args.variants:
        runs += [(label, "resnet", ch, opts) for label, ch, opts in VARIANTS]
    rows = []
    for label, arch, ch, opts in runs:
        torch.manual_seed(args.seed)
        model = aekit.AE(input_shape=shape, latent_dim=args.latent_dim, arch=arch, channels=ch)
        if opts:  # options the config does not carry: the same network built with them
            model.encoder = resnet_encoder(shape, ch, args.latent_dim, "relu", **opts)
            model.decoder = resnet_decoder(shape, ch, args.latent_dim, "relu", **opts)
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

    base = rows[0]["params"]
    split = "validation (2 held-out training faces per person)" if args.val else "test"
    cols = ["network", "channels", "params", "mse", "psnr", "train_mse", "train_s", "score_ms"]

    def fmt(r, c):
        v = r.get(c)
        if c == "params":
            return f"{v:,} ({v / base:.2f}×)"
        if c == "channels":
            return "-".join(map(str, v))
        return f"{v:.5f}" if c.endswith("mse") else f"{v:.2f}" if c == "psnr" else str(v)

    lines = [
        f"Olivetti faces {shape[1]}×{shape[2]}, {len(xtr)} training faces, {split} split of {len(xte)}; AE latent "
        f"{args.latent_dim}, sigmoid output, MSE; Adam 1e-3, batch {args.batch_size}, {args.epochs} epochs, seed "
        f"{args.seed}. mse/psnr on the {split} split; train_mse on the training faces.",
        "",
        f"`{command('resnet_vs_conv.py', argv)}` — {machine()}",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "---|" * len(cols),
        *("| " + " | ".join(fmt(r, c) for c in cols) + " |" for r in rows),
    ]
    result = {"args": {**vars(args), "conv_channels": list(args.conv_channels),
                       "resnet_channels": list(args.resnet_channels)}, "rows": rows, "machine": machine()}
    write_results("resnet_vs_conv", args.tag, result, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
