"""Benchmark S1: SKAB (Skoltech Anomaly Benchmark v0.9), its published outlier-detection protocol.

Protocol (waico/SKAB: ``core/utils.py`` ``preprocess_skab``, the notebooks, ``core/metrics.py``
``chp_score(metric="binary")``): each of the 34 labelled runs is split in time, the first 400
rows train (labels unused, including run other/2's 296 anomalous training rows) and the rest
test; each method is fitted per run on its 400 training rows, with any scaling fitted on them
and any threshold taken from training residuals only. Predictions are 0/1 per test row; TP,
FP, FN, TN are summed over the test rows of all 34 runs (no changepoint tolerance windows in
the binary metric) and F1 = TP / (TP + (FN + FP) / 2), FAR = FP / (FP + TN), MAR = FN / (FN + TP).

Methods, side by side in the same run:
  aekit          aekit.SeriesDetector(random_state=0): every default (ae family, tcn network,
                 window "auto", 30 epochs, POT threshold at risk 1e-3 from training scores)
  aekit-<fam>    SeriesDetector(model=<fam>, epochs=--family-epochs), default network
  aekit-lstm     SeriesDetector(arch="lstm", epochs=--family-epochs): an LSTM autoencoder
  skab-convae    a PyTorch port of SKAB's Conv_AE and its notebook's rule (window 60, UCL =
                 1.333 x the 0.999 quantile of training-window residuals, a row flagged when the
                 59 windows before it all exceed the UCL)
  pca-t2q        a port of SKAB's T2(scaling=True, using_pca=True) + notebook (85% variance,
                 p 0.999, median filter of 5, flagged when T2 or Q passes its control limit)
  iforest        SKAB's notebook: IsolationForest(random_state=0, contamination=0.0005) on the
                 raw rows, its 0/1 labels median-filtered over 3 rows
  zscore         no model: the mean squared z-score of each row, POT threshold as aekit's default
  all-ones       every test row flagged (what F1 rewards on a test part that is 54% anomalous)

Ablations on the default detector's scores (same fitted models, other threshold rules):
  aekit|skab-ucl   UCL = 4/3 x the 0.999 quantile of the training scores (SKAB Conv-AE's rule)
  aekit|q0.99      the 0.99 quantile of the training scores (SeriesDetector(threshold="quantile"))
and persistence filters on its flags, with the detector's own window w:
  aekit|min-length-w         flagged runs shorter than w steps dropped (aekit's events(min_length=w))
  aekit|gap-w+min-length-w   runs at most w steps apart merged first (min_gap=w), then the same
  aekit|causal-min-w         a step flagged when the last w scores all pass (Conv-AE's rule on
                             aekit's per-step score)

Ablations that retrain (only with --only NAME): aekit-w60 SeriesDetector(window=60), SKAB's
Conv-AE window; aekit-mlp SeriesDetector(arch="mlp"); aekit-e100 SeriesDetector(epochs=100); aekit-z64
SeriesDetector(latent_dim=64) (the default code is 8 numbers per window);
aekit-es SeriesDetector(epochs=150, trainer_options={"val_split": 0.2, "early_stopping": 10}), i.e.
stopped on the last 20% of the training windows; aekit-recon SeriesDetector(score="recon") (each
step scored by its own squared errors in the windows covering it, the default until 2026-12-06,
not by its windows' whole-window scores);
aekit-wabs-{mean,max,min} the default detector re-scored by SKAB Conv-AE's window residual (sum over
channels of the mean |error| over the window), a step scored by the mean / max / min of the windows
covering it, the POT threshold fitted on the training rows' scores of the same kind;
skab-convae-8ch the Conv-AE port with one output channel per input channel; aekit-convnet
SeriesDetector(arch="skab-conv", window=60, latent_dim=240): the same network (8 outputs)
registered as an aekit network, with aekit's training, window score and POT threshold.

Label-free check of every threshold: the anomaly-free run (9,405 rows) cut into --free-chunks
consecutive chunks of 1,150 rows, each split 400 / 750 the same way; the false-alarm rate on
its 750-row test parts uses no SKAB label.

    python benchmarks/skab.py                 # full run
    python benchmarks/skab.py --quick         # smoke run: 3 runs, 2 epochs, 1 anomaly-free chunk
    python benchmarks/skab.py --only aekit aekit-e100 aekit-es aekit-w60 aekit-mlp aekit-z64 skab-convae-8ch \\
        --tag _ablations
    python benchmarks/skab.py --only aekit --tag _postfilters   # the default and the ablations on its scores

Writes benchmarks/results/skab{tag}.{json,md}. Run with OMP_NUM_THREADS=1.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _common import DATA, command, machine, write_results

SKAB = DATA / "timeseries" / "skab" / "data"
TRAIN = 400
FAMILIES = ("ae", "vae", "dae", "sparse", "usad", "lstm")


def skab_runs(root: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, values (T, 8), labels (T,)) of the 34 labelled runs, valve1, valve2, other."""
    import aekit

    out = []
    for group in ("valve1", "valve2", "other"):
        for f in sorted((root / group).glob("*.csv"), key=lambda p: int(p.stem)):
            s = aekit.read_series(f)
            out.append((f"{group}/{f.stem}", s.values.astype(np.float64), s.labels.astype(int)))
    return out


