"""Benchmark T3: tokens/s of training and of greedy decoding for each token network, aekit
against the plain PyTorch loop a user writes over the same model.

Data: ``--items`` fortunes (../shared/data/text/fortunes, blocks between ``%`` lines), a
byte-level BPE tokenizer of 8,000 tokens, rows of at most 128 tokens. Model per network
(``--nets``): ``aekit.SeqAE(arch=NET)`` with its defaults (state 256, embedding 128, code 32).

* training, aekit: ``aekit.Trainer(epochs=1, batch_size=64, val_split=0, progress=False)`` on the
  token rows (length-bucketed batches, each trimmed to its longest row);
* training, plain: ``DataLoader(TensorDataset(rows), batch_size=64, shuffle=True)``, Adam,
  ``model(x).loss.backward()`` on a copy of the same model (the model trims each batch too);
* decoding, aekit: ``model.generate(z)`` for the codes of the rows, in chunks of 256 (greedy,
  stopping when every row has ended);
* decoding, plain: the loop over ``decoder.step`` with ``argmax`` a user writes, 256 rows a
  batch, run to the full row length.

Tokens counted: the real tokens of the rows (EOS included, padding not) for training; the
tokens generated (up to each row's EOS) for decoding. Interleaved repetitions, medians.

    python benchmarks/text_speed.py             # 3,000 items, 3 repetitions
    python benchmarks/text_speed.py --quick     # 300 items, 1 repetition

Writes benchmarks/results/text_speed{tag}.{json,md}. Run with OMP_NUM_THREADS=1.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import numpy as np
from _common import command, machine, tutorial_epoch, write_results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=3000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--nets", default="text-gru,text-lstm")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    import aekit
    from aekit.data.tokens import BOS, EOS, PAD, Tokenizer

    if args.quick:
        args.items, args.reps = 300, 1
    from text_vae_lm import FORTUNES, fortunes

    items = fortunes(FORTUNES)
    items = [items[i] for i in np.random.default_rng(0).permutation(len(items))[:args.items]]
    tok = Tokenizer.train(items, kind="bpe", vocab_size=8000)
    ids = tok.encode(items, 128).ids
    real = int((ids != PAD).sum())
    x = torch.from_numpy(ids)

    def plain_train(model):
        tutorial_epoch(model, DataLoader(TensorDataset(x), batch_size=64, shuffle=True),
                    torch.optim.Adam(model.parameters(), lr=1e-3))

    def plain_decode(model, z):
        out = []
        with torch.inference_mode():
            for zc in z.split(256):
                state = model.decoder.start(zc)
                tok_ = torch.full((len(zc),), BOS)
                rows = []
                for _ in range(ids.shape[1]):
                    logits, state = model.decoder.step(tok_, state)
                    tok_ = logits.argmax(-1)
                    rows.append(tok_)
                out.append(torch.stack(rows, 1))
        return torch.cat(out)

    def generated(rows):  # tokens up to and including each row's first EOS
        r = rows.numpy()
        ends = np.where((r == EOS).any(1), (r == EOS).argmax(1) + 1, r.shape[1])
        return int(ends.sum())

    table = {}
    for net in args.nets.split(","):
        torch.manual_seed(0)
        base = aekit.SeqAE(input_shape=(ids.shape[1],), vocab_size=tok.vocab_size, arch=net)
        times = {"aekit_train": [], "plain_train": [], "aekit_decode": [], "plain_decode": []}
        toks = {}
        for rep in range(args.reps):
            order = ("aekit", "plain") if rep % 2 == 0 else ("plain", "aekit")
            for who in order:
                m = copy.deepcopy(base)
                t = time.perf_counter()
                if who == "aekit":
                    aekit.Trainer(epochs=1, batch_size=64, val_split=0, progress=False, seed=rep).fit(m, ids)
                else:
                    torch.manual_seed(rep)
                    plain_train(m)
                times[f"{who}_train"].append(time.perf_counter() - t)
            with torch.inference_mode():
                z = base.eval().transform(x)
            for who in order:
                t = time.perf_counter()
                if who == "aekit":
                    rows = torch.cat([base.generate(zc) for zc in z.split(256)])
                else:
                    rows = plain_decode(base, z)
                times[f"{who}_decode"].append(time.perf_counter() - t)
                toks[who] = generated(rows)
        med = {k: statistics.median(v) for k, v in times.items()}
        table[net] = {"params": base.n_params(), "train_tokens": real, "decode_tokens": toks,
                      "seconds": times, "median": med,
                      "aekit_train_tps": real / med["aekit_train"], "plain_train_tps": real / med["plain_train"],
                      "aekit_decode_tps": toks["aekit"] / med["aekit_decode"],
                      "plain_decode_tps": toks["plain"] / med["plain_decode"]}
        r = table[net]
        print(f"{net}: train {r['aekit_train_tps']:,.0f} vs {r['plain_train_tps']:,.0f} tokens/s; decode "
              f"{r['aekit_decode_tps']:,.0f} vs {r['plain_decode_tps']:,.0f} tokens/s", flush=True)
    result = {"command": command("text_speed.py", argv), "machine": machine(), "items": args.items, "reps": args.reps,
              "row_length": int(ids.shape[1]), "vocab_size": tok.vocab_size, "table": table}
    lines = [f"`{result['command']}` — {result['machine']}", "",
             f"{args.items:,} fortunes, BPE {tok.vocab_size}, rows of {ids.shape[1]} tokens, {real:,} real tokens; "
             f"aekit.SeqAE defaults; median of {args.reps} interleaved repetitions.", "",
             "| network | parameters | aekit train tokens/s | plain train tokens/s | aekit/plain | aekit greedy "
             "tokens/s | plain greedy tokens/s | aekit/plain |", "|---|---|---|---|---|---|---|---|"]
    for net, r in table.items():
        lines.append(f"| {net} | {r['params']:,} | {r['aekit_train_tps']:,.0f} | {r['plain_train_tps']:,.0f} | "
                     f"{r['aekit_train_tps'] / r['plain_train_tps']:.2f} | {r['aekit_decode_tps']:,.0f} | "
                     f"{r['plain_decode_tps']:,.0f} | {r['aekit_decode_tps'] / r['plain_decode_tps']:.2f} |")
    write_results("text_speed", args.tag, result, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
