"""Exported scorers (aekit.deploy, ``aekit export``) give aekit's own numbers.

Every registered family (first variant) on every registered network that takes the contract
shape is exported to ONNX with its preprocessing and score inside and run with onnxruntime:
score, reconstruction in data units and code equal aekit's (``AnomalyScorer``, ``reconstruct``
+ ``inverse_transform``, ``transform``) to 1e-5 relative. On real data (ADBench cardio, MNIST)
the exported scores equal ``aekit detect``'s for the same rows; ``.pt2`` likewise. Damaged
files and bad arguments end in one line and leave nothing behind.
"""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import pytest
import torch
from test_contract import SHAPE, TINY, build, takes

import aekit
from aekit.cli import main
from aekit.data.preprocess import Preprocessor
from aekit.deploy import RunScorer, export, load_onnx, load_pt2
from aekit.errors import AekitError
from aekit.nets import get_network, network_names
from aekit.registry import MODELS, model_names
from aekit.tasks.anomaly import AnomalyScorer, fit_scorer
from conftest import SHARED, need

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

RTOL = 1e-5


def agree(got: dict, want: dict, tol: dict):
    """Each output within its bound from :meth:`RunScorer.tolerance` (1e-5 relative: of the
    value for reconstruction and code, of its parts for a score)."""
    for k, w in want.items():
        g, w = np.asarray(got[k], np.float64), np.asarray(w, np.float64)
        assert g.shape == w.shape, (k, g.shape, w.shape)
        bad = np.abs(g - w) > tol[k]
        assert not bad.any(), f"{k}: {g[bad][:3]} vs {w[bad][:3]} (bounds {np.broadcast_to(tol[k], w.shape)[bad][:3]})"


@pytest.fixture(scope="module", autouse=True)
def torchlib_table_once():
    """onnxscript rebuilds the same table of ~500 torchlib functions on every export, parsing
    each one's source (about a second); this module exports dozens of models, so the table is
    built once. Nothing else about the export changes."""
    try:
        from onnxscript._framework_apis import torch_2_5 as apis
    except ImportError:  # another onnxscript layout: exports are just slower
        yield
        return
    mp = pytest.MonkeyPatch()
    mp.setattr(apis, "get_torchlib_ops", functools.cache(apis.get_torchlib_ops))
    yield
    mp.undo()


# -- every family × network ------------------------------------------------------------------

def cases():
    """Every family's first variant × every registered network that takes SHAPE, and the
    user's own modules (as tests/test_contract.py builds them)."""
    for name in model_names("features"):
        cls = MODELS[name]
        for arch in [*network_names(), "module"]:
            net = get_network(arch)
            if net.modules or takes(net, SHAPE):
                yield pytest.param(cls, {**TINY, **cls.variants[0], "arch": arch}, id=f"{name}-{arch}")


def raw_rows(n, seed):
    """Rows in raw units (0…255, like uint8 pixels), so the preprocessing inside the graph matters."""
    return (255 * torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(seed))).numpy()


@pytest.mark.parametrize("cls,opts", list(cases()))
def test_every_family_and_network_exports_to_onnx_with_aekits_outputs(cls, opts, tmp_path, one_thread):
    x_train, x = raw_rows(48, 1), raw_rows(5, 2)
    pre = Preprocessor.fit(x_train, "minmax")
    model = build(cls, opts)
    aekit.Trainer(epochs=1, batch_size=16, progress=False, val_split=0).fit(model, pre.transform(x_train))
    if get_network(opts["arch"]).input_dtype == "long":  # token ids cannot be float32 raw rows
        with pytest.raises(AekitError, match="token ids"):
            RunScorer.from_model(model, pre, fit_data=x_train)
        return
    scorer = RunScorer.from_model(model, pre, fit_data=x_train)
    path = export(scorer, tmp_path / "m.onnx")
    got = load_onnx(path).run(x)

    # aekit's own numbers, through the public API
    xt = pre.transform(x)
    ref, thr = fit_scorer(model, pre.transform(x_train))
    want = {"score": ref.score(model, xt),
            "recon": pre.inverse_transform(model.reconstruct(torch.from_numpy(xt)).numpy()),
            "code": model.transform(torch.from_numpy(xt)).flatten(1).numpy()}
    agree(got, want, scorer.tolerance(x))
    assert load_onnx(path).metadata["threshold"] == thr


