"""Benchmark S3: the Numenta Anomaly Benchmark (NAB) series, scored per timestep by VUS-PR and AUC-PR.

Data: ``shared/data/timeseries/nab`` (41 of NAB's 58 series, its labelled anomaly windows
``labels/combined_windows.json`` and the published per-timestamp outputs of NAB's HTM detector,
``results/numenta``, and of ARTime, ``results/ARTime``).

Protocol, per series:

* labels: a step is anomalous when its timestamp lies in a labelled window, both ends included
  (NAB's ``corpusLabel``: ``timestamp >= t1`` and ``timestamp <= t2``); the script checks that
  this reproduces the ``label`` column of NAB's own result files exactly;
* probationary period: NAB's ``getProbationPeriod(0.15, T) = min(floor(0.15 T), 0.15 * 5000)``,
  i.e. the first 15% of the steps, at most 750 steps;
* aekit is ``aekit.SeriesDetector(random_state=0)`` (``--seed``) with its defaults, fitted on the
  probationary steps only (labels never used) and scoring every step (``--score recon``: the
  same with each step scored by its own error, the default until 2026-12-06); where the default POT
  threshold cannot be fitted on a short probationary period (fewer than ~200 steps), the fit is
  repeated with ``threshold="quantile"``: the same seed gives the same model and the same
  scores, and no threshold enters the metrics below;
* Isolation Forest (scikit-learn, ``random_state=0`` (``--seed``), defaults) and PCA (reconstruction error,
  90% of the variance kept) on the sliding windows (stride 1) of the series, the same window
  length as aekit's detector, values standardized with the probationary mean and deviation,
  fitted on the probationary windows; a window's score is spread over its steps as aekit does
  (``aekit.data.windows.per_timestep``: a step's score is the mean over the windows covering it);
* HTM (``numenta``) and ARTime: their published ``anomaly_score`` column as it is (those
  detectors ran online over the whole series);
* every method is evaluated by the same ``aekit.metrics`` code on the steps after the
  probationary period only: VUS-PR, AUC-PR (average precision), VUS-ROC, AUC-ROC. The VUS
  window is TSB-AD's period estimate on the whole series (``aekit.data.series.auto_window``),
  the same for every method on a series;
* series whose evaluated part has no labelled anomaly (NAB's five ``artificialNoAnomaly``
  series) have undefined VUS/AUC: they are listed and left out of every method's mean alike.

    python benchmarks/nab.py                 # the full run (36 evaluated series)
    python benchmarks/nab.py --quick         # smoke run: 3 short series, 2 epochs (tag _quick)
    python benchmarks/nab.py --seed 1 --tag _seed1   # the same with another seed for aekit and IForest
    python benchmarks/nab.py --series realTraffic/speed_7578.csv --tag _one

Writes benchmarks/results/nab{tag}.{json,md}. Run with ``OMP_NUM_THREADS=1`` on a shared machine.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import math
import sys
import time

import numpy as np
from _common import DATA, command, machine, write_results

NAB = DATA / "timeseries" / "nab"
PROBATIONARY_PERCENT = 0.15
DETECTORS = {"htm": "numenta", "artime": "ARTime"}  # name here -> results folder (and file prefix)
METHODS = ("aekit", "htm", "artime", "iforest", "pca")
QUICK = ("realTraffic/speed_7578.csv", "realAdExchange/exchange-3_cpc_results.csv", "realTraffic/TravelTime_451.csv")


def probationary_length(n: int) -> int:
    """NAB's nab/util.py getProbationPeriod(probationPercent, fileLength)."""
    return int(min(math.floor(PROBATIONARY_PERCENT * n), PROBATIONARY_PERCENT * 5000))


def as_time(values) -> np.ndarray:
    return np.array([np.datetime64(str(v).strip().replace(" ", "T")) for v in values], dtype="datetime64[us]")


def window_labels(time: np.ndarray, windows: list) -> np.ndarray:
    y = np.zeros(len(time), np.int8)
    for a, b in windows:
        a, b = as_time([a, b])
        y[(time >= a) & (time <= b)] = 1
    return y


