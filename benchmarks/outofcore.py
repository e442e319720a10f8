"""Out-of-core training and scoring: peak memory must not grow with the file.

Writes two float32 ``.npy`` tables, the second ``--factor`` times as many rows as the first,
then runs ``aekit train --data FILE --stream`` (one epoch, streamed test metrics, no report)
on each in a fresh process and reads that process's peak resident set size (``VmHWM``).
For contrast it also trains the small file in memory (without ``--stream``). Then it scores
both files with ``aekit detect`` (the model trained on the small file), again one fresh
process each. The target: peak RSS on the large file ≤ 1.2 × peak RSS on the small one.

    python benchmarks/outofcore.py                      # 400k × 64 (98 MiB) vs 4M × 64 (977 MiB)
    python benchmarks/outofcore.py --write BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MARK = "<!-- outofcore -->"


def write_table(path: Path, rows: int, features: int, seed: int) -> None:
    """A low-rank table plus noise, written a chunk at a time (the writer stays small too)."""
    if path.is_file() and np.load(path, mmap_mode="r").shape == (rows, features):
        return
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(8, features)).astype(np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, features))
    for i in range(0, rows, 100_000):
        n = min(100_000, rows - i)
        out[i:i + n] = rng.normal(size=(n, 8)).astype(np.float32) @ mix + 0.1 * rng.normal(size=(n, features)).astype(np.float32)
    out.flush()
    del out


def peak_rss_mib() -> float:
    """This process's peak resident set size: VmHWM where /proc has it (it restarts at exec;
    ``ru_maxrss`` keeps the high-water mark of the parent that forked us), else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(file: str, stream: bool, out: str) -> None:
    from aekit.cli import main

    t0 = time.perf_counter()
    args = ["train", "--data", file, "--epochs", "1", "--batch-size", "1024", "--optimizer", "rmsprop", "--lr", "1e-3",
            "--hidden", "64", "--latent-dim", "8", "--out", out, "--overwrite", "--quiet", "--no-report"]
    code = main(args + (["--stream"] if stream else []))
    metrics = json.loads((Path(out) / "metrics.json").read_text()) if code == 0 else {}
    print(json.dumps({"code": code, "peak_rss_mib": peak_rss_mib(), "seconds": time.perf_counter() - t0,
                      "test_mse": metrics.get("mse")}))


def detect_child(file: str, run: str) -> None:
    from aekit.cli import main

    t0 = time.perf_counter()
    out = Path(run).parent / "scores.csv"
    code = main(["detect", run, "--data", file, "--out", str(out), "--score", "recon"])
    print(json.dumps({"code": code, "peak_rss_mib": peak_rss_mib(), "seconds": time.perf_counter() - t0}))


