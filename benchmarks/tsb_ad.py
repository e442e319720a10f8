"""Benchmark S2: TSB-AD's own series 001_NAB and UCR anomaly series 135 (TSB-AD row 326_UCR),
scored as TSB-AD scores them, beside TSB-AD's published VUS-PR of its 32 univariate methods.

Protocol (TSB-AD, Liu & Paparrizos, NeurIPS 2024; github.com/TheDatumOrg/TSB-AD,
``benchmark_exp/Run_Detector_U.py`` and ``TSB_AD/main.py``):

- the series is the whole file; a semi-supervised method is fitted on its first ``tr_N``
  steps (the file name's train index) and scores **every** step of the series, the training
  steps included; the metrics are computed over the whole series;
- the VUS window is ``find_length_rank(data, rank=1)`` of the whole series (aekit.auto_window,
  a port of it): 6 for 001_NAB, 183 for 326_UCR;
- scores are MinMax-scaled to [0, 1] before the metrics (``TSB_AD/main.py``; the
  threshold-free metrics below depend only on the order of the scores, so this changes nothing);
- metrics: VUS-PR (the headline), AUC-PR, VUS-ROC, AUC-ROC (aekit.metrics, equal to TSB-AD's),
  and the UCR archive's accuracy (argmax within 100 steps of the anomaly) for the UCR series.

Series:
  001_NAB   tsb-ad/001_NAB_id_1_Facility_tr_1007_1st_2014.csv (4,031 steps), fit on 1,007
  326_UCR   ucr-anomaly/135_UCR_Anomaly_InternalBleeding16_TEST.csv (7,501 steps, anomaly at
            4187-4198): the same length, anomaly start and length as TSB-AD's row
            326_UCR_id_24_Medical_tr_1875_1st_4187; fit on its first 1,875 steps (TSB-AD's split)
  UCR-1200  the same series fitted on the UCR archive's own TRAIN (its first 1,200 steps, which
            the script checks are identical to TEST[:1200]); not TSB-AD's protocol, no
            published row: shown for the archive's protocol

Methods (one configuration for both series):
  aekit        aekit.SeriesDetector() defaults (AE, arch auto = tcn, window auto, 30 epochs,
               score "window"; that default was chosen on 2026-12-06 after the ablation below had
               been run on these series, beside SKAB and NAB)
  aekit-<fam>  SeriesDetector(model=<fam>) for vae, usad, dae, sparse, default network
  aekit-lstm   SeriesDetector(arch="lstm"): an LSTM autoencoder
  (ablation)   ``--ablation``: SeriesDetector(score="recon"), each step's own error instead of its
               windows' whole-window errors (the default until 2026-12-06)
Seeds: 5 for the default (``--seeds``), 3 for the other configurations (``--family-seeds``), one
for USAD and the LSTM (4-20x the cost); the others run on 001_NAB and 326_UCR only.
  tsbad-*      TSB-AD's own AutoEncoder, USAD, CNN, LSTMAD code with its published
               hyper-parameters (HP_list.Optimal_Uni_algo_HP_dict, seed 2024), re-run here when
               ``--tsbad-src DIR[=LABEL]`` points at a checkout of TheDatumOrg/TSB-AD (the TSB_AD
               package folder's parent). Repeat the option for several commits.

    python benchmarks/tsb_ad.py                                   # full run
    python benchmarks/tsb_ad.py --ablation                        # + AE with score="recon"
    python benchmarks/tsb_ad.py --quick                           # smoke run: 001_NAB, 1 seed, 2 epochs
    python benchmarks/tsb_ad.py --tsbad-src /tmp/tsbad-35ba9c3=35ba9c3

Writes benchmarks/results/tsb_ad{tag}.{json,md}. Run with ``OMP_NUM_THREADS=1`` on a shared machine.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import importlib.util
import sys
import time
import types

import numpy as np
from _common import DATA, ROOT, command, machine, write_results

TS = DATA / "timeseries"
TABLE = TS / "tsb-ad" / "uni_mergedTable_VUS-PR.csv"
NAB = TS / "tsb-ad" / "001_NAB_id_1_Facility_tr_1007_1st_2014.csv"
UCR_TRAIN = TS / "ucr-anomaly" / "135_UCR_Anomaly_InternalBleeding16_TRAIN.csv"
UCR_TEST = TS / "ucr-anomaly" / "135_UCR_Anomaly_InternalBleeding16_TEST.csv"
ROWS = {"001_NAB": "001_NAB_id_1_Facility_tr_1007_1st_2014.csv", "326_UCR": "326_UCR_id_24_Medical_tr_1875_1st_4187.csv"}
# TSB-AD's README groups its methods: (i) statistical, (ii) neural network-based, (iii) foundation models
NEURAL = ["AutoEncoder", "CNN", "LSTMAD", "TranAD", "AnomalyTransformer", "OmniAnomaly", "USAD", "Donut", "TimesNet",
          "FITS"]
FOUNDATION = ["OFA", "Lag-Llama", "Chronos", "TimesFM", "MOMENT (ZS)", "MOMENT (FT)"]
FAMILIES = ["vae", "usad", "dae", "sparse"]
TSBAD_METHODS = ["AutoEncoder", "USAD", "CNN", "LSTMAD"]


def group(method: str) -> str:
    return "neural" if method in NEURAL else "foundation" if method in FOUNDATION else "statistical"


def published() -> dict[str, dict[str, float]]:
    """{series: {method: VUS-PR}} read from TSB-AD's table (its first 32 columns after the file)."""
    with open(TABLE, newline="") as f:
        rows = list(csv.reader(f))
    head = rows[0]
    methods = head[1:head.index("ts_len")]
    out = {}
    for key, name in ROWS.items():
        row = next(r for r in rows[1:] if r[0] == name)
        out[key] = {m: float(v) for m, v in zip(methods, row[1:1 + len(methods)])}
        out[key + "_meta"] = dict(zip(head[1 + len(methods):], row[1 + len(methods):]))
    return out


