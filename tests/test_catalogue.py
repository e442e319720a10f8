"""The bad-input catalogue: every case ends in one line that names what is wrong and the
fix, a non-zero exit, no traceback, and no run directory left behind.

The CLI cases call ``aekit.cli.main`` in-process (the entry point the ``aekit`` command runs;
tests/test_cli.py covers the same path in subprocesses); the API cases raise AekitError.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import aekit
from aekit.cli import main
from aekit.errors import AekitError


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """A workspace with a trained run and some files to feed the CLI."""
    d = tmp_path_factory.mktemp("catalogue")
    assert main(["train", "--epochs", "2", "--out", str(d / "run"), "--quiet", "--no-report"]) == 0
    (d / "empty").mkdir()
    np.save(d / "flat.npy", np.random.rand(50, 10).astype(np.float32))
    bad = np.random.rand(50, 10).astype(np.float32)
    bad[7, 3] = np.nan
    np.save(d / "nan.npy", bad)
    np.save(d / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    (d / "list.yaml").write_text("- 1\n- 2\n")
    (d / "broken.yaml").write_text("model: [vae\n")
    (d / "typo.yaml").write_text("latnt_dim: 4\n")
    (d / "listmodel.yaml").write_text("model: []\n")
    (d / "afile").write_text("x")
    from PIL import Image

    Image.new("L", (5, 5)).save(d / "small.png")
    (d / "notrun").mkdir()
    return d


CLI = [
    (["train", "--model", "vea"], "unknown model 'vea' (did you mean 'vae'?)"),
    (["train", "--data", "mnits"], "(did you mean 'mnist'"),
    (["train", "--data", "mnist", "--data-root", "{d}/empty", "--no-download"], "train-images-idx3-ubyte.gz"),
    (["train", "--latent-dim", "0"], "latent_dim: must be a positive integer"),
    (["train", "--epochs", "-3"], "epochs: must be a positive integer"),
    (["train", "--hidden", "64,0"], "hidden: layer sizes must be positive"),
    (["train", "--batch-size", "0"], "batch_size: must be a positive integer"),
    (["train", "--batch-size", "100000"], "batch_size: 100000 is larger than"),
    (["train", "--arch", "conv", "--data", "{d}/flat.npy"], "arch='conv' needs image shapes"),
    (["train", "--model", "vae", "--k", "3"], "--k: not an option of --model vae"),
    (["train", "--model", "sparse", "--sparsity", "topk", "--k", "99"], "k: must be between 1 and latent_dim"),
    (["train", "--device", "cuda:3"], "device: 'cuda:3'"),
    (["train", "--device", "tpu"], "device: must be auto, cpu, cuda"),
    (["train", "--config", "{d}/missing.yaml"], "--config: "),
    (["train", "--config", "{d}/list.yaml"], "must hold a mapping"),
    (["train", "--config", "{d}/broken.yaml"], "is not valid YAML"),
    (["train", "--config", "{d}/typo.yaml"], "(did you mean '--latent-dim'?)"),
    (["train", "--config", "{d}/listmodel.yaml"], "--model: expected a name or path, got list"),
    (["train", "--seed", "-5"], "seed: must be in [0, 2**32)"),
    (["train", "--latent-dim", "9007199254740992"], "the network is too large to allocate"),
    (["train", "--arch", "transfomer"], "arch: 'transfomer' is not a registered network (did you mean 'transformer' or 'text-transformer'?)"),
    (["train", "--arch", "transformer"], "arch: the transformer network takes series windows, input_shape=(W, C)"),
    (["train", "--model", "dae", "--noise-level", "-0.5"], "noise_level: must be ≥ 0"),
    (["train", "--model", "dae", "--noise", "pink"], "noise: 'pink' is not one of"),
    (["train", "--model", "dae", "--noise-clip", "1,0"], "noise_clip: give the data range as two numbers lo < hi"),
    (["train", "--tied", "maybe"], "tied: expected true or false"),
    (["train", "--arch", "conv", "--tied", "true"], "tied weights need arch='mlp'"),
    (["train", "--model", "vae", "--beta", "-1"], "beta: KL weight must be ≥ 0"),
    (["train", "--lr", "0"], "lr: learning rate must be positive"),
    (["train", "--val-split", "1.5"], "val_split: must be in [0, 1)"),
    (["train", "--optimizer", "adamm"], "(did you mean 'adam'"),
    (["train", "--grad-clip", "-1"], "grad_clip: must be ≥ 0"),
    (["train", "--model", "sparse", "--rho", "1.5"], "rho: target activation must be in (0, 1)"),
    (["train", "--model", "sparse", "--sparsity-weight", "-1"], "sparsity_weight: must be ≥ 0"),
    (["train", "--activation", "relux"], "(did you mean 'relu'"),
    (["train", "--data", "{d}/missing.npy"], "missing.npy"),
    (["train", "--data", "{d}/nan.npy"], "NaN"),
    (["train", "--data", "{d}/obj.npy"], "pickle"),
    (["train", "--recon-loss", "bce", "--output", "linear"], "recon_loss: 'bce' needs data in [0, 1]"),
    (["train", "--out", "{d}/afile/run"], "afile is a file"),
    (["train", "--out", "{d}/run"], "already exists and is not empty; pass --overwrite"),
    (["train", "--resume", "{d}/notrun"], "--resume: "),
    (["evaluate", "{d}/nothing"], "no such run directory"),
    (["reconstruct", "{d}/run", "{d}/small.png", "--out", "{d}/o.png"], "image is 5×5, the model takes 8×8"),
    (["reconstruct", "{d}/run", "{d}/nope.npy", "--out", "{d}/o.npy"], "nope.npy"),
    (["sample", "{d}/run", "-n", "0"], "-n: number of samples must be positive"),
]


@pytest.mark.parametrize("args,message", CLI, ids=[" ".join(a)[:48] for a, _ in CLI])
def test_cli_bad_input(args, message, ws, capsys):
    args = [a.replace("{d}", str(ws)) for a in args]
    out = ws / "out"
    if args[0] == "train" and "--out" not in args:
        args += ["--out", str(out)]
    before = sorted(p.name for p in ws.iterdir())
    code = main([*args, "--quiet"] if args[0] == "train" else args)
    err = capsys.readouterr().err
    assert code != 0
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("aekit: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert message in lines[0], lines[0]
    assert len(lines[0]) < 600
    assert sorted(p.name for p in ws.iterdir()) == before, "something was left behind"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_output_directory(ws, capsys, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert main(["train", "--out", str(ro / "run"), "--quiet"]) == 2
        assert "permission denied" in capsys.readouterr().err
    finally:
        ro.chmod(0o755)


API = [
    (lambda: aekit.AE(input_shape=(10,), latent_dim=-1), "latent_dim"),
    (lambda: aekit.AE(input_shape=()), "input_shape: must not be empty"),
    (lambda: aekit.AE(input_shape=(10,), hidden="a,b"), "hidden[0]: expected an integer"),
    (lambda: aekit.AE(input_shape=(10,), latent_dims=3), "did you mean 'latent_dim'"),
    (lambda: aekit.SparseAE(input_shape=(10,), latent_dim=4, sparsity="topk", k=9), "k: must be between"),
    (lambda: aekit.DenoisingAE(input_shape=(10,), noise="masking", noise_level=1.5), "fraction in [0, 1]"),
    (lambda: aekit.VAE(input_shape=(10,), beta=-0.1), "beta"),
    (lambda: aekit.AE(input_shape=(3, 15, 15), arch="conv"), "arch='conv' needs"),
    (lambda: aekit.Trainer(epochs=0), "epochs"),
    (lambda: aekit.Trainer(batch_size=-1), "batch_size"),
    (lambda: aekit.Trainer(device="cuda:9").fit(aekit.AE(input_shape=(4,)), np.ones((8, 4), np.float32)), "device"),
    (lambda: aekit.Trainer(batch_size=64).fit(aekit.AE(input_shape=(4,)), np.ones((8, 4), np.float32)), "batch_size: 64 is larger"),
    (lambda: aekit.Trainer().fit(aekit.AE(input_shape=(4,)), np.ones((8, 5), np.float32)), "model expects (4,)"),
    (lambda: aekit.Trainer().fit(aekit.AE(input_shape=(4,)), np.array(["a", "b"])), "expected numbers"),
    (lambda: aekit.Trainer().fit(aekit.AE(input_shape=(4,)), (np.ones((8, 4), np.float32), np.ones(3))), "labels"),
    (lambda: aekit.AE(input_shape=(4,)).score(torch.ones(2, 5)), "expected shape (batch, 4)"),
    (lambda: aekit.load("/nonexistent/run"), "no such run directory"),
    (lambda: aekit.datasets.load("mnsit"), "did you mean 'mnist'"),
]


@pytest.mark.parametrize("call,message", API, ids=[m for _, m in API])
def test_api_bad_input(call, message):
    with pytest.raises(AekitError) as e:
        call()
    assert message in str(e.value)
    assert "\n" not in str(e.value)
