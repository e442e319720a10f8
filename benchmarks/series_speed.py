"""Series speed: windows/s of training and scoring each sequence network against a plain
PyTorch loop over the same network, on a long synthetic series, and the peak memory of
scoring the whole series (the claim: O(T·C), not growing with the window).

    python benchmarks/series_speed.py            # 10^6 steps × 8 channels, W = 64, 3 reps (~10 min, idle 2 cores)
    python benchmarks/series_speed.py --quick    # smoke run: 10^5 steps, 1 rep (tag _quick)
    python benchmarks/series_speed.py --nets tcn,mlp --reps 5 --length 200000 --window 128 --channels 4

The series: ``--length`` steps × ``--channels`` channels, three sines of random periods
(16 to 512 steps), amplitudes and phases per channel plus Gaussian noise (σ 0.1), seeded,
min-max scaled per channel to [0, 1] (the default AE's output is a sigmoid).

Per network (``--nets``; each ``aekit.AE(input_shape=(W, C), arch=NET, latent_dim=16)`` with
every other option at its default — hidden (256,): the recurrent networks are 256 wide):

* training, aekit: ``aekit.Trainer(epochs=1, batch_size=64, val_split=0, progress=False)``,
  otherwise the defaults (Adam, lr 1e-3, ``fused``/``compile`` auto: eager on CPU) — the batch
  size and the validation split of ``aekit.SeriesDetector`` — fitting
  ``aekit.data.Data(x_train=Windows(series, W, stride), chronological=True)``: about
  ``--train-windows`` windows spread over the whole series (stride ⌊(T − W + 1) / n⌋), one
  epoch, timed from the data in hand to the trained model, after a warm-up fit of 10 batches
  on a throwaway model;
* training, the plain loop a user writes: the same windows materialized with
  ``np.lib.stride_tricks.sliding_window_view(series, W, axis=0)[::stride]`` copied into a
  tensor (the copy is timed), ``DataLoader(TensorDataset(windows), batch_size=64, shuffle=True)``,
  ``torch.optim.Adam(lr=1e-3)``, ``model(x).loss.backward()``, over a copy of the very model
  aekit trains (same architecture, same initial weights), after a 10-batch warm-up;
* scoring, aekit: ``aekit.tasks.series.score_series(model, series[:S], W, score="recon")`` — every window at
  stride 1, one score per step (the reconstruction error averaged over channels and over the
  windows covering the step), in the model's own chunk size;
* scoring, the plain loop: every window materialized at once with ``sliding_window_view``
  (in chunks of ``--plain-chunk`` windows when all of them would not fit in half the available
  memory; the table says which), the model in ``--plain-batch``-window batches under
  ``torch.inference_mode``, ``(model(x).recon − x)²`` averaged over channels, and folded onto
  steps with ``np.add.at`` (sums and counts). Both give the same scores (checked: max |Δ|).

Training and scoring run ``--reps`` times, aekit and plain alternating (who goes first
alternates too), and the medians are reported; a 2048² fp32 matmul's GFLOP/s, measured before
every repetition, tells how fast the machine was. Scoring rates are over the first
``--score-steps`` steps (S − W + 1 windows), not the whole series: a 10^6-step series takes
the 256-wide LSTM/GRU several minutes per pass. The whole series is scored by the memory runs
and by the folding-only rows:

* folding only (no network): random (n, W, C) window scores folded onto the T steps by
  ``aekit.data.windows.TimestepScores`` (per channel, as ``score_series`` folds them) against
  ``np.add.at`` of their channel mean, in 2048-window batches, at T and T/10 (one pass each):
  the per-window cost must not grow with T;
* memory: each run is a fresh process that makes the series, builds ``--memory-net``, scores a
  short prefix (warm-up), reads its resident set size (``VmRSS``), resets its peak
  (``/proc/self/clear_refs``), scores all T steps and reads the peak (``VmHWM``; ``ru_maxrss``
  is recorded too, but it keeps the high-water mark of the warm-up and of the parent that
  spawned the process). Reported: peak − RSS before scoring, for aekit's ``score_series`` at
  every ``--memory-windows`` W, and for the plain version holding every window at the first W
  when its T·W·C·4 bytes fit in half the available memory (else it is left out and said so).
  aekit's peak should not grow with W: O(T·C), where holding the windows is O(T·W·C).

Writes benchmarks/results/series_speed{tag}.{json,md}. On a shared machine run it with
``OMP_NUM_THREADS=1 nice -n 10`` and read the numbers as a smoke test only.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _common import command, machine, tutorial_epoch, write_results
from throughput import matmul_flops
from torch.utils.data import DataLoader, TensorDataset

import aekit
from aekit.data import Data
from aekit.data.windows import TimestepScores, Windows
from aekit.tasks.series import score_series

NETS = ("tcn", "lstm", "gru", "transformer", "mlp")
LATENT = 16
WARM_BATCHES = 10  # training warm-up
WARM_WINDOWS = 512  # scoring warm-up
FOLD_BATCH = 2048


# -- data and models ------------------------------------------------------------------------------
def make_series(length: int, channels: int, seed: int = 0) -> np.ndarray:
    """(T, C) float32: three sines per channel + noise, min-max scaled per channel to [0, 1].
    Made 10^5 steps at a time, so that making it stays O(T·C) in memory too."""
    rng = np.random.default_rng(seed)
    periods = rng.uniform(16, 512, (3, channels))
    phases = rng.uniform(0, 2 * np.pi, (3, channels))
    amps = rng.uniform(0.5, 1.5, (3, channels))
    x = np.empty((length, channels), np.float32)
    for i in range(0, length, 100_000):
        t = np.arange(i, min(i + 100_000, length), dtype=np.float64)[:, None, None]  # (n, 1, 1)
        part = (amps * np.sin(2 * np.pi * t / periods + phases)).sum(1)  # (n, C)
        x[i:i + len(t)] = part + 0.1 * rng.standard_normal(part.shape)
    lo, hi = x.min(0), x.max(0)
    x -= lo
    x /= hi - lo
    return x


def build(net: str, window: int, channels: int, seed: int = 0):
    torch.manual_seed(seed)
    return aekit.AE(input_shape=(window, channels), arch=net, latent_dim=LATENT)


def train_stride(length: int, window: int, n: int) -> int:
    return max(1, (length - window + 1) // n)


# -- training -------------------------------------------------------------------------------------
def trainer(batch: int) -> aekit.Trainer:
    return aekit.Trainer(epochs=1, batch_size=batch, val_split=0, progress=False)


def aekit_train(net: str, series: np.ndarray, window: int, stride: int, batch: int) -> float:
    """Windows/s of one epoch of aekit's Trainer on the windows at ``stride``."""
    warm = Windows(series[:window - 1 + WARM_BATCHES * batch], window)
    trainer(batch).fit(build(net, window, series.shape[1], seed=1), Data(x_train=warm, chronological=True))
    model = build(net, window, series.shape[1])
    t0 = time.perf_counter()
    data = Data(x_train=Windows(series, window, stride), chronological=True)
    trainer(batch).fit(model, data)
    return len(data.x_train) / (time.perf_counter() - t0)