def free_chunks(root: Path, n: int, size: int = 1150) -> list[tuple[str, np.ndarray, np.ndarray]]:
    import aekit

    v = aekit.read_series(root / "anomaly-free" / "anomaly-free.csv").values.astype(np.float64)
    return [(f"free/{i}", v[i * size:(i + 1) * size], np.zeros(size, int)) for i in range(min(n, len(v) // size))]


def binary(pairs) -> dict:
    """SKAB's chp_score(metric="binary") over (labels, predictions) of every run, unrounded."""
    tp = fp = fn = tn = 0
    for y, p in pairs:
        y, p = y == 1, p == 1
        tp += int((y & p).sum())
        fp += int((~y & p).sum())
        fn += int((y & ~p).sum())
        tn += int((~y & ~p).sum())
    return {"f1": tp / (tp + (fn + fp) / 2) if tp + fn + fp else 0.0, "far": 100 * fp / max(fp + tn, 1),
            "mar": 100 * fn / max(fn + tp, 1), "tp": tp, "fp": fp, "fn": fn, "tn": tn}


# -- aekit -------------------------------------------------------------------------------------
def aekit_method(ablations=False, **kw):
    def run(xtr, xte):
        import aekit

        det = aekit.SeriesDetector(random_state=0, **kw).fit(xtr.astype(np.float32))
        s = det.anomaly_score(xte.astype(np.float32))
        tr = det.train_scores_
        preds = {"": s > det.threshold_}  # exactly det.predict(xte), without scoring twice
        if ablations:  # the ablations, on the default detector's scores
            from aekit.tasks.thresholds import quantile_threshold

            preds["|skab-ucl"] = s > np.quantile(tr, 0.999) * 4 / 3
            preds["|q0.99"] = s > quantile_threshold(tr, 0.01)
            # persistence filters with the detector's own window w, on the same scores and threshold
            w, flags = det.window_, s > det.threshold_
            preds["|min-length-w"] = event_flags(flags, s, min_length=w)
            preds["|gap-w+min-length-w"] = event_flags(flags, s, min_gap=w, min_length=w)
            preds["|causal-min-w"] = rolling_min(s, w) > det.threshold_  # Conv-AE's rule on aekit's score
        held = int(round(det.val_fraction * len(xtr)))  # the rows SeriesDetector held out of fitting
        info = {"window": det.window_, "threshold": det.threshold_, "epochs_run": len(det.history_),
                "train_loss": float(det.history_[-1]["train_loss"]), "score_kind": det.score_kind_,
                "heldout_score": float(tr[-held:].mean()), "fit_score": float(tr[:-held].mean())}
        return preds, s, info
    return run


def aekit_window_fold(how: str):
    """The default detector re-scored by whole-window residuals: each window's error
    sum_c mean_t |x − x̂| (SKAB Conv-AE's residual), folded onto a step by the ``how``
    (mean / max / min) of the windows covering it; the threshold is the default's (POT) fitted on
    the training rows' folded scores."""
    def window_residuals(det, values):
        import torch

        from aekit.data.windows import Windows

        wins, model, out = Windows(det._scale(values.astype(np.float32)), det.window_), det.model_, []
        with torch.inference_mode():
            model.eval()
            for xb in wins.batches(1024):
                x = model.check_input(torch.from_numpy(np.ascontiguousarray(xb)))
                out.append((x - model.reconstruct(x).reshape(x.shape)).abs().mean(1).sum(1).double().numpy())
        return np.concatenate(out)

    def fold(r, w, n):  # row t: the windows starting at t − w + 1 .. t that exist
        pad = np.concatenate([np.full(w - 1, np.nan), r, np.full(w - 1, np.nan)])
        return {"mean": np.nanmean, "max": np.nanmax, "min": np.nanmin}[how](
            np.lib.stride_tricks.sliding_window_view(pad, w)[:n], axis=1)

    def run(xtr, xte):
        import aekit

        det = aekit.SeriesDetector(random_state=0).fit(xtr.astype(np.float32))
        w = det.window_
        threshold = det._fit_threshold(fold(window_residuals(det, xtr), w, len(xtr)))
        s = fold(window_residuals(det, xte), w, len(xte))
        return {"": s > threshold}, s, {"window": w, "threshold": threshold}
    return run


def event_flags(flags, scores, **kw) -> np.ndarray:
    """``flags`` after aekit's event rules (``aekit.tasks.thresholds.events``: runs closer than
    ``min_gap`` merged, runs shorter than ``min_length`` dropped), back as one flag per step."""
    from aekit.tasks.thresholds import events

    out = np.zeros(len(flags), bool)
    for e in events(flags, scores, **kw):
        out[e.start:e.end + 1] = True
    return out


def rolling_min(x, w: int) -> np.ndarray:
    """Minimum of the last w values (−inf for the first w − 1 steps)."""
    out = np.full(len(x), -np.inf)
    if len(x) >= w:
        out[w - 1:] = np.lib.stride_tricks.sliding_window_view(np.asarray(x, float), w).min(axis=1)
    return out


# -- SKAB's Conv-AE, ported ---------------------------------------------------------------------
def convae_layers(c: int, out_channels: int):
    """SKAB Conv-AE's layers, (encoder, decoder) as two ``nn.Sequential``: two stride-2
    convolutions from ``c`` channels to 16, and the mirrored transposed convolutions to
    ``out_channels``; (B, C, n) → (B, 16, n/4) → (B, out_channels, n)."""
    from torch import nn

    encoder = nn.Sequential(nn.Conv1d(c, 32, 7, 2, 3), nn.ReLU(), nn.Dropout(0.2), nn.Conv1d(32, 16, 7, 2, 3), nn.ReLU())
    decoder = nn.Sequential(
        nn.ConvTranspose1d(16, 16, 7, 2, 3, output_padding=1), nn.ReLU(), nn.Dropout(0.2),
        nn.ConvTranspose1d(16, 32, 7, 2, 3, output_padding=1), nn.ReLU(), nn.ConvTranspose1d(32, out_channels, 7, 1, 3))
    return encoder, decoder


def convae(xtr, xte, n=60, q=0.999, factor=4 / 3, out_channels=1):
    """core/Conv_AE.py + notebooks/Conv_AE.ipynb. The network ends in one output channel that
    the Keras MSE loss broadcasts against the 8 input channels; kept as published
    (``out_channels=8`` is the ablation with one output per input channel)."""
    import torch
    from sklearn.preprocessing import StandardScaler
    from torch import nn

    sc = StandardScaler().fit(xtr)
    seq = lambda v: np.stack([v[i:i + n] for i in range(len(v) - n + 1)]).astype(np.float32)  # noqa: E731
    X = torch.from_numpy(seq(sc.transform(xtr))).transpose(1, 2)  # (N, C, n)
    c = X.shape[1]
    torch.manual_seed(0)
    encoder, decoder = convae_layers(c, out_channels)
    net = nn.Sequential(*encoder, *decoder)  # one flat stack: the initialization below visits every layer
    for m in net:  # Keras initialization: Glorot-uniform kernels, zero biases
        if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    nval = int(len(X) * 0.1)  # Keras validation_split: the last 10%, unshuffled
    xt, xv = X[:-nval], X[-nval:]
    best, wait = np.inf, 0
    for _ in range(100):  # EarlyStopping(val_loss, patience 5), last weights kept
        net.train()
        for idx in torch.randperm(len(xt)).split(32):
            loss = ((net(xt[idx]) - xt[idx]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            v = float(((net(xv) - xv) ** 2).mean())
        if v < best:
            best, wait = v, 0
        else:
            wait += 1
            if wait >= 5:
                break

    def residuals(x):
        with torch.no_grad():
            return (x - net(x)).abs().mean(2).sum(1).numpy()  # sum over channels of mean |error| over time

    ucl = np.quantile(residuals(X), q) * factor
    r = residuals(torch.from_numpy(seq(sc.transform(xte))).transpose(1, 2))
    pred = np.zeros(len(xte), bool)
    score = np.full(len(xte), -np.inf)
    for i in range(n - 1, len(r) - n + 1):  # row i flagged when windows i-n+1 .. i-1 all pass
        score[i] = r[i - n + 1:i].min()
        pred[i] = score[i] > ucl
    score[~np.isfinite(score)] = score[np.isfinite(score)].min()
    return {"": pred}, score, {"window": n, "threshold": float(ucl)}


def register_convae_network() -> None:
    """SKAB Conv-AE's network (its 8-output form, :func:`convae_layers`) as an aekit network,
    ``skab-conv``: its (16, W/4) feature map is the code itself, flattened (no dense
    bottleneck), with PyTorch's default initialization (the port above draws Keras's). The
    window must be a multiple of 4 and ``latent_dim`` = 16·W/4."""
    from torch import nn

    import aekit
    from aekit.nets.registry import NETWORKS

    if "skab-conv" in NETWORKS:
        return

    class Encoder(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):  # (B, W, C) → (B, 16·W/4)
            return self.net(x.transpose(1, 2)).flatten(1)

    class Decoder(nn.Module):
        def __init__(self, net, length):
            super().__init__()
            self.net, self.length = net, length

        def forward(self, z):  # (B, 16·W/4) → (B, W, C)
            return self.net(z.view(len(z), 16, self.length)).transpose(1, 2)

    @aekit.register_network("skab-conv", description="SKAB's Conv-AE network, its feature map as the code")
    def skab_conv(input_shape, code_dim, latent_dim):
        w, c = input_shape
        if w % 4 or code_dim != 16 * w // 4:
            raise ValueError(f"skab-conv: needs a window divisible by 4 and latent_dim = 16·W/4 = {16 * w // 4}")
        encoder, decoder = convae_layers(c, c)
        return Encoder(encoder), Decoder(decoder, w // 4)


def aekit_convnet(**kw):
    """The default detector (window score, POT threshold) on SKAB Conv-AE's network at its window of 60."""
    inner = aekit_method(True, arch="skab-conv", window=60, latent_dim=16 * 15, **kw)

    def run(xtr, xte):
        register_convae_network()  # a user network, registered where the detector is built
        return inner(xtr, xte)
    return run


def rolling_median(x, w: int) -> np.ndarray:
    """pandas' Series(x).rolling(w).median(): NaN for the first w - 1 rows."""
    out = np.full(len(x), np.nan)
    if len(x) >= w:
        out[w - 1:] = np.median(np.lib.stride_tricks.sliding_window_view(np.asarray(x, float), w), axis=1)
    return out


# -- SKAB's T2 + Q (PCA) ------------------------------------------------------------------------
def t2q(xtr, xte, ev=0.85, p=0.999, w=5):
    """core/t2.py T2(scaling=True, using_pca=True) + notebooks/t2_with_q_SKAB.ipynb, formulas as
    published (including its Q limit, which raises the residual eigenvalue sum to the powers)."""
    import scipy.stats as ss
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    keep = (xtr != xtr[0]).any(0)
    xtr, xte = xtr[:, keep], xte[:, keep]
    scaler = StandardScaler().fit(xtr)
    a, b = scaler.transform(xtr), scaler.transform(xte)
    pca = PCA(n_components=ev).fit(a)
    m, n = pca.n_components_, len(a)
    lin = np.linspace(0, 15, 10000)
    t2_ucl = m * (n - 1) * (n + 1) / (n * (n - m)) * lin[ss.f.cdf(lin, m, n - m) < p][-1]
    med = lambda s: rolling_median(s, w)  # noqa: E731
    if m == a.shape[1]:  # Q is not defined: T2 alone, as core/t2.py does
        t2 = med(np.einsum("ti,ij,tj->t", b, np.linalg.inv(np.cov(a.T)), b))
        q, q_ucl = np.zeros(len(b)), np.inf
    else:
        inv_cov = np.linalg.inv(np.cov(pca.transform(a).T))
        z = pca.transform(b)
        t2 = med(np.einsum("ti,ij,tj->t", z, inv_cov, z))
        ev_ = pca.components_.T
        rc = np.eye(len(ev_)) - ev_ @ ev_.T
        q = med(np.einsum("ti,ij,tj->t", b, rc, b))
        s = float(np.real(np.linalg.eig(np.cov(a.T))[0][m:]).sum())
        t1, t2_, t3 = s, s ** 2, s ** 3
        h0 = 1 - 2 * t1 * t3 / (3 * t2_ ** 2)
        c = lin[ss.norm.cdf(lin) < p][-1]
        q_ucl = t1 * (1 + c * h0 * np.sqrt(2 * t2_) / t1 + t2_ * h0 * (h0 - 1) / t1 ** 2) ** (1 / h0)
    with np.errstate(invalid="ignore"):
        pred = (t2 > t2_ucl) | (q > q_ucl)
    score = np.nan_to_num(np.maximum(t2 / t2_ucl, q / q_ucl), nan=0.0)
    return {"": pred}, score, {"components": int(m)}


def iforest(xtr, xte):
    from sklearn.ensemble import IsolationForest

    m = IsolationForest(random_state=0, contamination=0.0005).fit(xtr)
    # pd.Series(predict * -1).rolling(3).median().fillna(0).replace(-1, 0): 1 = anomaly
    pred = np.nan_to_num(rolling_median(m.predict(xte) * -1.0, 3), nan=0.0) == 1
    return {"": pred}, -m.score_samples(xte), {}


def zscore(xtr, xte):
    """No model: the mean squared z-score of a row (standardized on the training rows), with
    SeriesDetector's default threshold rule (POT, risk 1e-3, level 0.95) on the training rows."""
    from aekit.tasks.thresholds import pot_threshold

    mu, sd = xtr.mean(0), xtr.std(0)
    sd[sd == 0] = 1.0
    tr, te = (((xtr - mu) / sd) ** 2).mean(1), (((xte - mu) / sd) ** 2).mean(1)
    t = pot_threshold(tr, risk=1e-3, level=0.95)
    return {"": te > t}, te, {"threshold": float(t)}


def all_ones(xtr, xte):
    return {"": np.ones(len(xte), bool)}, np.zeros(len(xte)), {}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(SKAB))
    ap.add_argument("--family-epochs", type=int, default=10, help="epochs of the aekit-<family> detectors")
    ap.add_argument("--families", nargs="*", default=list(FAMILIES), help=f"of {', '.join(FAMILIES)}")
    ap.add_argument("--free-chunks", type=int, default=8, help="anomaly-free chunks for the label-free FAR")
    ap.add_argument("--runs", type=int, default=0, help="only the first N runs (0 = all 34)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 3 runs, 2 epochs, 1 anomaly-free chunk")
    ap.add_argument("--only", nargs="*", help="run only these methods (names in the table; the ablations "
                    "aekit-w60, aekit-mlp, aekit-e100, aekit-z64, aekit-es, aekit-recon, aekit-wabs-{mean,max,min}, "
                    "skab-convae-8ch run only when named here)")
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    import torch

    from aekit.data.series import auto_window
    from aekit.metrics import auc_roc, vus_pr

    runs = skab_runs(Path(args.data))
    fam_epochs, n_free = args.family_epochs, args.free_chunks
    if args.quick:
        runs, fam_epochs, n_free = runs[:3], 2, 1
    elif args.runs:
        runs = runs[:args.runs]
    free = free_chunks(Path(args.data), n_free)
    quick = {"epochs": 2} if args.quick else {}
    methods = {"aekit": aekit_method(True, **quick)}
    for fam in args.families:
        kw = {"arch": "lstm"} if fam == "lstm" else {"model": fam}
        methods[f"aekit-{fam}"] = aekit_method(epochs=fam_epochs, **kw)
    methods.update({"skab-convae": convae, "pca-t2q": t2q, "iforest": iforest, "zscore": zscore,
                    "all-ones": all_ones})
    ablations = {"aekit-w60": aekit_method(window=60, **quick), "aekit-mlp": aekit_method(arch="mlp", **quick),
                 "aekit-e100": aekit_method(epochs=2 if args.quick else 100),
                 "aekit-z64": aekit_method(latent_dim=64, **quick),
                 "aekit-es": aekit_method(epochs=2 if args.quick else 150,
                                          trainer_options={"val_split": 0.2, "early_stopping": 10}),
                 "aekit-recon": aekit_method(score="recon", **quick),
                 **{f"aekit-wabs-{h}": aekit_window_fold(h) for h in ("mean", "max", "min")},
                 "skab-convae-8ch": lambda a, b: convae(a, b, out_channels=8),
                 "aekit-convnet": aekit_convnet(**quick)}
    if args.only:
        every = {**methods, **ablations}
        unknown = [m for m in args.only if m not in every]
        if unknown:
            ap.error(f"--only: unknown {', '.join(unknown)}; choose from {', '.join(every)}")
        methods = {m: every[m] for m in args.only}

    pairs, free_pairs, per_run, times, cpu = {}, {}, [], {}, {}
    t_all = time.perf_counter()
    for name, values, labels in runs + free:
        xtr, xte, y = values[:TRAIN], values[TRAIN:], labels[TRAIN:]
        is_free = name.startswith("free/")
        win = auto_window(values)  # the metric's window (TSB-AD's period finder), the same for every method
        row = {"run": name, "n_test": len(y), "anomalies": int(y.sum()), "metric_window": int(win)}
        for mname, fn in methods.items():
            t0, c0 = time.perf_counter(), time.process_time()
            torch.manual_seed(0)
            preds, score, info = fn(xtr, xte)
            times[mname] = times.get(mname, 0.0) + time.perf_counter() - t0
            cpu[mname] = cpu.get(mname, 0.0) + time.process_time() - c0
            for suffix, p in preds.items():
                (free_pairs if is_free else pairs).setdefault(mname + suffix, []).append((y, p.astype(int)))
                row[f"{mname}{suffix}:flagged"] = int(p.sum())
            if not is_free and mname != "all-ones":
                row[f"{mname}:auc_roc"] = auc_roc(y, score)
                row[f"{mname}:vus_pr"] = vus_pr(y, score, window=win)
            row.update({f"{mname}:{k}": v for k, v in info.items()})
        per_run.append(row)
        print(f"{name:<10} " + " ".join(f"{k.split(':')[0]}={v:.3f}" for k, v in row.items()
                                        if k.endswith(":auc_roc")), flush=True)
    total = time.perf_counter() - t_all

    table = {}
    for m in pairs:
        base = m.split("|")[0]
        r = binary(pairs[m])
        r["free_far"] = binary(free_pairs[m])["far"] if m in free_pairs and free_pairs[m] else float("nan")
        scored = [row for row in per_run if f"{base}:auc_roc" in row]
        r["auc_roc"] = float(np.mean([row[f"{base}:auc_roc"] for row in scored])) if scored else float("nan")
        r["vus_pr"] = float(np.mean([row[f"{base}:vus_pr"] for row in scored])) if scored else float("nan")
        if any(f"{base}:heldout_score" in row for row in per_run):  # label-free: the training rows only
            for k in ("heldout_score", "fit_score", "train_loss", "epochs_run"):
                r[k] = float(np.mean([row[f"{base}:{k}"] for row in per_run if f"{base}:{k}" in row]))
        table[m] = r
    result = {"command": command("skab.py", argv), "machine": machine(), "runs": len(runs),
              "free_chunks": len(free), "family_epochs": fam_epochs, "table": table, "per_run": per_run,
              "seconds_total": total, "seconds_per_method": times, "cpu_seconds_per_method": cpu}
    lines = ["| method | F1 | FAR % | MAR % | FAR % anomaly-free | AUC-ROC (mean/run) | VUS-PR (mean/run) "
             "| train loss | held-out score | epochs |", "|---|---|---|---|---|---|---|---|---|---|"]
    for m, r in table.items():
        own = m.split("|")[0] == m
        lines.append(f"| {m} | {r['f1']:.3f} | {r['far']:.2f} | {r['mar']:.2f} | {r['free_far']:.2f} | "
                     + (f"{r['auc_roc']:.3f} | {r['vus_pr']:.3f} |" if own else "(same scores) | |")
                     + (f" {r['train_loss']:.3f} | {r['heldout_score']:.3f} | {r['epochs_run']:.0f} |"
                        if own and "train_loss" in r else " | | |"))
    write_results("skab", args.tag, result, lines)
    print(f"total {total:.0f} s; per method (wall / cpu) "
          + ", ".join(f"{k} {times[k]:.0f}/{cpu[k]:.0f} s" for k in times))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
