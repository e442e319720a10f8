"""Reading series (aekit.data.series): every source form, the real benchmark files (SKAB, NAB,
TSB-UAD, the UCR anomaly archive, TSB-AD), the catalogue of series a model cannot learn from,
gap filling, TSB-AD's period estimate, the UCR/UEA ``.ts`` files; and windows of a series
(aekit.data.windows) as views, their coverage, folding scores onto steps, and training on them."""

from __future__ import annotations

import csv
import sys
import tracemalloc
from collections import Counter

import numpy as np
import pytest
import torch

import aekit
from aekit.data import Data, auto_window, read_series, read_ts
from aekit.data.windows import Windows, per_timestep, window_starts
from aekit.errors import AekitError
from conftest import SHARED, need

TS = SHARED / "timeseries"
RNG = np.random.default_rng(0)


def write(path, text: str):
    path.write_text(text)
    return path


def raw_columns(path, delimiter=","):
    """The file's columns as strings, read with Python's csv module alone (a second opinion)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter=delimiter))
    return {name: [r[j] for r in rows[1:]] for j, name in enumerate(rows[0])}


# -- source forms ---------------------------------------------------------------------------------
def test_every_source_form_reads_the_same_series(tmp_path):
    x = RNG.normal(size=(50, 3)).astype(np.float32)
    body = "\n".join(",".join(repr(float(v)) for v in row) for row in x)
    files = [write(tmp_path / "a.csv", "a,b,c\n" + body + "\n"),
             write(tmp_path / "b.tsv", "a\tb\tc\n" + body.replace(",", "\t")),
             write(tmp_path / "c.txt", "a;b;c\n" + body.replace(",", ";")),
             write(tmp_path / "d.txt", body.replace(",", "  "))]  # no header, whitespace: channels "0", "1", "2"
    np.save(tmp_path / "e.npy", x)
    files.append(tmp_path / "e.npy")
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2]}), tmp_path / "f.parquet")
        files.append(tmp_path / "f.parquet")
    except ImportError:  # Parquet is optional (aekit[parquet])
        pass
    many = read_series([*files, x, x[:, 0]])
    k = len(files)
    assert [s.name for s in many] == ["a", "b", "c", "d", "e", "f"][:k] + [f"series {k}", f"series {k + 1}"]
    for s in many[:k + 1]:
        np.testing.assert_array_equal(s.values, x)
        assert s.values.dtype == np.float32 and s.labels is None and s.time is None
    assert [s.channels for s in many[:4]] == [["a", "b", "c"]] * 3 + [["0", "1", "2"]]
    assert many[0].path == str(files[0]) and many[k].path is None
    one = read_series(x[:, 0])  # (T,) → (T, 1)
    assert one.values.shape == (50, 1) and one.channels == ["0"] and one.name == "series" and len(one) == 50
    assert read_series(tmp_path / "e.npy", name="pump").name == "pump"
    np.testing.assert_array_equal(read_series(x, columns=["2", "0"]).values, x[:, [2, 0]])
    head, tail = one.split(20)  # chronological, views of the same array
    assert len(head) == 20 and len(tail) == 30 and np.shares_memory(head.values, one.values)
    np.testing.assert_array_equal(tail.values, one.values[20:])
    with pytest.raises(AekitError, match=r"series: split at 50: give a step between 1 and 49"):
        one.split(50)


def test_a_dataframe_with_a_datetime_index():
    pd = pytest.importorskip("pandas")
    t = pd.date_range("2024-01-01", periods=30, freq="h")
    df = pd.DataFrame({"temp": np.arange(30.0), "note": ["x"] * 30, "label": [0] * 29 + [1]}, index=t)
    s = read_series(df)
    assert s.channels == ["temp"] and s.labels.tolist() == [0] * 29 + [1]
    np.testing.assert_array_equal(s.time, t.to_numpy())


# -- real benchmark files -------------------------------------------------------------------------
def test_skab_eight_channels_labels_from_anomaly_time_parsed():
    path = need(TS / "skab" / "data" / "valve1" / "0.csv")
    s = read_series(path)
    raw = raw_columns(path, ";")
    names = [n for n in raw if n not in ("datetime", "anomaly", "changepoint")]
    assert s.channels == names and len(names) == 8  # changepoint is label information, not a channel
    np.testing.assert_allclose(s.values, np.array([raw[n] for n in names], float).T, rtol=1e-6)
    np.testing.assert_array_equal(s.labels, np.array(raw["anomaly"], float).astype(np.int8))
    assert s.labels.dtype == np.int8 and 0 < s.labels.sum() < len(s)
    assert s.time.dtype.kind == "M" and str(s.time[0]) == raw["datetime"][0].replace(" ", "T")
    assert (np.diff(s.time) > np.timedelta64(0)).all()
    assert read_series(path, label_column=None).channels[-2:] == ["anomaly", "changepoint"]
    runs = read_series(sorted((TS / "skab" / "data" / "valve1").glob("*.csv")))
    assert len(runs) == 16 and all(r.values.shape[1] == 8 for r in runs)


def test_nab_timestamp_value():
    path = need(TS / "nab" / "data" / "realKnownCause" / "ec2_request_latency_system_failure.csv")
    s = read_series(path)
    raw = raw_columns(path)
    assert s.channels == ["value"] and s.labels is None and len(s) == len(raw["value"])
    assert str(s.time[0]) == "2014-03-07T03:41:00" and s.time.dtype.kind == "M"
    np.testing.assert_allclose(s.values[:, 0], np.array(raw["value"], float), rtol=1e-6)


def test_tsb_uad_mitdb_tsb_ad_and_ucr_anomaly():
    mitdb = read_series(need(TS / "tsb-uad" / "mitdb.csv"))
    assert mitdb.values.shape == (7500, 1) and mitdb.channels == ["data"] and mitdb.time is None
    ones = np.flatnonzero(mitdb.labels)
    assert len(ones) == 352 and ones[-1] - ones[0] == 351  # one contiguous 352-point anomaly
    tsb = read_series(need(TS / "tsb-ad" / "001_NAB_id_1_Facility_tr_1007_1st_2014.csv"))
    assert tsb.channels == ["Data"] and tsb.labels.sum() == 343 and len(tsb) == 4031
    assert np.flatnonzero(tsb.labels)[0] >= 1007  # the file name: train on the first 1,007 points
    ucr = TS / "ucr-anomaly"
    train = read_series(need(ucr / "135_UCR_Anomaly_InternalBleeding16_TRAIN.csv"))
    test = read_series(ucr / "135_UCR_Anomaly_InternalBleeding16_TEST.csv")
    assert len(train) == 1200 and train.labels.sum() == 0 and test.labels.sum() == 12 and len(test) == 7501
    np.testing.assert_array_equal(test.time, np.arange(7501))  # a numeric time column stays numbers
    np.testing.assert_array_equal(train.values, test.values[:1200])


# -- the catalogue of bad series --------------------------------------------------------------------
BAD = [
    ("empty.csv", "", r"empty\.csv: the file is empty \(no rows\)"),
    ("head.csv", "a,b\n", r"head\.csv: the file has a header but no data rows"),
    ("text.csv", "a,b\n1,2\n3,4\n5,oops\n6,7\n", r"text\.csv: column 'b' holds 'oops' at row 2 \(line 4\), not a number; "
                                                   r"leave the column out with columns=\[\.\.\.\] \(--columns\)"),
    ("gap.csv", "a,b\n1,2\n,3\n4,5\n5,\n", r"gap\.csv: column 'a' has a gap \(empty or NaN\) at row 1 \(line 3\) \(2 in all\); "
                                             r"fill it with impute='ffill', 'linear' or 'drop'"),
    ("flat.csv", "a,b,c\n1,2,5\n2,1,5\n3,0,5\n", r"flat\.csv: channel 'c' is constant \(5 at every step\) and carries "
                                                  r"nothing to learn; leave it out with columns=\['a', 'b'\]"),
    ("one.csv", "a,b\n1,2\n", r"one\.csv: the series has 1 step\(s\); a series needs at least 2 steps"),
    ("lab.csv", "a,label\n1,0\n2,2\n3,1\n", r"lab\.csv: label column 'label' holds '2' at row 1 \(line 3\); labels must be "
                                            r"0 \(normal\) or 1 \(anomaly\)"),
    ("gaplab.csv", "a,label\n1,0\n2,\n", r"gaplab\.csv: label column 'label' holds a gap at row 1"),
    ("inf.csv", "a\n1\ninf\n", r"inf\.csv: column 'a' holds 'inf' at row 1 \(line 3\), not a finite number"),
    ("ragged.csv", "a,b\n1,2\n3\n", r"ragged\.csv: line 3 has 1 fields, the header has 2; fix that row"),
    ("sheet.xlsx", "a\n1\n", r"sheet\.xlsx: unsupported file type '\.xlsx'; read_series reads \.csv, \.tsv, \.txt, \.parquet, \.npy"),
]


@pytest.mark.parametrize("fname,text,message", BAD, ids=[b[0] for b in BAD])
def test_bad_series_name_the_file_the_column_and_the_fix(tmp_path, fname, text, message):
    path = write(tmp_path / fname, text)
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(AekitError, match=message) as e:
        read_series(path)
    assert "\n" not in str(e.value) and sorted(tmp_path.rglob("*")) == before  # one line, nothing written


def test_bad_arrays_options_and_sources(tmp_path, monkeypatch):
    x = np.column_stack([np.arange(10.0), np.ones(10)])
    with pytest.raises(AekitError, match=r"^series: channel '1' is constant \(1 at every step\).*columns=\['0'\]"):
        read_series(x)
    x[3, 0] = np.nan
    with pytest.raises(AekitError, match=r"^series: column '0' has a gap \(empty or NaN\) at row 3 \(1 in all\)"):
        read_series(x, columns=["0"])
    with pytest.raises(AekitError, match=r"series: no rows"):
        read_series(np.zeros((0, 2)))
    with pytest.raises(AekitError, match=r"series: a series is \(steps,\) or \(steps, channels\), got shape \(2, 3, 4\)"):
        read_series(np.zeros((2, 3, 4)))
    with pytest.raises(AekitError, match=r"the folder holds no series file \(\.csv, \.tsv"):
        read_series(tmp_path)
    with pytest.raises(AekitError, match=r"is a folder inside a list of sources; pass the folder itself"):
        read_series([tmp_path])
    with pytest.raises(AekitError, match=r"source: a list of numbers; pass np\.asarray\(values\) for one series"):
        read_series([1.0, 2.0, 3.0])
    with pytest.raises(AekitError, match=r"impute: unknown mode 'mean'; choose one of ffill, linear, drop"):
        read_series(x, impute="mean")
    path = write(tmp_path / "s.csv", "when,a,label\n1,1,0\n2,2,1\n3,4,0\n")
    with pytest.raises(AekitError, match=r"s\.csv: time_column 'time' is not a column.*; columns: when, a, label"):
        read_series(path, time_column="time")
    with pytest.raises(AekitError, match=r"s\.csv: columns names 'label', the label column; leave it out, or pass label_column=None"):
        read_series(path, columns=["a", "label"])
    s = read_series(path, time_column="when")
    assert s.channels == ["a"] and s.time.tolist() == [1, 2, 3] and s.labels.tolist() == [0, 1, 0]
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # as if pyarrow were not installed
    with pytest.raises(AekitError, match=r"p\.parquet: reading Parquet needs pyarrow; pip install .aekit\[parquet\]."):
        read_series(write(tmp_path / "p.parquet", "x"))


def test_column_roles_time_labels_and_text_columns(tmp_path):
    path = write(tmp_path / "r.csv", "stamp,id,a,b,Outlier,changepoint\n2024-01-01 00:00,u1,1,5,0,0\n"
                                     "2024-01-01 00:05,u2,2,3,1,1\n2024-01-01 00:10,u3,4,4,0,0\n")
    s = read_series(path)  # the first column parses as dates; labels by name, any case
    assert s.channels == ["a", "b"]  # 'id' holds no number; 'changepoint' goes with the labels
    assert s.labels.tolist() == [0, 1, 0] and str(s.time[2]) == "2024-01-01T00:10"
    with pytest.raises(AekitError, match=r"r\.csv: column 'id' holds 'u1' at row 0 \(line 2\), not a number"):
        read_series(path, columns=["id", "a"])
    bare = read_series(path, time_column=None, label_column=None, columns=["a", "changepoint"])
    assert bare.channels == ["a", "changepoint"] and bare.labels is None and bare.time is None


def test_impute_modes_fill_the_gaps(tmp_path):
    path = write(tmp_path / "g.csv", "a,b,label\n,10,0\n2,NaN,0\n,30,1\n6,40,0\n7,50,0\n")
    ffill = read_series(path, impute="ffill")
    np.testing.assert_array_equal(ffill.values, [[2, 10], [2, 10], [2, 30], [6, 40], [7, 50]])  # leading gap: backward
    linear = read_series(path, impute="linear")
    np.testing.assert_array_equal(linear.values, [[2, 10], [2, 20], [4, 30], [6, 40], [7, 50]])
    drop = read_series(path, impute="drop")
    np.testing.assert_array_equal(drop.values, [[6, 40], [7, 50]])
    assert drop.labels.tolist() == [0, 0] and ffill.labels.tolist() == [0, 0, 1, 0, 0]
    with pytest.raises(AekitError, match=r"the series has 0 step\(s\)"):
        read_series(write(tmp_path / "h.csv", "a,b\n1,\n,2\n"), impute="drop")


# -- TSB-AD's period estimate -----------------------------------------------------------------------
def test_auto_window_finds_a_known_period():
    t = np.arange(5000)
    sine = np.sin(2 * np.pi * t / 50)
    assert auto_window(sine) == 50
    assert auto_window(sine, rank=2) == 100 and auto_window(sine, rank=3) == 150  # TSB-AD's ranks 2 and 3
    noisy = sine + 0.3 * RNG.normal(size=len(t))
    assert auto_window(np.column_stack([noisy, RNG.normal(size=len(t))])) == 50  # the first channel, as TSB-AD
    assert auto_window(np.ones(300)) == 125 and auto_window(np.ones(300), default=64) == 64  # no peak
    assert auto_window(np.sin(2 * np.pi * t / 400)) == 125  # a period beyond TSB-AD's 303: its default
    with pytest.raises(AekitError, match=r"rank: 1, 2 or 3"):
        auto_window(sine, rank=4)


@pytest.mark.parametrize("rel,ranks", [
    # TSB-AD's find_length_rank (commit 8763009, statsmodels 0.15.0, scipy 1.17.1) on the same
    # file read with pandas, ranks 1, 2, 3
    ("tsb-uad/mitdb.csv", (296, 125, 125)),
    ("tsb-uad/yahoo.csv", (12, 24, 36)),
    ("tsb-ad/001_NAB_id_1_Facility_tr_1007_1st_2014.csv", (6, 12, 18)),
    ("ucr-anomaly/135_UCR_Anomaly_InternalBleeding16_TEST.csv", (183, 125, 183)),
    ("nab/data/realTraffic/TravelTime_387.csv", (91, 176, 118)),
    ("skab/data/valve1/0.csv", (125, 6, 27)),
    ("skab/data/valve2/0.csv", (125, 14, 210)),
])
def test_auto_window_gives_what_tsb_ad_gives(rel, ranks):
    s = read_series(need(TS / rel))
    assert tuple(auto_window(s.values, rank=r) for r in (1, 2, 3)) == ranks


# -- the UCR/UEA .ts files ---------------------------------------------------------------------------
def test_read_ts_gunpoint_and_japanese_vowels():
    gun = need(TS / "ucr" / "GunPoint")
    x, y = read_ts(gun / "GunPoint_TRAIN.ts")
    assert x.shape == (50, 150, 1) and x.dtype == np.float32 and Counter(y.tolist()) == {"1": 24, "2": 26}
    xt, yt = read_ts(gun / "GunPoint_TEST.ts")
    assert xt.shape == (150, 150, 1) and Counter(yt.tolist()) == {"1": 76, "2": 74}
    np.testing.assert_allclose(x[0, :3, 0], [-0.6478854, -0.64199155, -0.63818632])
    jv = TS / "ucr" / "JapaneseVowels"
    xs, ys = read_ts(jv / "JapaneseVowels_TRAIN.ts")  # variable length: a list of (T_i, 12)
    assert isinstance(xs, list) and len(xs) == 270 and {a.shape[1] for a in xs} == {12}
    assert len({len(a) for a in xs}) > 1 and Counter(ys.tolist()) == {str(k): 30 for k in range(1, 10)}
    assert read_ts(jv / "JapaneseVowels_eq_TRAIN.ts")[0].shape[::2] == (270, 12)


def test_read_ts_refuses_broken_files(tmp_path):
    head = "@problemName t\n@classLabel true a b\n"
    cases = [("nodata.ts", head + "1,2:3,4:a\n", r"nodata\.ts: no @data line"),
             ("dims.ts", head + "@data\n1,2:3,4:a\n1,2:b\n", r"dims\.ts: line 5 has 1 dimensions, the file has 2"),
             ("text.ts", head + "@data\n1,2:3,x:a\n", r"text\.ts: line 4: 'x' in dimension 2 is not a number")]
    for name, text, message in cases:
        with pytest.raises(AekitError, match=message):
            read_ts(write(tmp_path / name, text))
    x, y = read_ts(write(tmp_path / "ok.ts", head + "@data\n1,?:3,4:a\n"))
    assert x.shape == (1, 2, 2) and np.isnan(x[0, 1, 0]) and y.tolist() == ["a"]


# -- windows of a series ------------------------------------------------------------------------------
def test_windows_are_views_and_allocate_nothing_of_size_t_times_w():
    s = read_series(RNG.normal(size=(10 ** 6, 1)).astype(np.float32))
    win = Windows(s.values, 1000)
    assert np.shares_memory(win[0], s.values) and np.shares_memory(win[len(win) - 1], s.values)
    tracemalloc.start()
    win = Windows(s.values, 1000)
    batch = next(win.batches(64, np.arange(0, len(win), 7919)))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    full = len(win) * 1000 * 4  # what copying every window would take: ~4 GB
    assert batch.shape == (64, 1000, 1) and peak < 32 * 2 ** 20 and peak < full / 100
    np.testing.assert_array_equal(batch[1, :, 0], s.values[7919:8919, 0])


@pytest.mark.parametrize("length,window,stride", [(100, 10, 1), (100, 10, 3), (101, 10, 7), (57, 57, 5), (1000, 64, 64)])
def test_window_starts_cover_every_step_and_end_at_t_minus_w(length, window, stride):
    starts = window_starts(length, window, stride)
    covered = np.zeros(length, int)
    for s in starts:
        covered[s:s + window] += 1
    assert covered.min() >= 1 and starts[0] == 0 and starts[-1] == length - window
    assert (np.diff(starts)[:-1] == stride).all() and (np.diff(starts) > 0).all()


def test_per_timestep_is_the_mean_over_covering_windows():
    length, window = 97, 12
    starts = window_starts(length, window, 5)
    scores = RNG.normal(size=(len(starts), window))
    brute = np.zeros(length)
    for t in range(length):
        brute[t] = np.mean([scores[i, t - s] for i, s in enumerate(starts) if s <= t < s + window])
    np.testing.assert_allclose(per_timestep(starts, scores, length, window), brute, rtol=1e-12)
    per_window = RNG.normal(size=len(starts))  # one score per window, spread over its steps
    brute1 = [np.mean([per_window[i] for i, s in enumerate(starts) if s <= t < s + window]) for t in range(length)]
    np.testing.assert_allclose(per_timestep(starts, per_window, length, window), brute1, rtol=1e-12)


def test_the_trainer_trains_on_windows_and_validates_on_the_last(one_thread):
    t = np.arange(300, dtype=np.float32)
    values = np.column_stack([t, np.sin(t / 5)]).astype(np.float32)  # channel 0 holds the step: a window's start
    win = Windows(values, 16, stride=2)
    model = aekit.AE(input_shape=(16, 2), latent_dim=2, hidden=(8,), output="linear")
    trained, validated = [], []
    step = model.training_step
    model.training_step = lambda xb, *a, **k: (trained.append(xb[:, 0, 0].clone()), step(xb, *a, **k))[1]
    trainer = aekit.Trainer(epochs=2, batch_size=16, val_split=0.25, progress=False)
    evaluate = trainer.evaluate_terms
    trainer.evaluate_terms = lambda m, x, *a, **k: (validated.append(x), evaluate(m, x, *a, **k))[1]
    history = trainer.fit(model, Data(x_train=win, chronological=True))
    n_val = round(0.25 * len(win))
    assert len(history) == 2 and all(np.isfinite(r["val_loss"]) for r in history)
    seen = torch.cat(trained).long().numpy()
    assert sorted(set(seen.tolist())) == win.starts[:len(win) - n_val].tolist() and len(seen) == 2 * (len(win) - n_val)
    assert isinstance(validated[0], Windows) and validated[0].starts.tolist() == win.starts[len(win) - n_val:].tolist()


def test_time_stamps_out_of_order_are_said_and_the_file_text_is_kept(tmp_path, caplog):
    """A time column that goes back is read in file order with a warning naming the row; the
    stamps as written (format, UTC offset) are kept beside the parsed UTC values."""
    stamps = ["2024-01-01 00:00:00+02:00", "2024-01-01 00:01:00+02:00", "2024-01-01 00:00:30+02:00",
              "2024-01-01 00:02:00+02:00"]
    (tmp_path / "t.csv").write_text("time,v\n" + "".join(f"{s},{i}\n" for i, s in enumerate(stamps)))
    with caplog.at_level("WARNING", logger="aekit"):
        s = read_series(tmp_path / "t.csv")
    assert "does not increase at row 2 (line 4) (1 such steps)" in caplog.text
    assert list(s.values[:, 0]) == [0, 1, 2, 3]  # file order
    assert list(s.stamps) == stamps and s.time[0] == np.datetime64("2023-12-31T22:00:00")
    assert list(s.split(2)[1].stamps) == stamps[2:]
