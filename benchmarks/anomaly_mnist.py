"""Benchmark B: one-class anomaly detection on MNIST, the protocol of Ruff et al. 2018
("Deep One-Class Classification", Deep SVDD).

For each digit c: train on the training images of c only (about 6,000), score all 10,000
test images, AUROC with "not c" as the anomaly class. Report per class and the mean.
Published anchors (Ruff et al. 2018, Table 1): DCAE 89.65, Deep SVDD (one-class) 94.80,
Isolation Forest 92.30.

Method: ``aekit.AnomalyDetector`` (AE, inputs in [0, 1], sigmoid decoder) trained inside
this script; the headline is its default score (``combined``: reconstruction error plus
code-space Mahalanobis distance, each scaled by its training median/IQR). The two parts of the
same fitted model are reported too, and IsolationForest(random_state=0) on the raw pixels is
run side by side.

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
        det = AnomalyDetector(arch=args.arch, latent_dim=args.latent_dim, hidden=tuple(args.hidden),
                              preprocess="none", epochs=args.epochs, batch_size=128, random_state=0)
        det.fit(xtr)
        anomal = yte != c
        row = {"class": c, "n_train": int(len(xtr)), "aekit": 100 * roc_auc_score(anomal, -det.score_samples(xte))}
        for name, kind in (("aekit-recon", "recon"), ("aekit-maha", "mahalanobis")):
            s = AnomalyScorer(kind).fit(det.model_, torch.from_numpy(xtr))
            row[name] = 100 * roc_auc_score(anomal, s.score(det.model_, torch.from_numpy(xte)))
        if not args.no_iforest:
            from sklearn.ensemble import IsolationForest

            f = IsolationForest(random_state=0).fit(xtr.reshape(len(xtr), -1))
            row["iforest"] = 100 * roc_auc_score(anomal, -f.score_samples(xte.reshape(len(xte), -1)))
        row["seconds"] = time.perf_counter() - t
        rows.append(row)
        print(" ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
    total = time.perf_counter() - t0
    methods = [k for k in rows[0] if k not in ("class", "n_train", "seconds")]
    means = {m: float(np.mean([r[m] for r in rows])) for m in methods}
    result = {"command": command("anomaly_mnist.py", argv), "machine": machine(),
              "rows": rows, "means": means, "anchors": ANCHORS, "seconds_total": total}
    lines = ["| digit | " + " | ".join(methods) + " | seconds |", "|" + "---|" * (len(methods) + 2)]
    for r in rows:
        lines.append(f"| {r['class']} | " + " | ".join(f"{r[m]:.2f}" for m in methods) + f" | {r['seconds']:.0f} |")
    lines.append("| **mean** | " + " | ".join(f"**{means[m]:.2f}**" for m in methods) + f" | {total:.0f} |")
    write_results("anomaly_mnist", args.tag, result, lines)
    print("anchors: " + ", ".join(f"{k} {v}" for k, v in ANCHORS.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