# -- real data: the exported scores are aekit detect's ---------------------------------------

@pytest.fixture(scope="module")
def cardio(tmp_path_factory):
    """ADBench cardio: an AE (combined score) and a Gaussian VAE (−ELBO at the posterior mean),
    each trained on the normal rows through the command line."""
    src = need(SHARED / "adbench" / "6_cardio.npz")
    d = np.load(src)
    x, y = d["X"].astype(np.float32), d["y"]
    root = tmp_path_factory.mktemp("cardio")
    np.save(root / "normal.npy", x[y == 0][:1000])
    np.savez(root / "all.npz", X=x, y=y)
    runs = {}
    for model in ("ae", "vae"):
        runs[model] = root / model
        assert main(["train", "--model", model, "--data", str(root / "normal.npy"), "--preprocess", "standardize",
                     "--output", "linear", "--latent-dim", "4", "--hidden", "32", "--epochs", "5",
                     "--batch-size", "64", "--quiet", "--no-report", "--out", str(runs[model])]) == 0
    return root, x, y, runs


def detect_scores(run, data, out):
    assert main(["detect", str(run), "--data", str(data), "--out", str(out)]) == 0
    rows = np.loadtxt(out, delimiter=",", skiprows=1)
    return rows[:, 1], rows[:, 2].astype(bool), json.loads(out.with_suffix(".json").read_text())


@pytest.mark.parametrize("family", ["ae", "vae"])
def test_onnx_scores_equal_detect_on_adbench(cardio, family, tmp_path, one_thread):
    root, x, y, runs = cardio
    run = runs[family]
    assert main(["export", str(run), "--out", str(tmp_path / "m.onnx")]) == 0
    onnx = load_onnx(tmp_path / "m.onnx")
    scores, flags, summary = detect_scores(run, root / "all.npz", tmp_path / "s.csv")
    got = onnx.run(x)
    model, pre = aekit.load(run), aekit.RunDir(run).read_preprocess()
    xt = torch.from_numpy(pre.transform(x))
    # the reconstruction comes back in the file's units, the code is aekit embed's
    want = {"score": scores, "recon": pre.inverse_transform(model.reconstruct(xt).numpy()),
            "code": model.transform(xt).numpy()}
    agree(got, want, RunScorer.from_run(run).tolerance(x))
    md = onnx.metadata
    assert md["threshold"] == summary["threshold"] and md["score"]["kind"] == summary["score"]
    assert md["score"]["kind"] == {"ae": "combined", "vae": "elbo"}[family]
    near = np.isclose(scores, md["threshold"], rtol=1e-5)
    assert np.array_equal((got["score"] > md["threshold"])[~near], flags[~near])
    if family == "ae":  # a real detector (chance is 0.5); the Gaussian VAE's −ELBO ranks cardio poorly,
        assert summary["auroc"] > 0.9  # sampled or not (0.42 either way after 20 epochs)


@pytest.mark.parametrize("opset", [18, 23])
def test_the_opsets_docs_deploy_names_export_and_agree(cardio, opset, tmp_path, one_thread):
    """The default (20) runs in every other test; the ends of the accepted range here."""
    _, x, _, runs = cardio
    onnx = load_onnx(export(runs["ae"], tmp_path / "m.onnx", opset=opset))
    assert onnx.metadata["onnx"]["opset"] == opset
    scorer = RunScorer.from_run(runs["ae"])
    agree(onnx.run(x[:64]), scorer.run(x[:64]), scorer.tolerance(x[:64]))


def test_detect_keeps_the_sampled_elbo_as_an_option(cardio, tmp_path):
    root, _, _, runs = cardio
    at_mean, _, summary = detect_scores(runs["vae"], root / "all.npz", tmp_path / "mean.csv")
    assert main(["detect", str(runs["vae"]), "--data", str(root / "all.npz"), "--out", str(tmp_path / "k.csv"),
                 "--elbo-samples", "4"]) == 0
    sampled = np.loadtxt(tmp_path / "k.csv", delimiter=",", skiprows=1)[:, 1]
    assert summary["elbo_samples"] == 0
    assert json.loads((tmp_path / "k.json").read_text())["elbo_samples"] == 4
    assert not np.allclose(sampled, at_mean, rtol=1e-3) and np.corrcoef(sampled, at_mean)[0, 1] > 0.9


