"""The commands on a text run (:mod:`aekit.text_run`): train, sample, reconstruct, interpolate,
embed, detect and evaluate print text or write the same files as for other runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import AekitError


def _line(text: str) -> str:
    """An item on one line: its line breaks (\\n, \\r, \\v, \\f …) become spaces."""
    return " ".join(text.splitlines())


def is_text(run: str) -> bool:
    from ..tasks.text import is_text_run

    return is_text_run(run)


def refuse(run: str, command: str) -> None:
    """A one-line error for the commands that do not take a text run (yet)."""
    if is_text(run):
        raise AekitError(f"{command}: {run} is a text run, which {command} does not take; text runs have "
                         "sample, reconstruct, interpolate, embed, detect, evaluate, translate and report")


def train(run: dict, model_opts: dict, train_opts: dict) -> int:
    """``aekit train --model sentence_vae --data quotes.txt --separator %``."""
    from ..text_run import train_text_run
    from .options import _flag, format_metrics, out_dir, text_opts

    for k in ("format", "key", "label_column", "image_size", "binarize", "channel_norm", "stream", "preprocess",
              "tsne", "tensorboard", "window", "train_steps", "time_column", "columns", "threshold", "risk",
              "score", "data_root", "stride", "impute"):
        if run.get(k):
            raise AekitError(f"{_flag(k)}: not an option of a text run (--model {run.get('model')})")
    result = train_text_run(run["model"], run.get("data"), out_dir(run), overwrite=bool(run.get("overwrite")),
                            report=not run.get("no_report"), **text_opts(run), **model_opts, **train_opts)
    m = result["metrics"]
    print(f"run written to {result['path']}")
    print(f"test metrics: {format_metrics({k: v for k, v in m.items() if k != 'split'})}")
    if result["report"] is not None:
        print(f"report written to {result['report']}")
    return 0


def _is_file(item: str) -> bool:
    try:
        return Path(item).is_file()
    except OSError:  # a sentence longer than a file name can be
        return False


def _items(inputs: list[str]) -> list[str]:
    """Items given on the command line; a single existing file is read one item per line."""
    if len(inputs) == 1 and _is_file(inputs[0]):
        from ..data.text import read_text

        return read_text(inputs[0]).texts
    return list(inputs)


def reconstruct(args: argparse.Namespace) -> int:
    from .. import io
    from ..tasks.text import TextRun

    run = TextRun.load(args.run)
    items = _items(args.input)
    recs = run.reconstruct(items)
    for src, rec in zip(items, recs):
        print(f"{_line(src)}\n  → {_line(rec)}")
    if args.out:
        with io.atomic_path(Path(args.out)) as tmp:
            Path(tmp).write_text("".join(_line(r) + "\n" for r in recs), encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


def sample(args: argparse.Namespace) -> int:
    from ..tasks.text import TextRun

    for line in TextRun.load(args.run).sample(args.n, temperature=args.temperature, seed=args.seed):
        print(_line(line))
    return 0


def interpolate(args: argparse.Namespace) -> int:
    from ..tasks.text import TextRun

    if len(args.inputs) != 2:
        raise AekitError(f"inputs: a text run interpolates between two items, got {len(args.inputs)}; "
                         'e.g. aekit interpolate RUN "first sentence" "second sentence"')
    for line in TextRun.load(args.run).interpolate(*args.inputs, steps=args.steps):
        print(_line(line))
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    """``aekit translate RUN "Ich habe heute keine Zeit."`` (or ``--data FILE --out FILE``)."""
    from .. import io
    from ..tasks.text import TextRun

    if bool(args.text) == bool(args.data):
        raise AekitError('text: give sentences to translate (aekit translate RUN "a sentence") or --data FILE, not both')
    if args.data and not args.out:
        raise AekitError("--out: where to write the translations of --data, one per line")
    if args.beam < 1:
        raise AekitError(f"--beam: the beam width is a positive integer (1: greedy), got {args.beam}")
    if not args.length_penalty >= 0:
        raise AekitError(f"--length-penalty: the exponent is 0 or more (1: per token), got {args.length_penalty}")
    if args.length_penalty != 1.0 and args.beam == 1:
        raise AekitError("--length-penalty: ranks the beams of beam search; give --beam N with N > 1")
    if args.mbr < 0:
        raise AekitError(f"--mbr: the number of draws per sentence is 1 or more (0: off), got {args.mbr}")
    if not 0 <= args.epsilon < 1:
        raise AekitError(f"--epsilon: a probability in [0, 1) (0: plain sampling), got {args.epsilon}")
    run = TextRun.load(args.run)
    others = [TextRun.load(r) for r in args.ensemble]
    items = _read(run, args.data) if args.data else list(args.text)
    out = run.translate(items, beam=args.beam, length_penalty=args.length_penalty, ensemble=others, mbr=args.mbr,
                        epsilon=args.epsilon, seed=args.seed)
    if args.data:
        with io.atomic_path(Path(args.out)) as tmp:
            Path(tmp).write_text("".join(_line(t) + "\n" for t in out), encoding="utf-8")
        print(f"wrote {args.out}: {len(out)} translations")
    else:
        for t in out:
            print(_line(t))
    return 0


def _read(run, data: str) -> list[str]:
    from ..data.text import read_text

    read = {k: v for k, v in run.settings.get("read", {}).items() if k != "target_column"}  # items, not pairs
    return read_text(data, **read).texts


def embed(args: argparse.Namespace) -> int:
    from .. import io
    from ..tasks.text import TextRun

    if not args.data:
        raise AekitError("--data: a text run embeds the items of the file given with --data")
    run = TextRun.load(args.run)
    codes = run.embed(_read(run, args.data))
    import numpy as np

    with io.atomic_path(Path(args.out)) as tmp, open(tmp, "wb") as f:
        np.save(f, codes)
    print(f"wrote {args.out}: codes of shape {codes.shape}")
    return 0


def detect(args: argparse.Namespace) -> int:
    """One score per item (−log p(x|z) or −ELBO); flagged above the training items' (1 − contamination) quantile."""
    import numpy as np

    from .. import io
    from ..tasks.text import TextRun

    run = TextRun.load(args.run)
    items = _read(run, args.data)
    scores = run.score(items)
    threshold = run.threshold(args.contamination)
    flags = scores > threshold
    io.write_csv(args.out, ({"index": i, "score": f"{s:.9g}", "is_anomaly": int(a), "text": _line(t)}
                            for i, (s, a, t) in enumerate(zip(scores, flags, items))),
                 fieldnames=["index", "score", "is_anomaly", "text"])
    summary = {"run": str(args.run), "data": str(args.data), "n": len(items), "n_anomalies": int(flags.sum()),
               "threshold": threshold, "contamination": args.contamination, "out": str(args.out),
               "score": "neg_elbo" if run.model.variational else "nll"}
    io.write_json(Path(args.out).with_suffix(".json"), summary)
    print(f"wrote {args.out}: {summary['n_anomalies']} of {len(items)} items flagged "
          f"(score {summary['score']}, threshold {threshold:.5g}); highest: {items[int(np.argmax(scores))][:60]!r}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    import json

    from ..rundir import RunDir
    from ..tasks.text import TextRun, text_metrics
    from .options import format_metrics

    run = TextRun.load(args.run)
    ids = run.encode(_read(run, args.data)).numpy() if args.data else run.test_ids()
    metrics = {"split": "data" if args.data else "test", **text_metrics(run.model, ids, nll_samples=args.nll_samples)}
    if run.pairs and not args.data:  # the translations of the test sources against their references
        from ..tasks.text import translation_metrics

        test, beam = run.test_items(), int(run.settings.get("beam", 1))  # decoded as at training time
        metrics.update(translation_metrics(run.translate([p[0] for p in test], beam=beam), [p[1] for p in test]))
        metrics["beam"] = beam
    RunDir(args.run).write_metrics(metrics)
    shown = {k: v for k, v in metrics.items() if k != "split"}
    print(json.dumps(metrics, indent=2) if args.json else f"{args.run}: {format_metrics(shown)}")
    return 0
