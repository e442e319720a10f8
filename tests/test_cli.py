"""The ``aekit`` command end to end, offline, in subprocesses (as a user runs it)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import run_cli


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("cli")
    r = run_cli("train", "--quiet", cwd=cwd)  # no arguments: vanilla AE on the embedded digits
    assert r.returncode == 0, r.stderr
    runs = list((cwd / "runs").iterdir())
    assert len(runs) == 1
    return cwd, runs[0], r.stdout


def test_train_without_arguments(default_run):
    cwd, run, stdout = default_run
    assert f"run written to runs/{run.name}" in stdout
    assert "test metrics:" in stdout and "mse=" in stdout
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n"] == 360
    assert metrics["mse"] < 0.01  # the mean digit gives about 0.06
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model_class"] == "AE" and cfg["data"]["name"] == "digits"


def test_evaluate_reconstruct(default_run, tmp_path):
    cwd, run, _ = default_run
    r = run_cli("evaluate", str(run), "--json", cwd=cwd)
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    saved = json.loads((run / "metrics.json").read_text())
    assert m["mse"] == pytest.approx(saved["mse"]) and "psnr" in m
    from sklearn.datasets import load_digits

    x = (load_digits().images[:5] / 16.0).astype(np.float32)[:, None]
    np.save(tmp_path / "x.npy", x)
    r = run_cli("reconstruct", str(run), str(tmp_path / "x.npy"), "--out", str(tmp_path / "r.npy"), cwd=cwd)
    assert r.returncode == 0, r.stderr
    rec = np.load(tmp_path / "r.npy")
    assert rec.shape == x.shape
    assert ((rec - x) ** 2).mean() < 0.02
    from PIL import Image

    Image.fromarray((x[0, 0] * 255).astype(np.uint8)).save(tmp_path / "d.png")
    r = run_cli("reconstruct", str(run), str(tmp_path / "d.png"), "--out", str(tmp_path / "o.png"), cwd=cwd)
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "o.png").size == (8, 8)


def test_sample_from_a_vae(tmp_path):
    out = tmp_path / "vae"
    r = run_cli("train", "--model", "vae", "--latent-dim", "4", "--epochs", "10", "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "neg_elbo=" in r.stdout
    r = run_cli("sample", str(out), "-n", "16", "--out", str(tmp_path / "grid.png"))
    assert r.returncode == 0, r.stderr
    from PIL import Image

    img = Image.open(tmp_path / "grid.png")
    assert img.size == (4 * 9 + 1, 4 * 9 + 1)  # 4×4 tiles of 8×8 with 1-pixel gaps
    r = run_cli("sample", str(out), "-n", "5", "--out", str(tmp_path / "s.npy"))
    assert np.load(tmp_path / "s.npy").shape == (5, 1, 8, 8)


def test_models_version_and_lazy_help():
    r = run_cli("models")
    assert r.returncode == 0
    for name in ("ae", "dae", "sparse", "vae"):
        assert any(line.split()[0] == name for line in r.stdout.splitlines())
    assert "Kingma & Welling" in r.stdout
    assert run_cli("--version").stdout.startswith("aekit ")
    code = (
        "import sys\nfrom aekit.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'aekit --help imported torch'\nprint('ok')"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_yaml_config_with_flag_override(tmp_path):
    # a bare `off` is a YAML boolean: on/off options take it as the word
    (tmp_path / "c.yaml").write_text("model: sparse\nsparsity: topk\nk: 3\nlatent_dim: 6\nepochs: 50\ncompile: off\nfused: off\n")
    r = run_cli("train", "--config", str(tmp_path / "c.yaml"), "--epochs", "2", "--out", str(tmp_path / "run"), "--quiet")
    assert r.returncode == 0, r.stderr
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["model_class"] == "SparseAE" and cfg["model"]["k"] == 3 and cfg["model"]["sparsity"] == "topk"
    assert cfg["training"]["epochs"] == 2
    assert cfg["training"]["compile"] == "off" and cfg["training"]["fused"] == "off"



def test_noise_clip_flag_reaches_the_denoising_model(tmp_path):
    import aekit
    from aekit.cli import main

    assert main(["train", "--model", "dae", "--noise-clip", "0,1", "--epochs", "1", "--quiet", "--no-report",
                 "--out", str(tmp_path / "run")]) == 0
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["model"]["noise_clip"] == [0.0, 1.0]
    assert aekit.load(tmp_path / "run").corruption.clip == (0.0, 1.0)

# The full catalogue runs in-process in tests/test_catalogue.py; these few go through a real
# process to check the exit status and that stderr holds one line and no traceback.
BAD = [
    (["train", "--model", "vea"], "unknown model 'vea' (did you mean 'vae'?)"),
    (["train", "--data", "mnist", "--data-root", "{tmp}/empty", "--no-download"], "train-images-idx3-ubyte.gz"),
    (["train", "--batch-size", "100000"], "batch_size: 100000 is larger than"),
    (["evaluate", "{tmp}/nothing"], "no such run directory"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(a)[:40] for a, _ in BAD])
def test_bad_input_is_one_line_and_nonzero(args, message, tmp_path, default_run):
    (tmp_path / "empty").mkdir()
    np.save(tmp_path / "flat.npy", np.random.rand(50, 10).astype(np.float32))
    args = [a.replace("{tmp}", str(tmp_path)).replace("{run}", str(default_run[1])) for a in args]
    r = run_cli(*args, "--out", str(tmp_path / "out")) if args[0] == "train" else run_cli(*args)
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.startswith("aekit: error:")]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert message in lines[0]
    assert not (tmp_path / "out").exists(), "a run directory was left behind"


def test_existing_out_needs_overwrite(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    r = run_cli("train", "--epochs", "1", "--out", str(out), "--quiet")
    assert r.returncode == 2 and "pass --overwrite" in r.stderr
    assert (out / "keep.txt").exists()
    r = run_cli("train", "--epochs", "1", "--out", str(out), "--overwrite", "--quiet")  # not a run: kept
    assert r.returncode == 2 and "replaces only run directories" in r.stderr and (out / "keep.txt").exists()
    (out / "keep.txt").unlink()
    assert run_cli("train", "--epochs", "1", "--out", str(out), "--quiet").returncode == 0
    (out / "stale.txt").write_text("x")
    r = run_cli("train", "--epochs", "1", "--out", str(out), "--overwrite", "--quiet")  # a run: replaced
    assert r.returncode == 0 and not (out / "stale.txt").exists() and (out / "model.safetensors").exists()


def test_standardized_tables_get_a_linear_output(tmp_path):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 2))
    x = (z @ rng.normal(size=(2, 6)) * 5 + 10).astype(np.float32)  # rank-2 table far outside [0, 1]
    np.save(tmp_path / "t.npy", x)
    r = run_cli("train", "--data", str(tmp_path / "t.npy"), "--preprocess", "standardize", "--latent-dim", "2",
                "--epochs", "60", "--batch-size", "32", "--out", str(tmp_path / "run"), "--no-report")
    assert r.returncode == 0, r.stderr
    assert "using a linear output" in r.stderr
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["model"]["output"] == "linear"
    # a sigmoid output could not go below about 0.5 on standardized data; a rank-2 table is easy
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["mse"] < 0.1


def test_run_data_reloads_the_training_split_and_scaling(tmp_path):
    """Every command on a run reloads its data with the recorded seed and preprocess.json."""
    import aekit
    from aekit.data.runs import run_data

    r = run_cli("train", "--epochs", "1", "--seed", "3", "--preprocess", "standardize", "--out", str(tmp_path / "r"),
                "--quiet", "--no-report")
    assert r.returncode == 0, r.stderr
    again = run_data(tmp_path / "r")
    same = aekit.datasets.load("digits", seed=3)
    np.testing.assert_array_equal(again.x_test, same.x_test)
    assert not np.array_equal(again.x_test, aekit.datasets.load("digits", seed=0).x_test)
    assert again.preprocess.method == "standardize"
    saved = json.loads((tmp_path / "r" / "preprocess.json").read_text())
    assert again.preprocess.to_dict() == saved


def test_streamed_run_evaluates_and_detects_from_the_memory_map(tmp_path):
    """An out-of-core run: `evaluate` reads its test rows a batch at a time and reproduces the
    metrics written at training time; `detect` scores the .npy file in chunks."""
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(3000, 3)) @ rng.normal(size=(3, 10))).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    run = tmp_path / "run"
    r = run_cli("train", "--data", str(tmp_path / "x.npy"), "--stream", "--epochs", "2", "--batch-size", "100",
                "--latent-dim", "3", "--hidden", "16", "--quiet", "--no-report", "--out", str(run))
    assert r.returncode == 0, r.stderr
    trained = json.loads((run / "metrics.json").read_text())
    r = run_cli("evaluate", str(run), "--json")
    assert r.returncode == 0, r.stderr
    again = json.loads(r.stdout)
    assert again["n"] == trained["n"] == 600
    assert again["mse"] == pytest.approx(trained["mse"], rel=1e-6)
    r = run_cli("detect", str(run), "--data", str(tmp_path / "x.npy"), "--out", str(tmp_path / "s.csv"))
    assert r.returncode == 0, r.stderr
    assert len((tmp_path / "s.csv").read_text().splitlines()) == 3001
