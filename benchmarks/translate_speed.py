"""Decoding speed of the text-transformer translator: sentences/s and tokens/s of greedy
decoding, of a beam of 10 and of the candidates of minimum Bayes risk decoding (the beam's 10
rows and 32 ε-samples per sentence), for the translator of benchmark T2.

Model: ``Seq2Seq(arch="text-transformer")`` as ``translate_de_en.py --arch text-transformer
--attention --embed-dim 256 --heads 4 --layers 2 --hidden 512 --vocab-size 4000`` builds it
(source rows of 35 tokens, target rows of 33), untrained unless ``--load PATH`` gives weights a
``translate_de_en.py --save-models`` run wrote. Sources: ``--rows`` rows of random token ids
with lengths drawn from 5 to 34 (seed 0); an untrained translator decodes every row to the full
33 tokens, so the timings are per token of the longest rows. Timings are medians of
``--reps`` repetitions; tokens counted are the target rows' slots (33 per decoded row).

To compare two versions of the library, run the same command with ``PYTHONPATH`` pointing at
the other version's ``src`` (e.g. ``git archive COMMIT src | tar -x -C /tmp/old``); the script
prints which ``aekit`` it imported.

    python benchmarks/translate_speed.py                 # 128 rows, 3 repetitions
    python benchmarks/translate_speed.py --quick         # 16 rows, 1 repetition

Writes benchmarks/results/translate_speed{tag}.{json,md}. Run with OMP_NUM_THREADS=1.
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import command, machine, write_results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--load", metavar="PATH", help="a translator's weights (translate_de_en.py --save-models)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    import torch

    import aekit
    from aekit.data.tokens import EOS, PAD
    from aekit.models.seq2seq import Seq2Seq

    if args.quick:
        args.rows, args.reps = 16, 1
    src_len, tgt_len, vocab = 35, 33, 4000
    torch.manual_seed(0)
    model = Seq2Seq(input_shape=(src_len + tgt_len,), source_length=src_len, vocab_size=vocab, latent_dim=256,
                    hidden=(512,), arch="text-transformer",
                    net_options={"embed_dim": 256, "heads": 4, "layers": 2, "attention": True})
    if args.load:
        model.load_state_dict(torch.load(args.load, weights_only=True))
    model.eval()
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(5, src_len, (args.rows,), generator=g)
    src = torch.randint(4, vocab, (args.rows, src_len), generator=g)
    src[torch.arange(src_len) >= lengths[:, None]] = PAD
    src[torch.arange(args.rows), lengths - 1] = EOS
    jobs = {
        "greedy": lambda: model.translate(src),
        "beam 10": lambda: model.translate(src, beam=10, length_penalty=2.0),
        "MBR candidates (beam 10 + 32 samples)": lambda: model.candidates(
            src, beam=10, samples=32, length_penalty=2.0, epsilon=0.02, generator=torch.Generator().manual_seed(0)),
    }
    print(f"aekit from {aekit.__file__}", flush=True)
    table = {}
    for name, job in jobs.items():
        seconds = []
        for _ in range(args.reps):
            t = time.perf_counter()
            out = job()
            seconds.append(time.perf_counter() - t)
        med = statistics.median(seconds)
        decoded = out.shape[0] * (out.shape[1] if out.dim() == 3 else 1)  # rows decoded (candidates: N per source)
        table[name] = {"seconds": seconds, "median": med, "sentences_per_s": args.rows / med,
                       "tokens_per_s": decoded * tgt_len / med}
        print(f"{name}: {med:.2f} s, {args.rows / med:.1f} sentences/s, {decoded * tgt_len / med:,.0f} tokens/s",
              flush=True)
    result = {"command": command("translate_speed.py", argv), "machine": machine(), "aekit": aekit.__file__,
              "rows": args.rows, "reps": args.reps, "table": table}
    lines = [f"`{result['command']}` — {result['machine']}; aekit from `{aekit.__file__}`", "",
             f"{args.rows} source rows, median of {args.reps}.", "",
             "| decoding | s | sentences/s | target tokens/s |", "|---|---|---|---|"]
    lines += [f"| {n} | {r['median']:.2f} | {r['sentences_per_s']:.1f} | {r['tokens_per_s']:,.0f} |"
              for n, r in table.items()]
    write_results("translate_speed", args.tag, result, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
