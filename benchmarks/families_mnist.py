"""Benchmark F: every family of docs/families.md on MNIST, same data, same budget.

Each model is an MLP (hidden 256) trained with Adam (lr 1e-3, batch 128, seed 0) on the first
``--train-cap`` training images for ``--epochs`` epochs, then measured on the first ``--n-test``
test images:

  mse        reconstruction error per pixel (deterministic path: posterior mean, no noise)
  probe      accuracy of a logistic regression on the codes (``transform``), fitted on the
             training codes of at most 10,000 images: how linearly readable the code is
  nll        variational models: −log p(x) in nats, ``--nll-samples`` importance samples
             (aekit.likelihoods.log_marginal), next to the one-sample −ELBO
  cluster    AAE: normalized mutual information and Hungarian accuracy between digit labels
             and k-means(10) on the 2-D codes (mixture prior) or argmax y (categorical prior)
  usage      VQ-VAE: share of the codebook used on the test images, and code perplexity

    python benchmarks/families_mnist.py                                # 20k images, 5 epochs
    python benchmarks/families_mnist.py --train-cap 5000 --epochs 1 --n-test 300 --tag _smoke

Writes benchmarks/results/families_mnist{tag}.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from _common import MNIST, machine, write_results

FAMILIES = [  # (label, registry name, options)
    ("ae", "ae", {"latent_dim": 16}),
    ("vae", "vae", {"latent_dim": 16}),
    ("vae warm-up 3", "vae", {"latent_dim": 16, "beta_warmup": 3}),
    ("beta_vae β=4", "beta_vae", {"latent_dim": 16}),
    ("iwae k=5", "iwae", {"latent_dim": 16, "iw_samples": 5}),
    ("aae mixture 2-D", "aae", {"latent_dim": 2, "prior": "mixture", "n_components": 10}),
    ("aae categorical", "aae", {"latent_dim": 8, "prior": "categorical", "n_clusters": 10}),
    ("aae categorical λb=10", "aae", {"latent_dim": 8, "prior": "categorical", "n_clusters": 10,
                                      "balance_weight": 10.0}),
    ("sdae 0.7→0.1", "sdae", {"latent_dim": 16}),
    ("cae one-layer", "cae", {"latent_dim": 64, "hidden": ()}),
    ("ksparse k=25", "ksparse", {"latent_dim": 256, "k": 25, "k_start": 100, "k_warmup": 2, "alpha": 3}),
    ("vqvae K=128", "vqvae", {"latent_dim": 64, "code_dim": 4, "codebook_size": 128}),
    ("wae d=8", "wae", {"latent_dim": 8}),
]


def cluster_scores(labels, y):
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics import normalized_mutual_info_score

    k = int(max(labels.max(), y.max())) + 1
    counts = np.zeros((k, k))
    np.add.at(counts, (labels, y), 1)
    rows, cols = linear_sum_assignment(-counts)
    return normalized_mutual_info_score(y, labels), counts[rows, cols].sum() / len(y)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(MNIST))
    ap.add_argument("--train-cap", type=int, default=20000)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--nll-samples", type=int, default=1000)
    ap.add_argument("--only", nargs="*", help="labels to run (default all)")
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)

    import torch
    from sklearn.cluster import KMeans
    from sklearn.linear_model import LogisticRegression

    import aekit
    from aekit.likelihoods import log_marginal
    from aekit.registry import get_model_class

    d = aekit.datasets.load("mnist", root=args.root, download=False)
    xtr, ytr = d.train()[:args.train_cap], d.y_train[:args.train_cap]
    xte, yte = d.test()[:args.n_test], d.y_test[:args.n_test]
    xt = torch.from_numpy(xte)
    rows = []
    for label, name, opts in FAMILIES:
        if args.only and label not in args.only:
            continue
        torch.manual_seed(0)
        model = get_model_class(name)(input_shape=d.input_shape, hidden=opts.pop("hidden", (256,)), **opts)
        t0 = time.perf_counter()
        aekit.Trainer(epochs=args.epochs, batch_size=128, progress=False, val_split=0, seed=0).fit(model, xtr)
        row = {"family": label, "train_s": round(time.perf_counter() - t0, 1)}
        m = aekit.evaluate(model, xte)
        row["mse"] = m["mse"]
        ctr = model.transform(torch.from_numpy(xtr[:10000])).numpy()
        cte = model.transform(xt).numpy()
        probe = LogisticRegression(max_iter=300).fit(ctr, ytr[:10000])
        row["probe"] = float(probe.score(cte, yte))
        if getattr(model, "variational", False):
            torch.manual_seed(0)
            row["neg_elbo"] = m["neg_elbo"]
            row["nll"] = -log_marginal(model, xt, n_samples=args.nll_samples).mean().item()
        if name == "aae":
            if model.config.prior == "categorical":
                labels = model.cluster(xt).numpy()
            else:
                labels = KMeans(10, n_init=5, random_state=0).fit_predict(cte)
            row["nmi"], row["cluster_acc"] = cluster_scores(labels, yte)
        if name == "vqvae":
            idx = model.codes(xt).flatten()
            p = torch.bincount(idx, minlength=model.config.codebook_size).float() / idx.numel()
            row["usage"] = (p > 0).float().mean().item()
            row["perplexity"] = torch.exp(-(p[p > 0] * p[p > 0].log()).sum()).item()
        rows.append(row)
        print(json.dumps(row), flush=True)

    cols = ["family", "mse", "probe", "neg_elbo", "nll", "nmi", "cluster_acc", "usage", "perplexity", "train_s"]
    fmt = lambda v: "" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))  # noqa: E731
    lines = [
        f"MNIST, first {len(xtr)} training images, {args.epochs} epochs, MLP hidden 256, Adam 1e-3, batch 128; "
        f"first {len(xte)} test images; nll with {args.nll_samples} importance samples.",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "---|" * len(cols),
        *("| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows),
    ]
    result = {"args": vars(args), "rows": rows, "machine": machine()}
    write_results("families_mnist", args.tag, result, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
