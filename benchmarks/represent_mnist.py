"""Benchmark D: linear probes on MNIST representations.

A multinomial logistic regression (standardized inputs, scikit-learn lbfgs) is trained on
the training set's representation and tested on the test set's. Its inverse L2 strength C is
chosen among 0.01, 0.1, 1 on a stratified 20% of the training representation held out from
the fit (never on the test set; ``aekit.tasks.represent.choose_probe_c``); the accuracy at
C = 1 (the protocol of earlier runs) is reported beside it. Representations:

  pixels     the raw 784 pixels
  pca-64     the top 64 principal components (fitted on the training images)
  aekit-*    codes of aekit models trained here without labels (``transform``: the code, the
             posterior mean for variational families; for the k-sparse AE, α·k units)

plus k-means (k = 10, Hungarian-matched) clustering accuracy of every representation on the
test set. Models:

  ae         AE, MLP 784-512-64, 10 epochs
  ksparse    k-sparse AE (Makhzani & Frey 2013), its defaults: linear encoder and decoder with
             tied weights, 1000 units, k = 25 (k from 100 over the first 5 epochs), features
             with α = 3, 10 epochs

    python benchmarks/represent_mnist.py
    python benchmarks/represent_mnist.py --models ksparse --epochs 50 --lr-schedule cosine --tag _ksparse_cos50
    python benchmarks/represent_mnist.py --models ksparse --epochs 50 --lr-schedule cosine --k-warmup 25 --tag _ksparse_cos50_kw25
    python benchmarks/represent_mnist.py --models ksparse --epochs 50 --lr-schedule cosine --seed 1 --tag _ksparse_cos50_s1
    python benchmarks/represent_mnist.py --models ksparse --optimizer sgd --lr 3.92 --batch-size 128 \
        --init-std 0.01 --epochs 700 --k-warmup 350 --probe-at 100,200,350,500 --tag _ksparse_sgd700
    python benchmarks/represent_mnist.py --train-cap 5000 --epochs 1 --models ae   # smoke test

The paper's unsupervised MNIST schedule is SGD with momentum 0.9 at a learning rate of 0.01,
weights drawn from N(0, 0.01²), k lowered from 100 over the first half of 5,000 epochs. Its
rate is for a squared error summed over the 784 pixels (½‖x̂ − x‖²); aekit's loss is the mean
over pixels, whose gradient is 2/784 of that, hence ``--lr 3.92`` (0.01 · 784 / 2).
``--probe-at`` probes the test codes at those epochs as well (a learning curve, each point
printed and kept in the JSON as it comes); the result is the last epoch's.

Writes benchmarks/results/represent_mnist{tag}.{json,md}.

On a shared or busy machine run with ``OMP_NUM_THREADS=1``: PyTorch's two spinning OpenMP
threads slowed this benchmark down about tenfold when the cores were oversubscribed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import MNIST, command, machine, mnist_arrays, write_results

MODELS = {
    "ae": ("ae", {"hidden": (512,), "latent_dim": 64}),
    "ksparse": ("ksparse", {"latent_dim": 1000, "k": 25, "k_start": 100, "k_warmup": 5, "alpha": 3.0}),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(MNIST))
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr-schedule", default="constant", choices=("constant", "cosine"),
                    help="the aekit models' learning-rate schedule (Adam 1e-3; cosine: decays to 0 over the epochs)")
    ap.add_argument("--k-warmup", type=int, default=5,
                    help="epochs over which the k-sparse AE's k falls from 100 to 25 (the paper: the first half of training)")
    ap.add_argument("--train-cap", type=int, default=0, help="train everything on the first N training images (0 = all 60,000)")
    ap.add_argument("--seed", type=int, default=0,
                    help="seed of the aekit models' initialization and training order (the probe and k-means are unchanged)")
    ap.add_argument("--optimizer", default="adam", choices=("adam", "sgd"),
                    help="the aekit models' optimizer (sgd: with momentum --momentum)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--momentum", type=float, default=0.9, help="sgd only")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--init-std", type=float, default=0.0,
                    help="draw every weight from N(0, σ²) and zero the biases (0 = PyTorch's default initialization)")
    ap.add_argument("--probe-at", default="",
                    help="comma-separated epochs at which the test codes are probed too (a learning curve)")
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    probe_at = sorted({int(e) for e in args.probe_at.split(",") if e.strip()})
    if any(not 0 < e < args.epochs for e in probe_at):
        ap.error(f"--probe-at epochs must lie between 1 and --epochs − 1 = {args.epochs - 1}, got {args.probe_at}")
    import torch
    from sklearn.decomposition import PCA

    import aekit
    from aekit.registry import get_model_class
    from aekit.tasks.common import codes
    from aekit.tasks.represent import choose_probe_c, kmeans_accuracy, linear_probe

    xtr, ytr, xte, yte = mnist_arrays(args.root, args.train_cap)
    rows, curve, t_all = [], [], time.perf_counter()

    def probe(name, ztr, zte, fit_seconds=0.0, command=""):
        t = time.perf_counter()
        c = choose_probe_c(ztr, ytr)
        acc = linear_probe(ztr, ytr, zte, yte, C=c)
        acc1 = acc if c == 1.0 else linear_probe(ztr, ytr, zte, yte, C=1.0)
        km = kmeans_accuracy(zte, yte)
        row = {"representation": name, "dim": int(np.prod(ztr.shape[1:])), "probe_acc": 100 * acc, "probe_C": c,
               "probe_acc_C1": 100 * acc1, "kmeans_acc": 100 * km, "fit_seconds": fit_seconds,
               "probe_seconds": time.perf_counter() - t, "model": command}
        rows.append(row)
        print(f"{name:<16} dim={row['dim']:<5} probe={row['probe_acc']:.2f}% (C={c:g}; C=1: {100 * acc1:.2f}%) "
              f"kmeans={row['kmeans_acc']:.2f}% fit={fit_seconds:.0f}s probe={row['probe_seconds']:.0f}s", flush=True)

    flat_tr, flat_te = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    probe("pixels", flat_tr, flat_te)
    t = time.perf_counter()
    pca = PCA(64, random_state=0).fit(flat_tr)
    probe("pca-64", pca.transform(flat_tr), pca.transform(flat_te), time.perf_counter() - t)
    for name in args.models:
        family, opts = MODELS[name]
        if name == "ksparse":
            opts = {**opts, "k_warmup": args.k_warmup}
        cls = get_model_class(family)
        t = time.perf_counter()
        torch.manual_seed(args.seed)
        model = cls(input_shape=(1, 28, 28), **opts)
        if args.init_std:
            with torch.no_grad():
                for p in model.parameters():
                    p.normal_(0.0, args.init_std) if p.dim() > 1 else p.zero_()

        def learning_curve(trainer, m, epoch, row, name=name, t0=t):
            if epoch + 1 not in probe_at:
                return
            ztr, zte = codes(m, xtr).numpy(), codes(m, xte).numpy()
            c = choose_probe_c(ztr, ytr)
            point = {"model": name, "epoch": epoch + 1, "probe_acc": 100 * linear_probe(ztr, ytr, zte, yte, C=c),
                     "probe_C": c, "train_recon": row.get("train_recon"), "seconds": time.perf_counter() - t0}
            curve.append(point)
            print(f"  epoch {point['epoch']}: probe {point['probe_acc']:.2f}% (C={c:g}) "
                  f"recon {point['train_recon']:.5f} at {point['seconds']:.0f} s", flush=True)

        train_opts = {"epochs": args.epochs, "batch_size": args.batch_size, "val_split": 0}
        if args.lr_schedule != "constant":
            train_opts["lr_schedule"] = args.lr_schedule
        if args.optimizer != "adam":
            train_opts.update(optimizer=args.optimizer, momentum=args.momentum)
        if args.lr != 1e-3:
            train_opts["lr"] = args.lr
        if args.seed:
            train_opts["seed"] = args.seed
        aekit.Trainer(**train_opts, progress=False, callbacks=[learning_curve]).fit(model, xtr)
        fit = time.perf_counter() - t
        probe(f"aekit-{name}", codes(model, xtr).numpy(), codes(model, xte).numpy(), fit,
              f"{cls.__name__}(input_shape=(1, 28, 28), {', '.join(f'{k}={v!r}' for k, v in opts.items())})"
              + (f" with weights from N(0, {args.init_std:g}²), zero biases" if args.init_std else "")
              + f"; Trainer({', '.join(f'{k}={v!r}' for k, v in train_opts.items())})")
    total = time.perf_counter() - t_all
    result = {"command": command("represent_mnist.py", argv), "machine": machine(),
              "n_train": len(xtr), "n_test": len(xte), "rows": rows, "learning_curve": curve, "seconds_total": total}
    lines = ["| representation | dim | linear probe acc. (chosen C) | at C = 1 | k-means acc. | fit s | probe s |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['representation']} | {r['dim']} | {r['probe_acc']:.2f}% ({r['probe_C']:g}) | {r['probe_acc_C1']:.2f}% | "
              f"{r['kmeans_acc']:.2f}% | {r['fit_seconds']:.0f} | {r['probe_seconds']:.0f} |" for r in rows]
    write_results("represent_mnist", args.tag, result, lines)
    print(f"total {total:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