def test_pt2_scores_equal_detect_on_adbench(cardio, tmp_path, one_thread):
    root, x, _, runs = cardio
    assert main(["export", str(runs["vae"]), "--format", "pt2", "--outputs", "score,code",
                 "--out", str(tmp_path / "m.pt2")]) == 0
    program = load_pt2(tmp_path / "m.pt2")
    assert program.outputs == ("score", "code")
    scores, _, summary = detect_scores(runs["vae"], root / "all.npz", tmp_path / "s.csv")
    agree(program.run(x), {"score": scores}, RunScorer.from_run(runs["vae"], outputs=("score",)).tolerance(x))
    assert program.metadata["threshold"] == summary["threshold"]


def test_onnx_scores_equal_detect_on_mnist(mnist, tmp_path, one_thread):
    """A convolutional Bernoulli VAE on raw MNIST pixels (0…255: the 1/255 scaling is in the graph)."""
    x = (mnist.train()[:1500] * 255).round().astype(np.uint8)  # as the IDX file stores them
    np.save(tmp_path / "train.npy", x[:1200])
    np.save(tmp_path / "rows.npy", x.astype(np.float32))
    run = tmp_path / "run"
    assert main(["train", "--model", "vae", "--data", str(tmp_path / "train.npy"), "--arch", "conv",
                 "--channels", "8,16", "--latent-dim", "8", "--epochs", "1", "--batch-size", "100", "--quiet",
                 "--no-report", "--out", str(run)]) == 0
    assert main(["export", str(run), "--out", str(tmp_path / "m.onnx")]) == 0
    onnx = load_onnx(tmp_path / "m.onnx")
    assert onnx.metadata["preprocessing"]["method"] == "scale" and onnx.input_shape == (1, 28, 28)
    scores, flags, summary = detect_scores(run, tmp_path / "rows.npy", tmp_path / "s.csv")
    got = onnx.run(x.astype(np.float32))
    agree(got, {"score": scores}, RunScorer.from_run(run).tolerance(x))
    assert onnx.metadata["threshold"] == summary["threshold"]
    assert got["recon"].max() > 100  # pixels back in 0…255


def test_readme_export_lines_run_and_give_detects_scores(tmp_path, monkeypatch, capsys, one_thread):
    """The README's three export lines, as written, on a run of the embedded digits."""
    import re
    import shlex

    from conftest import ROOT

    section = (ROOT / "README.md").read_text().split("## Exporting", 1)[1].split("\n## ", 1)[0]
    lines = re.findall(r"```bash\n(.*?)```", section, flags=re.S)[0].strip().splitlines()
    assert len(lines) == 3
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--epochs", "2", "--out", "runs/ae", "--quiet", "--no-report"]) == 0
    rows = aekit.datasets.load("digits").x_test[:20].astype(np.float32)
    np.save("rows.npy", rows)
    for line in lines:
        args = shlex.split(line.split("  #")[0])
        if args[0] == "aekit":
            assert main(args[1:]) == 0, line
        else:  # python -c "…"
            capsys.readouterr()
            exec(args[2], {})
            printed = capsys.readouterr().out
    assert (tmp_path / "runs/ae/model.onnx").exists() and (tmp_path / "ae.pt2").exists()
    scores, _, _ = detect_scores("runs/ae", "rows.npy", tmp_path / "s.csv")
    got = np.array(printed.replace("[", " ").replace("]", " ").split(), dtype=float)
    np.testing.assert_allclose(got, scores, rtol=1e-3, atol=1e-3)  # as numpy prints them


# -- the score definition shared with detect -------------------------------------------------

