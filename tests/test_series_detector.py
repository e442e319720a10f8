"""SeriesDetector and series runs on a real ECG (TSB-UAD's MIT-BIH excerpt: 7,500 steps, one
352-step anomaly at steps 6936–7287): per-timestep scores that find the anomaly, labels and
events that agree with the threshold, save/load, no leakage of the test part into training or
scaling, and the CLI (train --window, detect --events, embed, report)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import aekit
import aekit.series_run
from aekit.cli import main
from aekit.data import read_series
from aekit.errors import AekitError
from aekit.metrics import auc_roc
from conftest import SHARED, need

# small networks on a shared 2-core machine: two spinning threads per op cost 10-100x
pytestmark = pytest.mark.usefixtures("one_thread")

MITDB = SHARED / "timeseries" / "tsb-uad" / "mitdb.csv"
FAST = {"arch": "mlp", "epochs": 8, "random_state": 0}


def mitdb():
    if not MITDB.is_file():
        pytest.skip(f"real data not available: {MITDB} is absent (it lives in ../shared/data)")
    return read_series(MITDB)


@pytest.fixture(scope="module")
def fitted():
    s = mitdb()
    train, test = s.split(2000)
    return aekit.SeriesDetector(**FAST).fit(train), train, test


def test_scores_find_the_ecg_anomaly_and_labels_follow_the_threshold(fitted):
    det, train, test = fitted
    assert det.window_ == 290  # the series' beat period (TSB-AD's estimate on the training part)
    scores = det.anomaly_score(test)
    assert scores.shape == (len(test),) and np.isfinite(scores).all()
    assert auc_roc(test.labels, scores) > 0.85  # chance is 0.5; 0.98 here
    flags = det.predict(test)
    assert flags.dtype == np.int8 and set(np.unique(flags)) <= {0, 1}
    np.testing.assert_array_equal(flags, (scores > det.threshold_).astype(np.int8))
    np.testing.assert_allclose(det.decision_function(test), det.threshold_ - scores)
    # the threshold comes from training scores alone: few normal training steps exceed it
    assert np.mean(det.train_scores_ > det.threshold_) < 0.01
    found = det.events(test)
    covered = np.zeros(len(test), bool)
    for e in found:
        covered[e.start:e.end + 1] = True
        assert scores[e.peak] == pytest.approx(e.peak_score) and e.start <= e.peak <= e.end
    np.testing.assert_array_equal(covered, flags.astype(bool))


def test_default_window_score_ranks_the_long_ecg_anomaly_above_the_step_score(fitted):
    """The default score is each window's whole-window error (``window``): a 352-step anomaly
    disturbs every window around it, and the same model ranks it better than by each
    step's own error (``recon``; AUC-ROC 0.98 against 0.89 measured)."""
    from aekit.tasks.series import recon_scores

    det, _, test = fitted
    assert det.score_kind_ == "window"
    own = recon_scores(det.model_, det._scale(test.values), det.window_)
    assert auc_roc(test.labels, det.anomaly_score(test)) > auc_roc(test.labels, own) + 0.05


def test_save_and_load_score_alike(fitted, tmp_path):
    det, _, test = fitted
    det.save(tmp_path / "run")
    again = aekit.SeriesDetector.load(tmp_path / "run")
    np.testing.assert_array_equal(again.anomaly_score(test), det.anomaly_score(test))
    assert again.threshold_ == det.threshold_ and again.window_ == det.window_


def test_scaling_and_training_never_see_the_held_out_part():
    s = mitdb()
    train, _ = s.split(2000)
    det = aekit.SeriesDetector(**{**FAST, "epochs": 1}).fit(train)
    fit_part = train.values[:1600]  # val_fraction 0.2: the last 400 training steps are held out
    np.testing.assert_allclose(det.preprocessor_.offset, fit_part.mean(0), rtol=1e-5)
    # the test part of a run: changing it changes neither the weights nor the threshold
    a = aekit.series_run.split_series([s], 2000, 0.2)[0][0]
    other = s.values.copy()
    other[2000:] *= 100.0
    b = aekit.series_run.split_series([read_series(other)], 2000, 0.2)[0][0]
    np.testing.assert_array_equal(a.values, b.values)


