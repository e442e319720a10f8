"""Scale and reliability: torchrun data parallelism, resume after SIGKILL, atomic writes,
safe loading of hostile files."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import aekit
from aekit.errors import AekitError
from conftest import run_cli


def weights(run: Path) -> dict:
    return load_file(str(run / "model.safetensors"))


def test_two_process_data_parallel_equals_one_process(tmp_path):
    x = np.random.default_rng(0).random((400, 20)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    common = ["train", "--data", "x.npy", "--preprocess", "none", "--epochs", "2", "--batch-size", "50",
              "--val-split", "0", "--quiet", "--no-report", "--hidden", "32", "--latent-dim", "4"]
    one = run_cli(*common, "--out", "one", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    torchrun = Path(sys.executable).with_name("torchrun")
    two = subprocess.run(
        [str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "aekit", *common, "--out", "two"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("run written to") == 1  # only rank 0 writes and reports
    a, b = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)
    # and training moved the weights, so the comparison means something
    init = aekit.AE(input_shape=(20,), hidden=(32,), latent_dim=4)
    assert not torch.allclose(init.state_dict()["encoder.0.weight"], a["encoder.0.weight"])


def _train_args(out: str) -> list[str]:
    return ["train", "--model", "dae", "--epochs", "30", "--batch-size", "32", "--out", out,
            "--quiet", "--no-report", "--seed", "3"]


def test_resume_after_sigkill_gives_the_unbroken_weights(tmp_path):
    ref = run_cli(*_train_args("ref"), cwd=tmp_path)
    assert ref.returncode == 0, ref.stderr
    proc = subprocess.Popen([sys.executable, "-m", "aekit", *_train_args("broken")], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ck = tmp_path / "broken" / "checkpoint" / "last.pt"
    deadline = time.time() + 120
    while time.time() < deadline:
        if ck.exists():
            state = torch.load(ck, weights_only=True)
            if state["epoch"] >= 5:
                break
        time.sleep(0.02)
    time.sleep(0.05)  # land somewhere inside a later epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = torch.load(ck, weights_only=True)["epoch"]
    assert 5 <= done < 30, f"the kill did not land mid-run (checkpoint at epoch {done})"
    assert not (tmp_path / "broken" / "model.safetensors").exists()
    r = run_cli("train", "--resume", "broken", "--quiet", "--no-report", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    a, b = weights(tmp_path / "ref"), weights(tmp_path / "broken")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    import csv

    rows = list(csv.DictReader(open(tmp_path / "broken" / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 31))


def test_resume_can_extend_a_finished_run(tmp_path):
    assert run_cli("train", "--epochs", "2", "--out", "r", "--quiet", "--no-report", cwd=tmp_path).returncode == 0
    r = run_cli("train", "--resume", "r", "--epochs", "4", "--quiet", "--no-report", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert torch.load(tmp_path / "r" / "checkpoint" / "last.pt", weights_only=True)["epoch"] == 4
    bad = run_cli("train", "--resume", "r", "--latent-dim", "3", cwd=tmp_path)
    assert bad.returncode == 2 and "only --epochs, --device and --quiet" in bad.stderr


WRITER = r"""
import sys, torch, aekit
m = aekit.AE(input_shape=(50,), hidden=(200,), latent_dim=10)
i = 0
while True:
    with torch.no_grad():
        for p in m.parameters():
            p.fill_(float(i))
    m.save_pretrained(sys.argv[1])
    i += 1
    if i == 3:
        print("ready", flush=True)
