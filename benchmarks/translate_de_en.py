"""Benchmark T2: German → English translation on the trans-de-en sentence pairs, side by side:

  dictionary   a word-by-word baseline from the single-word entries of the same dictionary
               (de-en.gz): each German word, lowercased and stripped of punctuation, replaced by
               the first English translation of the first entry that has it as a whole German
               alternative; words not found are copied; punctuation kept
  scratch      aekit.Seq2Seq (``--arch``, text-gru by default) trained from random weights on the
               training pairs
  pretrained   the same, its encoder and decoder first trained as denoising sequence
               autoencoders (aekit.DenoisingSeqAE: deletion + local shuffle, Lample et al. 2018)
               on the German and on the English sides of the training pairs
               (Seq2Seq.init_from), then trained on the pairs like scratch

Protocol (the issue's): the 17,907 pairs of sentence_pairs.tsv; test = 1,000 pairs drawn with
seed 0, validation = the next 1,000 of the same permutation, training = the other 15,907.
One byte-level BPE tokenizer (aekit.data.tokens.Tokenizer, 8,000 tokens) trained on both
sides of the training pairs. Each encoder–decoder trains ``--epochs`` epochs (Adam, lr
``--lr`` 2e-3, constant or ``--lr-schedule cosine``, batch 64; the decoder reads the code at
every step, ``--feed-code``) and keeps the weights of the epoch with the best validation BLEU (greedy); the
test pairs are scored once, greedy and with a beam of 5 (``--beam``; with several widths or
``--length-penalties``, the pair with the best validation chrF is used). BLEU and chrF: sacrebleu's
corpus_bleu / corpus_chrf with their defaults (13a tokenization), one reference per sentence;
the length ratio is BLEU's (translation tokens over reference tokens). ``--average-last N``
also scores the mean of the last N epochs' weights (checkpoint averaging), on the same pairs.
``--save-models`` keeps the translators' weights; ``--load-models TAG`` scores those of an
earlier ``--save-models --tag TAG`` run without training (decoding studies), and
``--load-models scratch=TAG,pretrained=TAG2`` takes each translator from its own run (seeds
trained in separate runs, compared side by side). With both translators in one run, the
pretrained one's test translations are tested against the scratch one's with the same paired
bootstrap (``pretrained_vs_scratch`` in the JSON). Each translator's
beam output is tested against the dictionary's with sacrebleu's paired bootstrap (1,000
resamples of the test pairs; a two-sided p-value per score): "clearly above" means higher with
p < 0.05. ``--tie-embeddings`` ties the text-transformer decoder's output layer to its input
embedding. ``--ensemble TAG,TAG`` scores the scratch translators of several ``--save-models``
runs (same options, e.g. other ``--seed``) decoding together (``aekit.models.translate_ensemble``);
``pretrained=TAG`` takes a run's pretrained translator instead.
``benchmarks/pair_translations.py`` tests the saved test translations of runs against each
other afterwards (one pair, or several seeds a side).
``--mbr N`` also decodes by minimum Bayes risk (``aekit.tasks.mbr``: the chosen beam's rows and N
ε-samples as candidates, the samples as pseudo-references, sentence chrF as the utility), on the
validation and test pairs (``--mbr-test-only``: the test pairs alone), with the same paired
bootstrap against the dictionary on each (the dictionary's validation scores are in the JSON).

    python benchmarks/translate_de_en.py                 # full run
    python benchmarks/translate_de_en.py --quick         # smoke run: 2,000 training pairs, 1 epoch

Writes benchmarks/results/translate_de_en{tag}.{json,md}. Run with OMP_NUM_THREADS=1.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import re
import time

import numpy as np
from _common import DATA, OUT, command, machine, write_results

PAIRS = DATA / "text" / "trans-de-en" / "sentence_pairs.tsv"
DICT = DATA / "text" / "trans-de-en" / "de-en.gz"
WORD = re.compile(r"\w[\w'’-]*|[^\w\s]", re.UNICODE)


def _clean(s: str) -> str:
    """An entry's text without its {gender}, [domain], (note) and <variant> annotations."""
    s = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\([^)]*\)|<[^>]*>", " ", s)
    return " ".join(s.split())