def test_scorer_module_is_detects_definition_and_takes_flat_or_shaped_rows(cardio, one_thread):
    root, x, _, runs = cardio
    scorer = RunScorer.from_run(runs["vae"])
    model, pre = aekit.load(runs["vae"]), aekit.RunDir(runs["vae"]).read_preprocess()
    xt = torch.from_numpy(pre.transform(x[:50]))
    with torch.inference_mode():  # −ELBO evaluated at the posterior mean, by hand
        q = model.encode(xt)
        want = (model.nll(model.decode_params(q.mean), xt) + q.kl()).numpy()
    np.testing.assert_allclose(scorer.run(x[:50])["score"], want, rtol=1e-6)  # float32 out, same operations
    md = json.loads(json.dumps(scorer.metadata))  # JSON-able
    assert md["input_shape"] == [21] and md["output_names"] == ["score", "recon", "code"]
    assert md["score"]["deterministic"] and md["threshold"] == scorer.threshold
    with pytest.raises(AekitError, match="n_draws"):
        AnomalyScorer("auto", n_draws=4).fit(model, pre.transform(x[:100])).head()


# -- what is checked and refused --------------------------------------------------------------

def test_export_traces_stock_operators_not_aekits_cpu_kernels(one_thread):
    """Fused linear layers and the native transposed convolution step aside while exported."""
    x = raw_rows(16, 3)
    for arch in ("mlp", "conv"):
        torch.manual_seed(0)
        model = aekit.AE(input_shape=SHAPE, latent_dim=4, hidden=(16,), channels=(4,), arch=arch)
        scorer = RunScorer.from_model(model, Preprocessor("scale", factor=1 / 255), fit_data=x)
        with torch.no_grad():
            program = torch.export.export(scorer, (scorer.example_batch(4),),
                                          dynamic_shapes=({0: torch.export.Dim("batch")},))
        ops = {str(n.target) for n in program.graph.nodes if n.op == "call_function"}
        assert not [o for o in ops if "mkldnn" in o or "slow_conv_transpose" in o], ops
        assert any("linear" in o or "addmm" in o for o in ops), ops
        # the module takes rows shaped like the input or flat
        flat, shaped = scorer.run(x.reshape(len(x), -1)), scorer.run(x)
        assert all(np.array_equal(flat[k], shaped[k]) for k in shaped)


def test_damaged_or_foreign_files_are_refused_in_one_line(cardio, tmp_path, one_thread):
    _, x, _, runs = cardio
    good = export(runs["ae"], tmp_path / "m.onnx", outputs=("score",))
    data = good.read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(AekitError, match=r"cut.onnx: .*(truncated or corrupt|altered or damaged)") as e:
        load_onnx(tmp_path / "cut.onnx")
    assert "\n" not in str(e.value) and "aekit export RUN" in str(e.value)
    # one weight changed: still valid ONNX, but not the graph aekit wrote
    import onnx

    proto = onnx.load_model(str(good))
    init = max(proto.graph.initializer, key=lambda t: len(t.raw_data))
    raw = bytearray(init.raw_data)
    raw[0] ^= 0x40
    init.raw_data = bytes(raw)
    onnx.save_model(proto, str(tmp_path / "tampered.onnx"))
    with pytest.raises(AekitError, match="tampered.onnx: the graph or its weights differ .*checksum"):
        load_onnx(tmp_path / "tampered.onnx")
    del proto.metadata_props[:]
    onnx.save_model(proto, str(tmp_path / "foreign.onnx"))
    with pytest.raises(AekitError, match="without aekit's metadata"):
        load_onnx(tmp_path / "foreign.onnx")
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(AekitError, match="empty"):
        load_onnx(tmp_path / "empty.onnx")
    with pytest.raises(AekitError, match="no such ONNX file"):
        load_onnx(tmp_path / "missing.onnx")
    pt2 = export(runs["ae"], tmp_path / "m.pt2", format="pt2", outputs=("score",))
    (tmp_path / "cut.pt2").write_bytes(pt2.read_bytes()[:1000])
    with pytest.raises(AekitError, match="cut.pt2: not a readable torch.export program"):
        load_pt2(tmp_path / "cut.pt2")
    assert load_onnx(good).run(x[:3])["score"].shape == (3,)  # the untouched file still loads


