"""Reproduction: VAE and IWAE test log-likelihood on dynamically binarized MNIST (Burda,
Grosse & Salakhutdinov 2015, "Importance Weighted Autoencoders", Table 1).

The paper's model: one stochastic layer, 784-200-200-50 with tanh, a Bernoulli decoder, trained
on the 60,000 training images binarized afresh at every use, scored on the 10,000 test images
by −log p(x) estimated with k = 5000 importance samples. Published: VAE (k = 1) 86.76 nats,
IWAE k = 5 85.54, IWAE k = 50 84.78.

Each model is trained and scored through aekit's command line — nothing here is special to the
benchmark:

    aekit train --model vae|iwae --data mnist --binarize dynamic --arch mlp --hidden 200,200
                --latent-dim 50 --activation tanh --batch-size 100 --val-split 0
                --lr 1e-3 --lr-schedule cosine --epochs E [--iw-samples 5]
    aekit evaluate RUN --nll-samples 5000

Where this differs from the paper: the paper trains 3,280 passes (Adam, batch 20, learning
rate 1e-3·10^(−i/7) over stages of 3^i passes, ε = 1e-4); here each model gets the passes given
by ``--vae-epochs`` / ``--iwae-epochs`` with batch ``--batch-size`` (100 unless asked; the
paper's 20 gives five times the updates per pass and takes about twice as long per pass) and a
cosine decay of the learning rate from 1e-3 to 0 (Adam's default ε). The test set is binarized once with a fixed seed (aekit's
``--binarize dynamic`` scoring rule); the paper does not say how its test set was binarized.

    python benchmarks/burda_nll.py                                 # 81 minutes on 2 cores
    python benchmarks/burda_nll.py --vae-epochs 1 --iwae-epochs 1 --nll-samples 50 --tag _smoke
    python benchmarks/burda_nll.py --models vae --batch-size 20 --vae-epochs 900 --tag _vae_b20
    python benchmarks/burda_nll.py ... --resume   # the same command again after an interruption

Writes benchmarks/results/burda_nll{tag}.{json,md}; the runs stay in benchmarks/results/runs/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from _common import MNIST, OUT, command, machine, write_results

PUBLISHED = {"vae": 86.76, "iwae": 85.54}  # Burda et al. 2015, Table 1, one stochastic layer, k = 5000
GOAL = {"vae": 87.3, "iwae": 86.0}


def aekit(*args: str, threads: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    return subprocess.run([sys.executable, "-m", "aekit", *args], env=env, check=True,
                          capture_output=True, text=True)


def run_one(model: str, epochs: int, args) -> dict:
    run = OUT / "runs" / f"burda_{model}{args.tag}"
    train = ["train", "--model", model, "--data", "mnist", "--data-root", args.root,
             "--binarize", "dynamic", "--arch", "mlp", "--hidden", "200,200", "--latent-dim", "50",
             "--activation", "tanh", "--batch-size", str(args.batch_size), "--val-split", "0", "--lr", "1e-3",
             "--lr-schedule", "cosine", "--epochs", str(epochs), "--seed", str(args.seed),
             "--out", str(run), "--overwrite", "--quiet"]
    if model == "iwae":
        train += ["--iw-samples", str(args.iw_samples)]
    t0 = time.perf_counter()
    if args.resume and (run / "checkpoint" / "last.pt").exists():
        # continue an interrupted run from its last checkpoint; the training time is then the sum of the
        # per-pass times in its history (the time before the interruption included)
        aekit("train", "--resume", str(run), "--epochs", str(epochs), "--quiet", threads=args.threads)
        train_s = sum(float(line.rsplit(",", 1)[1]) for line in (run / "history.csv").read_text().splitlines()[1:])
    else:
        aekit(*train, threads=args.threads)
        train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = aekit("evaluate", str(run), "--nll-samples", str(args.nll_samples), "--json", threads=args.threads)
    eval_s = time.perf_counter() - t0
    metrics = json.loads(out.stdout)
    return {"model": model, "epochs": epochs, "train_s": round(train_s, 1), "eval_s": round(eval_s, 1),
            "nll": metrics["nll"], "neg_elbo": metrics["neg_elbo"], "run": str(run.relative_to(OUT.parent.parent)),
            "train_command": "aekit " + " ".join(train), "published": PUBLISHED[model], "goal": GOAL[model]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(MNIST))
    ap.add_argument("--vae-epochs", type=int, default=700)
    ap.add_argument("--iwae-epochs", type=int, default=200)
    ap.add_argument("--iw-samples", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=100, help="the paper's is 20 (5x the updates per pass, slower)")
    ap.add_argument("--models", nargs="+", default=["vae", "iwae"], choices=("vae", "iwae"))
    ap.add_argument("--nll-samples", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per model (the two train side by side)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tag", default="")
    ap.add_argument("--resume", action="store_true",
                    help="continue runs interrupted earlier (same --tag) from their last checkpoint")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        rows = list(pool.map(lambda me: run_one(me[0], me[1], args),
                             [(m, {"vae": args.vae_epochs, "iwae": args.iwae_epochs}[m]) for m in args.models]))
    wall = time.perf_counter() - t0
    k = args.nll_samples
    side = ", the two side by side" if len(rows) > 1 else ""
    lines = [f"Burda et al. 2015 Table 1 protocol, −log p(x) on the 10,000 MNIST test images, k = {k} "
             f"({machine().split(',')[0]}, {args.threads} torch thread(s) per model{side}, batch {args.batch_size}, "
             f"{wall / 60:.0f} min in all)", "",
             f"| model | passes | −log p(x), k = {k} | −ELBO | published | goal | train | score |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        name = "VAE" if r["model"] == "vae" else f"IWAE k={args.iw_samples}"
        lines.append(f"| {name} | {r['epochs']} | {r['nll']:.2f} | {r['neg_elbo']:.2f} | {r['published']:.2f} | "
                     f"≤ {r['goal']:.1f} | {r['train_s'] / 60:.0f} min | {r['eval_s'] / 60:.1f} min |")
    lines += ["", f"`{command('burda_nll.py', argv)}`"]
    write_results("burda_nll", args.tag, {"rows": rows, "wall_s": round(wall, 1), "machine": machine(),
                                          "nll_samples": k, "command": command("burda_nll.py", argv)}, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
