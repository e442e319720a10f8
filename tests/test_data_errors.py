"""Bad data gets a clear answer: one line naming the file and the fix, exit status 2, and no
run directory left behind. Each case writes its own broken file and runs ``aekit train`` (the
CLI's ``main``, in process; two cases also through a real subprocess)."""

from __future__ import annotations

import re

import h5py
import numpy as np
import pytest

from aekit.cli import main
from aekit.data import formats
from aekit.errors import AekitError
from conftest import run_cli

RNG = np.random.default_rng(0)
X = RNG.random((40, 4))


def write_csv(p, rows, header="a,b,c,d"):
    p.write_text("\n".join([header] + [",".join(map(str, r)) for r in rows]) + "\n")
    return p


def make(tmp, case):
    """Write the broken input of ``case``; return the extra CLI arguments."""
    if case == "nan_npy":
        x = X.copy()
        x[2, 1] = x[7, 3] = np.nan
        x[9, 0] = np.inf
        np.save(tmp / "x.npy", x)
        return ["--data", str(tmp / "x.npy")]
    if case == "nan_csv":
        rows = X.round(3).astype(str)
        rows[4, 2] = ""
        return ["--data", str(write_csv(tmp / "t.csv", rows))]
    if case == "bad_impute":
        np.save(tmp / "x.npy", X)
        return ["--data", str(tmp / "x.npy"), "--impute", "median"]
    if case == "label_missing":
        rows = np.column_stack([X.round(3), np.arange(40) % 2])
        return ["--data", str(write_csv(tmp / "t.csv", rows, "a,b,c,d,target")), "--label-column", "targte"]
    if case == "label_length":
        np.savez(tmp / "xy.npz", X=X, y=np.zeros(39))
        return ["--data", str(tmp / "xy.npz")]
    if case == "empty_file":
        (tmp / "e.csv").write_bytes(b"")
        return ["--data", str(tmp / "e.csv")]
    if case == "header_only":
        (tmp / "h.csv").write_text("a,b,c\n")
        return ["--data", str(tmp / "h.csv")]
    if case == "text_column":
        rows = [[*r, city] for r, city in zip(X.round(3), ["Oslo", "Rome"] * 20)]
        return ["--data", str(write_csv(tmp / "t.csv", rows, "a,b,c,d,city"))]
    if case == "ragged_csv":
        (tmp / "r.csv").write_text("a,b,c\n1,2,3\n4,5\n6,7,8\n")
        return ["--data", str(tmp / "r.csv")]
    if case == "truncated_idx_gz":
        formats.write_idx(tmp / "x-idx3-ubyte.gz", RNG.integers(0, 255, (20, 8, 8), dtype=np.uint8))
        raw = (tmp / "x-idx3-ubyte.gz").read_bytes()
        (tmp / "x-idx3-ubyte.gz").write_bytes(raw[: len(raw) // 2])
        return ["--data", str(tmp / "x-idx3-ubyte.gz")]
    if case == "short_idx":
        formats.write_idx(tmp / "x-idx3-ubyte", RNG.integers(0, 255, (20, 8, 8), dtype=np.uint8))
        raw = (tmp / "x-idx3-ubyte").read_bytes()
        (tmp / "x-idx3-ubyte").write_bytes(raw[:-100])
        return ["--data", str(tmp / "x-idx3-ubyte")]
    if case == "corrupt_npz":
        np.savez(tmp / "c.npz", X=X)
        raw = (tmp / "c.npz").read_bytes()
        (tmp / "c.npz").write_bytes(raw[:200])
        return ["--data", str(tmp / "c.npz")]
    if case == "truncated_npy":
        np.save(tmp / "t.npy", X)
        (tmp / "t.npy").write_bytes((tmp / "t.npy").read_bytes()[:300])
        return ["--data", str(tmp / "t.npy")]
    if case == "pickled_npy":
        np.save(tmp / "p.npy", np.array([{"a": 1}] * 5, dtype=object), allow_pickle=True)
        return ["--data", str(tmp / "p.npy")]
    if case == "corrupt_mat":
        (tmp / "c.mat").write_bytes(b"MATLAB 5.0 MAT-file".ljust(128, b" ") + RNG.bytes(300))
        return ["--data", str(tmp / "c.mat")]
    if case == "corrupt_image":
        from PIL import Image

        (tmp / "imgs").mkdir()
        Image.fromarray(RNG.integers(0, 255, (8, 8), dtype=np.uint8)).save(tmp / "imgs" / "a.png")
        (tmp / "imgs" / "b.png").write_bytes((tmp / "imgs" / "a.png").read_bytes()[:40])
        return ["--data", str(tmp / "imgs")]
    if case == "mixed_sizes":
        from PIL import Image

        (tmp / "imgs").mkdir()
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp / "imgs" / "a.png")
        Image.fromarray(np.zeros((8, 10), np.uint8)).save(tmp / "imgs" / "b.png")
        return ["--data", str(tmp / "imgs")]
    if case == "unknown_dataset":
        return ["--data", "fashion-mnsit"]
    if case == "dataset_absent":
        return ["--data", "frey-face", "--data-root", str(tmp / "nowhere"), "--no-download"]
    if case == "one_d":
        np.save(tmp / "v.npy", np.arange(10.0))
        return ["--data", str(tmp / "v.npy")]
    if case == "conv_on_table":
        np.save(tmp / "x.npy", X)
        return ["--data", str(tmp / "x.npy"), "--arch", "conv"]
    if case == "npz_key":
        np.savez(tmp / "k.npz", a=X, b=X)
        return ["--data", str(tmp / "k.npz"), "--key", "feats"]
    if case == "hdf5_ambiguous":
        with h5py.File(tmp / "d.h5", "w") as f:
            f["train/x"], f["test/x"] = X, X
        return ["--data", str(tmp / "d.h5")]
    if case == "binarize_range":
        np.save(tmp / "x.npy", X * 10)
        return ["--data", str(tmp / "x.npy"), "--preprocess", "none", "--binarize", "dynamic"]
    if case == "bad_image_size":
        (tmp / "imgs").mkdir()
        return ["--data", str(tmp / "imgs"), "--image-size", "0x5"]
    if case == "unknown_format":
        np.save(tmp / "x.npy", X)
        return ["--data", str(tmp / "x.npy"), "--format", "xlsx"]
    if case == "missing_file":
        return ["--data", str(tmp / "nope.csv")]
    raise AssertionError(case)


CASES = {
    "nan_npy": r"x\.npy: 3 NaN/inf values, first at row 2, column 1; .*--impute mean",
    "nan_csv": r"t\.csv: 1 NaN/inf values, first at row 4, column 2; .*--impute mean",
    "bad_impute": r"--impute: unknown strategy 'median'; the one strategy is 'mean'",
    "label_missing": r"t\.csv: --label-column 'targte' is not a column \(did you mean 'target'\?\)",
    "label_length": r"xy\.npz labels: 39 labels .* for 40 samples; give one label per sample",
    "empty_file": r"e\.csv is empty \(0 bytes\)",
    "header_only": r"h\.csv: the table has a header but no data rows",
    "text_column": r"t\.csv: non-numeric column\(s\) 'city'; drop them, encode them as numbers, or name the label column",
    "ragged_csv": r"r\.csv: line 3 has 2 fields, the table has 3; fix that row",
    "truncated_idx_gz": r"x-idx3-ubyte\.gz: cannot read IDX file .*truncated or corrupt: re-download it",
    "short_idx": r"x-idx3-ubyte: IDX header promises 1280 bytes .* file has 1180; .*truncated or corrupt",
    "corrupt_npz": r"c\.npz: not a readable \.npy/\.npz file .*truncated or corrupt",
    "truncated_npy": r"t\.npy: not a readable \.npy/\.npz file .*truncated or corrupt",
    "pickled_npy": r"p\.npy: holds pickled objects, which aekit never loads",
    "corrupt_mat": r"c\.mat: not a readable MATLAB \.mat file .*truncated or corrupt",
    "corrupt_image": r"b\.png: not a readable image .*replace or delete it",
    "mixed_sizes": r"imgs: images differ in size \(a\.png is 8×8, b\.png is 10×8\); pass --image-size HxW",
    "unknown_dataset": r"unknown dataset 'fashion-mnsit' \(did you mean 'fashion-mnist'\?\)",
    "dataset_absent": r"frey-face: frey_rawface\.mat not found in .*nowhere; put Roweis' frey_rawface\.mat",
    "one_d": r"v\.npy: expected shape \(n_samples, n_features\.\.\.\), got \(10,\); reshape",
    "conv_on_table": r"conv",
    "npz_key": r"k\.npz: --key 'feats' not in the archive; its arrays: a, b",
    "hdf5_ambiguous": r"d\.h5: holds datasets test/x, train/x; choose one with --key PATH",
    "binarize_range": r"--binarize dynamic: needs values in \[0, 1\] after preprocessing.*--preprocess scale or minmax",
    "bad_image_size": r"--image-size: expected N or HxW with positive sizes",
    "unknown_format": r"--format: unknown format 'xlsx'; choose one of idx, npy",
    "missing_file": r"--data: .*nope\.csv not found",
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_data_one_line_exit_2_no_run_dir(case, tmp_path, capsys):
    args = make(tmp_path, case)
    run = tmp_path / "run"
    code = main(["train", *args, "--out", str(run), "--epochs", "1", "--quiet", "--no-report"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("aekit: error: ") and "\n" not in err, err
    assert re.search(CASES[case], err), err
    assert not run.exists(), f"{case}: a run directory was left behind"


@pytest.mark.parametrize("case", ["nan_csv", "mixed_sizes"])
def test_bad_data_through_the_real_command(case, tmp_path):
    args = make(tmp_path, case)
    r = run_cli("train", *args, "--out", str(tmp_path / "run"), "--quiet", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert re.search(CASES[case], r.stderr.strip().splitlines()[-1])
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()


def test_impute_mean_trains_and_evaluates(tmp_path, capsys):
    """The NaN case above, with --impute mean: trains, and evaluate re-applies the fill."""
    rows = X.round(3).astype(str)
    rows[4, 2] = "NA"
    write_csv(tmp_path / "t.csv", rows)
    run = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "t.csv"), "--impute", "mean", "--out", str(run),
                 "--epochs", "1", "--batch-size", "8", "--quiet", "--no-report"]) == 0
    import json

    pre = json.loads((run / "preprocess.json").read_text())
    assert pre["method"] == "minmax" and len(pre["fill"]) == 4
    assert main(["evaluate", str(run)]) == 0


def test_a_binary_file_under_a_table_name_is_one_line(tmp_path, capsys):
    """A .npy renamed .csv (or --format csv on a .npy) was a UnicodeDecodeError traceback."""
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32))
    (tmp_path / "wrong.csv").write_bytes((tmp_path / "x.npy").read_bytes())
    for args in (["--data", str(tmp_path / "wrong.csv")], ["--data", str(tmp_path / "x.npy"), "--format", "csv"]):
        assert main(["train", *args, "--epochs", "1", "--out", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err.strip()
        assert "not a text table (byte" in err and "\n" not in err and not (tmp_path / "r").exists(), err


def test_a_folder_of_outputs_onto_a_file_is_one_line(tmp_path):
    from aekit import io

    (tmp_path / "existing.png").write_bytes(b"x")
    with pytest.raises(AekitError, match="--out: .*existing.png is a file; a folder of inputs is written to a folder"):
        io.make_folder(tmp_path / "existing.png")
    assert io.make_folder(tmp_path / "new" / "dir").is_dir()


def test_a_text_file_under_a_numpy_name_is_not_called_pickled(tmp_path, capsys):
    (tmp_path / "t.npy").write_text("a,b\n1,2\n3,4\n")
    assert main(["train", "--data", str(tmp_path / "t.npy"), "--epochs", "1", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "t.npy: not a NumPy file (no .npy header" in err and "pickled" not in err and "\n" not in err
