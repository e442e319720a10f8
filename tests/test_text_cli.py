"""A text run end to end through the command line: train a text family on real sentences, then
sample, reconstruct, interpolate, embed, detect and evaluate it; and the text run's errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import aekit
from aekit.cli import main
from aekit.tasks.text import TextRun, split_items
from conftest import SHARED, need

pytestmark = pytest.mark.usefixtures("one_thread")

PAIRS = SHARED / "text" / "trans-de-en" / "sentence_pairs.tsv"


@pytest.fixture(scope="module")
def lines(tmp_path_factory):
    """The English side of the first 600 sentence pairs, one per line."""
    src = need(PAIRS)
    out = tmp_path_factory.mktemp("text") / "lines.txt"
    out.write_text("".join(line.split("\t")[1] for line in src.read_text(encoding="utf-8").splitlines(True)[:600]))
    return out


@pytest.fixture(scope="module")
def run(lines, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "vae"
    assert main(["train", "--model", "sentence_vae", "--data", str(lines), "--out", str(out), "--epochs", "5", "--batch-size", "16",
                 "--vocab-size", "600", "--hidden", "48", "--latent-dim", "8", "--kl-anneal", "50",
                 "--lr", "0.003", "--quiet"]) == 0
    return out


def test_train_writes_a_text_run_with_its_tokenizer_and_test_metrics(run):
    cfg = json.loads((run / "config.json").read_text())
    text = cfg["data"]["text"]
    assert text["train_items"] + text["test_items"] == 600 and text["test_items"] == 60
    assert (run / "tokenizer.json").is_file() and (run / "model.safetensors").is_file()
    m = json.loads((run / "metrics.json").read_text())
    assert m["split"] == "test" and m["items"] == 60
    # five short epochs on 540 sentences: well below a uniform guess over the vocabulary
    assert m["nll_token"] < 0.8 * np.log(text["vocab_size"])
    assert m["kl"] >= 0 and 0 <= m["active_units"] <= 8
    assert cfg["model_class"] == "SentenceVAE" and cfg["model"]["input_shape"] == [text["max_length"]]


def test_the_split_is_seeded_and_the_tokenizer_never_saw_the_test_items():
    texts = [f"item {i}" for i in range(100)]
    a, b = split_items(texts, 0.1, 0), split_items(texts, 0.1, 0)
    assert a == b and len(a[1]) == 10 and not set(a[0]) & set(a[1])
    assert split_items(texts, 0.1, 1)[1] != a[1]


def test_sample_reconstruct_and_interpolate_print_text(run, capsys):
    assert main(["sample", str(run), "-n", "3", "--temperature", "0.7", "--seed", "1"]) == 0
    first = capsys.readouterr().out.rstrip("\n").split("\n")
    assert len(first) == 3
    assert main(["sample", str(run), "-n", "3", "--temperature", "0.7", "--seed", "1"]) == 0
    assert capsys.readouterr().out.rstrip("\n").split("\n") == first  # seeded
    assert main(["reconstruct", str(run), "I enjoyed my supper.", "They come in all shapes."]) == 0
    out = capsys.readouterr().out
    assert "I enjoyed my supper." in out and out.count("→") == 2
    assert main(["interpolate", str(run), "I enjoyed my supper.", "They come in all shapes.", "--steps", "4"]) == 0
    assert len(capsys.readouterr().out.rstrip("\n").split("\n")) == 4


def test_interpolation_ends_are_the_reconstructions(run):
    r = TextRun.load(run)
    a, b = "I enjoyed my supper.", "They come in all shapes."
    path = r.interpolate(a, b, steps=3)
    assert path[0] == r.reconstruct([a])[0] and path[-1] == r.reconstruct([b])[0]


def test_embed_and_detect_read_the_file_as_training_did(run, lines, tmp_path, capsys):
    assert main(["embed", str(run), "--data", str(lines), "--out", str(tmp_path / "codes.npy")]) == 0
    codes = np.load(tmp_path / "codes.npy")
    assert codes.shape == (600, 8) and np.isfinite(codes).all()
    odd = tmp_path / "odd.txt"
    normal = lines.read_text().splitlines()[:50]
    odd.write_text("\n".join(normal + ["zq xv kj wq pf zz qx vv kk jj xx", "qqqq zzzz xxxx vvvv jjjj kkkk"]) + "\n")
    assert main(["detect", str(run), "--data", str(odd), "--out", str(tmp_path / "s.csv"),
                 "--contamination", "0.05"]) == 0
    rows = (tmp_path / "s.csv").read_text().rstrip("\n").split("\n")
    assert rows[0] == "index,score,is_anomaly,text" and len(rows) == 53
    scores = np.array([float(r.split(",")[1]) for r in rows[1:]])
    assert scores[-2:].min() > np.quantile(scores[:50], 0.9)  # gibberish scores above normal sentences
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["score"] == "neg_elbo" and summary["n"] == 52


def test_the_report_shows_the_text_sections(run, tmp_path, capsys):
    page = (run / "report.html").read_text()  # written by aekit train
    for part in ("Summary", "Training curves", "KL per code dimension", "Reconstructions", "Samples", "Homotopy",
                 "sentence_vae (SentenceVAE)"):
        assert part in page, part
    assert 'class="note"' not in page  # nothing left out
    moved = tmp_path / "moved"
    import shutil

    shutil.copytree(run, moved)
    cfg = json.loads((moved / "config.json").read_text())
    cfg["data"]["text"]["source"] = str(tmp_path / "gone.txt")  # the training file is no longer there
    (moved / "config.json").write_text(json.dumps(cfg))
    assert main(["report", str(moved)]) == 0
    page = (moved / "report.html").read_text()
    assert "Summary" in page and "Homotopy" not in page and "gone.txt" in page  # a note says why


def test_evaluate_recomputes_the_test_metrics(run, capsys):
    before = json.loads((run / "metrics.json").read_text())
    assert main(["evaluate", str(run), "--json", "--nll-samples", "8"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert after["items"] == before["items"] and after["nll"] == pytest.approx(before["nll"], rel=1e-6)
    # the k-sample bound is a bound on −log p(x); the reported −ELBO is at the posterior mean, so
    # the two are close but not ordered (tests/test_text_models.py checks k = 64 against k = 1)
    assert after["nll_samples"] == 8 and after["nll_bound"] == pytest.approx(after["neg_elbo"], rel=0.1)


def test_text_run_errors_are_one_line(run, lines, tmp_path, capsys):
    cases = [
        (["train", "--model", "seqae", "--out", str(tmp_path / "a")], "--data"),
        (["train", "--model", "seqae", "--data", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "b")],
         "missing.txt"),
        (["train", "--model", "seqae", "--data", str(lines), "--window", "8", "--out", str(tmp_path / "c")], "--window"),
        (["sample", str(run), "-n", "0"], "-n"),
        (["interpolate", str(run), "only one"], "two items"),
    ]
    for argv, needle in cases:
        assert main(argv) != 0, argv
        err = capsys.readouterr().err.strip()
        assert needle in err and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    seqae = tmp_path / "seqae"
    small = tmp_path / "small.txt"
    small.write_text("".join(f"line {i}\n" for i in range(30)))
    assert main(["train", "--model", "seqae", "--data", str(small), "--out", str(seqae), "--epochs", "1",
                 "--vocab-size", "300", "--hidden", "8", "--quiet"]) == 0
    assert main(["sample", str(seqae)]) != 0
    assert "no prior" in capsys.readouterr().err
    assert isinstance(aekit.load(seqae), aekit.SeqAE)


def test_no_truncate_refuses_long_items_at_training_and_at_every_later_command(lines, tmp_path, capsys):
    base = ["train", "--model", "seqae", "--data", str(lines), "--epochs", "1", "--vocab-size", "300",
            "--hidden", "8", "--latent-dim", "4", "--quiet", "--no-truncate"]
    assert main([*base, "--max-length", "6", "--out", str(tmp_path / "short")]) != 0
    err = capsys.readouterr().err.strip()
    assert "--max-length" in err and "lines.txt" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "short").exists()
    # without --max-length the default length holds every training item, so nothing is cut
    assert main([*base, "--out", str(tmp_path / "whole")]) == 0
    text = json.loads((tmp_path / "whole" / "config.json").read_text())["data"]["text"]
    assert text["truncate"] is False and text["truncated"] == 0
    r = TextRun.load(tmp_path / "whole")
    long_item = " ".join(["word"] * 4 * text["max_length"])
    with pytest.raises(aekit.AekitError, match="--no-truncate"):
        r.encode([long_item])
    assert main(["reconstruct", str(tmp_path / "whole"), long_item]) != 0
    assert "--no-truncate" in capsys.readouterr().err
    # a run trained without it cuts the item and says so
    assert main(["train", *base[1:-1], "--max-length", "6", "--out", str(tmp_path / "cut")]) == 0
    assert TextRun.load(tmp_path / "cut").encode([long_item]).shape == (1, 6)


@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    src = need(PAIRS)
    pairs = tmp_path_factory.mktemp("pairs") / "pairs.tsv"
    pairs.write_text("".join(src.read_text(encoding="utf-8").splitlines(True)[:400]), encoding="utf-8")
    out = tmp_path_factory.mktemp("runs") / "s2s"
    assert main(["train", "--model", "seq2seq", "--data", str(pairs), "--target-column", "2", "--out", str(out),
                 "--epochs", "1", "--vocab-size", "400", "--hidden", "16", "--latent-dim", "8", "--beam", "2",
                 "--quiet"]) == 0
    return pairs, out


def test_a_translation_run_trains_on_pairs_and_translates(translator, tmp_path, capsys):
    pairs, run = translator
    capsys.readouterr()  # what training printed
    m = json.loads((run / "metrics.json").read_text())
    assert m["items"] == 40 and m["beam"] == 2 and {"bleu", "chrf", "nll_token"} <= set(m)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model_class"] == "Seq2Seq" and cfg["data"]["text"]["read"]["target_column"] == 2
    page = (run / "report.html").read_text()
    assert "Translations" in page and "reference" in page and "Samples" not in page
    assert main(["translate", str(run), "Ich habe heute keine Zeit.", "Das Abendessen hat mir geschmeckt.",
                 "--beam", "3"]) == 0
    assert len(capsys.readouterr().out.split("\n")) == 3  # two lines and the final newline
    assert main(["translate", str(run), "Guten Morgen!", "--beam", "3", "--length-penalty", "2"]) == 0
    assert len(capsys.readouterr().out.split("\n")) == 2
    src = tmp_path / "de.txt"
    src.write_text("Ich habe heute keine Zeit.\nDas Abendessen hat mir geschmeckt.\nGuten Morgen!\n", encoding="utf-8")
    assert main(["translate", str(run), "--data", str(src), "--out", str(tmp_path / "en.txt")]) == 0
    assert len((tmp_path / "en.txt").read_text(encoding="utf-8").split("\n")) == 4
    r = TextRun.load(run)
    assert r.translate(["Guten Morgen!"]) == r.reconstruct(["Guten Morgen!"])
    # an ensemble of the run with itself averages equal probabilities: the run's own translations
    capsys.readouterr()
    assert main(["translate", str(run), "Guten Morgen!", "Das Abendessen hat mir geschmeckt.", "--beam", "3"]) == 0
    alone = capsys.readouterr().out
    assert main(["translate", str(run), "Guten Morgen!", "Das Abendessen hat mir geschmeckt.", "--beam", "3",
                 "--ensemble", str(run)]) == 0
    assert capsys.readouterr().out == alone
    # MBR: the same seed gives the same pick, which is one of the run's own candidates
    said = []
    for _ in range(2):
        assert main(["translate", str(run), "Guten Morgen!", "Das Abendessen hat mir geschmeckt.", "--beam", "3",
                     "--mbr", "6", "--seed", "1"]) == 0
        said.append(capsys.readouterr().out)
    assert said[0] == said[1] and len(said[0].split("\n")) == 3
    one = ["Das Abendessen hat mir geschmeckt."]
    src = r.encode(one)[:, :r.max_length]
    cands = r.tokenizer.decode(r.model.candidates(src, beam=3, samples=6, epsilon=0.02,
                                                  generator=torch.Generator().manual_seed(1))[0])
    assert r.translate(one, beam=3, mbr=6, seed=1)[0] in cands
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["items"] == 40  # the same test pairs, read and split again
    assert again["bleu"] == pytest.approx(m["bleu"]) and again["chrf"] == pytest.approx(m["chrf"])


def test_translation_errors_are_one_line(translator, run, tmp_path, capsys):
    pairs, s2s = translator
    cases = [
        (["train", "--model", "seq2seq", "--data", str(pairs), "--out", str(tmp_path / "a")], "--target-column"),
        (["train", "--model", "seqae", "--data", str(pairs), "--target-column", "2", "--out", str(tmp_path / "b")],
         "--target-column"),
        (["translate", str(run), "Guten Morgen!"], "not a translator"),
        (["translate", str(s2s)], "sentences to translate"),
        (["translate", str(s2s), "--data", str(pairs)], "--out"),
        (["translate", str(s2s), "Guten Morgen!", "--beam", "0"], "--beam"),
        (["translate", str(s2s), "Guten Morgen!", "--length-penalty", "2"], "--beam N"),
        (["translate", str(s2s), "Guten Morgen!", "--beam", "3", "--length-penalty", "-1"], "--length-penalty"),
        (["detect", str(s2s), "--data", str(pairs), "--out", str(tmp_path / "s.csv")], "translator"),
        (["translate", str(s2s), "Guten Morgen!", "--ensemble", str(run)], "not a translator"),
        (["translate", str(s2s), "Guten Morgen!", "--mbr", "-1"], "--mbr"),
        (["translate", str(s2s), "Guten Morgen!", "--mbr", "4", "--epsilon", "1"], "--epsilon"),
    ]
    other = tmp_path / "other"  # a translator whose tokenizer has another vocabulary
    assert main(["train", "--model", "seq2seq", "--data", str(pairs), "--target-column", "2", "--out", str(other),
                 "--epochs", "1", "--vocab-size", "300", "--hidden", "16", "--latent-dim", "8", "--quiet",
                 "--no-report"]) == 0
    cases.append((["translate", str(s2s), "Guten Morgen!", "--ensemble", str(other)], "tokenizer differs"))
    short = tmp_path / "short"  # the same tokenizer, shorter rows
    assert main(["train", "--model", "seq2seq", "--data", str(pairs), "--target-column", "2", "--out", str(short),
                 "--epochs", "1", "--vocab-size", "400", "--max-length", "12", "--hidden", "16", "--latent-dim", "8",
                 "--quiet", "--no-report"]) == 0
    cases.append((["translate", str(s2s), "Guten Morgen!", "--ensemble", str(short)], "rows (12 source tokens"))
    for argv, needle in cases:
        assert main(argv) != 0, argv
        err = capsys.readouterr().err.strip()
        assert needle in err and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "a").exists() and not (tmp_path / "s.csv").exists()


def test_pretraining_starts_the_translator_from_a_denoising_autoencoder_of_each_side(translator):
    from aekit.data.tokens import Tokenizer
    from aekit.models import DenoisingSeqAE, Seq2Seq
    from aekit.text_run import pretrain_translator

    pairs, _ = translator
    items = [line.split("\t")[:2] for line in pairs.read_text(encoding="utf-8").splitlines()[:120]]
    tok = Tokenizer.train([t for p in items for t in p], kind="char", vocab_size=200)
    x = np.concatenate([tok.encode([p[0] for p in items], 24).ids, tok.encode([p[1] for p in items], 20).ids], 1)
    net_opts = {"embed_dim": 8}
    net = Seq2Seq(input_shape=(44,), source_length=24, vocab_size=tok.vocab_size, arch="text-gru", hidden=(16,),
                  latent_dim=8, net_options={**net_opts, "attention": True})
    own = {k: v.clone() for k, v in net.decoder.state_dict().items() if k.startswith(("score.", "combine."))}
    assert own  # the attending recurrent decoder has attention layers of its own
    cfg = aekit.TrainConfig(epochs=5, batch_size=32, seed=3, progress=False)
    info = pretrain_translator(net, x, 2, cfg)
    assert info["epochs"] == 2 and info["source_loss"] > 0 and info["target_loss"] > 0
    # the same autoencoders trained again, each on its side alone: the translator holds their parts
    for part, rows in (("encoder", x[:, :24]), ("decoder", x[:, 24:])):
        torch.manual_seed(3)
        dae = DenoisingSeqAE(input_shape=(rows.shape[1],), vocab_size=tok.vocab_size, arch="text-gru", hidden=(16,),
                             latent_dim=8, net_options={**net_opts, "feed_code": True})  # the translator's default
        aekit.Trainer(cfg.replace(epochs=2, val_split=0.0)).fit(dae, np.ascontiguousarray(rows))
        mine = getattr(net, part).state_dict()
        for k, v in getattr(dae, part).state_dict().items():
            assert torch.equal(mine[k], v), (part, k)
    for k, v in own.items():  # an autoencoder has no attention: the translator keeps its own
        assert torch.equal(net.decoder.state_dict()[k], v)
    with pytest.raises(aekit.AekitError, match="seq2seq"):
        pretrain_translator(DenoisingSeqAE(input_shape=(20,), vocab_size=tok.vocab_size), x[:, 24:], 1)
    with pytest.raises(aekit.AekitError, match="x_train"):
        pretrain_translator(net, x[:, :30], 1)


def test_pretrain_epochs_on_the_command_line(translator, lines, tmp_path, capsys):
    pairs, _ = translator
    out = tmp_path / "pre"
    argv = ["train", "--model", "seq2seq", "--data", str(pairs), "--target-column", "2", "--epochs", "1",
            "--vocab-size", "400", "--hidden", "16", "--latent-dim", "8", "--quiet", "--no-report"]
    assert main([*argv, "--out", str(out), "--pretrain-epochs", "1"]) == 0
    pre = json.loads((out / "config.json").read_text())["data"]["text"]["pretrained"]
    assert pre["epochs"] == 1 and pre["source_loss"] > 0 and pre["target_loss"] > 0
    assert main(["report", str(out)]) == 0
    assert "<th>pretraining</th><td>encoder and decoder from denoising autoencoders" in (out / "report.html").read_text()
    assert main([*argv, "--out", str(tmp_path / "scratch")]) == 0
    assert "pretrained" not in json.loads((tmp_path / "scratch" / "config.json").read_text())["data"]["text"]
    # the same seed from scratch ends elsewhere: the pretrained start was used
    a, b = TextRun.load(out).model.state_dict(), TextRun.load(tmp_path / "scratch").model.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)
    capsys.readouterr()
    for extra, needle in ((["--pretrain-epochs", "-1"], "--pretrain-epochs"),):
        assert main([*argv, "--out", str(tmp_path / "bad"), *extra]) != 0
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err, err
    for bad, needle in ((["train", "--model", "seqae", "--data", str(lines), "--pretrain-epochs", "1"],
                         "--pretrain-epochs: only seq2seq"),
                        (["train", "--data", "digits", "--pretrain-epochs", "1"], "--pretrain-epochs: an option of the text"),
                        (["train", "--data", "digits", "--beam", "3"], "--beam: an option of the text")):
        assert main([*bad, "--out", str(tmp_path / "bad")]) != 0
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "bad").exists()


def test_commands_for_other_runs_refuse_a_text_run_in_one_line(run, tmp_path, capsys):
    for argv in (["export", str(run)], ["denoise", str(run), "x.txt", "--out", str(tmp_path / "y.npy")],
                 ["traverse", str(run)], ["serve", str(run)]):
        assert main(argv) != 0, argv
        err = capsys.readouterr().err.strip()
        assert "is a text run" in err and len(err.splitlines()) == 1, err
