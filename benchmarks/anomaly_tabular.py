"""Benchmark A: tabular anomaly detection on the 43 ADBench "Classical" data sets.

Protocol (Han et al. 2022, ADBench, unsupervised setting): for each data set a stratified
70/30 split with seed 0 (``--split-seed``); every method is fitted on the training part without labels and
scored on the test part; AUROC of the anomaly scores against the labels (1 = anomaly).
One default configuration for every data set, no per-data-set tuning. Training parts larger
than ``--cap`` rows (default 20,000) are subsampled to ``--cap`` rows (the split seed), identically
for every method; test parts are scored in full unless ``--test-cap`` (a stratified subsample).

Methods, side by side in the same run:
  aekit          aekit.AnomalyDetector(random_state=0) defaults (on tables: AE 64-4-64, standardized
                 inputs, linear decoder, combined score)
  aekit-recon    the same fitted model, reconstruction error only
  aekit-maha     the same fitted model, code-space Mahalanobis distance only
  iforest        sklearn IsolationForest(random_state=0), defaults
  pca            PCA reconstruction error, standardized inputs, 90% of the variance kept
  pyod-ae        PyOD's AutoEncoder (defaults), where pyod is installed

    python benchmarks/anomaly_tabular.py                   # all 43 sets, full protocol
    python benchmarks/anomaly_tabular.py --cap 5000 --test-cap 20000   # a quicker, reduced run
    python benchmarks/anomaly_tabular.py --sets 4_breastw 6_cardio --cap 2000
    python benchmarks/anomaly_tabular.py --split-seed 1 --tag _split1     # another 70/30 split

Writes benchmarks/results/anomaly_tabular.{json,md}.

On a shared or busy machine run with ``OMP_NUM_THREADS=1``: PyTorch's two spinning OpenMP
threads slowed this benchmark down about tenfold when the cores were oversubscribed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from _common import DATA, command, machine, write_results

ADBENCH = DATA / "adbench"


def pca_scores(xtr, xte):
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    sc = StandardScaler().fit(xtr)
    a, b = sc.transform(xtr), sc.transform(xte)
    p = PCA(n_components=0.9, svd_solver="full", random_state=0).fit(a)
    return ((b - p.inverse_transform(p.transform(b))) ** 2).mean(1)


def iforest_scores(xtr, xte):
    from sklearn.ensemble import IsolationForest

    return -IsolationForest(random_state=0).fit(xtr).score_samples(xte)


def aekit_scores(xtr, xte):
    """The default detector, and the two parts of its combined score from the same model."""
    from aekit.sklearn import AnomalyDetector

    det = AnomalyDetector(random_state=0).fit(xtr)
    out = {"aekit": -det.score_samples(xte)}
    xp = det._torch(det._prepared(xte))
    for name, kind in (("aekit-recon", "recon"), ("aekit-maha", "mahalanobis")):
        from aekit.tasks.anomaly import AnomalyScorer

        s = AnomalyScorer(kind).fit(det.model_, det._torch(det._prepared(xtr)))
        out[name] = s.score(det.model_, xp)
    return out


def pyod_scores(xtr, xte):
    from pyod.models.auto_encoder import AutoEncoder

    m = AutoEncoder(random_state=0, verbose=0).fit(xtr)
    return m.decision_function(xte)


def load_split(path, seed: int = 0, cap: int = 20000, test_cap: int = 0):
    """One ADBench set's (x_train, x_test, y_test, row): the stratified 70/30 split with ``seed``,
    the training part subsampled to ``cap`` rows and the test part to ``test_cap`` (0 = all)."""
    from sklearn.model_selection import train_test_split

    d = np.load(path)
    x, y = d["X"].astype(np.float64), d["y"].astype(int)
    xtr, xte, _, yte = train_test_split(x, y, test_size=0.3, stratify=y, random_state=seed)
    if len(xtr) > cap:
        xtr = xtr[np.random.default_rng(seed).choice(len(xtr), cap, replace=False)]
    if test_cap and len(xte) > test_cap:  # stratified, so the anomaly rate is kept
        _, xte, _, yte = train_test_split(xte, yte, test_size=test_cap, stratify=yte, random_state=seed)
    row = {"data": Path(path).stem, "n": len(x), "d": x.shape[1], "anomalies": float(y.mean()), "n_train": len(xtr),
           "n_test": len(xte)}
    return xtr, xte, yte, row


def adbench_files(root, sets=None) -> list[Path]:
    """The ADBench ``.npz`` files under ``root`` in their numbered order, optionally only ``sets``."""
    files = sorted(Path(root).glob("*.npz"), key=lambda p: int(p.stem.split("_")[0]))
    return [f for f in files if f.stem in sets] if sets else files


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ADBENCH))
    ap.add_argument("--sets", nargs="*", help="data set stems (default all)")
    ap.add_argument("--cap", type=int, default=20000, help="max training rows (subsampled with the split seed)")
    ap.add_argument("--test-cap", type=int, default=0,
                    help="score at most this many test rows (stratified subsample with the split seed; 0 = all)")
    ap.add_argument("--split-seed", type=int, default=0,
                    help="seed of the 70/30 split and of the subsamples (the methods keep random_state=0)")
    ap.add_argument("--tag", default="", help="suffix of the result files")
    args = ap.parse_args(argv)
    import torch
    from sklearn.metrics import roc_auc_score

    files = adbench_files(args.data, args.sets)
    if not files:
        print(f"no ADBench files in {args.data}", file=sys.stderr)
        return 1
    try:
        import pyod  # noqa: F401

        has_pyod = True
    except ImportError:
        has_pyod = False
    rows, times = [], {}
    t_all = time.perf_counter()
    for f in files:
        xtr, xte, yte, row = load_split(f, args.split_seed, args.cap, args.test_cap)
        methods = {"iforest": iforest_scores, "pca": pca_scores, "aekit": aekit_scores}
        if has_pyod:
            methods["pyod-ae"] = pyod_scores
        for name, fn in methods.items():
            t0 = time.perf_counter()
            torch.manual_seed(0)
            s = fn(xtr, xte)
            dt = time.perf_counter() - t0
            for k, v in (s.items() if isinstance(s, dict) else [(name, s)]):
                row[k] = float(roc_auc_score(yte, v))
            times[name] = times.get(name, 0.0) + dt
        rows.append(row)
        print(f"{f.stem:<22} " + " ".join(f"{k}={v:.3f}" for k, v in row.items()
                                           if isinstance(v, float) and k != "anomalies"), flush=True)
    total = time.perf_counter() - t_all
    methods = [k for k in rows[0] if k not in ("data", "n", "d", "anomalies", "n_train", "n_test")]
    means = {m: float(np.mean([r[m] for r in rows])) for m in methods}
    wins = sum(r["aekit"] > r["iforest"] for r in rows)
    result = {"command": command("anomaly_tabular.py", argv), "machine": machine(),
              "cap": args.cap, "split_seed": args.split_seed, "rows": rows, "means": means, "aekit_beats_iforest_on": wins,
              "seconds_total": total, "seconds_per_method": times}
    lines = ["| data | n | d | anom. | " + " | ".join(methods) + " |", "|" + "---|" * (4 + len(methods))]
    for r in rows:
        lines.append(f"| {r['data']} | {r['n']} | {r['d']} | {r['anomalies']:.3f} | "
                     + " | ".join(f"{r[m]:.3f}" for m in methods) + " |")
    lines.append("| **mean** | | | | " + " | ".join(f"**{means[m]:.4f}**" for m in methods) + " |")
    write_results("anomaly_tabular", args.tag, result, lines)
    print(f"aekit > iforest on {wins}/{len(rows)} sets; total {total:.0f} s; per method "
          + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
