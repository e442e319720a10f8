"""Defaults sized to the data: the batch size fits small data, the epochs follow a budget of
optimizer steps (with early stopping), and ``aekit train`` picks the network from the data's
shape — each recorded in the run directory, each overridden by a value the user gives."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import aekit
from aekit.cli import main
from aekit.errors import AekitError
from aekit.train import TrainConfig
from aekit.train.defaults import resolve

pytestmark = pytest.mark.usefixtures("one_thread")


def _resolved(n_rows: int, **given):
    """The config a Trainer fits ``n_rows`` rows with (10% held out for validation, as it does)."""
    cfg = TrainConfig(**given)
    n_train = n_rows - int(round(cfg.val_split * n_rows))
    return resolve(cfg, n_train)


# -- the rule, without training ---------------------------------------------------------------
def test_the_documented_epochs_for_100_rows_mnist_and_a_million_rows():
    small, chosen = _resolved(100)  # 90 training rows: one batch of 90, one step per epoch
    assert (small.batch_size, small.epochs, small.early_stopping) == (90, 300, 30)
    assert set(chosen) == {"batch_size", "epochs", "early_stopping"}
    mnist, _ = _resolved(60_000)  # 54,000 rows: 211 batches of 256 → ceil(2000 / 211) = 10 epochs
    assert (mnist.batch_size, mnist.epochs, mnist.early_stopping) == (256, 10, 5)
    big, _ = _resolved(10**6)  # 900,000 rows: 3,516 batches per epoch, already past 2000 steps
    assert (big.batch_size, big.epochs, big.early_stopping) == (256, 3, 5)
    # the budget in between: 10,000 rows → 36 batches per epoch → ceil(2000 / 36) = 56 epochs
    mid, _ = _resolved(10_000)
    assert (mid.epochs, mid.early_stopping) == (56, 6)


def test_values_the_user_gives_are_kept():
    cfg, chosen = _resolved(100, epochs=7)
    assert (cfg.epochs, cfg.batch_size, cfg.early_stopping) == (7, 90, 0)  # no early stopping added
    assert set(chosen) == {"batch_size"}
    cfg, chosen = _resolved(10**6, batch_size=32, early_stopping=2)
    assert (cfg.batch_size, cfg.early_stopping, cfg.epochs) == (32, 2, 3) and set(chosen) == {"epochs"}
    # rows of tokens (the text families) take batches of 64
    assert resolve(TrainConfig(), 1000, tokens=True)[0].batch_size == 64
    assert resolve(TrainConfig(), 40, tokens=True)[0].batch_size == 40


def test_a_given_batch_size_larger_than_the_training_rows_is_still_refused():
    x = np.random.default_rng(0).random((40, 5)).astype(np.float32)
    with pytest.raises(AekitError, match=r"^batch_size: 64 is larger than the 36 training samples; use a batch size ≤ 36"):
        aekit.Trainer(batch_size=64, progress=False).fit(aekit.AE(input_shape=(5,), latent_dim=2), x)


def test_a_fit_with_the_defaults_records_what_it_used(tmp_path):
    x = np.random.default_rng(0).random((50, 4)).astype(np.float32)
    t = aekit.Trainer(progress=False, out_dir=tmp_path)
    t.fit(aekit.AE(input_shape=(4,), latent_dim=2, hidden=(8,)), x)
    assert t.requested.epochs is None and t.config.batch_size == 45 and t.config.epochs == 300
    assert 1 <= len(t.history) <= 300 and t.config.early_stopping == 30
    tr = json.loads((tmp_path / "config.json").read_text())["training"]
    assert (tr["batch_size"], tr["epochs"], tr["early_stopping"]) == (45, 300, 30)
    assert tr["epochs_trained"] == len(t.history) and set(tr["defaults"]) == {"batch_size", "epochs", "early_stopping"}
    if len(t.history) < 300:  # it stopped early: the best epoch is `patience` epochs before the last
        best = min(range(len(t.history)), key=lambda i: t.history[i]["val_loss"])
        assert best == len(t.history) - 1 - 30


# -- small data through the command, no options -----------------------------------------------
@pytest.fixture
def small_files(tmp_path):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(40, 2))
    rows = z @ rng.normal(size=(2, 5))
    (tmp_path / "t.csv").write_text("a,b,c,d,e\n" + "".join(",".join(f"{v:.4f}" for v in r) + "\n" for r in rows))
    (tmp_path / "imgs").mkdir()
    for i in range(30):
        a = np.zeros((16, 16), np.uint8)
        a[rng.integers(0, 8):, rng.integers(0, 8):] = 255  # a bright corner block of random size
        Image.fromarray(a).save(tmp_path / "imgs" / f"{i:02d}.png")
    return tmp_path


def _train(tmp_path, caplog, *args):
    with caplog.at_level(logging.INFO, logger="aekit"):
        code = main(["train", *args])
    return code, [r.getMessage() for r in caplog.records if r.name.startswith("aekit")]


def test_a_40_row_csv_trains_with_no_options(small_files, monkeypatch, caplog, capsys):
    monkeypatch.chdir(small_files)
    code, logs = _train(small_files, caplog, "--data", "t.csv")
    assert code == 0, capsys.readouterr().err
    run = next((small_files / "runs").iterdir())
    cfg = json.loads((run / "config.json").read_text())
    # 40 rows: 32 train (80/20), of which 3 are held out for validation → batches of 29
    assert cfg["training"]["batch_size"] == 29 and cfg["training"]["epochs"] == 300
    assert cfg["model"]["arch"] == "mlp" and "arch: mlp (table, 5 columns); pass --arch to choose" in logs
    assert cfg["training"]["epochs_trained"] == len((run / "history.csv").read_text().splitlines()) - 1
    assert main(["evaluate", str(run)]) == 0


def test_a_folder_of_30_images_trains_with_no_options_on_a_conv_net(small_files, monkeypatch, caplog, capsys):
    monkeypatch.chdir(small_files)
    code, logs = _train(small_files, caplog, "--data", "imgs", "--out", "run")
    assert code == 0, capsys.readouterr().err
    cfg = json.loads((small_files / "run" / "config.json").read_text())
    assert cfg["model"]["arch"] == "conv" and "arch: conv (image data, 1×16×16); pass --arch to choose" in logs
    assert cfg["training"]["batch_size"] == 22  # 30 images: 24 train, 2 held out for validation
    # every later command rebuilds the conv net from config.json
    model = aekit.load(small_files / "run")
    assert model.config.arch == "conv"
    assert main(["evaluate", "run"]) == 0
    assert main(["reconstruct", "run", "imgs/00.png", "--out", "rec.png"]) == 0
    assert main(["embed", "run", "--out", "codes.npy"]) == 0 and np.load("codes.npy").shape == (6, 32)
    # the one-subfolder-per-class layout train reads: reconstructed class by class
    import shutil

    for k, img in enumerate(sorted((small_files / "imgs").glob("*.png"))[:6]):
        (small_files / "cls" / f"c{k % 2}").mkdir(parents=True, exist_ok=True)
        shutil.copy(img, small_files / "cls" / f"c{k % 2}" / img.name)
    assert main(["reconstruct", "run", "cls", "--out", "rec"]) == 0
    assert sorted(str(p.relative_to("rec")) for p in Path("rec").rglob("*.png")) == sorted(
        str(p.relative_to("cls")) for p in Path("cls").rglob("*.png"))
    capsys.readouterr()
    assert main(["reconstruct", "run", "cls", "--out", "imgs/00.png"]) == 2  # an existing file
    assert "imgs/00.png is a file; a folder of inputs is written to a folder" in capsys.readouterr().err


def test_an_explicit_batch_size_larger_than_the_data_is_refused_by_the_command(small_files, capsys):
    code = main(["train", "--data", str(small_files / "t.csv"), "--batch-size", "64", "--out",
                 str(small_files / "run"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "batch_size: 64 is larger than the 29 training samples" in err


# -- the network, chosen from the data --------------------------------------------------------
KINDS = [  # (samples, options, chosen network, the start of what is said)
    ((5,), {}, "mlp", "arch: mlp (table, 5 columns)"),
    ((1, 16, 16), {}, "conv", "arch: conv (image data, 1×16×16)"),
    ((3, 28, 20), {}, "conv", "arch: conv (image data, 3×28×20)"),
    ((1, 8, 8), {}, "mlp", "arch: mlp (image data, 1×8×8: too small or odd-sized for conv"),
    ((3, 15, 15), {}, "mlp", "arch: mlp (image data, 3×15×15: too small or odd-sized for conv"),
    ((1, 16, 16), {"hidden": "16"}, "mlp", "arch: mlp (image data, 1×16×16; --hidden/--tied are the MLP's)"),
    ((32, 2), {}, "tcn", "arch: tcn (series windows, 32 steps × 2 channels)"),
    ((1, 16, 16), {"arch": "mlp"}, "mlp", None),  # an explicit arch always wins, silently
    ((32, 2), {"arch": "gru"}, "gru", None),
    # k-sparse is the paper's linear, tied encoder: it keeps it on images too
    ((1, 16, 16), {"model": "ksparse", "k": 2}, "mlp", "arch: mlp (image data, 1×16×16; KSparseAE is defined on"),
]


@pytest.mark.parametrize("shape,opts,arch,said", KINDS, ids=[f"{'x'.join(map(str, k[0]))}-{k[2]}" for k in KINDS])
def test_the_network_fits_the_data(shape, opts, arch, said, tmp_path, caplog):
    x = np.random.default_rng(0).random((20, *shape)).astype(np.float32)
    opts = dict(opts)
    with caplog.at_level(logging.INFO, logger="aekit"):
        res = aekit.train_run(opts.pop("model", "ae"), x, tmp_path / "run", epochs=1, latent_dim=2, report=False, progress=False,
                              **opts)
    said_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("arch: ")]
    assert res.model.config.arch == arch
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["arch"] == arch
    assert aekit.load(tmp_path / "run").config.arch == arch
    if said is None:
        assert said_lines == []
    else:
        assert len(said_lines) == 1 and said_lines[0].startswith(said) and said_lines[0].endswith("pass --arch to choose")


def test_a_text_run_says_its_token_network(tmp_path, caplog):
    from aekit.text_run import train_text_run

    words = ["red", "green", "blue", "small", "large", "cat", "dog", "bird"]
    rng = np.random.default_rng(0)
    lines = [" ".join(rng.choice(words, 4)) for _ in range(40)]
    (tmp_path / "t.txt").write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.INFO, logger="aekit"):
        res = train_text_run("seqae", str(tmp_path / "t.txt"), tmp_path / "run", epochs=1, vocab_size=40,
                             hidden="16", latent_dim=4, report=False, progress=False)
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("arch: ")]
    assert res["model"].config.arch == "text-gru" and len(said) == 1 and said[0].startswith("arch: text-gru (text")
    # 36 training items, 4 held out for validation: the text batch of 64 shrinks to 32
    assert json.loads((tmp_path / "run" / "config.json").read_text())["training"]["batch_size"] == 32


def test_a_table_with_a_label_column_trains_without_it_and_keeps_its_sigmoid(tmp_path, monkeypatch, capsys):
    """A CSV's `y` column is kept out of training, as detect keeps it out of scoring (it was
    trained as a feature, and detect then refused the file); min-max scaled in float32 the
    training maximum lands at 1.0000001, still data in [0, 1] (a sigmoid output, as for the
    same rows from .npz); the run records its file's absolute path, so evaluate works from any
    folder."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5)).astype(np.float32)
    y = (rng.random(300) < 0.05).astype(int)
    x[y == 1] += 4
    work = tmp_path / "work"
    work.mkdir()
    (work / "t.csv").write_text("a,b,c,d,e,y\n" + "".join(",".join(f"{v:.4f}" for v in r) + f",{lab}\n"
                                                           for r, lab in zip(x, y)))
    assert float(aekit.data.load_file(work / "t.csv").train().max()) > 1.0  # the float32 rounding
    monkeypatch.chdir(work)
    assert main(["train", "--data", "t.csv", "--epochs", "1", "--out", str(tmp_path / "run"), "--no-report"]) == 0
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["model"]["input_shape"] == [5] and cfg["model"]["output"] == "sigmoid"
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["detect", str(tmp_path / "run"), "--data", str(work / "t.csv"), "--out", "s.csv"]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["threshold_fitted_on"] == "run"
    assert main(["evaluate", str(tmp_path / "run")]) == 0  # the recorded path read from another folder