def load_series() -> dict[str, dict]:
    import aekit
    from aekit.data.series import auto_window

    nab = aekit.read_series(NAB)
    test = aekit.read_series(UCR_TEST)
    train = aekit.read_series(UCR_TRAIN)
    if not np.array_equal(train.values, test.values[:len(train)]):
        raise SystemExit(f"{UCR_TRAIN.name}: expected it to equal the first {len(train)} steps of {UCR_TEST.name}")
    out = {}
    for key, s, n_train in (("001_NAB", nab, 1007), ("326_UCR", test, 1875), ("UCR-1200", test, len(train))):
        x = s.values.astype(np.float32)
        out[key] = {"x": x, "y": s.labels.astype(int), "n_train": n_train, "vus_window": auto_window(x),
                    "row": ROWS.get(key)}
    return out


def minmax(s: np.ndarray) -> np.ndarray:
    s = np.asarray(s, dtype=np.float64)
    span = s.max() - s.min()
    return (s - s.min()) / span if span > 0 else np.zeros_like(s)


def evaluate(y, scores, window) -> dict[str, float]:
    from aekit.metrics import series_metrics

    m = series_metrics(y, minmax(scores), window=window)
    return {k: m[k] for k in ("vus_pr", "auc_pr", "vus_roc", "auc_roc", "ucr_accuracy")}


