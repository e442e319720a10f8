"""The run report: every figure it promises is in the page, and its numbers are the run's."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from aekit.cli import main
from conftest import SHARED, need


def run_cli(*args: str, capsys=None):
    """The real ``aekit`` command, in this process (saves a torch import per call)."""
    capsys.readouterr()
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err

FIGURE = re.compile(r"<figure id='(fig-[a-z-]+)'><img src='data:image/png;base64,([A-Za-z0-9+/=]+)' alt='([^']*)'")


def figures(page: str) -> dict[str, tuple[tuple[int, int], str]]:
    """{figure id: ((width, height) of the decoded PNG, caption)} of a report page."""
    out = {}
    for fid, b64, alt in FIGURE.findall(page):
        img = Image.open(io.BytesIO(base64.b64decode(b64)))
        img.load()  # a truncated or corrupt PNG fails here
        assert img.format == "PNG"
        out[fid] = (img.size, alt)
    return out


def row(page: str, name: str) -> str:
    m = re.search(rf"<tr><th>{re.escape(name)}</th><td>([^<]*)</td></tr>", page)
    assert m, f"no row {name!r} in the page"
    return m.group(1)


# -- a VAE on images, through the real command line ---------------------------------------------
@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "vae"
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "aekit", "train", "--model", "vae", "--data", "digits", "--epochs", "8",
                        "--latent-dim", "8", "--quiet", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert f"report written to {out / 'report.html'}" in r.stdout
    return out


def test_vae_report_has_every_figure(vae_run):
    import aekit

    page = (vae_run / "report.html").read_text(encoding="utf-8")
    figs = figures(page)
    assert set(figs) == {"fig-loss", "fig-recon", "fig-samples", "fig-interpolation", "fig-traversal", "fig-latent"}
    assert all(w > 200 and h > 100 for (w, h), _ in figs.values()), figs
    assert "Left out" not in page  # no section failed
    assert "projected by PCA" in figs["fig-latent"][1] and "coloured by label" in figs["fig-latent"][1]
    assert "src='http" not in page and 'src="http' not in page  # self-contained
    # the summary states the run's own numbers
    model = aekit.load(vae_run)
    assert row(page, "parameters") == f"{model.n_params():,}"
    assert row(page, "device") == "cpu"
    metrics = json.loads((vae_run / "metrics.json").read_text())
    assert row(page, "neg_elbo") == f"{metrics['neg_elbo']:.5g}"
    assert row(page, "n") == "360"
    assert row(page, "training").startswith("8 of 8 epochs")
    assert "Constant during training: lr = 0.001" in page


def test_report_command_tsne_and_errors(vae_run, tmp_path, capsys):
    out = tmp_path / "page.html"
    rc, stdout, stderr = run_cli("report", str(vae_run), "--tsne", "--out", str(out), capsys=capsys)
    assert rc == 0, stderr
    assert f"wrote {out} (6 figures)" in stdout
    figs = figures(out.read_text(encoding="utf-8"))
    assert "projected by t-SNE" in figs["fig-latent"][1]
    rc, _, stderr = run_cli("report", str(tmp_path / "nowhere"), capsys=capsys)
    assert rc == 2
    assert stderr.strip().splitlines()[-1:] == [
        f"aekit: error: {tmp_path / 'nowhere'}: not a run directory (no config.json); pass a folder written by aekit train"
    ]


def test_denoising_report_shows_clean_noisy_denoised(tmp_path):
    import aekit
    from aekit.report import build_report

    data = aekit.datasets.load("digits")
    model = aekit.DenoisingAE(input_shape=data.input_shape, latent_dim=16, noise="masking", noise_level=0.4)
    aekit.Trainer(epochs=3, batch_size=64, progress=False).fit(model, data)
    model.save_pretrained(tmp_path)
    rep = build_report(tmp_path, model=model, data=data)
    # no history.csv, no metrics.json: the curves are left out with a note, the rest shows
    assert rep.figures == ["fig-recon", "fig-latent"]
    assert rep.notes == ["curves: history.csv is absent or empty"]
    figs = figures(rep.path.read_text(encoding="utf-8"))
    assert "corrupted by masking noise at level 0.4" in figs["fig-recon"][1]
    (w3, h3), _ = figs["fig-recon"]
    # an AE's grid has two rows (input, reconstruction), the denoiser's three: taller
    ae = aekit.AE(input_shape=data.input_shape, latent_dim=16)
    ae.save_pretrained(tmp_path / "ae")
    rep_ae = build_report(tmp_path / "ae", model=ae, data=data)
    (w2, h2), _ = figures(rep_ae.path.read_text(encoding="utf-8"))["fig-recon"]
    assert h3 > h2 * 1.25


def _families():
    from aekit.registry import model_names

    return [n for n in model_names("features") if n not in ("ae", "vae", "dae")]  # those three have tests of their own here


@pytest.mark.parametrize("family", _families())
def test_every_family_gets_a_full_report(family, tmp_path):
    """No section fails for any registered family (flat codes, code grids, several optimizers …)."""
    import aekit
    from aekit.registry import get_model_class
    from aekit.report import build_report

    data = aekit.datasets.load("digits")
    model = get_model_class(family)(input_shape=data.input_shape, latent_dim=8)
    aekit.Trainer(epochs=1, batch_size=256, progress=False, out_dir=tmp_path).fit(model, data)
    rep = build_report(tmp_path, model=model, data=data, max_points=300)
    assert rep.notes == []
    expected = {"fig-loss", "fig-recon", "fig-latent"}
    if hasattr(model, "sample"):
        expected |= {"fig-samples", "fig-interpolation", "fig-traversal"}
    assert expected <= set(rep.figures)
    assert set(figures(rep.path.read_text(encoding="utf-8"))) == set(rep.figures)


def test_unloadable_data_leaves_sections_out(vae_run, tmp_path):
    import shutil

    from aekit.report import build_report

    run = tmp_path / "moved"
    shutil.copytree(vae_run, run)
    cfg = json.loads((run / "config.json").read_text())
    cfg["data"]["name"] = str(tmp_path / "gone.npz")
    (run / "config.json").write_text(json.dumps(cfg))
    rep = build_report(run)
    # samples from the prior need no data; everything else that does is left out, with a note
    assert rep.figures == ["fig-loss", "fig-samples"]
    assert len(rep.notes) == 3 and all("could not be loaded" in n for n in rep.notes)
    assert rep.notes[1].startswith("interpolation and traversal:")
    assert "Left out" in rep.path.read_text(encoding="utf-8")


# -- a detector on tabular data with anomaly labels ---------------------------------------------
def planted_anomalies(path, seed=0):
    """1200 normal rows on a 3-D linear subspace of R^12, 60 anomalies off it."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(3, 12))
    normal = rng.normal(size=(1200, 3)) @ basis + 0.05 * rng.normal(size=(1200, 12))
    anomalous = rng.normal(scale=2.0, size=(60, 12))
    x = np.concatenate([normal, anomalous]).astype(np.float32)
    y = np.r_[np.zeros(1200), np.ones(60)].astype(np.int64)
    np.savez(path, X=x, y=y)
    return path