def test_many_series_and_other_scores():
    s = mitdb()
    parts = [read_series(s.values[:1500]), read_series(s.values[1500:3000] + 5.0)]
    det = aekit.SeriesDetector(**{**FAST, "epochs": 2}, window=100, score="mahalanobis").fit(parts)
    out = det.anomaly_score(parts)
    assert [len(o) for o in out] == [1500, 1500] and all(np.isfinite(o).all() for o in out)
    vae = aekit.SeriesDetector("vae", **{**FAST, "epochs": 2}, window=100, threshold="quantile").fit(parts[0])
    assert vae.score_kind_ == "window"  # −ELBO per window, spread over its steps
    assert np.mean(vae.train_scores_ > vae.threshold_) == pytest.approx(0.01, abs=0.005)


def test_bad_series_and_settings_fail_in_one_line(fitted):
    det, _, _ = fitted
    with pytest.raises(AekitError, match=r"series: 100 steps, fewer than the detector's window of 290"):
        det.anomaly_score(np.zeros(100))
    with pytest.raises(AekitError, match=r"has 2 channels; the detector was fitted on 1"):
        det.anomaly_score(np.random.default_rng(0).normal(size=(500, 2)))
    with pytest.raises(AekitError, match=r"not fitted yet"):
        aekit.SeriesDetector().anomaly_score(np.zeros(10))
    with pytest.raises(AekitError, match=r"threshold: 'best' is not one of pot, quantile or a number"):
        aekit.SeriesDetector(threshold="best").fit(np.zeros(10))
    with pytest.raises(AekitError, match=r"window: steps per window must be an integer ≥ 2"):
        aekit.SeriesDetector(window=1, arch="mlp").fit(np.sin(np.arange(100.0)))
    with pytest.raises(AekitError, match=r"leave 80 to fit on, fewer than the window of 90"):
        aekit.SeriesDetector(window=90, arch="mlp").fit(np.sin(np.arange(100.0)))
    with pytest.raises(AekitError, match=r"^batch_size: 64 is larger than the 31 training samples"):
        aekit.SeriesDetector(window=50, arch="mlp", batch_size=64).fit(np.sin(np.arange(100.0)))
    with pytest.raises(AekitError, match=r"^batch_size: must be 'auto' or a positive integer, got 0"):
        aekit.SeriesDetector(batch_size=0).fit(np.sin(np.arange(100.0)))
    with pytest.raises(AekitError, match=r"^score: unknown series score 'elbo'; choose one of auto, recon, window"):
        aekit.SeriesDetector(score="elbo").fit(np.zeros(10))  # refused before the data is even read