# -- TSB-AD's own code, re-run -------------------------------------------------------------------
def tsbad_runner(src: str):
    """TSB-AD's ``run_<Method>(train, data, **published HP)`` from a checkout at ``src``.

    Shims, none of which touches the computation: modules the four methods import but do not
    use on this path (statsmodels, hurst, numba's njit, torchinfo) are stubbed where absent;
    ``np.Inf`` (removed in NumPy 2) is aliased; scikit-learn ≥ 1.6's ``check_is_fitted`` needs
    ``__sklearn_tags__``, which TSB-AD's estimators lack, so it is replaced by a no-op in them."""
    def stub(name, **attrs):
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        sys.modules[name] = m

    for mod, attrs in {"numba": {"njit": lambda *a, **k: a[0] if a and callable(a[0]) else (lambda f: f)},
                       "torchinfo": {"summary": lambda *a, **k: None}, "hurst": {"compute_Hc": None}}.items():
        try:
            importlib.import_module(mod)
        except ImportError:
            stub(mod, **attrs)
    try:
        importlib.import_module("statsmodels.tsa.stattools")
    except ImportError:
        for n in ("statsmodels", "statsmodels.tsa", "statsmodels.graphics"):
            stub(n)
        stub("statsmodels.tsa.seasonal", seasonal_decompose=None)
        stub("statsmodels.tsa.stattools", acf=None)
        stub("statsmodels.tsa.ar_model", AR=None)
        stub("statsmodels.graphics.tsaplots", plot_acf=None)
    if not hasattr(np, "Inf"):
        np.Inf = np.inf
    no_pandas = importlib.util.find_spec("pandas") is None
    if no_pandas:  # imported at the top of TSB_AD/models/feature.py; its AutoEncoder then fails at run time
        stub("pandas")
    for k in [k for k in sys.modules if k == "TSB_AD" or k.startswith("TSB_AD.")]:
        del sys.modules[k]  # a second checkout: import it afresh
    sys.path.insert(0, src)
    try:
        mw = importlib.import_module("TSB_AD.model_wrapper")
        hp = importlib.import_module("TSB_AD.HP_list").Optimal_Uni_algo_HP_dict
        for m in ("AE", "USAD", "CNN", "LSTMAD"):
            mod = importlib.import_module(f"TSB_AD.models.{m}")
            if hasattr(mod, "check_is_fitted"):
                mod.check_is_fitted = lambda est, attributes=None, *a, **k: None
    finally:
        sys.path.remove(src)
        if no_pandas:  # a stub would mislead scikit-learn's DataFrame checks
            del sys.modules["pandas"]
    return {name: (lambda tr, x, f=getattr(mw, f"run_{name}"), p=hp[name]: f(tr, x, **p)) for name in TSBAD_METHODS}


def run_tsbad(label, runner, series, rows):
    import contextlib
    import io

    import torch

    for key, d in series.items():
        for name, fn in runner.items():
            torch.manual_seed(2024)  # TSB-AD's scripts seed torch and numpy with 2024
            np.random.seed(2024)
            t0 = time.perf_counter()
            sink = io.StringIO()
            try:
                with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                    out = fn(d["x"][:d["n_train"]].astype(float), d["x"].astype(float))
            except Exception as e:  # noqa: BLE001 - a peer that cannot run here is reported, not fatal
                out = f"{type(e).__name__}: {e}"
            dt = time.perf_counter() - t0
            if not isinstance(out, np.ndarray) or len(out) != len(d["y"]):
                print(f"  {key} tsbad-{name}@{label}: failed: {str(out)[:200]}", flush=True)
                continue
            m = evaluate(d["y"], out, d["vus_window"])
            rows.append({"series": key, "method": f"tsbad-{name}@{label}", "seed": 2024, "seconds": dt, **m})
            print(f"  {key} tsbad-{name}@{label}: VUS-PR {m['vus_pr']:.3f} ({dt:.0f} s)", flush=True)


# -- aekit ---------------------------------------------------------------------------------------
def methods(with_families: bool, with_lstm: bool, ablation: bool) -> dict[str, dict]:
    out = {"aekit": {}}
    if with_families:
        out.update({f"aekit-{f}": {"model": f} for f in FAMILIES})
    if with_lstm:
        out["aekit-lstm"] = {"arch": "lstm"}
    if ablation:  # the default until 2026-12-06: each step scored by its own error, not its windows'
        out["aekit score=recon"] = {"score": "recon"}
    return out


def provenance() -> dict[str, str]:
    """Which aekit ran: its path, version and the repository's commit (and whether src/ differed)."""
    import subprocess

    import aekit

    def git(*a):
        try:
            return subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    from pathlib import Path

    snap = Path(aekit.__file__).resolve().parents[2] / "COMMIT"  # a `git archive` snapshot records its commit there
    return {"aekit_file": aekit.__file__, "aekit_version": getattr(aekit, "__version__", "?"),
            "snapshot_commit": snap.read_text().strip() if snap.is_file() else None,
            "repo_commit": git("rev-parse", "HEAD"), "repo_src_dirty": bool(git("status", "--porcelain", "src"))}


