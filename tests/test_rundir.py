"""aekit.RunDir: every file of a run, read and written in one place (atomic writes, merged
config.json sections, one-line errors that name the file and the fix)."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest
import torch

import aekit
from aekit import RunDir
from aekit.errors import AekitError


@pytest.fixture
def trained(tmp_path):
    x = np.random.default_rng(0).random((64, 6)).astype(np.float32)
    torch.manual_seed(0)
    m = aekit.AE(input_shape=(6,), hidden=(5,), latent_dim=2)
    aekit.Trainer(epochs=2, batch_size=16, progress=False, out_dir=tmp_path / "run").fit(m, x)
    return RunDir(tmp_path / "run"), m


def test_paths_and_what_a_trainer_writes(trained):
    run, _ = trained
    assert run.config_path.name == "config.json" and run.checkpoint_path.parts[-2:] == ("checkpoint", "last.pt")
    for p in (run.config_path, run.weights_path, run.preprocess_path, run.history_path, run.checkpoint_path):
        assert p.is_file(), p
    assert run.is_run() and run.temp_files() == []
    cfg = run.read_config()
    assert list(cfg)[:3] == ["aekit_version", "model_class", "model"]
    assert cfg["model_class"] == "AE" and cfg["data"]["n_train"] == 64 and cfg["training"]["epochs"] == 2
    assert [r["epoch"] for r in run.read_history()] == [1.0, 2.0]
    assert run.read_checkpoint()["epoch"] == 2
    assert run.read_preprocess().to_dict() == json.loads(run.preprocess_path.read_text())
    assert run.read_metrics() == {}  # a Trainer alone writes no metrics


@pytest.mark.skipif(os.name != "posix", reason="POSIX file permissions")
def test_run_files_get_the_permissions_of_a_plain_open(trained, tmp_path):
    """Atomic writes go through a temporary file, which is created 0600; the files in place
    must instead be readable as ``open(path, "w")`` would leave them (0666 less the umask)."""
    run, _ = trained
    mask = os.umask(0o022)
    try:
        aekit.io.write_text(tmp_path / "plain.txt", "x")
        assert stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == 0o644
        os.umask(0o077)
        aekit.io.write_text(tmp_path / "private.txt", "x")
        assert stat.S_IMODE((tmp_path / "private.txt").stat().st_mode) == 0o600
    finally:
        os.umask(mask)
    expected = 0o666 & ~mask
    for p in (run.config_path, run.weights_path, run.preprocess_path, run.history_path):
        assert stat.S_IMODE(p.stat().st_mode) == expected, p


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="Linux reports the umask in /proc/self/status")
def test_atomic_writes_never_set_the_umask_where_linux_reports_it(tmp_path, monkeypatch):
    """Setting the umask to read it leaves it 0 for an instant, when another thread's new file
    would be world-writable; on Linux it is read from /proc instead."""
    mask = os.umask(0o022)
    os.umask(mask)

    def refuse(_):
        raise AssertionError("os.umask called")

    monkeypatch.setattr(os, "umask", refuse)
    aekit.io.write_text(tmp_path / "a.txt", "x")
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o666 & ~mask


def test_config_sections_merge_instead_of_overwriting(trained):
    run, m = trained
    before = run.read_config()
    m.save_pretrained(run.path)  # the model section again: data and training stay
    after = run.read_config()
    assert after["data"] == before["data"] and after["training"] == before["training"]
    run.write_config(run={"note": "x"})
    assert run.section("run") == {"note": "x"} and run.section("training") == before["training"]
    run.write_config(training={"epochs": 9})  # a section is replaced whole, the others kept
    cfg = run.read_config()
    assert cfg["training"] == {"epochs": 9} and cfg["run"] == {"note": "x"} and cfg["model"] == before["model"]
    # a model section without plug-ins drops a stale "plugins" key
    run.write_config(model={**m.config_dict(), "plugins": ["mine.nets"]})
    assert run.read_config()["plugins"] == ["mine.nets"]
    run.write_config(model=m.config_dict())
    assert "plugins" not in run.read_config()
    assert aekit.load(run.path).config == m.config


def test_a_run_written_before_loads(tmp_path):
    """config.json as aekit wrote it before RunDir: keys in another order, aekit_version last."""
    m = aekit.AE(input_shape=(4,), hidden=(3,), latent_dim=2)
    d = tmp_path / "old"
    d.mkdir()
    from aekit.io import save_tensors

    save_tensors(d / "model.safetensors", m.state_dict())
    cfg = {"model_class": "AE", "model": m.config.to_dict(), "data": {"name": "digits"},
           "training": {"seed": 3, "epochs": 1}, "aekit_version": "0.0.1"}
    (d / "config.json").write_text(json.dumps(cfg))
    run = RunDir(d)
    assert run.section("training")["seed"] == 3 and run.read_preprocess().method == "none"
    loaded = aekit.load(run)  # a RunDir is a path
    x = torch.rand(3, 4)
    torch.testing.assert_close(loaded(x).recon, m.eval()(x).recon)


def test_missing_and_corrupt_files_name_the_file_and_the_fix(trained):
    from aekit.data.runs import run_preprocessor

    run, _ = trained
    cases = [
        (run.metrics_path, "{broken", run.read_metrics, rf"^{run.metrics_path}: not valid JSON .*; aekit evaluate"),
        (run.preprocess_path, '{"method": "scale", "colour": 1}', lambda: run_preprocessor(run.path),
         r"preprocess\.json: unknown keys \['colour'\]; restore the file"),
        (run.preprocess_path, "[1, 2", run.read_preprocess, r"preprocess\.json: not valid JSON"),
        (run.config_path, "[]", run.read_config, r"config\.json: expected a JSON object, got list"),
        (run.config_path, None, run.read_config, r"config\.json: file not found; pass a folder written by aekit train"),
    ]
    for path, text, read, message in cases:
        if text is None:
            path.unlink()
        else:
            path.write_text(text)
        with pytest.raises(AekitError, match=message) as e:
            read()
        assert "\n" not in str(e.value)


def test_require_run_and_prepare(tmp_path):
    with pytest.raises(AekitError, match=r"not a run directory \(no config.json\); pass a folder written by aekit"):
        RunDir(tmp_path / "nothing").require_run()
    with pytest.raises(AekitError, match=r"^--resume: .* is not a run directory"):
        RunDir(tmp_path / "nothing", arg="--resume").require_run()
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("x")
    with pytest.raises(AekitError, match="--out: .* already exists and is not empty; pass --overwrite or choose another --out"):
        RunDir(full, arg="--out").prepare()
    with pytest.raises(AekitError, match="out: .* pass overwrite=True or choose another out"):
        RunDir(full, arg="out").prepare()
    assert (full / "keep.txt").exists()
    (full / "config.json").write_text("{}")
    (full / "model.safetensors").write_bytes(b"")  # a run's files: overwrite replaces them
    RunDir(full, arg="out").prepare(overwrite=True)
    assert not full.exists()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(AekitError, match="afile is a file"):
        RunDir(tmp_path / "afile" / "run", arg="--out").prepare()
    RunDir(tmp_path / "new" / "run").prepare()  # the parent is made, the run itself is left to the writers
    assert (tmp_path / "new").is_dir() and not (tmp_path / "new" / "run").exists()


def _crash_in_callback(monkeypatch):
    def cb(trainer, model, epoch, row):
        if epoch == 1:  # after epoch 1's files are written, during epoch 2's
            raise RuntimeError("boom")
    return [cb]


def _disk_full_during_checkpoint(monkeypatch):
    """The second checkpoint write gets half its bytes onto the disk, then the disk is full."""
    real, calls = torch.save, []

    def save(obj, f, *a, **k):
        calls.append(1)
        real(obj, f, *a, **k)
        if len(calls) == 2:
            with open(f, "r+b") as fh:
                fh.truncate(fh.seek(0, 2) // 2)
            raise OSError(28, "No space left on device")
    monkeypatch.setattr(torch, "save", save)
    return []


@pytest.mark.parametrize("fault", [_crash_in_callback, _disk_full_during_checkpoint])
def test_a_failure_mid_training_leaves_only_whole_files(fault, tmp_path, monkeypatch, one_thread):
    callbacks = fault(monkeypatch)
    with pytest.raises((RuntimeError, OSError)):
        aekit.train_run("ae", "digits", tmp_path / "run", epochs=3, batch_size=64, hidden="16", latent_dim=4,
                        progress=False, callbacks=callbacks)
    monkeypatch.undo()
    run = RunDir(tmp_path / "run")
    assert run.temp_files() == [] and not list(run.path.rglob("*.tmp"))
    names = sorted(p.relative_to(run.path).as_posix() for p in run.path.rglob("*") if p.is_file())
    assert names == ["checkpoint/last.pt", "config.json", "history.csv", "preprocess.json"]
    assert run.read_config()["data"]["name"] == "digits"
    assert run.read_preprocess().method == json.loads(run.preprocess_path.read_text())["method"]
    # history.csv is written just before the checkpoint: it may hold the epoch whose checkpoint failed
    assert [r["epoch"] for r in run.read_history()] in ([1.0], [1.0, 2.0])
    ck = run.read_checkpoint()  # whole, and the last one that was finished
    assert ck["epoch"] == 1 and len(ck["history"]) == 1
    # and the run resumes from it to the weights an unbroken run has
    aekit.resume_run(run, report=False)
    ref = aekit.train_run("ae", "digits", tmp_path / "ref", epochs=3, batch_size=64, hidden="16", latent_dim=4,
                          progress=False, report=False)
    resumed = aekit.load(run)
    for k, v in ref.model.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v, rtol=0, atol=0, msg=k)


def test_a_file_written_onto_a_folder_is_one_line_and_leaves_the_folder_alone(tmp_path):
    from aekit import io

    (tmp_path / "d").mkdir()
    with pytest.raises(AekitError, match="d: is a folder; give the name of a file to write"):
        io.write_json(tmp_path / "d", {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"] and not list((tmp_path / "d").iterdir())


def test_overwrite_replaces_only_a_run_directory(tmp_path, monkeypatch):
    """--overwrite clears a folder aekit wrote; a folder of the user's files (data, notes) or
    the folder one works in is refused in one line and left as it was."""
    mine = tmp_path / "proj"
    mine.mkdir()
    (mine / "data.npy").write_bytes(b"x")
    (mine / "notes.txt").write_text("notes")
    with pytest.raises(AekitError, match="proj is not empty and not an aekit run.*replaces only run directories"):
        RunDir(mine, "--out").prepare(overwrite=True)
    assert sorted(p.name for p in mine.iterdir()) == ["data.npy", "notes.txt"]
    monkeypatch.chdir(mine)
    (mine / "config.json").write_text("{}")
    (mine / "history.csv").write_text("epoch\n")  # even a run's files: not the working folder
    for where in (".", str(tmp_path)):
        with pytest.raises(AekitError, match="holds the current directory"):
            RunDir(where, "--out").prepare(overwrite=True)
    assert (mine / "notes.txt").exists()
    monkeypatch.chdir(tmp_path)
    RunDir(mine, "--out").prepare(overwrite=True)  # now a run's files, elsewhere: replaced
    assert not mine.exists()


def test_a_file_given_as_a_run_is_called_a_file(tmp_path):
    (tmp_path / "t.npy").write_bytes(b"x")
    with pytest.raises(AekitError, match="t.npy: is a file, not a run directory"):
        aekit.load(tmp_path / "t.npy")
    with pytest.raises(AekitError, match="nope: no such run directory"):
        aekit.load(tmp_path / "nope")


def test_a_device_that_is_not_there_leaves_the_run_to_replace(tmp_path):
    from aekit.cli import main

    x = np.random.default_rng(0).normal(size=(60, 3)).astype(np.float32)
    np.save(tmp_path / "t.npy", x)
    args = ["train", "--data", str(tmp_path / "t.npy"), "--epochs", "1", "--quiet", "--no-report", "--out",
            str(tmp_path / "run")]
    assert main(args) == 0
    before = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert main([*args, "--overwrite", "--device", "cuda:99"]) == 2  # checked before the old run is cleared
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == before