def test_detect_and_embed_match_a_tables_columns_by_name(tmp_path, capsys):
    """A table scored with its columns in another order (or one more) gives the scores and codes
    of the training layout; a table without one of them is refused in one line, nothing written."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 4))

    def table(name, cols, order):
        (tmp_path / name).write_text(",".join(cols[j] for j in order) + "\n" + "".join(
            ",".join(f"{r[j]:.5f}" for j in order) + "\n" for r in x))
        return str(tmp_path / name)

    cols = ["a", "b", "c", "d", "extra"]
    x = np.column_stack([x, rng.normal(size=200)])
    train = table("train.csv", cols, (0, 1, 2, 3))
    run = str(tmp_path / "run")
    assert main(["train", "--data", train, "--epochs", "1", "--out", run, "--no-report"]) == 0
    for name, order in (("same.csv", (0, 1, 2, 3)), ("moved.csv", (3, 4, 1, 0, 2))):
        assert main(["detect", run, "--data", table(name, cols, order), "--out", str(tmp_path / f"{name}.s.csv")]) == 0
        assert main(["embed", run, "--data", str(tmp_path / name), "--out", str(tmp_path / f"{name}.npy")]) == 0
    assert (tmp_path / "same.csv.s.csv").read_text() == (tmp_path / "moved.csv.s.csv").read_text()
    np.testing.assert_array_equal(np.load(tmp_path / "same.csv.npy"), np.load(tmp_path / "moved.csv.npy"))
    capsys.readouterr()
    renamed = table("renamed.csv", ["a", "b", "c", "D"], (0, 1, 2, 3))
    assert main(["detect", run, "--data", renamed, "--out", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert "renamed.csv: no column 'd'" in err and "name its columns as in training" in err and "\n" not in err
    assert not (tmp_path / "r.csv").exists()


def test_a_run_trained_with_impute_mean_scores_files_with_gaps(tmp_path, capsys):
    """detect and embed fill NaN/inf with the run's training means, as its preprocessing (and
    its export) does; a run without --impute still refuses them in one line."""
    rows = ["a,b", "1,2", "nan,3", "4,inf"] + [f"{i},{2 * i}" for i in range(1, 41)]
    (tmp_path / "gaps.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "clean.csv").write_text("\n".join([rows[0]] + rows[4:]) + "\n")
    base = ["--epochs", "1", "--no-report", "--quiet"]
    assert main(["train", "--data", str(tmp_path / "gaps.csv"), "--impute", "mean", "--out", str(tmp_path / "imp"),
                 *base]) == 0
    assert main(["detect", str(tmp_path / "imp"), "--data", str(tmp_path / "gaps.csv"), "--out",
                 str(tmp_path / "s.csv")]) == 0
    scores = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1, usecols=1)
    assert scores.shape == (43,) and np.isfinite(scores).all()
    assert main(["embed", str(tmp_path / "imp"), "--data", str(tmp_path / "gaps.csv"), "--out",
                 str(tmp_path / "z.npy")]) == 0
    assert np.isfinite(np.load(tmp_path / "z.npy")).all()
    assert main(["train", "--data", str(tmp_path / "clean.csv"), "--out", str(tmp_path / "plain"), *base]) == 0
    capsys.readouterr()
    assert main(["detect", str(tmp_path / "plain"), "--data", str(tmp_path / "gaps.csv"), "--out",
                 str(tmp_path / "t.csv")]) == 2
    err = capsys.readouterr().err
    assert "NaN/inf values" in err and "score with a run trained with --impute mean" in err
    assert not (tmp_path / "t.csv").exists()
    assert main(["detect", str(tmp_path / "plain"), "--data", str(tmp_path / "gaps.csv"), "--impute", "ffill",
                 "--out", str(tmp_path / "t.csv")]) == 2  # a series option: one line naming what does apply
    assert "is a run of rows, which fills NaN/inf itself when trained with --impute mean" in capsys.readouterr().err