def run_aekit(name, opts, seeds, series, epochs, rows):
    import aekit

    for key, d in series.items():
        for seed in seeds:
            t0 = time.perf_counter()
            kw = dict(opts, random_state=seed)
            if epochs:
                kw["epochs"] = epochs
            det = aekit.SeriesDetector(**kw).fit(d["x"][:d["n_train"]])
            scores = det.anomaly_score(d["x"])
            dt = time.perf_counter() - t0
            m = evaluate(d["y"], scores, d["vus_window"])
            rows.append({"series": key, "method": name, "seed": seed, "seconds": dt, "window": det.window_,
                         "arch": det._arch(), **m})
            print(f"  {key} {name} seed {seed} (window {det.window_}, {det._arch()}): VUS-PR {m['vus_pr']:.3f} "
                  f"AUC-PR {m['auc_pr']:.3f} VUS-ROC {m['vus_roc']:.3f} UCR {m['ucr_accuracy']:.0f} ({dt:.0f} s)",
                  flush=True)


# -- tables --------------------------------------------------------------------------------------
def summarize(rows):
    """{(series, method): {metric: (mean, sd, n)}, seconds}"""
    out = {}
    for key in dict.fromkeys((r["series"], r["method"]) for r in rows):
        rs = [r for r in rows if (r["series"], r["method"]) == key]
        agg = {k: (float(np.mean([r[k] for r in rs])), float(np.std([r[k] for r in rs], ddof=1)) if len(rs) > 1
                   else 0.0, len(rs)) for k in ("vus_pr", "auc_pr", "vus_roc", "auc_roc", "ucr_accuracy")}
        agg["seconds"] = float(np.mean([r["seconds"] for r in rs]))
        agg["per_seed_vus_pr"] = [r["vus_pr"] for r in rs]
        out[key] = agg
    return out


def fmt(v):
    mean, sd, n = v
    return f"{mean:.3f} ± {sd:.3f}" if n > 1 else f"{mean:.3f}"


def tables(summary, pub, series):
    lines = []
    for key, d in series.items():
        lines += [f"**{key}** ({len(d['y'])} steps, fit on the first {d['n_train']}, VUS window {d['vus_window']}"
                  + (f", TSB-AD row `{d['row']}`" if d["row"] else ", no published row") + ")", "",
                  "| method | seeds | VUS-PR | AUC-PR | VUS-ROC | AUC-ROC | UCR acc. | s / fit |",
                  "|---|---|---|---|---|---|---|---|"]
        for (s, m), a in summary.items():
            if s == key:
                lines.append(f"| {m} | {a['vus_pr'][2]} | {fmt(a['vus_pr'])} | {fmt(a['auc_pr'])} | {fmt(a['vus_roc'])} "
                             f"| {fmt(a['auc_roc'])} | {fmt(a['ucr_accuracy'])} | {a['seconds']:.0f} |")
        lines.append("")
    for key in ROWS:
        p = pub[key]
        lines += [f"Published VUS-PR, TSB-AD row `{ROWS[key]}` (all {len(p)} methods, sorted):", "",
                  "| rank | method | group | VUS-PR |", "|---|---|---|---|"]
        for i, (m, v) in enumerate(sorted(p.items(), key=lambda kv: -kv[1]), 1):
            lines.append(f"| {i} | {m} | {group(m)} | {v:.3f} |")
        lines.append("")
    return lines