def dictionary(path) -> dict[str, str]:
    """German word (lowercase) → English translation, from the entries whose German alternative
    is one word: for each ``|`` group of a line, the German side's alternatives (``;``) are
    paired with the English side's first alternative."""
    table: dict[str, str] = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or " :: " not in line:
                continue
            de, en = line.rstrip("\n").split(" :: ", 1)
            for dg, eg in zip(de.split(" | "), en.split(" | ")):
                target = _clean(eg.split(";")[0])
                if not target:
                    continue
                for alt in dg.split(";"):
                    w = _clean(alt)
                    if w and " " not in w:
                        table.setdefault(w.lower(), target)
    return table


def word_by_word(sentence: str, table: dict[str, str]) -> str:
    out = []
    for tok in WORD.findall(sentence):
        out.append(table.get(tok.lower(), tok) if tok[0].isalnum() else tok)
    text = " ".join(out)
    return re.sub(r" ([.,!?;:])", r"\1", text)


def splits() -> tuple[list, list, list]:
    """The protocol's (source, target) pairs: training, validation (1,000) and test (1,000),
    from one permutation of sentence_pairs.tsv drawn with seed 0."""
    from aekit.data.text import read_text

    got = read_text(PAIRS, target_column=2)
    pairs = list(zip(got.texts, got.targets))
    perm = np.random.default_rng(0).permutation(len(pairs))
    return [pairs[i] for i in perm[2000:]], [pairs[i] for i in perm[1000:2000]], [pairs[i] for i in perm[:1000]]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10, help="epochs of each encoder-decoder on the pairs")
    ap.add_argument("--pretrain-epochs", type=int, default=5, help="epochs of each side's denoising AE")
    ap.add_argument("--arch", default="text-gru", choices=("text-gru", "text-lstm", "text-transformer"),
                    help="the network of the encoder-decoders and denoising AEs")
    ap.add_argument("--heads", type=int, default=4, help="text-transformer: attention heads")
    ap.add_argument("--layers", type=int, default=2, help="text-transformer: layers per stack")
    ap.add_argument("--hidden", type=int, default=256, help="the recurrent width (text-gru/lstm) or the "
                    "feed-forward width (text-transformer)")
    ap.add_argument("--latent-dim", type=int, default=256)
    ap.add_argument("--embed-dim", type=int, default=128)
    ap.add_argument("--vocab-size", type=int, default=8000)
    ap.add_argument("--beam", default="5", metavar="K[,K2,...]", help="the beam width; several: the "
                    "(width, length penalty) with the best validation chrF is used")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--lr-schedule", default="constant", choices=("constant", "cosine"),
                    help="the translators' learning rate: constant, or a cosine decay to 0 over --epochs")
    ap.add_argument("--feed-code", type=int, default=1, help="1: the decoder reads the code at every step "
                    "(Cho et al. 2014), 0: the code only starts it")
    ap.add_argument("--attention", action="store_true", help="the decoder also attends over the encoder's states "
                    "(Luong et al. 2015); the denoising autoencoders have no attention, the translator's starts new")
    ap.add_argument("--bidirectional", action="store_true", help="the encoders also read each sentence backwards "
                    "(net_options bidirectional), the denoising autoencoders' too")
    ap.add_argument("--dropout", type=float, default=0.0, help="dropout on the embeddings and on the decoder's "
                    "output states (net_options dropout)")
    ap.add_argument("--label-smoothing", type=float, default=0.0, help="the translator's training loss against "
                    "targets smoothed by this ε")
    ap.add_argument("--tie-embeddings", action="store_true", help="text-transformer: the decoder's output layer "
                    "shares its input embedding (Press & Wolf 2017)")
    ap.add_argument("--dict-pairs", action="store_true", help="the encoder-decoders also train on the dictionary's "
                    "single-word entries (the baseline's table) for the words of the training sentences' German side, "
                    "as extra one-word pairs")
    ap.add_argument("--methods", default="scratch,pretrained", help="which encoder-decoders to train (the "
                    "dictionary always runs)")
    ap.add_argument("--average-last", type=int, default=0, metavar="N", help="also score the mean of the "
                    "weights of the last N epochs (checkpoint averaging, Vaswani et al. 2017)")
    ap.add_argument("--length-penalties", default="1.0", metavar="A,B,...", help="the beam's length penalty "
                    "(log-probability / tokens^A); several: the one with the best validation chrF is used")
    ap.add_argument("--save-models", action="store_true", help="write each kept translator's weights to "
                    "benchmarks/results/runs/translate_de_en{tag}_{method}.pt")
    ap.add_argument("--load-models", metavar="TAG", help="train nothing: score the translators an earlier run "
                    "wrote with --save-models --tag TAG (give it the same data and network options), e.g. to try "
                    "other --beam widths and --length-penalties; scratch=TAG,pretrained=TAG2 takes each "
                    "translator from its own run")
    ap.add_argument("--ensemble", metavar="TAG,TAG[,...]", help="train nothing: score the scratch translators "
                    "that these --save-models runs wrote, decoding together (aekit.models.translate_ensemble); "
                    "pretrained=TAG takes that run's pretrained translator")
    ap.add_argument("--mbr", type=int, default=0, metavar="N", help="also decode by minimum Bayes risk "
                    "(aekit.tasks.mbr): the chosen beam's rows and N ε-samples per sentence as candidates, the "
                    "samples as pseudo-references, chrF as the utility; scored on validation and test beside the beam")
    ap.add_argument("--epsilon", type=float, default=0.02, help="with --mbr: ε of the ε-sampling")
    ap.add_argument("--mbr-test-only", action="store_true", help="with --mbr: decode only the test pairs by MBR "
                    "(half the time; no validation MBR score)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="smoke run: 2,000 training pairs, 1 epoch each")
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    def named_runs(option, value, form):
        """(method or None, tag) of each comma-separated TAG or METHOD=TAG of an option's value."""
        out = []
        for item in value.split(","):
            name, sep, tag = item.rpartition("=")
            if (sep and name not in ("scratch", "pretrained")) or not tag:
                raise SystemExit(f"{option} {value}: give {form}, not {item!r}")
            out.append((name or None, tag))
        return out

    loads = {}  # --load-models: the run each translator's weights come from
    if args.load_models is not None:
        for name, tag in named_runs("--load-models", args.load_models, "TAG or scratch=TAG,pretrained=TAG"):
            for n in (name,) if name else ("scratch", "pretrained"):
                loads[n] = tag
        missing = [m for m in args.methods.split(",") if m in ("scratch", "pretrained") and m not in loads]
        if missing and not args.ensemble:  # refused before any data is read
            raise SystemExit(f"--load-models {args.load_models}: no run given for the {missing[0]} translator; "
                             f"add {missing[0]}=TAG or leave it out of --methods")

    ensemble = [(name or "scratch", tag) for name, tag in  # --ensemble: (method, tag) of each member
                named_runs("--ensemble", args.ensemble, "TAG or pretrained=TAG for each member")] if args.ensemble else []

    import torch

    import aekit
    from aekit.data.tokens import Tokenizer
    from aekit.models.seq2seq import Seq2Seq, ensemble_candidates, translate_ensemble
    from aekit.models.text_denoising import DenoisingSeqAE
    from aekit.tasks.mbr import mbr_translate
    from aekit.tasks.text import paired_bootstrap, text_metrics, translation_metrics

    t_all = time.perf_counter()
    train, val, test = splits()
    epochs, pre_epochs = args.epochs, args.pretrain_epochs
    beams = [int(k) for k in args.beam.split(",")]
    penalties = [float(a) for a in args.length_penalties.split(",")]
    if min(beams) < 1:
        raise SystemExit(f"--beam: beam widths are positive integers, got {args.beam}")
    if args.quick:
        train, epochs, pre_epochs = train[:2000], 1, 1
    print(f"{len(train)} training, {len(val)} validation, {len(test)} test pairs", flush=True)

    rows: dict[str, dict] = {}
    t0 = time.perf_counter()
    table = dictionary(DICT)
    hyp = [word_by_word(s, table) for s, _ in test]
    rows["dictionary"] = {**translation_metrics(hyp, [t for _, t in test]), "seconds": time.perf_counter() - t0,
                          "entries": len(table), "examples": hyp[:5]}
    print(f"dictionary: {len(table)} words, BLEU {rows['dictionary']['bleu']:.2f}", flush=True)

    val_hyp = [word_by_word(s, table) for s, _ in val]
    rows["dictionary"]["val"] = translation_metrics(val_hyp, [t for _, t in val])

    def paired(baseline, translations, ps, against="the dictionary"):
        """The paired bootstrap (aekit.tasks.text.paired_bootstrap: sacrebleu's, 1,000 resamples of
        the pairs `ps`, its seed 12345) of the translations against the baseline's on the same
        pairs: the two-sided p-value of each score's difference, and the 95% half-width of the
        translations' score."""
        r = paired_bootstrap(baseline, translations, [t for _, t in ps])
        out = {f"{m}_{k}": r[m][k] for m in ("bleu", "chrf") for k in ("p", "ci")}
        print(f"    against {against} (paired bootstrap): chrF p = {out['chrf_p']:.3f} "
              f"(± {out['chrf_ci']:.2f}), BLEU p = {out['bleu_p']:.3f}", flush=True)
        return out

    def against_dictionary(translations, on_val=False):
        """The paired bootstrap against the dictionary, on the test pairs or (``on_val``) the validation pairs."""
        return paired(val_hyp, translations, val) if on_val else paired(hyp, translations, test)

    tok = Tokenizer.train([s for s, _ in train] + [t for _, t in train], kind="bpe", vocab_size=args.vocab_size)
    src_len = tok.suggest_max_length([s for s, _ in train], 0.99, cap=128)
    tgt_len = tok.suggest_max_length([t for _, t in train], 0.99, cap=128)

    def encode(items, length):
        return tok.encode(items, length).ids

    def rows_of(ps):
        return np.concatenate([encode([s for s, _ in ps], src_len), encode([t for _, t in ps], tgt_len)], 1)

    x_train, x_test = rows_of(train), rows_of(test)
    if args.dict_pairs:  # the baseline's own resource, restricted to words the training sentences hold
        seen = {w.lower() for s, _ in train for w in WORD.findall(s) if w[0].isalnum()}
        words = [(w, table[w.lower()]) for w in sorted({w for s, _ in train for w in WORD.findall(s)
                                                        if w[0].isalnum() and w.lower() in table})]
        x_train = np.concatenate([x_train, rows_of(words)])
        print(f"{len(words)} dictionary word pairs added ({len(seen)} distinct training words)", flush=True)
    if args.arch == "text-transformer":  # feed_code and bidirectional are the recurrent networks' options
        net = {"embed_dim": args.embed_dim, "heads": args.heads, "layers": args.layers, "dropout": args.dropout,
               "tie_embeddings": args.tie_embeddings}
    else:
        if args.tie_embeddings:
            raise SystemExit("--tie-embeddings: only --arch text-transformer ties its decoder's embeddings")
        net = {"embed_dim": args.embed_dim, "feed_code": bool(args.feed_code), "dropout": args.dropout,
               "bidirectional": args.bidirectional}
    opts = {"vocab_size": tok.vocab_size, "latent_dim": args.latent_dim, "hidden": (args.hidden,),
            "arch": args.arch, "net_options": net}
    dae_opts = {**opts, "net_options": dict(opts["net_options"])}  # an autoencoder never attends
    opts["label_smoothing"] = args.label_smoothing  # the translator's option
    if args.attention:
        opts["net_options"]["attention"] = True

    def translate(model, ps, beam=1, length_penalty=1.0):
        """Translations of the pairs' sources by one translator or, given a list, by an ensemble."""
        src = torch.from_numpy(encode([s for s, _ in ps], src_len))
        if isinstance(model, list):
            out = [translate_ensemble(model, c, beam=beam, length_penalty=length_penalty) for c in src.split(256)]
        else:
            out = [model.translate(c, beam=beam, length_penalty=length_penalty) for c in src.split(256)]
        return tok.decode(torch.cat(out))

    def translate_mbr(model, ps, beam, length_penalty):
        """MBR translations of the pairs' sources (--mbr samples, drawn with --seed)."""
        src = torch.from_numpy(encode([s for s, _ in ps], src_len))
        kw = {"beam": beam, "samples": args.mbr, "length_penalty": length_penalty, "epsilon": args.epsilon,
              "generator": torch.Generator().manual_seed(args.seed)}
        if isinstance(model, list):
            return mbr_translate(lambda c: ensemble_candidates(model, c, **kw), src, tok.decode, args.mbr)
        return mbr_translate(lambda c: model.candidates(c, **kw), src, tok.decode, args.mbr)

    outputs: dict[str, dict[str, list[str]]] = {}  # each translator's full test translations, by decoding

    def test_scores(model, name):
        """Greedy and beam translations of the test pairs; with several --beam widths or
        --length-penalties, the beam's (width, penalty) is the one with the best chrF on the
        validation pairs. The test translations are kept in ``outputs[name]``."""
        refs = [t_ for _, t_ in test]
        combos = [(k, a) for k in beams for a in penalties]
        grid = {}
        if len(combos) > 1:
            for k, a in combos:
                m = grid[k, a] = translation_metrics(translate(model, val, k, a), [t for _, t in val])
                print(f"    beam {k}, length penalty {a}: val BLEU {m['bleu']:.2f} chrF {m['chrf']:.1f} "
                      f"length ratio {m['length_ratio']:.3f}", flush=True)
        width, alpha = max(grid, key=lambda c: grid[c]["chrf"]) if grid else combos[0]
        greedy = translate(model, test)
        beam = translate(model, test, width, alpha)
        outputs.setdefault(name, {})["beam"] = beam
        mbr = {}
        if args.mbr:  # MBR over the chosen beam's rows and the samples, on validation and test
            t_mbr = time.perf_counter()
            val_beam = val_mbr = val_vs = None
            if not args.mbr_test_only:
                val_beam = grid[width, alpha] if grid else translation_metrics(translate(model, val, width, alpha),
                                                                               [t for _, t in val])
                val_out = translate_mbr(model, val, width, alpha)
                val_mbr = translation_metrics(val_out, [t for _, t in val])
                val_vs = against_dictionary(val_out, on_val=True)
                print(f"    MBR ({args.mbr} samples, ε {args.epsilon:g}): val BLEU {val_mbr['bleu']:.2f} chrF "
                      f"{val_mbr['chrf']:.2f} against the beam's {val_beam['bleu']:.2f} / {val_beam['chrf']:.2f}",
                      flush=True)
            test_mbr = translate_mbr(model, test, width, alpha)
            outputs.setdefault(name, {})["mbr"] = test_mbr
            mbr = {**{f"mbr_{k}": v for k, v in translation_metrics(test_mbr, refs).items()},
                   "mbr_samples": args.mbr, "mbr_epsilon": args.epsilon,
                   "val_mbr": val_mbr, "val_beam": val_beam, "mbr_vs_dictionary": against_dictionary(test_mbr),
                   "val_mbr_vs_dictionary": val_vs,
                   "mbr_seconds": time.perf_counter() - t_mbr, "mbr_examples": test_mbr[:5]}
            print(f"    MBR test BLEU {mbr['mbr_bleu']:.2f} chrF {mbr['mbr_chrf']:.2f}", flush=True)
        return {**mbr, **{f"greedy_{k}": v for k, v in translation_metrics(greedy, refs).items()},
                **{f"beam_{k}": v for k, v in translation_metrics(beam, refs).items()},
                "beam": width, "length_penalty": alpha, "beam_vs_dictionary": against_dictionary(beam),
                "val_beam_grid": [{"beam": k, "length_penalty": a, **m} for (k, a), m in grid.items()],
                "nll_token": None if isinstance(model, list) else text_metrics(model, x_test)["nll_token"],
                "examples": beam[:5]}

    def weights_path(tag, name):
        """Where --save-models --tag TAG keeps the translator `name`'s weights."""
        return OUT / "runs" / f"translate_de_en{tag}_{name}.pt"

    def weights(tag, name, option="--load-models"):
        path = weights_path(tag, name)
        if not path.exists():
            raise SystemExit(f"{option} {tag}: {path} does not exist; run the benchmark with --save-models --tag "
                             f"{tag} (and the same options) first")
        return torch.load(path, weights_only=True)

    def load(model, name):
        """--load-models: the saved weights of `name` scored like a trained translator."""
        tag = loads[name.removesuffix("_averaged")]  # every method's run was checked at the start
        model.load_state_dict(weights(tag, name))
        loaded = weights_path(tag, name).name
        v = translation_metrics(translate(model, val), [t for _, t in val])
        print(f"  {name} loaded from {loaded}: val BLEU {v['bleu']:.2f} chrF {v['chrf']:.1f}", flush=True)
        return {**test_scores(model, name), "val_bleu": v["bleu"], "val_chrf": v["chrf"], "loaded": loaded}

    def save(model, name):
        if args.save_models:
            (OUT / "runs").mkdir(parents=True, exist_ok=True)
            torch.save(model.state_dict(), weights_path(args.tag, name))

    def fit_pairs(model, name):
        """Train on the pairs; keep the weights of the best validation BLEU (greedy). With
        --average-last N, the mean of the last N epochs' weights is scored too."""
        if args.load_models is not None:
            averaged = {}
            if args.average_last:
                averaged = {"averaged": {**load(model, f"{name}_averaged"), "epochs_averaged": args.average_last}}
            return {**load(model, name), **averaged}
        best = {"bleu": -1.0}
        curve = []
        last = collections.deque(maxlen=args.average_last or 1)

        def on_epoch(trainer, m, epoch, row):
            v = translation_metrics(translate(m, val), [t for _, t in val])
            curve.append({"epoch": epoch, "val_bleu": v["bleu"], "val_chrf": v["chrf"],
                          "train_loss": row.get("train_loss")})
            print(f"  {name} epoch {epoch}: val BLEU {v['bleu']:.2f} chrF {v['chrf']:.1f}", flush=True)
            state = {k: t.clone() for k, t in m.state_dict().items()}
            if v["bleu"] > best["bleu"]:
                best.update(v, epoch=epoch, state=state)
            last.append(state)

        t = time.perf_counter()
        aekit.Trainer(epochs=epochs, batch_size=64, lr=args.lr, lr_schedule=args.lr_schedule, seed=args.seed,
                      val_split=0.0, progress=False, callbacks=[on_epoch]).fit(model, x_train)
        seconds = time.perf_counter() - t
        averaged = {}
        if args.average_last:  # floating tensors averaged over the kept epochs, the others from the last
            model.load_state_dict({k: torch.stack([s_[k] for s_ in last]).mean(0) if last[-1][k].is_floating_point()
                                   else last[-1][k] for k in last[-1]})
            v = translation_metrics(translate(model, val), [t for _, t in val])
            print(f"  {name} last {len(last)} epochs averaged: val BLEU {v['bleu']:.2f} chrF {v['chrf']:.1f}", flush=True)
            save(model, f"{name}_averaged")
            averaged = {"averaged": {**test_scores(model, f"{name}_averaged"), "val_bleu": v["bleu"], "val_chrf": v["chrf"],
                                     "epochs_averaged": len(last)}}
        model.load_state_dict(best.pop("state"))
        save(model, name)
        return {**test_scores(model, name), "best_epoch": best["epoch"], "val_bleu": best["bleu"], "curve": curve,
                "seconds": seconds, **averaged}

    methods = args.methods.split(",")
    if args.ensemble:  # the saved translators of several runs, decoding together
        tags = args.ensemble.split(",")  # as given, for the printout and the JSON
        members = []
        for method, tag in ensemble:
            m = Seq2Seq(input_shape=(src_len + tgt_len,), source_length=src_len, **opts)
            m.load_state_dict(weights(tag, method, "--ensemble"))
            members.append(m.eval())
        v = translation_metrics(translate(members, val), [t for _, t in val])
        print(f"  ensemble of {', '.join(tags)}: val BLEU {v['bleu']:.2f} chrF {v['chrf']:.1f}", flush=True)
        rows["ensemble"] = {**test_scores(members, "ensemble"), "val_bleu": v["bleu"], "val_chrf": v["chrf"],
                            "members": tags}
        methods = []
    if "scratch" in methods:
        torch.manual_seed(args.seed)
        scratch = Seq2Seq(input_shape=(src_len + tgt_len,), source_length=src_len, **opts)
        rows["scratch"] = fit_pairs(scratch, "scratch")

    if "pretrained" in methods and args.load_models is not None:
        torch.manual_seed(args.seed)
        pre = Seq2Seq(input_shape=(src_len + tgt_len,), source_length=src_len, **opts)
        rows["pretrained"] = fit_pairs(pre, "pretrained")
    elif "pretrained" in methods:
        t = time.perf_counter()
        daes = {}
        for side, length, col in (("de", src_len, 0), ("en", tgt_len, 1)):
            torch.manual_seed(args.seed)
            dae = DenoisingSeqAE(input_shape=(length,), **dae_opts)
            h = aekit.Trainer(epochs=pre_epochs, batch_size=64, lr=args.lr, seed=args.seed, val_split=0.0,
                              progress=False).fit(dae, encode([p[col] for p in train], length))
            daes[side] = dae
            print(f"  DAE {side}: train loss {h[-1]['train_loss']:.2f}", flush=True)
        pre_seconds = time.perf_counter() - t
        torch.manual_seed(args.seed)
        pre = Seq2Seq(input_shape=(src_len + tgt_len,), source_length=src_len, **opts).init_from(daes["de"], daes["en"])
        rows["pretrained"] = {**fit_pairs(pre, "pretrained"), "pretrain_seconds": pre_seconds}

    if "scratch" in outputs and "pretrained" in outputs:  # the pretraining claim, tested on the same test pairs
        rows["pretrained_vs_scratch"] = {
            how: paired(outputs["scratch"][how], outputs["pretrained"][how], test, f"scratch ({how})")
            for how in ("beam", "mbr") if how in outputs["scratch"] and how in outputs["pretrained"]}

    total = time.perf_counter() - t_all
    result = {"command": command("translate_de_en.py", argv), "machine": machine(), "train_pairs": len(train),
              "val_pairs": len(val), "test_pairs": len(test), "vocab_size": tok.vocab_size, "source_length": src_len,
              "target_length": tgt_len, "epochs": epochs, "pretrain_epochs": pre_epochs, "options": opts,
              "methods": rows, "seconds_total": total,
              "references": [t for _, t in test[:5]], "sources": [s for s, _ in test[:5]],
              "test_translations": outputs}  # every test translation, so that runs can be paired later
    network = (f"transformer {args.layers}×{args.embed_dim}, ffn {args.hidden}" if args.arch == "text-transformer"
               else f"{args.arch.removeprefix('text-').upper()} {args.hidden}")
    how = (f"the translators of the --save-models runs {args.ensemble!r} (scratch unless named) decoding together (the mean of "
           "their next-token probabilities)." if args.ensemble else
           f"weights loaded from the --save-models run {args.load_models!r}." if args.load_models is not None else
           f"{epochs} epochs (best validation BLEU kept), DAE pretraining {pre_epochs} epochs per side.")
    lines = [f"`{result['command']}` — {result['machine']}; {total:.0f} s in all",
             "", f"trans-de-en, {len(train):,} training / {len(val):,} validation / {len(test):,} test pairs (seed 0); "
             f"BPE {tok.vocab_size} tokens; rows {src_len} + {tgt_len} tokens; "
             f"{network}, code {args.latent_dim}"
             f"{', attention' if args.attention else ''}{', bidirectional' if args.bidirectional else ''}"
             f"{f', plus {len(x_train) - len(train):,} dictionary word pairs' if args.dict_pairs else ''}, "
             f"dropout {args.dropout}, label smoothing "
             f"{args.label_smoothing}, lr {args.lr}{' (cosine decay)' if args.lr_schedule == 'cosine' else ''}, "
             + how, "",
             "| method | test BLEU (greedy) | test chrF (greedy) | test BLEU (beam) | test chrF (beam) | val BLEU | "
             "best epoch | test NLL/token | length ratio (beam) | beam, length penalty | p, beam chrF vs dictionary | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|",
             f"| dictionary (word by word) | {rows['dictionary']['bleu']:.2f} | {rows['dictionary']['chrf']:.1f} | | | | "
             f"| | {rows['dictionary']['length_ratio']:.3f} | | | {rows['dictionary']['seconds']:.0f} |"]
    for name in [m for m in ("scratch", "pretrained", "ensemble") if m in rows]:
        r = rows[name]
        secs = f"{r['seconds'] + r.get('pretrain_seconds', 0.0):.0f}" if "seconds" in r else "loaded"
        lines.append(f"| seq2seq {name} | {r['greedy_bleu']:.2f} | {r['greedy_chrf']:.1f} | {r['beam_bleu']:.2f} | "
                     f"{r['beam_chrf']:.1f} | {r['val_bleu']:.2f} | {r.get('best_epoch', '')} | "
                     f"{'' if r['nll_token'] is None else format(r['nll_token'], '.3f')} | "
                     f"{r['beam_length_ratio']:.3f} | {r['beam']}, {r['length_penalty']:g} | "
                     f"{r['beam_vs_dictionary']['chrf_p']:.3f} | {secs} |")
        if "averaged" in r:
            a = r["averaged"]
            lines.append(f"| seq2seq {name}, last {a['epochs_averaged']} epochs averaged | {a['greedy_bleu']:.2f} | "
                         f"{a['greedy_chrf']:.1f} | {a['beam_bleu']:.2f} | {a['beam_chrf']:.1f} | {a['val_bleu']:.2f} | "
                         f"| {a['nll_token']:.3f} | {a['beam_length_ratio']:.3f} | {a['beam']}, {a['length_penalty']:g} | "
                         f"{a['beam_vs_dictionary']['chrf_p']:.3f} | |")
    mbr_rows = [(name, rows[name]) for name in ("scratch", "pretrained", "ensemble") if "mbr_bleu" in rows.get(name, {})]
    if mbr_rows:
        lines += ["", f"Minimum Bayes risk decoding (`--mbr {args.mbr} --epsilon {args.epsilon:g}`): candidates are the "
                  "beam's rows and the ε-samples, pseudo-references the samples, utility sentence chrF; "
                  "p: paired bootstrap against the dictionary.", "",
                  "| method | val BLEU / chrF, beam | val BLEU / chrF, MBR | test BLEU / chrF, beam | "
                  "test BLEU / chrF, MBR | length ratio, MBR | p, MBR chrF vs dictionary | p, MBR BLEU | "
                  "p, val MBR chrF / BLEU | MBR seconds |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for name, r in mbr_rows:
            vb, vm, d = r["val_beam"], r["val_mbr"], r["mbr_vs_dictionary"]
            vd = r["val_mbr_vs_dictionary"]
            val_p = "—" if vd is None else f"{vd['chrf_p']:.3f} / {vd['bleu_p']:.3f}"
            val_cols = "— | — |" if vb is None else f"{vb['bleu']:.2f} / {vb['chrf']:.2f} | {vm['bleu']:.2f} / {vm['chrf']:.2f} |"
            lines.append(f"| seq2seq {name} | {val_cols} "
                         f"{r['beam_bleu']:.2f} / {r['beam_chrf']:.2f} | {r['mbr_bleu']:.2f} / {r['mbr_chrf']:.2f} | "
                         f"{r['mbr_length_ratio']:.3f} | {d['chrf_p']:.3f} | {d['bleu_p']:.3f} | {val_p} | "
                         f"{r['mbr_seconds']:.0f} |")
    if "pretrained_vs_scratch" in rows:
        lines += ["", "Pretrained against scratch on the same test pairs (paired bootstrap, 1,000 resamples):", "",
                  "| decoding | scratch BLEU / chrF | pretrained BLEU / chrF | p, chrF | p, BLEU |", "|---|---|---|---|---|"]
        for how, d in rows["pretrained_vs_scratch"].items():
            sc, pr = rows["scratch"], rows["pretrained"]
            lines.append(f"| {how} | {sc[how + '_bleu']:.2f} / {sc[how + '_chrf']:.2f} | "
                         f"{pr[how + '_bleu']:.2f} / {pr[how + '_chrf']:.2f} | {d['chrf_p']:.3f} | {d['bleu_p']:.3f} |")
    write_results("translate_de_en", args.tag, result, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
