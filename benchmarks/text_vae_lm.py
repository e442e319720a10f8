"""Benchmark T1: the sentence VAE against a recurrent language model of the same size on the
fortunes collection (Bowman et al. 2016, §4: on the Penn Treebank the VAE's NLL was slightly
above the LM's, 101 vs 100 nats, with a small but non-zero KL).

Data: the 40 fortune files of ../shared/data/text/fortunes (the ``copyright`` file left out),
items = blocks between ``%`` lines (aekit.data.text.read_text), split with seed 0 into
test (10%), validation (5%) and training (the rest). One byte-level BPE tokenizer
(8,000 tokens) trained on the training items; rows of L tokens (the 99th percentile of the
training items, at most ``--max-length``); longer items are truncated, for both models alike.

Models, trained in the same run on the same rows by aekit.Trainer (the same length-bucketed
batches), Adam (lr 1e-3, batch 64), ``--epochs`` epochs, the weights of the best validation
epoch kept:

  lm         a GRU language model: the VAEs' decoder network (embedding, GRU, output layer)
             with its code held at zero, so its initial state is a learned vector: exact −log p(x)
  vae        aekit.SentenceVAE with the same decoder, KL annealing over ``--kl-anneal`` steps
             (Bowman et al.); validation by −ELBO
  vae-fb     the same with free bits λ = ``--free-bits`` nats per code dimension (Kingma et al.
             2016)

Test: NLL per item in nats (summed over its tokens, EOS included) — the LM's exact value, the
VAE's importance-sampled bound with K = ``--nll-samples`` (aekit.likelihoods.log_marginal:
a bound on −log p(x) that tightens with K) — per token and as perplexity; the VAE's KL and
active units (Burda et al. 2015).

    python benchmarks/text_vae_lm.py              # full run
    python benchmarks/text_vae_lm.py --quick      # smoke run: 1,000 items, 1 epoch, K = 5

Writes benchmarks/results/text_vae_lm{tag}.{json,md}. Run with OMP_NUM_THREADS=1.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from _common import DATA, command, machine, write_results

FORTUNES = DATA / "text" / "fortunes"


def fortunes(root) -> list[str]:
    from aekit.data.text import read_text

    items = []
    for f in sorted(p for p in root.iterdir() if p.is_file() and p.name != "copyright"):
        items += read_text(f, separator="%").texts
    return items


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--embed-dim", type=int, default=128)
    ap.add_argument("--latent-dim", type=int, default=32)
    ap.add_argument("--vocab-size", type=int, default=8000)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--kl-anneal", type=int, default=2000, help="steps of KL annealing (both VAEs)")
    ap.add_argument("--free-bits", type=float, default=0.1, help="λ of vae-fb, nats per code dimension")
    ap.add_argument("--nll-samples", type=int, default=100, help="K of the VAE's importance-sampled bound")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    import torch

    import aekit
    from aekit.data.tokens import PAD, Tokenizer
    from aekit.likelihoods import log_marginal
    from aekit.models import Output, SeqAE
    from aekit.models.text import teacher_inputs, token_nll, trim
    from aekit.nets.modes import eval_mode
    from aekit.tasks.text import TextRun, text_metrics

    t_all = time.perf_counter()
    items = fortunes(FORTUNES)
    perm = np.random.default_rng(0).permutation(len(items))
    n_test, n_val = len(items) // 10, len(items) // 20
    test = [items[i] for i in perm[:n_test]]
    val = [items[i] for i in perm[n_test:n_test + n_val]]
    train = [items[i] for i in perm[n_test + n_val:]]
    epochs, k = args.epochs, args.nll_samples
    if args.quick:
        train, val, test, epochs, k = train[:1000], val[:200], test[:200], 1, 5
    tok = Tokenizer.train(train, kind="bpe", vocab_size=args.vocab_size)
    length = tok.suggest_max_length(train, 0.99, cap=args.max_length)
    enc = {name: tok.encode(part, length) for name, part in (("train", train), ("val", val), ("test", test))}
    x = {name: e.ids for name, e in enc.items()}
    tokens = {name: int((v != PAD).sum()) for name, v in x.items()}
    print(f"{len(train)}/{len(val)}/{len(test)} items, rows of {length} tokens "
          f"({enc['train'].truncated} training items truncated), {tokens['train']:,} training tokens", flush=True)

    class LanguageModel(SeqAE):
        """The decoder network of the VAEs with its code held at zero, so its initial state is a
        learned vector: a GRU language model, trained by aekit.Trainer on the same batches.
        (The encoder the family builds is never used; its parameters are not counted.)"""

        def forward(self, xb):
            xb = trim(xb)
            z = torch.zeros(len(xb), self.config.latent_dim)
            nll = token_nll(self.decoder(z, teacher_inputs(xb)), xb).sum(1)
            return Output(loss=nll.mean(), terms={"recon": nll.detach().mean()}, recon=xb, z=z)

        def nll(self, ids):  # exact −log p(x) per row, nats
            def one(c):
                c = trim(c)
                return token_nll(self.decoder(torch.zeros(len(c), self.config.latent_dim), teacher_inputs(c)), c).sum(1)

            with torch.inference_mode(), eval_mode(self):
                return torch.cat([one(c) for c in torch.from_numpy(ids).split(256)]).double()

    def fit(model, name, validate):
        state, curve = {"best": math.inf}, []

        def on_epoch(trainer, m, epoch, row):
            v = validate(m)
            curve.append({"epoch": epoch, **v, "train_loss": row.get("train_loss")})
            print(f"  {name} epoch {epoch}: " + " ".join(f"{k} {x_:.3g}" for k, x_ in v.items()), flush=True)
            if v["val"] < state["best"]:
                state.update(best=v["val"], epoch=epoch, weights={k_: t.clone() for k_, t in m.state_dict().items()})

        t0 = time.perf_counter()
        aekit.Trainer(epochs=epochs, batch_size=64, lr=1e-3, seed=args.seed, val_split=0.0, progress=False,
                      callbacks=[on_epoch]).fit(model, x["train"])
        model.load_state_dict(state["weights"])
        return {"best_epoch": state["epoch"], "curve": curve, "seconds": time.perf_counter() - t0}

    rows: dict[str, dict] = {}
    net = {"vocab_size": tok.vocab_size, "latent_dim": args.latent_dim, "hidden": (args.hidden,),
           "net_options": {"embed_dim": args.embed_dim}}

    # -- the language model ---------------------------------------------------------------------------
    torch.manual_seed(args.seed)
    lm = LanguageModel(input_shape=(length,), **net)
    info = fit(lm, "lm", lambda m: {"val": float(m.nll(x["val"]).mean())})
    nll = lm.nll(x["test"])
    rows["lm"] = {"nll": float(nll.mean()), "nll_token": float(nll.sum() / tokens["test"]), **info,
                  "params": sum(p.numel() for p in lm.decoder.parameters())}

    # -- the sentence VAEs: aekit.Trainer ----------------------------------------------------------
    for name, fb in (("vae", 0.0), ("vae-fb", args.free_bits)):
        torch.manual_seed(args.seed)
        vae = aekit.SentenceVAE(input_shape=(length,), vocab_size=tok.vocab_size, latent_dim=args.latent_dim,
                                hidden=(args.hidden,), net_options={"embed_dim": args.embed_dim},
                                kl_anneal=args.kl_anneal, free_bits=fb)
        def validate(m):
            met = text_metrics(m, x["val"])
            return {"val": met["neg_elbo"], "kl": met["kl"], "active_units": met["active_units"]}

        info = fit(vae, name, validate)
        met = text_metrics(vae, x["test"])
        torch.manual_seed(args.seed)
        t1 = time.perf_counter()
        bound = -log_marginal(vae, x["test"], n_samples=k, batch_size=64, progress=False).double()
        rows[name] = {"nll": float(bound.mean()), "nll_token": float(bound.sum() / tokens["test"]),
                      "kl": met["kl"], "active_units": met["active_units"], "neg_elbo_mean": met["neg_elbo"],
                      "recon_nll_at_mean": met["nll"], "free_bits": fb, **info,
                      "bound_seconds": time.perf_counter() - t1, "params": vae.n_params(),
                      "samples": TextRun(vae, tok, {}, None).sample(5, temperature=1.0, seed=0)}

    total = time.perf_counter() - t_all
    result = {"command": command("text_vae_lm.py", argv), "machine": machine(), "items": [len(train), len(val), len(test)],
              "tokens": tokens, "length": length, "truncated": {n: int(e.truncated) for n, e in enc.items()},
              "vocab_size": tok.vocab_size, "epochs": epochs, "nll_samples": k, "args": vars(args), "rows": rows,
              "seconds_total": total}
    lines = [f"`{result['command']}` — {result['machine']}; {total:.0f} s in all", "",
             f"fortunes: {len(train):,} training / {len(val):,} validation / {len(test):,} test items (seed 0), "
             f"{tokens['test']:,} test tokens; BPE {tok.vocab_size}; rows of {length} tokens "
             f"({enc['test'].truncated} test items truncated); GRU {args.hidden}, embedding {args.embed_dim}, "
             f"code {args.latent_dim}; {epochs} epochs, best validation epoch kept; VAE NLL: K = {k} importance samples.",
             "", "| model | test NLL (nats/item) | per token | perplexity | KL | active units | parameters | best epoch "
             "| seconds |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['nll']:.2f} | {r['nll_token']:.4f} | {math.exp(r['nll_token']):.1f} | "
                     f"{r.get('kl', float('nan')):.2f} | {r.get('active_units', '')} | {r['params']:,} | "
                     f"{r['best_epoch']} | {r['seconds']:.0f} |")
    write_results("text_vae_lm", args.tag, result, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
