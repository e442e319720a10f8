"""Benchmark S4: representation on UCR/UEA classification sets.

Six sets of the UCR/UEA archives in ``../shared/data/timeseries/ucr`` with their official
train/test splits: GunPoint, ItalyPowerDemand, ArrowHead, OSULeaf (univariate), BasicMotions
(6 channels) and JapaneseVowels (12 channels; the equal-length ``_eq`` files, 25 steps, since
an aekit network takes one input shape).

Protocol, one fixed setting for all six sets (``SETTING``):

1. per-channel standardization fitted on the TRAIN series (``aekit.Preprocessor``,
   ``channel_norm``, ``channel_axis=-1``);
2. an ``aekit.AE`` (the ``tcn`` network, linear output, MSE) trained without labels on the
   TRAIN series only, two ways:

   - ``whole``: each series is one sample, ``input_shape=(T, C)``; its code is the series' code;
   - ``windows``: windows of W = max(8, round(T/4)) steps at stride max(1, W // 4) of every
     training series (``aekit.data.windows.Windows``) are the samples; a series' code is the
     mean of the codes of its windows;

   for a fixed number of optimizer steps (so that sets of 36 and 270 series get the same
   training), batch 32, Adam 1e-3;
3. the codes of the train and test series, then two classifiers fitted on the training codes
   and labels: 1-nearest-neighbour (Euclidean, the codes as they are) and logistic regression
   (standardized codes, C among 10^-3 … 10^3 chosen by stratified 5-fold cross-validation on the
   training codes);
4. ``aekit (CV)``: for each set and seed, the representation (whole / windows) and classifier
   (1-NN / logistic) with the best stratified 5-fold cross-validated accuracy on the training
   codes (logistic nested: C chosen inside each fold) — the test split is not looked at.

Baseline computed in the same run: 1-NN Euclidean on the raw series, each series (and each
channel) z-normalized as the UCR archive does. Ceilings: the published HC2 and InceptionTime
test accuracies (``published-accuracy/``; column 0 = the official split, and the mean of the
30 resamples); those files hold the univariate UCR sets only.

    python benchmarks/ucr_represent.py                 # 3 seeds, all six sets
    python benchmarks/ucr_represent.py --quick         # smoke test: 1 seed, 60 steps
    python benchmarks/ucr_represent.py --cv-only       # development: train-split CV only,
                                                       # the test files are not read

The latent size (32) was chosen among 16, 32 and 64 with ``--cv-only`` (``--latent``), on the
training splits only; see RESULTS.md, S4. Writes benchmarks/results/ucr_represent{tag}.{json,md}.
Run with ``OMP_NUM_THREADS=1``.
"""

from __future__ import annotations

import argparse
import csv
import time

import numpy as np
from _common import DATA, command, machine, write_results

UCR = DATA / "timeseries" / "ucr"
SETS = {  # name shown → (folder, file stem)
    "GunPoint": ("GunPoint", "GunPoint"),
    "ItalyPowerDemand": ("ItalyPowerDemand", "ItalyPowerDemand"),
    "ArrowHead": ("ArrowHead", "ArrowHead"),
    "OSULeaf": ("OSULeaf", "OSULeaf"),
    "BasicMotions": ("BasicMotions", "BasicMotions"),
    "JapaneseVowels": ("JapaneseVowels", "JapaneseVowels_eq"),
}
SETTING = {"family": "ae", "arch": "tcn", "channels": (16, 32), "net_options": {"blocks": 1},
           "latent_dim": 32, "output": "linear", "steps": 600, "batch_size": 32, "lr": 1e-3}
CS = tuple(10.0 ** np.arange(-3, 4))  # logistic regression's inverse L2 strengths
REPS = ("whole", "windows")
CLFS = ("1nn", "logistic")


# -- data ---------------------------------------------------------------------------------------
def load(name: str, split: str):
    from aekit.data import read_ts

    folder, stem = SETS[name]
    x, y = read_ts(UCR / folder / f"{stem}_{split}.ts")
    return np.asarray(x, np.float32), y


def znorm(x: np.ndarray) -> np.ndarray:
    """Each series and channel to mean 0, sd 1 over time (a constant channel to 0)."""
    sd = x.std(1, keepdims=True)
    return (x - x.mean(1, keepdims=True)) / np.where(sd > 0, sd, 1.0)


def published(method: str, name: str) -> tuple[float, float] | None:
    """(official split, mean of the 30 resamples) test accuracy, or None when not in the file."""
    with open(UCR / "published-accuracy" / f"{method}_accuracy.csv") as f:
        for row in csv.reader(f):
            if row and row[0] == name:
                acc = np.asarray(row[1:], float)
                return float(acc[0]), float(acc.mean())
    return None