def published(det: str, key: str, time: np.ndarray, values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """A published detector's anomaly_score per step, after checking it is this very series."""
    group, name = key.split("/")
    path = NAB / "results" / det / group / f"{det}_{name}.gz"
    with gzip.open(path, "rt") as fh:
        rows = list(csv.DictReader(io.StringIO(fh.read())))
    if len(rows) != len(time) or not (as_time([r["timestamp"] for r in rows]) == time).all():
        raise SystemExit(f"{path}: timestamps do not align with the data file")
    if not np.allclose([float(r["value"]) for r in rows], values):
        raise SystemExit(f"{path}: values differ from the data file")
    if not (np.array([int(r["label"]) for r in rows]) == labels).all():
        raise SystemExit(f"{path}: NAB's label column differs from the labels built from the windows")
    s = np.array([float(r["anomaly_score"]) for r in rows])
    if not np.isfinite(s).all():
        raise SystemExit(f"{path}: non-finite anomaly scores")
    return s


def aekit_scores(train, series, epochs, seed=0, score=None):
    import aekit
    from aekit.errors import AekitError

    opts = ({} if epochs is None else {"epochs": epochs}) | ({} if score is None else {"score": score})
    note = ""
    try:
        det = aekit.SeriesDetector(random_state=seed, **opts).fit(train)
    except AekitError as e:
        if "GPD fit" not in str(e):
            raise
        det = aekit.SeriesDetector(random_state=seed, threshold="quantile", **opts).fit(train)
        note = "POT threshold not fittable on the probationary scores; refitted with threshold='quantile'"
    return det.anomaly_score(series), det, note


def window_baselines(values: np.ndarray, prob: int, w: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Isolation Forest and PCA on the stride-1 windows, fitted on the probationary windows."""
    from sklearn.decomposition import PCA
    from sklearn.ensemble import IsolationForest

    from aekit.data.windows import per_timestep, window_starts

    x = values[:, 0].astype(np.float64)
    mu, sd = x[:prob].mean(), x[:prob].std()
    x = (x - mu) / (sd if sd > 0 else 1.0)
    allw = np.lib.stride_tricks.sliding_window_view(x, w)  # (T - w + 1, w), a view
    starts = window_starts(len(x), w, 1)
    assert len(starts) == len(allw)
    tr = allw[: prob - w + 1]
    out = {}
    t0 = time.perf_counter()
    forest = IsolationForest(random_state=seed).fit(tr)
    out["iforest"] = per_timestep(starts, -forest.score_samples(allw), len(x), w)
    t1 = time.perf_counter()
    pca = PCA(n_components=0.9, svd_solver="full", random_state=0).fit(tr)
    err = ((allw - pca.inverse_transform(pca.transform(allw))) ** 2).mean(1)
    out["pca"] = per_timestep(starts, err, len(x), w)
    t2 = time.perf_counter()
    return out, {"iforest": t1 - t0, "pca": t2 - t1}


def library_state() -> dict:
    """The commit of the working tree and the aekit files that differ from it (the tree is shared)."""
    import subprocess

    from _common import ROOT

    def git(*a):
        try:
            return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "HEAD"), "src_changes": git("status", "--porcelain", "src/aekit").splitlines()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", nargs="*", help="keys group/name.csv (default: every series in the folder)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 3 short series, 2 epochs")
    ap.add_argument("--epochs", type=int, default=None, help="override SeriesDetector's epochs (default: its own)")
    ap.add_argument("--seed", type=int, default=0, help="random_state of aekit and IsolationForest (default 0)")
    ap.add_argument("--score", choices=("auto", "recon", "window"), default=None,
                    help="aekit's per-step score (default: SeriesDetector's own)")
    ap.add_argument("--tag", default=None, help="suffix of the result files (default '' or '_quick')")
    args = ap.parse_args(argv)
    import torch

    import aekit
    from aekit.data.series import auto_window
    from aekit.metrics import series_metrics

    state = library_state()
    tag = args.tag if args.tag is not None else ("_quick" if args.quick else "")
    epochs = 2 if args.quick and args.epochs is None else args.epochs
    windows = json.loads((NAB / "labels" / "combined_windows.json").read_text())
    keys = sorted(f"{p.parent.name}/{p.name}" for p in (NAB / "data").glob("*/*.csv"))
    if args.quick:
        keys = [k for k in keys if k in QUICK]
    if args.series:
        keys = [k for k in keys if k in args.series]
    if not keys:
        print(f"no NAB series found in {NAB / 'data'}", file=sys.stderr)
        return 1
    rows, skipped, times = [], [], dict.fromkeys(METHODS, 0.0)
    t_all = time.perf_counter()
    for key in keys:
        if not windows[key]:
            skipped.append({"series": key, "why": "no labelled anomaly window"})
            print(f"{key:<56} skipped: no labelled anomaly window", flush=True)
            continue
        s = aekit.read_series(NAB / "data" / key)
        t = s.time.astype("datetime64[us]")
        y = window_labels(t, windows[key])
        n = len(s)
        prob = probationary_length(n)
        yt = y[prob:]
        if yt.sum() == 0 or yt.sum() == len(yt):
            skipped.append({"series": key, "why": "no labelled anomaly after the probationary period"})
            continue
        vus_w = auto_window(s.values)  # TSB-AD's slidingWindow for the metrics, whole series
        scores = {}
        t0 = time.perf_counter()
        train, _ = s.split(prob)
        torch.manual_seed(args.seed)
        scores["aekit"], det, note = aekit_scores(train, s, epochs, args.seed, args.score)
        times["aekit"] += time.perf_counter() - t0
        for m, folder in DETECTORS.items():
            scores[m] = published(folder, key, t, s.values[:, 0], y)
        base, bt = window_baselines(s.values, prob, det.window_, args.seed)
        scores.update(base)
        for m, v in bt.items():
            times[m] += v
        row = {"series": key, "steps": n, "probation": prob, "test_steps": n - prob,
               "anomalous_test_steps": int(yt.sum()), "anomaly_rate": float(yt.mean()),
               "vus_window": int(vus_w), "detector_window": int(det.window_), "aekit_arch": det._arch(),
               "aekit_score": det.score_kind_, "aekit_epochs": int(det.epochs), "note": note, "metrics": {}}
        for m in METHODS:
            row["metrics"][m] = series_metrics(yt, scores[m][prob:], window=int(vus_w))
        rows.append(row)
        print(f"{key:<56} T={n:>5} prob={prob:>3} w={det.window_:>3} vus_w={vus_w:>3} VUS-PR "
              + " ".join(f"{m}={row['metrics'][m]['vus_pr']:.3f}" for m in METHODS)
              + " | AUC-PR " + " ".join(f"{m}={row['metrics'][m]['auc_pr']:.3f}" for m in METHODS), flush=True)
    total = time.perf_counter() - t_all
    if not rows:
        print("no series evaluated", file=sys.stderr)
        return 1
    summary = {}
    for metric in ("vus_pr", "auc_pr", "vus_roc", "auc_roc"):
        summary[metric] = {}
        for m in METHODS:
            v = np.array([r["metrics"][m][metric] for r in rows])
            summary[metric][m] = {"mean": float(v.mean()), "median": float(np.median(v))}
    wins = {metric: {m: int(sum(r["metrics"]["aekit"][metric] > r["metrics"][m][metric] for r in rows))
                     for m in METHODS if m != "aekit"} for metric in ("vus_pr", "auc_pr")}
    result = {"command": command("nab.py", argv), "machine": machine(), "date": time.strftime("%Y-%m-%d"),
              "library": state,
              "seconds_total": total, "seconds_per_method": times, "evaluated": len(rows), "skipped": skipped,
              "probationary": "min(floor(0.15 T), 750) steps (NAB getProbationPeriod)",
              "epochs": epochs, "seed": args.seed, "rows": rows, "summary": summary, "aekit_wins": wins}
    short = {"aekit": "aekit", "htm": "HTM", "artime": "ARTime", "iforest": "IForest", "pca": "PCA"}
    lines = [f"NAB, {len(rows)} series with labelled anomalies after the probationary period "
             f"({len(skipped)} skipped: {', '.join(x['series'] for x in skipped) or 'none'}).", "",
             "| series | T | prob. | anom. | W | VUS w | " + " | ".join(f"VUS-PR {short[m]}" for m in METHODS)
             + " | " + " | ".join(f"AUC-PR {short[m]}" for m in METHODS) + " |",
             "|" + "---|" * (6 + 2 * len(METHODS))]
    for r in rows:
        lines.append(f"| {r['series']} | {r['steps']} | {r['probation']} | {r['anomaly_rate']:.3f} | "
                     f"{r['detector_window']} | {r['vus_window']} | "
                     + " | ".join(f"{r['metrics'][m]['vus_pr']:.3f}" for m in METHODS) + " | "
                     + " | ".join(f"{r['metrics'][m]['auc_pr']:.3f}" for m in METHODS) + " |")
    rates = np.array([r["anomaly_rate"] for r in rows])
    for stat, fn in (("mean", np.mean), ("median", np.median)):
        lines.append(f"| **{stat}** | | | {fn(rates):.3f} | | | "
                     + " | ".join(f"**{summary['vus_pr'][m][stat]:.4f}**" for m in METHODS) + " | "
                     + " | ".join(f"**{summary['auc_pr'][m][stat]:.4f}**" for m in METHODS) + " |")
    lines += ["", "| metric | " + " | ".join(short[m] for m in METHODS) + " |", "|" + "---|" * (1 + len(METHODS))]
    for metric in ("vus_pr", "auc_pr", "vus_roc", "auc_roc"):
        for stat in ("mean", "median"):
            lines.append(f"| {metric} {stat} | " + " | ".join(f"{summary[metric][m][stat]:.4f}" for m in METHODS) + " |")
    notes = [f"{r['series']}: {r['note']}" for r in rows if r["note"]]
    if notes:
        lines += [""] + [f"- {x}" for x in notes]
    write_results("nab", tag, result, lines)
    print("aekit wins (VUS-PR) vs " + ", ".join(f"{m} {v}/{len(rows)}" for m, v in wins["vus_pr"].items())
          + f"; total {total:.0f} s; per method " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()
                                                             if k not in DETECTORS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
