"""Benchmark T2, afterwards: test the saved test translations of translate_de_en.py runs against
each other, without their weights.

Every translate_de_en.py run keeps its full test translations in its JSON
(``test_translations[method][decoding]``). This script reads them back and runs the paired
bootstrap (aekit.tasks.text.paired_bootstrap: sacrebleu's, 1,000 resamples of the 1,000 test
pairs, seed 12345) of each system run against the baseline run in the same position, and, with
several runs a side, of the mean over the runs (e.g. pretrained against scratch over seeds, each
seed's pair in the same position: every run is scored on the same resampled sentences, so the
test-set noise is shared; the seed-to-seed spread enters only through the runs given).

    python benchmarks/pair_translations.py --baseline _exp31:scratch,_exp35:scratch \\
        --system _exp32:pretrained,_exp36:pretrained --tag _pretrained_vs_scratch

Writes benchmarks/results/pair_translations{tag}.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import time

from _common import OUT, command, machine, write_results


def runs(option: str, value: str, decoding: str) -> list[tuple[str, list[str]]]:
    """(label, test translations) of each TAG:METHOD in `value`."""
    out = []
    for item in value.split(","):
        tag, sep, method = item.partition(":")
        if not sep or not method:
            raise SystemExit(f"{option} {value}: give TAG:METHOD for each run (e.g. _exp31:scratch), not {item!r}")
        path = OUT / f"translate_de_en{tag}.json"
        if not path.exists():
            raise SystemExit(f"{option}: {path} does not exist; run benchmarks/translate_de_en.py --tag {tag} first")
        saved = json.loads(path.read_text()).get("test_translations")
        if saved is None:
            raise SystemExit(f"{option}: {path.name} keeps no test translations (a run from before they were "
                             "saved); rerun it (--load-models TAG, while its weights exist) to write them")
        if method not in saved or decoding not in saved[method]:
            have = ", ".join(f"{m}:{d}" for m in saved for d in saved[m]) or "none"
            raise SystemExit(f"{option}: {path.name} has no {method} translations decoded by {decoding} "
                             f"(it has {have}); choose another METHOD or --decoding")
        out.append((f"{tag}:{method}", saved[method][decoding]))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", required=True, metavar="TAG:METHOD[,...]",
                    help="the baseline's runs, e.g. _exp31:scratch,_exp35:scratch")
    ap.add_argument("--system", required=True, metavar="TAG:METHOD[,...]",
                    help="the system's runs, paired with the baseline's by position (e.g. by seed)")
    ap.add_argument("--decoding", default="beam", choices=("beam", "mbr"))
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    base = runs("--baseline", args.baseline, args.decoding)
    syst = runs("--system", args.system, args.decoding)
    if len(base) != len(syst):
        raise SystemExit(f"--baseline names {len(base)} runs and --system {len(syst)}; pair them one to one")

    from translate_de_en import splits

    from aekit.tasks.text import paired_bootstrap

    t0 = time.perf_counter()
    refs = [t for _, t in splits()[2]]
    rows = []
    for (bl, b), (sl, s) in zip(base, syst):
        rows.append({"baseline": bl, "system": sl, **paired_bootstrap(b, s, refs)})
    if len(base) > 1:
        rows.append({"baseline": f"mean of {len(base)}", "system": f"mean of {len(syst)}",
                     **paired_bootstrap([b for _, b in base], [s for _, s in syst], refs)})
    total = time.perf_counter() - t0
    result = {"command": command("pair_translations.py", argv), "machine": machine(), "decoding": args.decoding,
              "test_pairs": len(refs), "rows": rows, "seconds_total": total}
    lines = [f"`{result['command']}` — {result['machine']}; {total:.0f} s in all", "",
             f"Paired bootstrap (1,000 resamples of the {len(refs):,} test pairs, seed 12345) of the saved "
             f"test translations ({args.decoding}); the last row, with several runs a side, tests the mean over "
             "the runs, each scored on the same resampled pairs.", "",
             "| system | baseline | BLEU system / baseline | p, BLEU | chrF system / baseline | p, chrF |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        b, c = r["bleu"], r["chrf"]
        lines.append(f"| {r['system']} | {r['baseline']} | {b['system']:.2f} / {b['baseline']:.2f} | {b['p']:.3f} | "
                     f"{c['system']:.2f} / {c['baseline']:.2f} | {c['p']:.3f} |")
    write_results("pair_translations", args.tag, result, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