def window_length(t: int) -> tuple[int, int]:
    w = min(t, max(8, round(t / 4)))
    return w, max(1, w // 4)


# -- classifiers --------------------------------------------------------------------------------
def nn1(ztr, ytr, zte) -> np.ndarray:
    d = (zte ** 2).sum(1)[:, None] - 2 * zte @ ztr.T + (ztr ** 2).sum(1)[None]
    return ytr[d.argmin(1)]


def logistic(ztr, ytr, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folds = StratifiedKFold(min(5, np.unique(ytr, return_counts=True)[1].min()), shuffle=True, random_state=seed)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return GridSearchCV(pipe, {"logisticregression__C": CS}, cv=folds).fit(ztr, ytr)


def cv_accuracy(ztr, ytr, clf: str, seed: int) -> float:
    """Stratified 5-fold accuracy on the training codes (logistic: C chosen inside each fold)."""
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(min(5, np.unique(ytr, return_counts=True)[1].min()), shuffle=True, random_state=seed)
    hits = 0
    for a, b in folds.split(ztr, ytr):
        pred = nn1(ztr[a], ytr[a], ztr[b]) if clf == "1nn" else logistic(ztr[a], ytr[a], seed).predict(ztr[b])
        hits += int((pred == ytr[b]).sum())
    return hits / len(ytr)


# -- the autoencoder ----------------------------------------------------------------------------
def train_ae(x: np.ndarray, seed: int, s: dict):
    """An AE of setting ``s`` on samples x (N, L, C), trained for about ``s["steps"]`` optimizer steps."""
    import torch

    import aekit
    from aekit.registry import get_model_class

    torch.manual_seed(seed)
    model = get_model_class(s["family"])(input_shape=tuple(x.shape[1:]), arch=s["arch"], channels=s["channels"],
                                         net_options=dict(s["net_options"]), latent_dim=s["latent_dim"],
                                         output=s["output"])
    bs = min(s["batch_size"], len(x))
    epochs = max(1, round(s["steps"] / int(np.ceil(len(x) / bs))))
    trainer = aekit.Trainer(epochs=epochs, batch_size=bs, lr=s["lr"], val_split=0, seed=seed, progress=False,
                            device="cpu")
    trainer.fit(model, x)
    return model.eval(), trainer.history[-1]["train_loss"], epochs


def series_codes(model, xs: np.ndarray, rep: str) -> np.ndarray:
    from aekit.data.windows import Windows
    from aekit.tasks.common import codes

    if rep == "whole":
        return codes(model, xs).numpy().astype(np.float64)
    w, stride = window_length(xs.shape[1])
    wins = [np.asarray(Windows(s, w, stride)) for s in xs]  # each (n_w, W, C)
    z = codes(model, np.concatenate(wins)).numpy().astype(np.float64)
    bounds = np.cumsum([0] + [len(a) for a in wins])
    return np.stack([z[bounds[i]:bounds[i + 1]].mean(0) for i in range(len(xs))])


def run_set(name: str, seeds: list[int], setting: dict, cv_only: bool) -> dict:
    from aekit.data import Preprocessor
    from aekit.data.windows import Windows

    xtr, ytr = load(name, "TRAIN")
    pre = Preprocessor.fit(xtr, "none", channel_norm=True, channel_axis=-1)
    str_ = pre.transform(xtr).astype(np.float32)
    out: dict = {"set": name, "n_train": len(xtr), "T": xtr.shape[1], "C": xtr.shape[2],
                 "classes": int(len(np.unique(ytr))), "window": window_length(xtr.shape[1]), "seeds": []}
    # 1-NN baselines on the raw series: z-normalized per series and channel (UCR), and as the AE
    # reads them (per-channel standardization fitted on train); 5-fold CV on train, then test
    flat = lambda a: a.reshape(len(a), -1).astype(np.float64)  # noqa: E731
    out["raw_1nn_cv"] = cv_accuracy(flat(znorm(xtr)), ytr, "1nn", 0)
    out["std_1nn_cv"] = cv_accuracy(flat(str_), ytr, "1nn", 0)
    if not cv_only:
        xte, yte = load(name, "TEST")
        ste = pre.transform(xte).astype(np.float32)
        out["n_test"] = len(xte)
        out["raw_1nn"] = float((nn1(flat(znorm(xtr)), ytr, flat(znorm(xte))) == yte).mean())
        out["std_1nn"] = float((nn1(flat(str_), ytr, flat(ste)) == yte).mean())
    for seed in seeds:
        row: dict = {"seed": seed}
        for rep in REPS:
            t = time.perf_counter()
            if rep == "whole":
                samples = str_
            else:
                w, stride = window_length(xtr.shape[1])
                samples = np.concatenate([np.asarray(Windows(s, w, stride)) for s in str_])
            model, loss, epochs = train_ae(samples, seed, setting)
            ztr = series_codes(model, str_, rep)
            row[f"{rep}_fit_s"] = time.perf_counter() - t
            row[f"{rep}_loss"], row[f"{rep}_epochs"], row[f"{rep}_samples"] = loss, epochs, len(samples)
            for clf in CLFS:
                row[f"{rep}_{clf}_cv"] = cv_accuracy(ztr, ytr, clf, seed)
            if not cv_only:
                zte = series_codes(model, ste, rep)
                row[f"{rep}_1nn"] = float((nn1(ztr, ytr, zte) == yte).mean())
                lr = logistic(ztr, ytr, seed)
                row[f"{rep}_logistic"] = float((lr.predict(zte) == yte).mean())
                row[f"{rep}_logistic_C"] = float(lr.best_params_["logisticregression__C"])
        # the CV choice: best train-CV accuracy, ties to the earlier entry of REPS × CLFS
        best = max(((r, c) for r in REPS for c in CLFS), key=lambda rc: row[f"{rc[0]}_{rc[1]}_cv"])
        row["cv_choice"] = f"{best[0]}/{best[1]}"
        if not cv_only:
            row["cv_chosen"] = row[f"{best[0]}_{best[1]}"]
        out["seeds"].append(row)
        print(f"  {name} seed {seed}: " + " ".join(
            f"{k}={v:.3f}" for k, v in row.items() if isinstance(v, float) and not k.endswith(("_s", "_loss", "_C")))
              + f" choice={row['cv_choice']} fit={row['whole_fit_s']:.0f}+{row['windows_fit_s']:.0f}s", flush=True)
    for m in ("HC2", "InceptionTime"):
        out[m] = published(m, name)
    return out


def mean_sd(rows: list[dict], key: str) -> tuple[float, float]:
    v = np.asarray([r[key] for r in rows], float)
    return float(v.mean()), float(v.std())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=SETTING["steps"])
    ap.add_argument("--latent", type=int, default=SETTING["latent_dim"], help="code size (ablation)")
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 seed, 60 steps")
    ap.add_argument("--cv-only", action="store_true", help="train-split cross-validation only; test files not read")
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    seeds = [0] if args.quick else list(range(args.seeds))
    steps = 60 if args.quick else args.steps
    setting = {**SETTING, "latent_dim": args.latent, "steps": steps}
    t_all = time.perf_counter()
    results = []
    for name in args.sets:
        t = time.perf_counter()
        results.append(run_set(name, seeds, setting, args.cv_only))
        results[-1]["seconds"] = time.perf_counter() - t
    total = time.perf_counter() - t_all
    result = {"command": command("ucr_represent.py", argv), "machine": machine(), "setting": setting,
              "seeds": seeds, "cv_only": args.cv_only, "sets": results, "seconds_total": total}
    pct = lambda v: f"{100 * v:.1f}"  # noqa: E731
    pm = lambda rows, k: "{} ± {}".format(*map(pct, mean_sd(rows, k)))  # noqa: E731
    if args.cv_only:
        lines = ["Train-split 5-fold CV accuracy (%), mean ± sd over seeds; the test split was not read.", "",
                 "| set | raw 1-NN | std 1-NN | whole 1-NN | whole logistic | windows 1-NN | windows logistic |",
                 "|---|---|---|---|---|---|---|"]
        for r in results:
            s = r["seeds"]
            lines.append(f"| {r['set']} | {pct(r['raw_1nn_cv'])} | {pct(r['std_1nn_cv'])} | " + " | ".join(
                pm(s, f"{rep}_{c}_cv") for rep in REPS for c in CLFS) + " |")
    else:
        lines = ["Test accuracy (%), mean ± sd over seeds; `aekit (CV)` = representation and classifier chosen by "
                 "5-fold CV on the training codes. Published: official split / mean of 30 resamples.", "",
                 "| set | raw 1-NN (z-norm, ED) | std 1-NN | aekit (CV) | whole 1-NN | whole logistic | windows 1-NN | "
                 "windows logistic | CV choices | HC2 | InceptionTime |",
                 "|---|---|---|---|---|---|---|---|---|---|---|"]
        keys = ["cv_chosen"] + [f"{rep}_{c}" for rep in REPS for c in CLFS]
        wins = {k: 0 for k in keys}  # seed-mean above raw 1-NN (z-normalized, the baseline)
        wins_both = {k: 0 for k in keys}  # … above both raw baselines (z-normalized and standardized)
        for r in results:
            s = r["seeds"]
            for k in keys:
                wins[k] += mean_sd(s, k)[0] > r["raw_1nn"]
                wins_both[k] += mean_sd(s, k)[0] > max(r["raw_1nn"], r["std_1nn"])
            choices = ", ".join(sorted({x["cv_choice"] for x in s}))
            pub = [f"{pct(p[0])} / {pct(p[1])}" if p else "not in folder" for p in (r["HC2"], r["InceptionTime"])]
            lines.append(f"| {r['set']} | {pct(r['raw_1nn'])} | {pct(r['std_1nn'])} | {pm(s, 'cv_chosen')} | " + " | ".join(
                pm(s, f"{rep}_{c}") for rep in REPS for c in CLFS) + f" | {choices} | {pub[0]} | {pub[1]} |")
        lines += ["", f"Sets where the seed-mean beats raw 1-NN (of {len(results)}): "
                  + ", ".join(f"{k} {v}" for k, v in wins.items()),
                  "Sets where it beats both raw 1-NN and std 1-NN: " + ", ".join(f"{k} {v}" for k, v in wins_both.items())]
        result["wins_over_raw_1nn"], result["wins_over_both_1nn"] = wins, wins_both
    write_results("ucr_represent", args.tag, result, lines)
    print(f"total {total:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