def plain_epoch(model, series: np.ndarray, window: int, stride: int, batch: int, limit: int | None = None) -> int:
    """What a tutorial does: materialize the windows, TensorDataset + DataLoader(shuffle) +
    Adam + model(x).loss. Returns the number of windows."""
    view = np.lib.stride_tricks.sliding_window_view(series, window, axis=0)  # (T − W + 1, C, W), a view
    windows = torch.from_numpy(view[::stride].transpose(0, 2, 1).copy())  # (N, W, C), copied
    loader = DataLoader(TensorDataset(windows), batch_size=batch, shuffle=True)
    tutorial_epoch(model, loader, torch.optim.Adam(model.parameters(), lr=1e-3), limit)
    return len(windows)


def plain_train(net: str, series: np.ndarray, window: int, stride: int, batch: int) -> float:
    plain_epoch(build(net, window, series.shape[1], seed=1), series, window, stride, batch, limit=WARM_BATCHES)
    model = copy.deepcopy(build(net, window, series.shape[1]))  # the model aekit trains, copied
    t0 = time.perf_counter()
    n = plain_epoch(model, series, window, stride, batch)
    return n / (time.perf_counter() - t0)


# -- scoring --------------------------------------------------------------------------------------
def plain_score(model, series: np.ndarray, window: int, batch: int, chunk: int | None = None) -> np.ndarray:
    """The obvious user code: all windows materialized (or ``chunk`` at a time), the model in
    batches under inference_mode, per-step squared error averaged over channels and, with
    np.add.at, over the windows covering each step."""
    length = len(series)
    view = np.lib.stride_tricks.sliding_window_view(series, window, axis=0).transpose(0, 2, 1)  # (N, W, C) view
    n = len(view)
    sums, counts = np.zeros(length), np.zeros(length)
    offsets = np.arange(window)
    model.eval()
    step = n if chunk is None else chunk
    with torch.inference_mode():
        for c0 in range(0, n, step):
            windows = torch.from_numpy(np.ascontiguousarray(view[c0:c0 + step]))  # n·W·C·4 bytes
            for i in range(0, len(windows), batch):
                xb = windows[i:i + batch]
                err = (model(xb).recon - xb).square().mean(-1).numpy()  # (B, W)
                idx = (c0 + i + np.arange(len(xb)))[:, None] + offsets  # (B, W) steps
                np.add.at(sums, idx, err)
                np.add.at(counts, idx, 1)
            del windows
    return sums / counts