def measure(file: Path, stream: bool, work: Path, detect: bool = False) -> dict:
    r = subprocess.run([sys.executable, __file__, "--child", str(file), "--out", str(work / "run")]
                       + (["--stream"] if stream else []) + (["--detect"] if detect else []), capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.strip():
        raise SystemExit(f"child failed:\n{r.stderr}")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    if res["code"] != 0:
        raise SystemExit(f"aekit train failed:\n{r.stderr}")
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=400_000)
    p.add_argument("--features", type=int, default=64)
    p.add_argument("--factor", type=int, default=10)
    p.add_argument("--dir", default=None, help="where to write the tables (default: a temporary folder)")
    p.add_argument("--write", default=None, help="Markdown file to record the result in (e.g. BENCHMARKS.md)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", default=None, help=argparse.SUPPRESS)
    p.add_argument("--stream", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--detect", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return detect_child(a.child, a.out) if a.detect else child(a.child, a.stream, a.out)
    work = Path(a.dir or tempfile.mkdtemp(prefix="aekit-ooc-"))
    work.mkdir(parents=True, exist_ok=True)
    small, large = work / "small.npy", work / "large.npy"
    write_table(small, a.rows, a.features, 0)
    write_table(large, a.rows * a.factor, a.features, 1)
    runs = [("small", small, True), ("large", large, True), ("small, in memory", small, False)]
    res, loads = {}, [os.getloadavg()[0]]
    for name, f, stream in runs:
        res[name] = {**measure(f, stream, work), "rows": len(np.load(f, mmap_mode="r")), "mib": f.stat().st_size / 2**20}
        loads.append(os.getloadavg()[0])
    scoring = {}
    for name, f in (("small", small), ("large", large)):  # the in-memory run on the small file scores both
        scoring[name] = {**measure(f, False, work, detect=True), "rows": len(np.load(f, mmap_mode="r")),
                         "mib": f.stat().st_size / 2**20}
        loads.append(os.getloadavg()[0])
    ratio = res["large"]["peak_rss_mib"] / res["small"]["peak_rss_mib"]
    sratio = scoring["large"]["peak_rss_mib"] / scoring["small"]["peak_rss_mib"]
    lines = ["| file | rows × features | size (MiB) | mode | peak RSS (MiB) | seconds (1 epoch + test) | test MSE |",
             "|---|---|---|---|---|---|---|"]
    for name, _, stream in runs:
        r = res[name]
        lines.append(f"| {name.split(',')[0]} | {r['rows']:,} × {a.features} | {r['mib']:.0f} | "
                     f"{'--stream (memory map)' if stream else 'in memory'} | {r['peak_rss_mib']:.0f} | "
                     f"{r['seconds']:.1f} | {r['test_mse']:.4f} |")
    lines += ["", "| file | rows × features | size (MiB) | command | peak RSS (MiB) | seconds |", "|---|---|---|---|---|---|"]
    for name, r in scoring.items():
        lines.append(f"| {name} | {r['rows']:,} × {a.features} | {r['mib']:.0f} | `aekit detect RUN --data FILE --score recon` | "
                     f"{r['peak_rss_mib']:.0f} | {r['seconds']:.1f} |")

    def verdict(x: float) -> str:
        return "meets" if x <= 1.2 else "MISSES"

    summary = (f"Peak RSS, {a.factor}× larger file / smaller file: training (both streamed) **{ratio:.3f}** "
               f"({verdict(ratio)} the ≤ 1.2 target); scoring **{sratio:.3f}** ({verdict(sratio)} it).")
    table = "\n".join(lines)
    print(table)
    print(summary)
    if a.write:
        cmd = "python benchmarks/outofcore.py " + " ".join(
            x for x in [f"--rows {a.rows}" if a.rows != 400_000 else "", f"--factor {a.factor}" if a.factor != 10 else "",
                        f"--write {a.write}"] if x)
        machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}, Python {platform.python_version()}"
        section = (f"{MARK}\n## Out-of-core training and scoring (memory-mapped .npy)\n\n"
                   f"`{cmd}` — {machine}, {time.strftime('%Y-%m-%d')}. Each row is a fresh "
                   "`aekit train --data FILE [--stream] --epochs 1 --batch-size 1024 --optimizer rmsprop --no-report` "
                   "process, and so is each `aekit detect` (scores written as CSV; the model trained in memory on the "
                   "small file); peak RSS is the process's peak resident set size (`VmHWM`). Seconds are wall-clock on a machine shared with other "
                   f"jobs (1-minute load average {min(loads):.1f} to {max(loads):.1f} during the runs), so compare "
                   "them with care.\n\n" + table + "\n\n" + summary + f"\n{MARK}\n")
        path = Path(a.write)
        text = path.read_text() if path.is_file() else "# Benchmarks\n"
        if MARK in text:
            head, _, rest = text.partition(MARK)
            _, _, tail = rest.partition(MARK + "\n")
            text = head + section + tail
        else:
            text = text.rstrip("\n") + "\n\n" + section
        path.write_text(text)
        print(f"recorded in {path}")


if __name__ == "__main__":
    main()
