"""aekit.train_run / aekit.resume_run: aekit train as one Python call (the command is a thin
shell around it), with a model object or an array as well as names."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import aekit
from aekit.cli import main
from aekit.errors import AekitError

COMMON = {"epochs": 2, "batch_size": 64, "seed": 5, "hidden": "32", "latent_dim": 6}


def _history(run):
    with open(run / "history.csv", newline="") as f:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]


def _config(run):
    cfg = json.loads((run / "config.json").read_text())
    cfg["training"].pop("train_seconds")
    return cfg


def test_the_function_and_the_command_write_the_same_run(tmp_path, one_thread, capsys):
    assert main(["train", "--model", "dae", "--data", "digits", "--epochs", "2", "--batch-size", "64", "--seed", "5",
                 "--hidden", "32", "--latent-dim", "6", "--quiet", "--out", str(tmp_path / "cli")]) == 0
    printed = capsys.readouterr().out
    res = aekit.train_run("dae", "digits", tmp_path / "py", progress=False, **COMMON)
    cli, py = tmp_path / "cli", tmp_path / "py"
    assert sorted(p.relative_to(cli).as_posix() for p in cli.rglob("*")) == \
        sorted(p.relative_to(py).as_posix() for p in py.rglob("*"))
    assert (py / "report.html").is_file() and res.report.path == py / "report.html"
    m_cli, m_py = json.loads((cli / "metrics.json").read_text()), json.loads((py / "metrics.json").read_text())
    assert m_py == m_cli == res.metrics and m_py["split"] == "test" and m_py["n"] == 360
    a, b = load_file(str(cli / "model.safetensors")), load_file(str(py / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _history(cli) == _history(py) and len(res.history) == 2
    assert _config(cli) == _config(py)
    assert (cli / "preprocess.json").read_text() == (py / "preprocess.json").read_text()
    assert f"run written to {cli}" in printed and "test metrics: " in printed and "report written to" in printed
    assert res.model.training is False and res.path == py


def test_a_model_object_and_an_array(tmp_path, one_thread):
    x = np.random.default_rng(0).random((200, 12)).astype(np.float32)
    torch.manual_seed(0)
    model = aekit.AE(input_shape=(12,), hidden=(8,), latent_dim=3)
    res = aekit.train_run(model, x, tmp_path / "run", epochs=2, batch_size=50, progress=False, report=False)
    assert res.model is model and res.metrics["split"] == "train" and res.metrics["n"] == 200
    run = aekit.RunDir(tmp_path / "run")
    assert run.read_metrics() == res.metrics and not run.report_path.exists()
    assert run.section("data")["n_train"] == 200 and run.section("training")["epochs"] == 2
    loaded = aekit.load(run)
    torch.testing.assert_close(loaded(torch.from_numpy(x[:5])).recon, model(torch.from_numpy(x[:5])).recon)
    # a Data object, refitted with the preprocessing asked for
    data = aekit.data.Data(x_train=x[:150], x_test=x[150:])
    res = aekit.train_run("ae", data, tmp_path / "std", preprocess="standardize", epochs=1, batch_size=50,
                          progress=False, report=False, hidden="8", latent_dim=3)
    assert res.metrics["split"] == "test" and aekit.RunDir(tmp_path / "std").read_preprocess().method == "standardize"
    assert aekit.load(tmp_path / "std").config.output == "linear"  # standardized data: a linear output


def test_bad_options_are_one_line(tmp_path):
    model = aekit.AE(input_shape=(4,))
    cases = [
        (lambda: aekit.train_run("ae", "digits", tmp_path / "a", latnt_dim=3), "did you mean 'latent_dim'"),
        (lambda: aekit.train_run(model, np.ones((8, 4), np.float32), tmp_path / "b", latent_dim=3),
         "latent_dim: the model is already built"),
        (lambda: aekit.train_run(model, np.ones((8, 4), np.float32), tmp_path / "c", label_column="y"),
         "label_column: reads a file or a named data set"),
        (lambda: aekit.train_run("ae", "digits", tmp_path / "d", epochs=0), "epochs: must be a positive integer"),
    ]
    for call, message in cases:
        with pytest.raises(AekitError, match=message) as e:
            call()
        assert "\n" not in str(e.value)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(AekitError, match="out: .* pass overwrite=True or choose another out"):
        aekit.train_run("ae", "digits", tmp_path / "full", epochs=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"], "a failed call left a run behind"


def test_resume_run_extends_a_run(tmp_path, one_thread):
    aekit.train_run("ae", "digits", tmp_path / "r", progress=False, report=False, **COMMON)
    res = aekit.resume_run(tmp_path / "r", epochs=3, report=False)
    assert [r["epoch"] for r in res.history] == [1, 2, 3]
    assert aekit.RunDir(tmp_path / "r").read_checkpoint()["epoch"] == 3
    assert json.loads((tmp_path / "r" / "metrics.json").read_text()) == res.metrics
    with pytest.raises(AekitError, match=r"^run: .* is not a run directory"):
        aekit.resume_run(tmp_path / "nothing")


def test_docs_runs_examples_run(tmp_path, monkeypatch, one_thread, capsys):
    """docs/runs.md: every ```python block runs, in order, in one namespace."""
    import re
    from pathlib import Path

    doc = Path(__file__).resolve().parents[1] / "docs" / "runs.md"
    code = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), flags=re.S)
    assert len(code) == 3, "docs/runs.md lost its examples"
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    for i, src in enumerate(code):
        exec(compile(src, f"docs/runs.md[python block {i}]", "exec"), ns)  # noqa: S102
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("test ") and out[1] == "runs/vae-digits-py/report.html" and out[2] == "5"
    assert out[3] == "train" and out[4] == "VAE 5" and ns["run"].read_checkpoint()["epoch"] == 5