def available_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def plain_chunk(n: int, window: int, channels: int, chunk: int) -> int | None:
    """None (all windows at once) when they fit in half the available memory, else ``chunk``."""
    return None if n * window * channels * 4 <= available_bytes() // 2 else chunk


def score_pair(net: str, series: np.ndarray, window: int, plain_batch: int, chunk: int, first: str):
    """(aekit windows/s, plain windows/s, max |Δ score|, plain chunk or None), the two
    scoring the same untrained model, each after a warm-up on a short prefix."""
    model = build(net, window, series.shape[1])
    n = len(series) - window + 1
    ch = plain_chunk(n, window, series.shape[1], chunk)
    prefix = series[:window - 1 + WARM_WINDOWS]
    out, rates = {}, {}
    for who in (("aekit", "plain") if first == "aekit" else ("plain", "aekit")):
        if who == "aekit":
            score_series(model, prefix, window, score="recon")
            t0 = time.perf_counter()
            out[who] = score_series(model, series, window, score="recon")
        else:
            plain_score(model, prefix, window, plain_batch)
            t0 = time.perf_counter()
            out[who] = plain_score(model, series, window, plain_batch, ch)
        rates[who] = n / (time.perf_counter() - t0)
    return rates["aekit"], rates["plain"], float(np.abs(out["aekit"] - out["plain"]).max()), ch


# -- folding only ---------------------------------------------------------------------------------
def fold_rates(length: int, window: int, channels: int) -> tuple[float, float]:
    """Windows/s of folding random per-window scores onto ``length`` steps: aekit's
    TimestepScores (per channel, as score_series does) and np.add.at of the channel mean."""
    starts = np.arange(length - window + 1, dtype=np.int64)
    block = np.random.default_rng(0).random((FOLD_BATCH, window, channels))
    t0 = time.perf_counter()
    acc = TimestepScores(length, window, channels=channels)
    for i in range(0, len(starts), FOLD_BATCH):
        s = starts[i:i + FOLD_BATCH]
        acc.add(s, block[:len(s)])
    acc.result().mean(axis=1)
    ours = len(starts) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    sums, counts, offsets = np.zeros(length), np.zeros(length), np.arange(window)
    for i in range(0, len(starts), FOLD_BATCH):
        s = starts[i:i + FOLD_BATCH]
        idx = s[:, None] + offsets
        np.add.at(sums, idx, block[:len(s)].mean(-1))
        np.add.at(counts, idx, 1)
    sums / counts
    return ours, len(starts) / (time.perf_counter() - t0)