@pytest.mark.parametrize("source", ["synthetic", "adbench-cardio"])
def test_detector_report_on_tabular_data(source, tmp_path, capsys):
    from sklearn.metrics import average_precision_score, roc_auc_score

    import aekit

    if source == "synthetic":
        path = planted_anomalies(tmp_path / "table.npz")
    else:
        path = need(SHARED / "adbench" / "6_cardio.npz")
    out = tmp_path / "run"
    rc, _, stderr = run_cli("train", "--model", "ae", "--data", str(path), "--preprocess", "standardize", "--output",
                            "linear", "--latent-dim", "3", "--hidden", "32", "--epochs", "15", "--batch-size", "64",
                            "--quiet", "--out", str(out), capsys=capsys)
    assert rc == 0, stderr
    page = (out / "report.html").read_text(encoding="utf-8")
    figs = figures(page)
    assert set(figs) == {"fig-loss", "fig-latent", "fig-scores", "fig-roc-pr", "fig-features"}  # no image grids
    assert "Left out" not in page
    # AUROC / AUPRC in the page are those of the model's scores on the run's test split
    model = aekit.load(out)
    d = aekit.data.load_file(path, seed=0)  # the split `aekit train --data FILE` made
    pre = aekit.data.Preprocessor.from_dict(json.loads((out / "preprocess.json").read_text()))
    s = model.score(torch.from_numpy(pre.transform(d.x_test))).numpy()
    auroc, auprc = roc_auc_score(d.y_test, s), average_precision_score(d.y_test, s)
    assert row(page, "AUROC") == f"{auroc:.5g}"
    assert row(page, "AUPRC") == f"{auprc:.5g}"
    assert row(page, "anomalous samples") == str(int(d.y_test.sum()))
    # the Python API re-reads the file from config.json by itself and finds the same split
    from aekit.report import build_report

    again = build_report(out, out=tmp_path / "again.html").path.read_text(encoding="utf-8")
    assert row(again, "AUROC") == f"{auroc:.5g}"
    if source == "synthetic":
        assert auroc > 0.95  # the anomalies are far off the normal subspace; a guess gives 0.5
    else:
        assert auroc > 0.6  # an AE trained on unlabelled cardio, 15 epochs: about 0.67 (guess: 0.5)


# -- TensorBoard -----------------------------------------------------------------------------
def test_tensorboard_scalars_and_images(tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (pip install -e '.[dev]')")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    import aekit
    from aekit.tensorboard import TensorBoardLogger

    data = aekit.datasets.load("digits")
    model = aekit.VAE(input_shape=data.input_shape, latent_dim=4)
    tb = TensorBoardLogger(tmp_path / "tb", data.test()[:8], images_every=2)
    trainer = aekit.Trainer(epochs=5, batch_size=128, progress=False, callbacks=[tb])
    history = trainer.fit(model, data)
    tb.close()
    ea = EventAccumulator(str(tmp_path / "tb"), size_guidance={"images": 0})
    ea.Reload()
    loss = ea.Scalars("train/loss")
    assert [e.step for e in loss] == [1, 2, 3, 4, 5]
    np.testing.assert_allclose([e.value for e in loss], [h["train_loss"] for h in history], rtol=1e-6)
    assert {"val/kl", "val/recon", "schedule/lr"} <= set(ea.Tags()["scalars"])
    recon = ea.Images("reconstructions")
    assert [e.step for e in recon] == [2, 4, 5]  # every 2 epochs and after the last
    assert (recon[0].width, recon[0].height) == (8 * 9 + 1, 2 * 9 + 1)  # 8 inputs over 8 reconstructions, 8×8 + padding
    assert [e.step for e in ea.Images("samples")] == [2, 4, 5]


def test_train_no_report_and_tensorboard_flag(tmp_path, capsys):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (pip install -e '.[dev]')")
    out = tmp_path / "run"
    rc, stdout, stderr = run_cli("train", "--model", "dae", "--epochs", "2", "--no-report", "--tensorboard", "--quiet",
                                 "--out", str(out), capsys=capsys)
    assert rc == 0, stderr
    assert not (out / "report.html").exists() and "report written" not in stdout
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
