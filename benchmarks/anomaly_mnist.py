"""Benchmark B: one-class anomaly detection on MNIST, the protocol of Ruff et al. 2018
("Deep One-Class Classification", Deep SVDD).

For each digit c: train on the training images of c only (about 6,000), score all 10,000
test images, AUROC with "not c" as the anomaly class. Report per class and the mean.
Published anchors (Ruff et al. 2018, Table 1): DCAE 89.65, Deep SVDD (one-class) 94.80,
Isolation Forest 92.30.

Methods, all trained inside this script:
  default      ``aekit.AnomalyDetector(random_state=0)`` with no other option: what a user
               gets (the images in [0, 1] choose no standardization, a sigmoid decoder and the
               reconstruction-error score); --epochs does not apply to it, --train-cap does
  aekit        ``AnomalyDetector(latent_dim, hidden, preprocess="none", anomaly_score="combined",
               epochs)``, the configured MLP AE: reconstruction error plus code-space Mahalanobis
               distance, each scaled by its training median/IQR
  aekit-recon  the same fitted model, reconstruction error only
  aekit-maha   the same fitted model, code-space Mahalanobis distance only
  pca          PCA reconstruction error on the raw pixels, keeping 90% of the training
               variance (the same rule for every digit; the tabular benchmark's rule)
  iforest      IsolationForest(random_state=0) on the raw pixels

    python benchmarks/anomaly_mnist.py                       # all 10 digits
    python benchmarks/anomaly_mnist.py --classes 0 1 --epochs 2 --train-cap 1000   # smoke test

Writes benchmarks/results/anomaly_mnist{tag}.{json,md}.

On a shared or busy machine run with ``OMP_NUM_THREADS=1``: PyTorch's two spinning OpenMP
threads slowed this benchmark down about tenfold when the cores were oversubscribed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import MNIST, command, machine, write_results

ANCHORS = {"DCAE (Ruff 2018)": 89.65, "Deep SVDD (Ruff 2018)": 94.80, "IF (Ruff 2018)": 92.30}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(MNIST))
    ap.add_argument("--classes", type=int, nargs="*", default=list(range(10)))
    ap.add_argument("--arch", default="mlp", help="mlp or conv")
    ap.add_argument("--latent-dim", type=int, default=32)
    ap.add_argument("--hidden", type=int, nargs="*", default=[256])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--train-cap", type=int, default=0, help="use at most this many training images per class (0 = all)")
    ap.add_argument("--no-iforest", action="store_true")
    ap.add_argument("--pca-variance", type=float, default=0.9, help="fraction of the variance PCA keeps")
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    import torch
    from sklearn.metrics import roc_auc_score

    import aekit
    from aekit.sklearn import AnomalyDetector
    from aekit.tasks.anomaly import AnomalyScorer

    data = aekit.datasets.load("mnist", root=args.root, download=False)
    x_all, y_all = data.train(), data.y_train
    xte, yte = data.test(), data.y_test
    rows, t0 = [], time.perf_counter()
    for c in args.classes:
        t = time.perf_counter()
        xtr = x_all[y_all == c]
        if args.train_cap:
            xtr = xtr[: args.train_cap]
        anomal = yte != c
        row = {"class": c, "n_train": int(len(xtr))}
        t1 = time.perf_counter()
        default = AnomalyDetector(random_state=0).fit(xtr)
        row["default"] = 100 * roc_auc_score(anomal, -default.score_samples(xte))
        row["default_seconds"] = time.perf_counter() - t1
        row["default_resolved"] = f"{default.preprocess_}/{default.anomaly_score_}/{default.model_.config.arch}"
        det = AnomalyDetector(arch=args.arch, latent_dim=args.latent_dim, hidden=tuple(args.hidden),
                              preprocess="none", anomaly_score="combined", epochs=args.epochs, batch_size=128,
                              random_state=0)
        det.fit(xtr)
        row["aekit"] = 100 * roc_auc_score(anomal, -det.score_samples(xte))
        for name, kind in (("aekit-recon", "recon"), ("aekit-maha", "mahalanobis")):
            s = AnomalyScorer(kind).fit(det.model_, torch.from_numpy(xtr))
            row[name] = 100 * roc_auc_score(anomal, s.score(det.model_, torch.from_numpy(xte)))
        from sklearn.decomposition import PCA

        flat, flat_te = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
        pca = PCA(n_components=args.pca_variance, svd_solver="full").fit(flat)
        row["pca"] = 100 * roc_auc_score(anomal, ((flat_te - pca.inverse_transform(pca.transform(flat_te))) ** 2).mean(1))
        row["pca_components"] = int(pca.n_components_)
        if not args.no_iforest:
            from sklearn.ensemble import IsolationForest

            f = IsolationForest(random_state=0).fit(xtr.reshape(len(xtr), -1))
            row["iforest"] = 100 * roc_auc_score(anomal, -f.score_samples(xte.reshape(len(xte), -1)))
        row["seconds"] = time.perf_counter() - t
        rows.append(row)
        print(" ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
    total = time.perf_counter() - t0
    methods = [k for k in rows[0] if k not in ("class", "n_train", "seconds", "default_seconds", "default_resolved",
                                               "pca_components")]
    means = {m: float(np.mean([r[m] for r in rows])) for m in methods}
    result = {"command": command("anomaly_mnist.py", argv), "machine": machine(),
              "rows": rows, "means": means, "anchors": ANCHORS, "seconds_total": total}
    lines = ["| digit | " + " | ".join(methods) + " | seconds |", "|" + "---|" * (len(methods) + 2)]
    for r in rows:
        lines.append(f"| {r['class']} | " + " | ".join(f"{r[m]:.2f}" for m in methods) + f" | {r['seconds']:.0f} |")
    lines.append("| **mean** | " + " | ".join(f"**{means[m]:.2f}**" for m in methods) + f" | {total:.0f} |")
    write_results("anomaly_mnist", args.tag, result, lines)
    wins = sum(r["default"] >= r["pca"] for r in rows)
    print(f"default >= pca on {wins}/{len(rows)} digits; mean {means['default']:.2f} vs {means['pca']:.2f}; "
          f"default fit+score {sum(r['default_seconds'] for r in rows):.0f} s in all")
    print("anchors: " + ", ".join(f"{k} {v}" for k, v in ANCHORS.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