# -- memory (a fresh process per run) -------------------------------------------------------------
def proc_status() -> dict[str, float]:
    """VmRSS and VmHWM of this process, MiB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out


def memory_child(who: str, length: int, channels: int, window: int, net: str, plain_batch: int) -> None:
    series = make_series(length, channels)
    model = build(net, window, channels)
    prefix = series[:window - 1 + WARM_WINDOWS]
    if who == "aekit":
        score_series(model, prefix, window, score="recon")
    else:
        plain_score(model, prefix, window, plain_batch)
    gc.collect()
    before = proc_status()["VmRSS"]
    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux ≥ 4.0)
        reset = True
    except OSError:
        reset = False
    t0 = time.perf_counter()
    if who == "aekit":
        scores = score_series(model, series, window, score="recon")
    else:
        scores = plain_score(model, series, window, plain_batch)  # every window at once
    seconds = time.perf_counter() - t0
    st = proc_status()
    print(json.dumps({"who": who, "window": window, "net": net, "steps": length, "windows": length - window + 1,
                      "seconds": seconds, "rss_before_mib": before, "peak_mib": st["VmHWM"], "hwm_reset": reset,
                      "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "finite": bool(np.isfinite(scores).all())}))


def measure_memory(who: str, a, window: int) -> dict:
    cmd = [sys.executable, __file__, "--memory-child", who, "--length", str(a.length), "--channels", str(a.channels),
           "--window", str(window), "--memory-net", a.memory_net, "--plain-batch", str(a.plain_batch)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.strip():
        raise SystemExit(f"memory run {who} W={window} failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# -- the run --------------------------------------------------------------------------------------
def parse(argv: list[str] | None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: 10^5 steps, 1,000 training windows, 1 rep")
    p.add_argument("--nets", default=",".join(NETS), help=f"comma-separated networks (default {','.join(NETS)})")
    p.add_argument("--reps", type=int, default=None, help="repetitions; the median is reported (3; --quick 1)")
    p.add_argument("--length", type=int, default=None, help="steps of the series (10^6; --quick 10^5)")
    p.add_argument("--window", type=int, default=64, help="steps per window W (64)")
    p.add_argument("--channels", type=int, default=8, help="channels C (8)")
    p.add_argument("--batch", type=int, default=64, help="training batch, aekit and plain (64)")
    p.add_argument("--train-windows", type=int, default=None,
                   help="about this many training windows, spread over the series (8,000; --quick 1,000)")
    p.add_argument("--score-steps", type=int, default=None,
                   help="steps scored per rate measurement, from the start (16,000; --quick 5,000; "
                        "--score-steps LENGTH scores the whole series)")
    p.add_argument("--plain-batch", type=int, default=1024, help="the plain scoring loop's batch (1024)")
    p.add_argument("--plain-chunk", type=int, default=100_000,
                   help="windows per chunk when the plain scoring loop cannot hold them all (100,000)")
    p.add_argument("--memory-net", default="mlp", help="network of the memory runs (mlp: fastest at W = 512)")
    p.add_argument("--memory-windows", default="64,512", help="W of aekit's memory runs (64,512); the plain run "
                                                              "uses the first")
    p.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    p.add_argument("--tag", default=None, help="results file suffix (default '' or _quick)")
    p.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    q = a.quick
    a.reps = a.reps or (1 if q else 3)
    a.length = a.length or (100_000 if q else 1_000_000)
    a.train_windows = a.train_windows or (1_000 if q else 8_000)
    a.score_steps = min(a.length, a.score_steps or (5_000 if q else 16_000))
    a.tag = a.tag if a.tag is not None else ("_quick" if q else "")
    a.nets = [n.strip() for n in a.nets.split(",") if n.strip()]
    a.memory_windows = [int(w) for w in a.memory_windows.split(",")]
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse(argv)
    if a.memory_child:
        memory_child(a.memory_child, a.length, a.channels, a.window, a.memory_net, a.plain_batch)
        return 0
    t_all, loads = time.perf_counter(), [os.getloadavg()[0]]
    W, C, T = a.window, a.channels, a.length
    series = make_series(T, C)
    stride = train_stride(T, W, a.train_windows)
    n_train = len(Windows(series, W, stride))
    scored = series[:a.score_steps]
    print(f"series {T:,} × {C}, W = {W}; training on {n_train:,} windows (stride {stride}), scoring "
          f"{a.score_steps - W + 1:,} windows (first {a.score_steps:,} steps); {a.reps} rep(s)", flush=True)
    flops, rows = [], []
    for net in a.nets:
        r = {"net": net, "params": build(net, W, C).n_params(), "chunk_rows": build(net, W, C).inference_batch_size(),
             "train_aekit": [], "train_plain": [], "score_aekit": [], "score_plain": [], "max_abs_diff": []}
        for rep in range(a.reps):
            flops.append(matmul_flops())
            first = "aekit" if rep % 2 == 0 else "plain"  # who goes first alternates
            for who in (("aekit", "plain") if first == "aekit" else ("plain", "aekit")):
                fn = aekit_train if who == "aekit" else plain_train
                r[f"train_{who}"].append(fn(net, series, W, stride, a.batch))
            sa, sp, diff, ch = score_pair(net, scored, W, a.plain_batch, a.plain_chunk, first)
            r["score_aekit"].append(sa)
            r["score_plain"].append(sp)
            r["max_abs_diff"].append(diff)
            r["plain_chunk"] = ch
        for k in ("train_aekit", "train_plain", "score_aekit", "score_plain"):
            r[k + "_median"] = statistics.median(r[k])
        rows.append(r)
        loads.append(os.getloadavg()[0])
        print(f"{net}: train aekit {r['train_aekit_median']:,.0f}/s plain {r['train_plain_median']:,.0f}/s; "
              f"score aekit {r['score_aekit_median']:,.0f}/s plain {r['score_plain_median']:,.0f}/s "
              f"({time.perf_counter() - t_all:.0f} s)", flush=True)
    folds = []
    for length in (T // 10, T):
        ours, plain = fold_rates(length, W, C)
        folds.append({"steps": length, "aekit": ours, "plain": plain})
        print(f"folding {length:,} steps: aekit {ours:,.0f}/s, np.add.at {plain:,.0f}/s "
              f"({time.perf_counter() - t_all:.0f} s)", flush=True)
    memory, mem_note = [], ""
    if not a.no_memory:
        for w in a.memory_windows:
            memory.append(measure_memory("aekit", a, w))
            print(f"memory aekit W={w}: {memory[-1]['peak_mib'] - memory[-1]['rss_before_mib']:,.0f} MiB "
                  f"({time.perf_counter() - t_all:.0f} s)", flush=True)
        w0 = a.memory_windows[0]
        need = (T - w0 + 1) * w0 * C * 4
        if need <= available_bytes() // 2:
            memory.append(measure_memory("plain", a, w0))
            print(f"memory plain W={w0}: {memory[-1]['peak_mib'] - memory[-1]['rss_before_mib']:,.0f} MiB "
                  f"({time.perf_counter() - t_all:.0f} s)", flush=True)
        else:
            mem_note = (f"The plain version holding all windows at W = {w0} was not run: it needs "
                        f"{need / 2**30:.1f} GiB, more than half the {available_bytes() / 2**30:.1f} GiB available.")
        loads.append(os.getloadavg()[0])
    total = time.perf_counter() - t_all

    f = statistics.median(flops) / 1e9
    mline = (f"{machine()}; {os.cpu_count()} CPU cores, torch {torch.__version__}, Python {platform.python_version()}; "
             f"2048² fp32 matmul median {f:.0f} GFLOP/s (range {min(flops) / 1e9:.0f}–{max(flops) / 1e9:.0f}); "
             f"1-min load average {min(loads):.1f}–{max(loads):.1f}; {total:.0f} s in all")
    cmd = command("series_speed.py", argv)
    lines = [f"`{cmd}` — {mline}, {time.strftime('%Y-%m-%d %H:%M')}.", "",
             f"Synthetic series, {T:,} steps × {C} channels (sines + noise, scaled to [0, 1]), window W = {W}; "
             f"`aekit.AE(input_shape=({W}, {C}), arch=NET, latent_dim={LATENT})`, defaults otherwise. Median of "
             f"{a.reps} interleaved repetition(s).", "",
             f"Training: one epoch over {n_train:,} windows (stride {stride}), batch {a.batch}. aekit: "
             f"`Trainer(epochs=1, batch_size={a.batch}, val_split=0)` on `Data(x_train=Windows(series, {W}, {stride}), "
             "chronological=True)`; plain: `sliding_window_view` copied into a tensor, `DataLoader(TensorDataset, "
             f"batch_size={a.batch}, shuffle=True)`, `Adam`, `model(x).loss.backward()`, same model and initial weights.",
             "", "| network | parameters | aekit train windows/s | plain loop windows/s | aekit/plain |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['net']} | {r['params']:,} | {r['train_aekit_median']:,.0f} | {r['train_plain_median']:,.0f} "
                     f"| {r['train_aekit_median'] / r['train_plain_median']:.2f} |")
    lines += ["", f"Scoring every window (stride 1) of the first {a.score_steps:,} steps ({a.score_steps - W + 1:,} "
              "windows), one score per step. aekit: `score_series(model, series, W, score='recon')` in the model's chunk size; plain: "
              f"windows materialized with `sliding_window_view`, batches of {a.plain_batch} under `inference_mode`, "
              "`np.add.at` onto steps.", "",
              "| network | aekit chunk | aekit score windows/s | plain loop windows/s | aekit/plain | plain windows "
              "| max abs Δ score |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        held = "all at once" if r["plain_chunk"] is None else f"chunks of {r['plain_chunk']:,}"
        lines.append(f"| {r['net']} | {r['chunk_rows']} | {r['score_aekit_median']:,.0f} | "
                     f"{r['score_plain_median']:,.0f} | {r['score_aekit_median'] / r['score_plain_median']:.2f} | "
                     f"{held} | {max(r['max_abs_diff']):.1e} |")
    lines += ["", f"Folding only (no network): random (n, {W}, {C}) window scores onto the steps, {FOLD_BATCH} windows "
              "a batch, one pass; aekit: `TimestepScores(channels=C)` (as `score_series` folds them); plain: `np.add.at` "
              "of the channel mean (sums and counts).", "",
              "| steps | windows | aekit windows/s | np.add.at windows/s | aekit/plain |", "|---|---|---|---|---|"]
    for fo in folds:
        lines.append(f"| {fo['steps']:,} | {fo['steps'] - W + 1:,} | {fo['aekit']:,.0f} | {fo['plain']:,.0f} | "
                     f"{fo['aekit'] / fo['plain']:.2f} |")
    if memory:
        unit = T * C * 4
        lines += ["", f"Memory of scoring all {T:,} steps (every window at stride 1), network `{a.memory_net}`, one fresh "
                  "process per row: peak resident set size while scoring (`VmHWM`, reset just before) minus the RSS "
                  f"before it (series and model loaded, warmed up). T·C·4 bytes = {unit / 2**20:.1f} MiB (the series "
                  "in float32).", "",
                  "| scoring | W | windows | seconds | windows/s | RSS before (MiB) | peak − before (MiB) "
                  "| ÷ T·C·4 bytes |", "|---|---|---|---|---|---|---|---|"]
        for m in memory:
            grow = m["peak_mib"] - m["rss_before_mib"]
            what = "aekit `score_series`" if m["who"] == "aekit" else "plain, all windows held"
            lines.append(f"| {what} | {m['window']} | {m['windows']:,} | {m['seconds']:.1f} | "
                         f"{m['windows'] / m['seconds']:,.0f} | {m['rss_before_mib']:,.0f} | {grow:,.0f} | "
                         f"{grow * 2**20 / unit:.1f} |")
        ours = [m for m in memory if m["who"] == "aekit"]
        if len(ours) > 1:
            g = [m["peak_mib"] - m["rss_before_mib"] for m in ours]
            lines += ["", f"aekit's peak growth at W = {ours[-1]['window']} / at W = {ours[0]['window']}: "
                      f"**{g[-1] / g[0]:.2f}** (holding the windows would be "
                      f"{ours[-1]['window'] / ours[0]['window']:.0f}×)."]
        if mem_note:
            lines += ["", mem_note]
    result = {"command": cmd, "machine": mline, "date": time.strftime("%Y-%m-%d %H:%M"), "seconds_total": total,
              "args": {k: v for k, v in vars(a).items() if k != "memory_child"}, "train_windows": n_train,
              "train_stride": stride, "matmul_gflops": [x / 1e9 for x in flops], "load_average": loads,
              "rows": rows, "folding": folds, "memory": memory, "memory_note": mem_note}
    write_results("series_speed", a.tag, result, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