"""


def test_a_kill_during_writes_never_leaves_a_broken_file(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    rng = np.random.default_rng(0)
    for trial in range(6):
        proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "m")], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0, 0.3)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        model = aekit.load(tmp_path / "m")  # loads: every file is whole
        vals = {float(p.detach().flatten()[0]) for p in model.parameters()}
        assert len(vals) == 1, f"trial {trial}: weights from two different writes"
    leftovers = [p.name for p in (tmp_path / "m").iterdir() if p.name not in ("config.json", "model.safetensors")]
    assert all(p.startswith(".") and p.endswith(".tmp") for p in leftovers), leftovers  # only our abandoned temp files


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ.get('AEKIT_PWNED', '/tmp/aekit-pwned')}",))


def test_a_crafted_pickle_is_refused_without_running(tmp_path, monkeypatch):
    assert run_cli("train", "--epochs", "1", "--out", "r", "--quiet", "--no-report", cwd=tmp_path).returncode == 0
    marker = tmp_path / "pwned"
    monkeypatch.setenv("AEKIT_PWNED", str(marker))
    ck = tmp_path / "r" / "checkpoint" / "last.pt"
    torch.save({"model": _Evil(), "optimizers": [], "epoch": 1, "history": []}, ck)
    r = run_cli("train", "--resume", "r", "--epochs", "2", cwd=tmp_path)
    assert r.returncode == 2
    assert "refused or unreadable checkpoint" in r.stderr and "Traceback" not in r.stderr
    assert not marker.exists(), "the pickle ran code"


def test_truncated_or_tampered_model_files_give_clear_errors(tmp_path):
    m = aekit.AE(input_shape=(10,), latent_dim=3, hidden=(8,))
    m.save_pretrained(tmp_path / "ok")
    for case in ("truncated", "garbage", "bad_json", "typo_key", "bad_value", "wrong_class", "shape_mismatch"):
        d = tmp_path / case
        shutil.copytree(tmp_path / "ok", d)
        st, cj = d / "model.safetensors", d / "config.json"
        if case == "truncated":
            st.write_bytes(st.read_bytes()[:100])
            match = "truncated or corrupted"
        elif case == "garbage":
            st.write_bytes(b"\x00" * 64)
            match = "truncated or corrupted"
        elif case == "bad_json":
            cj.write_text(cj.read_text()[:-20])
            match = "not valid JSON"
        elif case == "typo_key":
            cj.write_text(cj.read_text().replace('"latent_dim"', '"latnt_dim"'))
            match = "did you mean 'latent_dim'"
        elif case == "bad_value":
            cj.write_text(cj.read_text().replace('"latent_dim": 3', '"latent_dim": -3'))
            match = "latent_dim: must be a positive integer"
        elif case == "wrong_class":
            cj.write_text(cj.read_text().replace('"AE"', '"Transformer"'))
            match = "names the model class 'Transformer', which is not registered"
        else:
            cj.write_text(cj.read_text().replace('"latent_dim": 3', '"latent_dim": 4'))
            match = "weights do not match config.json"
        with pytest.raises(AekitError, match=match):
            aekit.load(d)
        r = run_cli("evaluate", str(d))
        assert r.returncode == 2 and "Traceback" not in r.stderr, (case, r.stderr)


def test_grad_clip_bounds_the_update():
    x = np.random.default_rng(0).random((64, 10)).astype(np.float32)
    torch.manual_seed(0)
    m = aekit.AE(input_shape=(10,), hidden=(8,), latent_dim=3)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    aekit.Trainer(epochs=1, batch_size=64, val_split=0, optimizer="sgd", lr=1.0, momentum=0.0, grad_clip=1e-3,
                  progress=False).fit(m, x)
    delta = torch.cat([(m.state_dict()[k] - before[k]).flatten() for k in before])
    assert delta.norm().item() == pytest.approx(1e-3, rel=1e-3)  # one SGD step of a clipped gradient


@pytest.mark.parametrize("model", ["aae", "vqvae"])
def test_families_with_several_optimizers_or_buffers_train_data_parallel(model, tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    r = subprocess.run(
        [str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "aekit", "train", "--model", model,
         "--epochs", "2", "--batch-size", "64", "--out", "run", "--quiet", "--no-report"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("run written to") == 1
    m = aekit.load(tmp_path / "run")
    x = torch.rand(4, *m.config.input_shape)
    assert torch.isfinite(m.reconstruct(x)).all()