def assess(summary, pub):
    out, lines = {}, []
    for key in ROWS:
        p = pub[key]
        best_neural = max(NEURAL, key=lambda m: p[m])
        best = max(p, key=p.get)
        a = summary.get((key, "aekit"))
        if a is None:
            continue
        v = a["vus_pr"][0]
        rank = 1 + sum(x > v for x in p.values())
        out[key] = {"aekit_vus_pr": v, "best_neural": [best_neural, p[best_neural]], "best": [best, p[best]],
                    "above_every_neural": bool(v > p[best_neural]), "rank_among_published": rank}
        lines.append(f"- {key}: aekit default {v:.3f} vs best published neural {best_neural} {p[best_neural]:.3f} "
                     f"({'above' if v > p[best_neural] else 'BELOW'}); best of all {best} {p[best]:.3f}; "
                     f"aekit would rank {rank} of {len(p) + 1}")
    return out, lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5, help="seeds of aekit's default detector")
    ap.add_argument("--family-seeds", type=int, default=3, help="seeds of each other aekit configuration")
    ap.add_argument("--epochs", type=int, default=0, help="override the detector's epochs (0 = its default)")
    ap.add_argument("--no-families", action="store_true")
    ap.add_argument("--no-lstm", action="store_true")
    ap.add_argument("--ablation", action="store_true", help="add the ablation rows (AE with score='recon')")
    ap.add_argument("--family-series", nargs="*", default=["001_NAB", "326_UCR"],
                    help="series on which the configurations other than the default run")
    ap.add_argument("--tsbad-series", nargs="*", default=["001_NAB", "326_UCR"],
                    help="series on which TSB-AD's code is re-run")
    ap.add_argument("--series", nargs="*", default=None, help="subset of 001_NAB 326_UCR UCR-1200")
    ap.add_argument("--tsbad-src", action="append", default=[],
                    help="DIR[=LABEL]: a TheDatumOrg/TSB-AD checkout whose AutoEncoder/USAD/CNN/LSTMAD to re-run")
    ap.add_argument("--quick", action="store_true", help="smoke run: 001_NAB only, 1 seed, 2 epochs")
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    if not TABLE.is_file() or not UCR_TEST.is_file():
        print(f"data not found under {TS}: skipping", file=sys.stderr)
        return 1
    import torch

    from aekit.nets.registry import NETWORKS

    if args.quick:  # 001_NAB only: the LSTM's free-running decoder takes minutes on 326_UCR's window of 183
        args.seeds, args.family_seeds, args.epochs = 1, 1, args.epochs or 2
        args.series = args.series or ["001_NAB"]
        args.tag = args.tag or "_quick"
    pub = published()
    series = load_series()
    if args.series:
        series = {k: v for k, v in series.items() if k in args.series}
    with_lstm = not args.no_lstm and "lstm" in NETWORKS
    rows, t_all = [], time.perf_counter()
    for label_src in args.tsbad_src:
        src, _, label = label_src.partition("=")
        print(f"TSB-AD code at {src}", flush=True)
        run_tsbad(label or src, tsbad_runner(src), {k: v for k, v in series.items() if k in args.tsbad_series}, rows)
    for name, opts in methods(not args.no_families, with_lstm, args.ablation).items():
        if name == "aekit":
            run_aekit(name, opts, list(range(args.seeds)), series, args.epochs, rows)
            continue
        # USAD (three passes per step) and the LSTM (a free-running decoder, W sequential steps per
        # window at scoring) cost 4-5x the others: one seed each
        n = 1 if name in ("aekit-usad", "aekit-lstm") else args.family_seeds
        sub = {k: v for k, v in series.items() if k in args.family_series}
        run_aekit(name, opts, list(range(n)), sub, args.epochs, rows)
    total = time.perf_counter() - t_all
    summary = summarize(rows)
    goal, goal_lines = assess(summary, pub)
    result = {"command": command("tsb_ad.py", argv), "machine": machine(), "torch": torch.__version__,
              **provenance(),
              "seconds_total": total, "vus_windows": {k: d["vus_window"] for k, d in series.items()},
              "n_train": {k: d["n_train"] for k, d in series.items()}, "rows": rows,
              "summary": {f"{s} | {m}": v for (s, m), v in summary.items()}, "published": pub, "goal": goal}
    lines = tables(summary, pub, series) + ["Goal:"] + goal_lines + ["", f"total {total:.0f} s"]
    write_results("tsb_ad", args.tag, result, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
