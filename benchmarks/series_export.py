"""Scoring a series with the ONNX export of a series run against aekit itself: steps/s, the peak
memory of one call, and the largest difference between the two scores.

    python benchmarks/series_export.py             # ~3 minutes on one core
    python benchmarks/series_export.py --quick     # smoke run (tag _quick)

A ``SeriesDetector(window=W, epochs=1)`` (the default network, tcn) is fitted on the first
20,000 steps of the synthetic series of ``series_speed.py`` (``--channels`` channels, three sines
and noise per channel), saved, and exported with ``aekit.deploy.export`` (checked against the
detector before it is kept): the export's graph loops over pieces of 1,024 windows
(``GRAPH_PIECE``). A second export, the graph without the loop (``SeriesScorer(det,
piece_windows=None)``: every window at once), is made for comparison. Then series of each
``--lengths`` are scored ``--reps`` times each way, alternating: ``SeriesDetector.anomaly_score``
(torch: windows a batch at a time, folded onto the steps as they come),
``aekit.deploy.load_onnx(path).run`` (onnxruntime, CPU, ``--threads`` intra-op threads: the
whole series in one call) on the looped export and on the one without the loop, and the looped
export through ``aekit.deploy.series.score_in_pieces`` (4,096 windows a call, recombined). Reported: the median seconds,
steps/s, the peak resident memory of a call above the memory before it (``VmHWM`` after a reset
through ``/proc/self/clear_refs``), and max |Δ score| / max |score|.

Writes benchmarks/results/series_export{tag}.{json,md}.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import command, machine, write_results
from series_speed import make_series, proc_status

import aekit
from aekit.deploy import export, load_onnx
from aekit.deploy.series import SeriesScorer, score_in_pieces


def peak_call(fn):
    """(seconds, peak MiB above the memory before the call, result) of one call."""
    gc.collect()
    before = proc_status()["VmRSS"]
    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    except OSError:
        pass
    t0 = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t0
    return seconds, proc_status()["VmHWM"] - before, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 10^4 steps, 1 rep")
    ap.add_argument("--lengths", default="10000,100000", help="series lengths to score (comma-separated)")
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (torch: as launched)")
    ap.add_argument("--tag", default=None)
    args = ap.parse_args(argv)
    lengths = [10_000] if args.quick else [int(v) for v in args.lengths.split(",")]
    reps = 1 if args.quick else args.reps
    tag = args.tag if args.tag is not None else ("_quick" if args.quick else "")
    series = make_series(max(lengths) + 20_000, args.channels)
    det = aekit.SeriesDetector(window=args.window, epochs=1, random_state=0).fit(series[:20_000])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        det.save(Path(tmp) / "run")
        t0 = time.perf_counter()
        path = export(Path(tmp) / "run", Path(tmp) / "model.onnx")
        export_s = time.perf_counter() - t0
        onnx = load_onnx(path, threads=args.threads)
        whole = load_onnx(export(SeriesScorer(det, piece_windows=None), Path(tmp) / "whole.onnx"), threads=args.threads)
        for n in lengths:
            x = series[20_000:20_000 + n]
            onnx.run(x[:args.window * 4]), whole.run(x[:args.window * 4]), det.anomaly_score(x[:args.window * 4])  # warm-up
            calls = {"torch": lambda x=x: det.anomaly_score(x),
                     "onnxruntime": lambda x=x: onnx.run(x)["score"],
                     "onnxruntime_no_loop": lambda x=x: whole.run(x)["score"],
                     "onnxruntime_pieces": lambda x=x: score_in_pieces(lambda p: onnx.run(p)["score"], x, args.window,
                                                                       det.score_kind_)}
            runs = {k: [] for k in calls}
            peaks = dict.fromkeys(calls, 0.0)
            got = {}
            for r in range(reps):
                order = list(calls) if r % 2 == 0 else list(calls)[::-1]
                for who in order:
                    s, peak, got[who] = peak_call(calls[who])
                    runs[who].append(s)
                    peaks[who] = max(peaks[who], peak)
            big = np.abs(got["torch"]).max()
            diff = float(np.abs(got["onnxruntime"] - got["torch"]).max() / big)
            diff_p = float(np.abs(got["onnxruntime_pieces"] - got["torch"]).max() / big)
            diff_w = float(np.abs(got["onnxruntime_no_loop"] - got["torch"]).max() / big)
            row = {"steps": n, "windows": n - args.window + 1, "max_rel_diff": diff, "max_rel_diff_pieces": diff_p,
                   "max_rel_diff_no_loop": diff_w}
            for who in runs:
                med = float(np.median(runs[who]))
                row[who] = {"seconds": med, "steps_per_s": n / med, "peak_mib": peaks[who], "all_seconds": runs[who]}
            rows.append(row)
            print(f"T={n}: " + ", ".join(f"{k} {row[k]['steps_per_s']:,.0f} steps/s (+{peaks[k]:.0f} MiB)" for k in calls)
                  + f", max |Δ|/max|s| {diff:.1e} (pieces {diff_p:.1e})", flush=True)
    result = {"command": command("series_export.py", argv), "machine": machine(), "window": args.window,
              "channels": args.channels, "reps": reps, "onnx_threads": args.threads, "export_seconds": export_s,
              "rows": rows}
    lines = [f"Series run (AE, tcn, W = {args.window}, C = {args.channels}) scored by aekit (torch) and by its ONNX "
             f"export (onnxruntime, {args.threads} thread); median of {reps}; export + check {export_s:.1f} s "
             f"({machine()})", "",
             "| steps | torch steps/s | torch peak MiB | export (loop), whole series: steps/s | peak MiB | "
             "max \\|Δ\\| / max \\|score\\| | export without the loop: steps/s | peak MiB | max \\|Δ\\| / max \\|score\\| | "
             "export (loop) via score_in_pieces: steps/s | peak MiB | max \\|Δ\\| / max \\|score\\| |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['steps']:,} | {r['torch']['steps_per_s']:,.0f} | {r['torch']['peak_mib']:.0f} | "
              f"{r['onnxruntime']['steps_per_s']:,.0f} | {r['onnxruntime']['peak_mib']:.0f} | {r['max_rel_diff']:.1e} | "
              f"{r['onnxruntime_no_loop']['steps_per_s']:,.0f} | {r['onnxruntime_no_loop']['peak_mib']:.0f} | "
              f"{r['max_rel_diff_no_loop']:.1e} | "
              f"{r['onnxruntime_pieces']['steps_per_s']:,.0f} | {r['onnxruntime_pieces']['peak_mib']:.0f} | "
              f"{r['max_rel_diff_pieces']:.1e} |" for r in rows]
    lines += ["", f"`{command('series_export.py', argv)}`"]
    write_results("series_export", tag, result, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
