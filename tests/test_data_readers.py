"""The reader registry: a user's own file format trains, detects and converts like a built-in one."""

from __future__ import annotations

import numpy as np
import pytest

import aekit
from aekit.data import files, readers, register_reader
from aekit.errors import AekitError

RNG = np.random.default_rng(0)


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the registry, so a test's readers leave no trace."""
    monkeypatch.setattr(readers, "READERS", dict(readers.READERS))
    return readers.READERS


def write_rows(path, x, y):
    """A made-up text format: a 'ROWS' line, then 'label|v1 v2 …' per sample."""
    path.write_text("ROWS\n" + "".join(f"{int(c)}|{' '.join(f'{v:.6f}' for v in row)}\n" for row, c in zip(x, y)))
    return path


def read_rows(path, *, key, label_column, image_size, mmap):
    lines = path.read_text().split("\n")[1:]
    pairs = [ln.split("|") for ln in lines if ln]
    x = np.array([[float(v) for v in b.split()] for _, b in pairs], np.float32)
    return x, np.array([int(a) for a, _ in pairs]), {"rows_format": 1}


def test_a_registered_reader_is_found_by_suffix_and_trains(registry, tmp_path):
    register_reader("rows", suffixes=(".rows",))(read_rows)
    x = RNG.normal(size=(120, 6)).astype(np.float32)
    y = (np.arange(120) % 2).astype(np.int64)
    p = write_rows(tmp_path / "t.ROWS", x, y)  # suffixes match case-insensitively
    assert readers.detect_format(p) == "rows" and aekit.data.formats.detect_format(p) == "rows"
    got, labels, info = files.read(p)
    np.testing.assert_allclose(got, x, atol=1e-6)
    np.testing.assert_array_equal(labels, y)
    assert info == {"rows_format": 1, "format": "rows"}
    data = aekit.data.load_file(p, test_size=0.25)
    assert data.info["format"] == "rows" and len(data.x_train) == 90 and len(data.y_test) == 30
    model = aekit.AE(input_shape=(6,), latent_dim=2, hidden=(8,))
    hist = aekit.Trainer(epochs=2, batch_size=30, progress=False).fit(model, data)
    assert len(hist) == 2 and np.isfinite(hist[-1]["val_loss"])
    # options the reader does not take are refused with the built-in messages
    with pytest.raises(AekitError, match=r"--label-column: applies to CSV/TSV/Parquet tables, not rows files"):
        files.read(p, label_column="y")
    with pytest.raises(AekitError, match=r"--image-size: applies to image folders, not rows files"):
        files.read(p, image_size=8)
    with pytest.raises(AekitError, match=r"--format: unknown format 'rowz'; choose one of idx, .*, rows"):
        files.read(p, fmt="rowz")


def test_the_commands_that_read_files_see_a_registered_reader(registry, tmp_path, capsys):
    """`aekit train`, `detect` and `convert` (in process) read the user's format."""
    from aekit.cli import main

    register_reader("rows", suffixes=(".rows",))(read_rows)
    x = RNG.normal(size=(80, 4)).astype(np.float32)
    p = write_rows(tmp_path / "t.rows", x, np.arange(80) % 2)
    run = tmp_path / "run"
    assert main(["train", "--data", str(p), "--epochs", "1", "--batch-size", "16", "--quiet", "--no-report",
                 "--out", str(run)]) == 0, capsys.readouterr().err
    assert main(["detect", str(run), "--data", str(p), "--out", str(tmp_path / "s.csv")]) == 0, capsys.readouterr().err
    assert len((tmp_path / "s.csv").read_text().splitlines()) == 81
    capsys.readouterr()
    assert main(["convert", str(p), str(tmp_path / "t.npy")]) == 0, capsys.readouterr().err
    np.testing.assert_allclose(np.load(tmp_path / "t.npy"), x, atol=1e-6)
    assert "(shape (80, 4), float32)" in capsys.readouterr().out  # what the file holds


def test_sniffing_and_folder_readers(registry, tmp_path):
    register_reader("rows", sniff=lambda head: head.startswith(b"ROWS\n"))(read_rows)
    p = write_rows(tmp_path / "no_suffix", np.ones((3, 2)), [0, 1, 0])
    assert readers.detect_format(p) == "rows"  # tried before the text-table fallback
    (tmp_path / "plain").write_text("a,b\n1,2\n")
    assert readers.detect_format(tmp_path / "plain") == "csv"
    with pytest.raises(AekitError, match=r"is a folder; --format rows reads a file"):
        files.read(tmp_path, fmt="rows")


def test_registering_a_name_or_suffix_twice_is_refused(registry):
    register_reader("rows", suffixes=(".rows",))(read_rows)
    with pytest.raises(AekitError, match=r"register_reader: a reader named 'rows' is registered already"):
        register_reader("rows", suffixes=(".other",))
    with pytest.raises(AekitError, match=r"a reader named 'csv' is registered already"):
        register_reader("csv")
    with pytest.raises(AekitError, match=r"files ending in '.npy' are read by 'npy' already"):
        register_reader("mine", suffixes=(".NPY",))
    with pytest.raises(AekitError, match=r"takes=\['labels'\]: 'labels' is not one of label_column, image_size"):
        register_reader("mine", takes=("labels",))
    assert "mine" not in readers.READERS


def test_a_reader_returning_the_wrong_thing_is_named(registry, tmp_path):
    register_reader("bad", suffixes=(".bad",))(lambda path, **kw: np.ones((3, 2)))
    (tmp_path / "x.bad").write_text("x")
    with pytest.raises(AekitError, match=r"x\.bad: the 'bad' reader returned ndarray; a reader returns \(x, y or None, info dict\)"):
        files.read(tmp_path / "x.bad")