def test_cli_trains_detects_embeds_and_reports_a_series(tmp_path, capsys):
    mitdb()
    run = tmp_path / "run"
    assert main(["train", "--data", str(MITDB), "--window", "auto", "--train-steps", "2000", "--epochs", "3",
                 "--arch", "mlp", "--out", str(run), "--quiet"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["steps"] == 5500 and 0 < metrics["vus_pr"] <= 1
    page = (run / "report.html").read_text()
    for fig in ("fig-loss", "fig-series-0", "fig-windows-anomalous", "fig-windows-normal", "fig-channel-error"):
        assert f"id='{fig}'" in page, fig
    assert "Left out" not in page  # no section failed
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data"]["series"]["window"] == 290 and cfg["model"]["input_shape"] == [290, 1]
    out, events = tmp_path / "scores.csv", tmp_path / "events.csv"
    assert main(["detect", str(run), "--data", str(MITDB), "--out", str(out), "--events", str(events)]) == 0
    rows = out.read_text().splitlines()
    assert rows[0] == "step,score,is_anomaly" and len(rows) == 7501
    flagged = sum(int(r.rsplit(",", 1)[1]) for r in rows[1:])
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["flagged"] == flagged and summary["steps"] == 7500 and "auc_roc" in summary["metrics"]
    assert events.read_text().startswith("start,end,")
    codes = tmp_path / "codes.npy"
    assert main(["embed", str(run), "--data", str(MITDB), "--out", str(codes), "--whole"]) == 0
    assert np.load(codes).shape == (1, 8)
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").stat().st_size > 10_000


def test_cli_series_errors_write_nothing(tmp_path, capsys):
    mitdb()
    run = tmp_path / "run"
    assert main(["train", "--data", str(MITDB), "--window", "9000", "--out", str(run), "--quiet"]) != 0
    assert "fewer than the window of 9000" in capsys.readouterr().err and not run.exists()
    assert main(["train", "--data", str(MITDB), "--window", "ten", "--out", str(run)]) != 0
    assert "--window: expected a number of steps or auto, got 'ten'" in capsys.readouterr().err
    table = tmp_path / "table"
    assert main(["train", "--epochs", "1", "--out", str(table), "--quiet", "--no-report"]) == 0
    assert main(["detect", str(table), "--data", str(MITDB), "--events", str(tmp_path / "e.csv")]) != 0
    assert "is not a series run" in capsys.readouterr().err and not (tmp_path / "e.csv").exists()


def test_cli_reads_a_file_with_a_date_column_as_a_series(tmp_path, caplog, capsys):
    """``aekit train --data FILE`` with no other option: a column of dates makes the file a
    series (window auto, said in one line); a numeric column named time keeps it a table."""
    t = np.arange(400)
    x = np.sin(2 * np.pi * t / 20) + 0.05 * np.random.default_rng(0).normal(size=400)
    stamps = np.datetime64("2024-01-01T00:00") + t.astype("timedelta64[m]")
    dated = tmp_path / "pump.csv"
    dated.write_text("timestamp,pressure\n" + "".join(f"{a},{b:.5f}\n" for a, b in zip(stamps, x)))
    assert aekit.data.series.date_column(dated) == "timestamp"
    run = tmp_path / "run"
    with caplog.at_level("INFO", logger="aekit"):
        assert main(["train", "--data", str(dated), "--epochs", "1", "--arch", "mlp", "--out", str(run),
                     "--no-report"]) == 0
    assert "pump.csv has a column of dates ('timestamp'): read as a time series with --window auto" in caplog.text
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data"]["series"]["window"] == 20 and cfg["model"]["input_shape"] == [20, 1]
    # dates in the first column, whatever its name, count too; numbers named time do not
    (tmp_path / "first.csv").write_text("when;a\n" + "".join(f"{a};{b:.5f}\n" for a, b in zip(stamps, x)))
    assert aekit.data.series.date_column(tmp_path / "first.csv") == "when"
    numeric = tmp_path / "table.csv"
    numeric.write_text("time,a,b\n" + "".join(f"{i},{b:.5f},{-b:.5f}\n" for i, b in zip(t, x)))
    assert aekit.data.series.date_column(numeric) is None
    pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"ts": pa.array(stamps.astype("datetime64[s]")), "v": x}), tmp_path / "p.parquet")
    pq.write_table(pa.table({"Time": t.astype(float), "v": x}), tmp_path / "q.parquet")
    assert aekit.data.series.date_column(tmp_path / "p.parquet") == "ts"
    assert aekit.data.series.date_column(tmp_path / "q.parquet") is None
    assert main(["train", "--data", str(numeric), "--epochs", "1", "--out", str(tmp_path / "t"), "--quiet",
                 "--no-report"]) == 0
    assert "series" not in json.loads((tmp_path / "t" / "config.json").read_text())["data"]
    # a folder of such files is one series per file (one per machine); embed --whole: a code each
    machines = tmp_path / "machines"
    machines.mkdir()
    for i in range(2):
        (machines / f"m{i}.csv").write_text(dated.read_text())
    caplog.clear()
    with caplog.at_level("INFO", logger="aekit"):
        assert main(["train", "--data", str(machines), "--epochs", "1", "--arch", "mlp", "--out",
                     str(tmp_path / "fleet"), "--no-report"]) == 0
    assert "holds 2 files whose first, m0.csv, has a column of dates ('timestamp'): read as 2 time series" in caplog.text
    assert main(["embed", str(tmp_path / "fleet"), "--data", str(machines), "--whole", "--out",
                 str(tmp_path / "codes.npy")]) == 0
    assert np.load(tmp_path / "codes.npy").shape == (2, 8)
    assert main(["report", str(tmp_path / "fleet")]) == 0  # reads the recorded folder again
    assert "id='fig-series-1'" in (tmp_path / "fleet" / "report.html").read_text()
    # detect on the folder: one CSV per series in an output folder, every series scored first
    assert main(["detect", str(tmp_path / "fleet"), "--data", str(machines), "--out", str(tmp_path / "scores"),
                 "--events", str(tmp_path / "events")]) == 0
    assert sorted(p.name for p in (tmp_path / "scores").iterdir()) == ["m0.csv", "m1.csv", "summary.json"]
    summary = json.loads((tmp_path / "scores" / "summary.json").read_text())
    assert summary["series"] == 2 and summary["steps"] == 800 and len(summary["per_series"]) == 2
    assert (tmp_path / "scores" / "m0.csv").read_text() == (tmp_path / "scores" / "m1.csv").read_text()
    assert len((tmp_path / "scores" / "m0.csv").read_text().splitlines()) == 401
    assert sorted(p.name for p in (tmp_path / "events").iterdir()) == ["m0.csv", "m1.csv"]
    capsys.readouterr()
    assert main(["detect", str(tmp_path / "fleet"), "--data", str(machines), "--out", str(tmp_path / "s.csv")]) != 0
    assert "holds 2 series; give a folder for one CSV per series" in capsys.readouterr().err
    assert not (tmp_path / "s.csv").exists()
    (machines / "m2.csv").write_text("".join(dated.read_text().splitlines(keepends=True)[:6]))  # 5 steps
    assert main(["detect", str(tmp_path / "fleet"), "--data", str(machines), "--out", str(tmp_path / "s2")]) != 0
    assert "m2.csv: 5 steps, fewer than the detector's window of 20" in capsys.readouterr().err
    assert not (tmp_path / "s2").exists()
    (tmp_path / "empty").mkdir()
    capsys.readouterr()
    assert main(["train", "--data", str(tmp_path / "empty"), "--window", "8", "--out", str(tmp_path / "e")]) != 0
    assert "the folder holds no series file" in capsys.readouterr().err and not (tmp_path / "e").exists()
    # scoring a file with other channels names the file, and writes nothing
    capsys.readouterr()
    assert main(["detect", str(run), "--data", str(numeric), "--out", str(tmp_path / "s.csv")]) != 0
    assert f"{numeric}: no channel 'pressure'; the detector was fitted on pressure" in capsys.readouterr().err
    assert not (tmp_path / "s.csv").exists()


