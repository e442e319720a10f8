"""Which of the k-sparse paper's choices make its features linearly separable (benchmark D).

The k-sparse AE of benchmark D (1000 units, k = 25 lowered from 100 over the first 5 epochs,
α = 3, 10 epochs, Adam 1e-3, seed 0) trained four ways: decoder untied or tied to the
encoder's weights (``tied``), output sigmoid or linear (``output``). Each is trained on the
first 50,000 MNIST training images and judged by a linear probe fitted on them and scored on
the last 10,000 (a validation split: the test set is not used), at C = 0.01, 0.1 and 1.
Also counted: units ever among the 75 (α·k) kept for features, and the 25 kept in training,
over the 50,000 images (a unit never kept is dead).

    python benchmarks/ksparse_ablation.py                 # about 5 minutes on one core
    python benchmarks/ksparse_ablation.py --epochs 1      # smoke test

Writes benchmarks/results/ksparse_ablation{tag}.{json,md}.
"""

from __future__ import annotations

import argparse
import time

from _common import MNIST, command, machine, write_results

VARIANTS = [
    ("untied, sigmoid output", {"tied": False, "output": "sigmoid"}),
    ("untied, linear output", {"tied": False, "output": "linear"}),
    ("tied, sigmoid output", {"tied": True, "output": "sigmoid"}),
    ("tied, linear output (the default)", {"tied": True, "output": "linear"}),
]
CS = (0.01, 0.1, 1.0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(MNIST))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    import torch

    import aekit
    from aekit.latents import topk
    from aekit.tasks.common import batched, codes
    from aekit.tasks.represent import linear_probe

    data = aekit.datasets.load("mnist", root=args.root, download=False)
    x, y = data.train(), data.y_train
    xtr, ytr, xva, yva = x[:50000], y[:50000], x[50000:], y[50000:]
    rows, t_all = [], time.perf_counter()
    for name, opts in VARIANTS:
        t = time.perf_counter()
        torch.manual_seed(0)
        model = aekit.KSparseAE(input_shape=(1, 28, 28), latent_dim=1000, k=25, k_start=100,
                                k_warmup=max(1, args.epochs // 2), alpha=3.0, **opts)
        aekit.Trainer(epochs=args.epochs, batch_size=128, val_split=0, progress=False, seed=0).fit(model, xtr)
        fit = time.perf_counter() - t
        ztr, zva = codes(model, xtr).numpy(), codes(model, xva).numpy()
        kept_k = batched(lambda xb, m=model: topk(m.encode(xb), 25), xtr, 5000)
        row = {"variant": name, **opts, "alive_features": int((ztr != 0).any(0).sum()),
               "alive_training": int((kept_k != 0).any(0).sum()), "fit_seconds": fit}
        row["probe"] = {str(C): 100 * linear_probe(ztr, ytr, zva, yva, C=C) for C in CS}
        rows.append(row)
        print(f"{name:<36} alive {row['alive_features']}/{row['alive_training']}  "
              + "  ".join(f"C={c}: {a:.2f}%" for c, a in row["probe"].items()), flush=True)
    total = time.perf_counter() - t_all
    result = {"command": command("ksparse_ablation.py", argv), "machine": machine(), "rows": rows,
              "seconds_total": total}
    lines = ["| k-sparse variant | units ever kept (top-75 / top-25, of 1000) | "
             + " | ".join(f"val. probe, C = {c:g}" for c in CS) + " |", "|---|---|" + "---|" * len(CS)]
    lines += [f"| {r['variant']} | {r['alive_features']} / {r['alive_training']} | "
              + " | ".join(f"{a:.2f}%" for a in r["probe"].values()) + " |" for r in rows]
    write_results("ksparse_ablation", args.tag, result, lines)
    print(f"total {total:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