def test_cli_refuses_bad_arguments_in_one_line_and_writes_nothing(cardio, tmp_path, capsys):
    _, _, _, runs = cardio
    out = tmp_path / "m.onnx"
    for args, message in [
        (["--format", "tflite"], "--format: unknown export format 'tflite'; choose onnx or pt2"),
        (["--outputs", "score,probability"], "--outputs: unknown output 'probability'; choose one or more of"),
        (["--outputs", "score,score"], "--outputs: names an output twice"),
        (["--format", "pt2", "--opset", "17"], "--opset: applies to --format onnx only"),
        (["--opset", "12"], "--opset: the exporter writes opsets 18 to 23"),
        (["--contamination", "0.9"], "contamination: must be in (0, 0.5]"),
    ]:
        assert main(["export", str(runs["ae"]), "--out", str(out), *args]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("aekit: error: ") and message in err and "\n" not in err, err
    assert main(["export", str(tmp_path / "no-run"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no-run: not a run directory" in err and "\n" not in err
    assert list(tmp_path.iterdir()) == []  # no file, no temporary left


def test_what_cannot_be_exported_says_why_and_what_to_do(tmp_path):
    """Static binarization (a fixed sample per row position) and a user's module that branches
    on its data are refused in one line; the alternative is named; nothing is written."""
    x = raw_rows(32, 4) / 255
    model = aekit.AE(input_shape=SHAPE, latent_dim=4, hidden=(16,))
    with pytest.raises(AekitError, match="--binarize static .* retrain with --binarize threshold or dynamic"):
        RunScorer.from_model(model, Preprocessor("none", binarize="static"), fit_data=x)

    class Branchy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(math.prod(SHAPE), 4), torch.nn.Linear(math.prod(SHAPE), 4)

        def forward(self, x):
            x = x.flatten(1)
            return self.a(x) if x.sum() > 0 else self.b(x)  # control flow on the data

    dec = torch.nn.Sequential(torch.nn.Linear(4, math.prod(SHAPE)), torch.nn.Unflatten(1, SHAPE))
    model = aekit.AE(input_shape=SHAPE, encoder=Branchy(), decoder=dec)
    for fmt in ("onnx", "pt2"):
        with pytest.raises(AekitError, match=f"cannot be exported to {fmt} .*aekit serve RUN") as e:
            export(model, tmp_path / f"m.{fmt}", format=fmt, fit_data=x)
        assert "\n" not in str(e.value)
    assert list(tmp_path.iterdir()) == []


# -- series runs -------------------------------------------------------------------------------

@pytest.mark.parametrize("score,arch,model", [("window", "tcn", "ae"), ("recon", "mlp", "ae"),
                                              ("mahalanobis", "mlp", "ae"), ("window", "mlp", "vae")])
def test_a_series_run_exports_a_per_step_scorer_equal_to_the_detector(tmp_path, score, arch, model):
    """The export of a series run takes a raw series (T, C) of any length above the window and
    gives SeriesDetector.anomaly_score's scores per step: the scaling, the windows and the
    folding (window, recon, mahalanobis scores) are inside the graph. Scored in pieces of 7
    windows (score_in_pieces), the same scores."""
    from aekit.deploy.series import score_in_pieces

    rng = np.random.default_rng(0)
    t = np.arange(500)
    x = np.stack([np.sin(t / 5), np.cos(t / 9)], 1) * 30 + 100 + rng.normal(0, 1, (500, 2))
    det = aekit.SeriesDetector(model, window=12, arch=arch, score=score, epochs=2, random_state=0).fit(x[:300])
    det.save(tmp_path / "run")
    series = x[300:].copy()
    series[50:55, 1] += 40
    path = export(tmp_path / "run", tmp_path / "s.onnx")
    onnx_scorer = load_onnx(path)
    meta = onnx_scorer.metadata
    assert meta["kind"] == "series" and meta["window"] == 12 and meta["input_shape"] == [2]
    assert meta["score"]["kind"] == score and meta["threshold"] == pytest.approx(det.threshold_)
    for s in (series, series[:13], series[:77]):  # the shortest series it takes: W + 1 steps
        want = det.anomaly_score(s)
        got = onnx_scorer.run(s)["score"]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
        pieces = score_in_pieces(lambda p: onnx_scorer.run(p)["score"], s, 12, score, piece_windows=7)
        np.testing.assert_allclose(pieces, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
    if score == "window" and model == "ae":
        pt2 = load_pt2(export(tmp_path / "run", tmp_path / "s.pt2", format="pt2"))
        np.testing.assert_allclose(pt2.run(series)["score"], det.anomaly_score(series), rtol=1e-5)
        assert meta["piece_windows"] == 1024 and pt2.metadata["piece_windows"] is None  # pt2: without the loop


def _two_sines(n=500):
    rng = np.random.default_rng(0)
    t = np.arange(n)
    return np.stack([np.sin(t / 5), np.cos(t / 9)], 1) * 30 + 100 + rng.normal(0, 1, (n, 2))


@pytest.mark.parametrize("score", ["window", "mahalanobis"])
def test_the_series_export_loops_over_pieces_of_windows_with_the_same_scores(tmp_path, score):
    """The exported graph runs the network over P windows at a time in a loop (an ONNX Scan),
    so its memory does not grow with the series: one piece padded, exactly one piece, two
    pieces of which the last is padded, many pieces — the detector's scores every time (the
    padding windows are masked out; without the mask the last W − 1 steps would differ)."""
    import onnx

    from aekit.deploy.series import SeriesScorer

    x = _two_sines()
    det = aekit.SeriesDetector(window=12, arch="mlp", score=score, epochs=1, random_state=0).fit(x[:300])
    path = export(SeriesScorer(det, piece_windows=5), tmp_path / "p.onnx")
    assert any(n.op_type == "Scan" for n in onnx.load(str(path)).graph.node)
    scorer = load_onnx(path)
    assert scorer.metadata["piece_windows"] == 5
    series = x[300:].copy()
    series[150:153, 0] -= 50
    for n in (13, 16, 17, 200):  # windows: 2, 5, 6, 189
        want = det.anomaly_score(series[:n])
        np.testing.assert_allclose(scorer.run(series[:n])["score"], want, rtol=1e-5, atol=1e-6 * np.abs(want).max())


def test_a_network_the_loop_cannot_hold_is_exported_whole(tmp_path, caplog):
    """The transformer's attention does not convert inside the graph's loop: the export says so
    in its log and writes the graph without the loop, checked like any other."""
    x = _two_sines(400)
    det = aekit.SeriesDetector(window=8, arch="transformer", epochs=1, random_state=0).fit(x[:300])
    with caplog.at_level("INFO", logger="aekit"):
        scorer = load_onnx(export(det, tmp_path / "t.onnx"))
    assert scorer.metadata["piece_windows"] is None
    assert "exporting the whole-series graph" in caplog.text
    np.testing.assert_allclose(scorer.run(x[300:])["score"], det.anomaly_score(x[300:]), rtol=1e-5)


def test_series_export_refusals_write_nothing(tmp_path, capsys):
    x = np.sin(np.arange(300) / 3.0)
    aekit.SeriesDetector(window=10, arch="mlp", epochs=1).fit(x).save(tmp_path / "run")
    with pytest.raises(AekitError, match="a series export has one output, score"):
        export(tmp_path / "run", tmp_path / "a.onnx", outputs="score,recon")
    aekit.SeriesDetector(window=10, arch="mlp", epochs=1, score_stride=3).fit(x).save(tmp_path / "strided")
    assert main(["export", str(tmp_path / "strided"), "--out", str(tmp_path / "b.onnx")]) == 2
    assert "an export scores every window (score_stride=1)" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.onnx"))
    assert main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "c.onnx")]) == 0
    assert "a series scorer: score per step; checked against aekit" in capsys.readouterr().out
    det = aekit.SeriesDetector.load(tmp_path / "run")  # a detector in memory exports the same way
    with pytest.raises(AekitError, match="path: give the file to write"):
        export(det)
    np.testing.assert_allclose(load_onnx(export(det, tmp_path / "d.onnx")).run(x)["score"], det.anomaly_score(x),
                               rtol=1e-5, atol=1e-7)