def test_commands_that_take_no_series_run_say_so(tmp_path, capsys):
    """Every run command without a series path ends in one line that names the run and the
    commands series runs have, and writes nothing (they used to fail reloading 'train' as a
    named data set); evaluate re-scores the recorded test part."""
    x = np.sin(np.arange(300) / 3.0)
    np.save(tmp_path / "s.npy", x)
    run = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "s.npy"), "--window", "12", "--arch", "mlp", "--epochs", "1",
                 "--out", str(run), "--quiet", "--no-report"]) == 0
    before = sorted(p.name for p in run.iterdir())
    out = tmp_path / "out.png"
    for argv in (["sample", str(run), "--out", str(out)],
                 ["reconstruct", str(run), str(tmp_path / "s.npy"), "--out", str(out)],
                 ["denoise", str(run), str(tmp_path / "s.npy"), "--out", str(out)],
                 ["interpolate", str(run), str(tmp_path / "s.npy"), str(tmp_path / "s.npy"), "--out", str(out)],
                 ["traverse", str(run), "--out", str(out)], ["train", "--resume", str(run), "--epochs", "2"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        command = "train --resume" if argv[0] == "train" else argv[0]
        assert err.startswith(f"aekit: error: {command}: {run} is a series run, which {command} does not take; "
                              "series runs have detect, evaluate, embed, report, serve and export") and err.count("\n") == 1, err
    assert not out.exists() and sorted(p.name for p in run.iterdir()) == before
    # evaluate: the recorded file's test part, split as in training (the last 20%: 60 steps), or --data
    recorded = json.loads((run / "metrics.json").read_text())
    assert main(["evaluate", str(run), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["split"] == "test" and again["steps"] == 60 and again == recorded
    assert main(["evaluate", str(run), "--data", str(tmp_path / "s.npy"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 300
    det = aekit.SeriesDetector(window=12, arch="mlp", epochs=1).fit(x)
    det.save(tmp_path / "saved")  # saved from Python: no file recorded
    assert main(["evaluate", str(tmp_path / "saved")]) != 0
    assert "the run does not record its series file and split" in capsys.readouterr().err


@pytest.mark.parametrize("arch", ["tcn", "lstm", "gru", "transformer"])
def test_every_sequence_network_finds_the_yahoo_anomalies(arch, one_thread):
    """TSB-UAD's Yahoo excerpt (1,000 steps, 7 point anomalies): trained on the first 500
    steps, each sequence network ranks the anomalies of the rest far above chance (0.5).
    One-step spikes are scored by each step's own error (``score="recon"``): the default
    ``window`` score spreads a spike over its window (AUC-ROC 0.96 for tcn, 0.51 for the
    recurrent networks measured)."""
    path = need(SHARED / "timeseries" / "tsb-uad" / "yahoo.csv")
    train, test = read_series(path).split(500)
    small = {"hidden": (32,)} if arch in ("lstm", "gru") else {}
    det = aekit.SeriesDetector(arch=arch, epochs=12, random_state=0, score="recon", **small).fit(train)
    assert det.model_.config.arch == arch and det.window_ == 24
    assert auc_roc(test.labels, det.anomaly_score(test)) > 0.75  # 0.81-1.0 measured


def test_a_short_training_series_falls_back_from_pot_to_the_quantile(caplog):
    """POT needs ≥ 10 training scores above its initial (0.95) quantile: 150 steps give 7."""
    x = np.sin(np.arange(150.0) / 3) + 0.05 * np.random.default_rng(0).normal(size=150)
    with caplog.at_level("WARNING", logger="aekit"):
        det = aekit.SeriesDetector(arch="mlp", window=8, epochs=2).fit(x)
    assert det.settings()["threshold_rule"] == "quantile (too few peaks for pot)"
    assert det.threshold_ == pytest.approx(np.quantile(det.train_scores_, 0.99), rel=1e-6)
    assert "fewer than the 10 peaks POT needs" in caplog.text
    long = aekit.SeriesDetector(arch="mlp", window=8, epochs=2).fit(np.tile(x, 4))
    assert long.settings()["threshold_rule"] == "pot"


def test_variational_window_scores_are_deterministic():
    """The window score of a variational family is −ELBO at the posterior mean: scoring twice
    gives the same numbers (it once drew a posterior sample per window)."""
    x = np.sin(np.arange(400) / 4.0)[:, None] + 0.05 * np.random.default_rng(0).normal(size=(400, 1))
    det = aekit.SeriesDetector("vae", window=16, arch="mlp", epochs=1, random_state=0).fit(x[:300])
    a, b = det.anomaly_score(x[300:]), det.anomaly_score(x[300:])
    np.testing.assert_array_equal(a, b)


def _csv(path, x, names, order):
    rows = "\n".join(",".join(f"{x[t, j]:.6f}" for j in order) for t in range(len(x)))
    path.write_text(",".join(names[j] for j in order) + "\n" + rows + "\n")
    return path


def test_channels_are_matched_by_name_not_by_position(tmp_path, capsys):
    """A file whose columns come in another order, or with one more column, is scored on the
    detector's channels by name — the same scores as the training layout —; a file without
    one of them is refused in one line; an unnamed array is taken in the training order."""
    t = np.arange(400)
    x = np.stack([np.sin(t / 4), 3 * np.cos(t / 7) + 5, 0.5 * np.sin(t / 11), np.cos(t / 3)], 1)
    names = ["a", "b", "c", "extra"]
    det = aekit.SeriesDetector(window=16, arch="mlp", epochs=2, random_state=0).fit(
        _csv(tmp_path / "train.csv", x[:300], names, (0, 1, 2)))
    assert det.channel_names_ == ["a", "b", "c"]
    want = det.anomaly_score(_csv(tmp_path / "same.csv", x[300:], names, (0, 1, 2)))
    for name, order in (("reordered", (2, 0, 1)), ("more", (3, 1, 0, 2))):
        np.testing.assert_allclose(det.anomaly_score(_csv(tmp_path / f"{name}.csv", x[300:], names, order)), want,
                                   rtol=1e-6)
    np.testing.assert_allclose(det.anomaly_score(x[300:, :3]), want, rtol=1e-6)  # an array: by position
    renamed = _csv(tmp_path / "renamed.csv", x[300:], ["a", "B", "c"], (0, 1, 2))
    with pytest.raises(AekitError, match="renamed.csv: no channel 'b'.* name its columns as in training"):
        det.anomaly_score(renamed)
    det.save(tmp_path / "run")
    out = tmp_path / "scores.csv"
    assert main(["detect", str(tmp_path / "run"), "--data", str(tmp_path / "reordered.csv"), "--out", str(out)]) == 0
    got = np.loadtxt(out, delimiter=",", skiprows=1, usecols=1)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    capsys.readouterr()
    assert main(["detect", str(tmp_path / "run"), "--data", str(renamed), "--out", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no channel 'b'" in err and "\n" not in err and not (tmp_path / "r.csv").exists()


def test_cli_net_options_reach_the_series_network(tmp_path, capsys):
    """--net-options is a flag's JSON text: parsed for a series run as for any other (it was
    handed to dict() as a string, a traceback); bad JSON or an unknown option is one line.
    --test-size 0 trains on every step (it was an error about the split)."""
    t = np.arange(300)
    np.save(tmp_path / "s.npy", np.stack([np.sin(t / 4), np.cos(t / 7)], 1))
    base = ["train", "--data", str(tmp_path / "s.npy"), "--window", "16", "--epochs", "1", "--quiet", "--no-report"]
    assert main([*base, "--net-options", '{"causal": true}', "--out", str(tmp_path / "run")]) == 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["net_options"] == {"causal": True}
    capsys.readouterr()
    assert main([*base, "--test-size", "0", "--out", str(tmp_path / "all")]) == 0  # every step trains
    assert "no test part (every step trained)" in capsys.readouterr().out
    for bad, message in (('{"foo": 1}', "the tcn network takes no option 'foo'"), ("{bad", "expected a JSON mapping")):
        assert main([*base, "--net-options", bad, "--out", str(tmp_path / "bad")]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err and not (tmp_path / "bad").exists()


def test_cli_series_mistakes_are_one_line_and_leave_nothing(tmp_path, capsys):
    """Options a series run would ignore, an --out that is a folder, a --risk POT cannot use and
    a gap without --impute: each one line, exit 2, nothing written. The scores and events carry
    the file's time stamps as written (a UTC offset kept), and events.csv has its columns even
    when there is no event."""
    t = np.arange(300)
    stamps = [f"2024-01-01 {i // 60:02d}:{i % 60:02d}:00+02:00" for i in t]
    rows = [f"{s},{np.sin(i / 4):.4f},{np.cos(i / 7):.4f}" for s, i in zip(stamps, t)]
    (tmp_path / "tz.csv").write_text("timestamp,a,b\n" + "\n".join(rows) + "\n")
    rows[100] = rows[100].split(",")[0] + ",," + rows[100].split(",")[2]
    (tmp_path / "gap.csv").write_text("timestamp,a,b\n" + "\n".join(rows) + "\n")
    data, run = str(tmp_path / "tz.csv"), str(tmp_path / "run")
    train = ["train", "--data", data, "--window", "16", "--epochs", "1", "--quiet", "--no-report"]
    assert main([*train, "--risk", "2", "--out", str(tmp_path / "bad")]) == 2  # checked before any training
    assert "risk: must be in (0, 1 − level)" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    assert main([*train, "--out", run]) == 0
    (tmp_path / "folder").mkdir()
    capsys.readouterr()
    for args, message in (
        (["--out", str(tmp_path / "folder")], "is a folder; one series is written to one CSV file"),
        (["--out", str(tmp_path / "new") + "/"], "is a folder; one series is written to one CSV file"),
        (["--out", str(tmp_path / "s.csv"), "--events", str(tmp_path / "folder")], "--events: "),
        (["--out", str(tmp_path / "s.csv"), "--score", "recon"], "--score: "),
        (["--out", str(tmp_path / "s.csv"), "--contamination", "0.2"], "--contamination: "),
        (["--out", str(tmp_path / "s.csv"), "--elbo-samples", "3"], "--elbo-samples: "),
        (["--data", str(tmp_path / "gap.csv"), "--out", str(tmp_path / "s.csv")], "has a gap"),
    ):
        assert main(["detect", run, "--data", data, *args]) == 2, args
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "gap.csv", "run", "tz.csv"]
    assert not list((tmp_path / "folder").iterdir())
    assert main(["export", run, "--contamination", "0.2", "--out", str(tmp_path / "m.onnx")]) == 2
    assert "--contamination: " in capsys.readouterr().err and not (tmp_path / "m.onnx").exists()
    out, events = tmp_path / "s.csv", tmp_path / "e.csv"
    assert main(["detect", run, "--data", str(tmp_path / "gap.csv"), "--impute", "ffill", "--out", str(out),
                 "--events", str(events)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "timestamp,score,is_anomaly" and [ln.split(",")[0] for ln in lines[1:]] == stamps
    header = events.read_text().splitlines()[0]
    assert header == "start,end,length,peak,peak_score,start_time,end_time"
    det = aekit.SeriesDetector.load(run)
    det.threshold_ = float("inf")  # no step above it: no event, the same columns
    det.save(run)
    assert main(["detect", run, "--data", data, "--out", str(out), "--events", str(events)]) == 0
    assert events.read_text().splitlines() == [header]


def test_a_folder_of_npy_series_without_window_names_the_series_route(tmp_path, capsys):
    (tmp_path / "fleet").mkdir()
    for name in ("m0", "m1"):
        np.save(tmp_path / "fleet" / f"{name}.npy", np.sin(np.arange(200) / 3.0))
    assert main(["train", "--data", str(tmp_path / "fleet"), "--epochs", "1", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "holds series files (m0.npy, m1.npy): read it as one series per file with --window N" in err
    assert "\n" not in err and not (tmp_path / "r").exists()


def test_a_stride_beyond_the_window_is_said(caplog):
    with caplog.at_level("WARNING", logger="aekit"):
        aekit.SeriesDetector(window=8, stride=20, arch="mlp", epochs=1).fit(np.sin(np.arange(400) / 3.0))
    assert "stride: 20 steps between training windows of 8 steps; 12 of every 20 steps are never trained on" \
        in caplog.text


def test_training_series_are_aligned_by_channel_name(tmp_path):
    """Two machines' files with their columns in another order train on the same channels
    (the second was taken by position); a file without one of them is one line."""
    t = np.arange(300)
    x = np.stack([np.sin(t / 4), 3 * np.cos(t / 7) + 5, 0.5 * np.sin(t / 11)], 1)
    names = ["a", "b", "c"]
    same = [_csv(tmp_path / "m0.csv", x, names, (0, 1, 2)), _csv(tmp_path / "m1.csv", x, names, (0, 1, 2))]
    moved = [same[0], _csv(tmp_path / "m2.csv", x, names, (2, 0, 1))]
    fit = dict(window=16, arch="mlp", epochs=1, random_state=0)
    want = aekit.SeriesDetector(**fit).fit(same).anomaly_score(same[0])
    np.testing.assert_allclose(aekit.SeriesDetector(**fit).fit(moved).anomaly_score(same[0]), want, rtol=1e-6)
    other = _csv(tmp_path / "m3.csv", x, ["a", "b", "z"], (0, 1, 2))
    with pytest.raises(AekitError, match="m3.csv: no channel 'c'; the first training series, .*m0.csv, has a, b, c"):
        aekit.SeriesDetector(**fit).fit([same[0], other])
