"""aekit serve against a real uvicorn server on 127.0.0.1 (a free port, started and stopped by
the fixtures): every endpoint, the bad requests (each status and message), the API key, PNG
bodies, the merging of concurrent requests, parity with ``aekit detect``, and SIGTERM draining a
request in flight (the real ``aekit serve`` command with two workers)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

import aekit  # noqa: E402
from aekit.errors import AekitError  # noqa: E402

JSON_T = {"content-type": "application/json"}
NPY_T = {"content-type": "application/x-npy"}
PNG_T = {"content-type": "image/png"}


# -- runs and servers ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three tiny runs: a tabular AE (12 features, standardized, a .npy file), a VAE on the
    digits (1×8×8 intensities in [0, 1]) and a conv AE on 8-bit digit images."""
    import torch

    from aekit.data.files import load_file

    root = tmp_path_factory.mktemp("serve")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rng = np.random.default_rng(0)
        x = (rng.normal(size=(800, 4)) @ rng.normal(size=(4, 12)) * 3 + 5).astype(np.float32)
        np.save(root / "table.npy", x)
        data = load_file(root / "table.npy", preprocess="standardize")
        torch.manual_seed(0)
        model = aekit.AE(input_shape=(12,), hidden=(16,), latent_dim=3, output="linear")
        aekit.Trainer(epochs=3, batch_size=64, progress=False, val_split=0.0, out_dir=root / "tab").fit(model, data)

        digits = aekit.datasets.load("digits")
        torch.manual_seed(0)
        vae = aekit.VAE(input_shape=digits.input_shape, hidden=(32,), latent_dim=2)
        aekit.Trainer(epochs=2, batch_size=128, progress=False, val_split=0.0, out_dir=root / "vae").fit(vae, digits)

        np.save(root / "digits8.npy", (np.asarray(digits.x_train) * 255).round().astype(np.uint8))
        images = load_file(root / "digits8.npy")  # uint8 → preprocess scale 1/255
        torch.manual_seed(0)
        conv = aekit.AE(input_shape=(1, 8, 8), arch="conv", channels=(4,), latent_dim=4)
        aekit.Trainer(epochs=1, batch_size=128, progress=False, val_split=0.0, out_dir=root / "img").fit(conv, images)
    finally:
        torch.set_num_threads(n)
    return {"root": root, "tab": root / "tab", "vae": root / "vae", "img": root / "img", "table": x}


@contextlib.contextmanager
def running(app):
    """Serve ``app`` with uvicorn on 127.0.0.1, on a port the OS picks; yields the base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture(scope="module")
def tab(runs):
    from aekit.serve import create_app

    app = create_app(runs["tab"], max_body_bytes=200_000, max_batch=100)
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        client.app = app
        yield client


@pytest.fixture(scope="module")
def img(runs):
    from aekit.serve import create_app

    with running(create_app(runs["img"])) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def npy(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


def png(a: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def ok(r) -> dict:
    assert r.status_code == 200, r.text
    return r.json()


# -- endpoints ---------------------------------------------------------------------------------

def test_every_endpoint_of_a_tabular_run(tab, runs):
    x = runs["table"][:5]
    assert ok(tab.get("/health")) == {"status": "ok"}
    meta = ok(tab.get("/metadata"))
    assert meta["family"] == "ae" and meta["input_shape"] == [12] and meta["backend"] == "torch"
    assert meta["serve"]["max_batch"] == 100 and "application/x-npy" in meta["serve"]["content_types"]
    assert "image/png" not in meta["serve"]["content_types"]  # flat rows: no PNG

    s = np.array(ok(tab.post("/score", json={"instances": x.tolist()}))["scores"])
    d = ok(tab.post("/detect", json={"instances": x.tolist()}))
    r = np.array(ok(tab.post("/reconstruct", json={"instances": x.tolist()}))["reconstructions"])
    z = np.array(ok(tab.post("/embed", json={"instances": x.tolist()}))["codes"])
    assert s.shape == (5,) and np.isfinite(s).all()
    assert d["threshold"] == meta["threshold"] and d["scores"] == s.tolist()
    assert d["is_anomaly"] == (s > meta["threshold"]).tolist()
    assert r.shape == (5, 12) and z.shape == (5, 3)

    # the same rows as the model computes them: preprocessing in, data units out
    model = aekit.load(runs["tab"])
    pre = json.loads((runs["tab"] / "preprocess.json").read_text())
    off, sc = np.array(pre["offset"], np.float32), np.array(pre["scale"], np.float32)
    import torch

    xt = torch.from_numpy((x - off) / sc)
    want_r = model.reconstruct(xt).numpy() * sc + off
    np.testing.assert_allclose(r, want_r, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(z, model.transform(xt).numpy(), rtol=1e-4, atol=1e-5)

    # .npy in, .npy out; the reply's Accept decides
    got = tab.post("/score", content=npy(x), headers={**NPY_T, "accept": "application/x-npy"})
    assert got.headers["content-type"] == "application/x-npy"
    np.testing.assert_allclose(np.load(io.BytesIO(got.content), allow_pickle=False), s, rtol=1e-6)
    assert ok(tab.post("/score", content=npy(x.astype(np.float64)), headers=NPY_T))["scores"] == pytest.approx(s.tolist(), rel=1e-6)
    codes = tab.post("/embed", content=npy(x), headers={**NPY_T, "accept": "application/x-npy"})
    np.testing.assert_allclose(np.load(io.BytesIO(codes.content)), z, rtol=1e-5, atol=1e-6)


def test_openapi_docs(tab):
    assert tab.get("/docs").status_code == 200
    spec = ok(tab.get("/openapi.json"))
    assert {"/health", "/metadata", "/score", "/detect", "/reconstruct", "/embed"} <= set(spec["paths"])
    body = spec["paths"]["/score"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-npy"} <= set(body)


def test_vae_and_flat_or_shaped_rows(runs):
    """A variational run: codes are the posterior mean (deterministic: the same rows give the
    same numbers twice), image-shaped and flat rows are the same rows."""
    from aekit.serve import create_app

    x = np.asarray(aekit.datasets.load("digits").x_test[:4])  # (4, 1, 8, 8)
    with running(create_app(runs["vae"])) as url, httpx.Client(base_url=url, timeout=30) as c:
        assert ok(c.get("/metadata"))["family"] == "vae"
        a = ok(c.post("/score", json={"instances": x.tolist()}))["scores"]
        b = ok(c.post("/score", json={"instances": x.reshape(4, 64).tolist()}))["scores"]
        assert a == b and np.isfinite(a).all()
        z1 = ok(c.post("/embed", json={"instances": x.tolist()}))["codes"]
        z2 = ok(c.post("/embed", json={"instances": x.tolist()}))["codes"]
        assert z1 == z2 and np.array(z1).shape == (4, 2)
        r = np.array(ok(c.post("/reconstruct", json={"instances": x.tolist()}))["reconstructions"])
        assert r.shape == (4, 1, 8, 8) and 0 <= r.min() and r.max() <= 1  # Bernoulli means


# -- parity with aekit detect ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["tab", "vae"])
def test_scores_equal_aekit_detect(runs, tmp_path, name):
    """The service's scores are ``aekit detect``'s for the same rows (the run's own score
    definition, as /metadata names it)."""
    from aekit.cli import main
    from aekit.serve import create_app

    x = runs["table"][:40] if name == "tab" else np.asarray(aekit.datasets.load("digits").x_test[:40])
    np.save(tmp_path / "rows.npy", x)
    app = create_app(runs[name])
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        meta = ok(c.get("/metadata"))
        got = ok(c.post("/detect", content=npy(x), headers=NPY_T))
    assert main(["detect", str(runs[name]), "--data", str(tmp_path / "rows.npy"), "--out", str(tmp_path / "s.csv"),
                 "--score", meta["score"]["kind"]]) == 0
    with open(tmp_path / "s.csv") as f:
        table = list(csv.DictReader(f))
    want = np.array([float(r["score"]) for r in table])
    np.testing.assert_allclose(got["scores"], want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
    summary = json.loads((tmp_path / "s.json").read_text())
    assert got["threshold"] == pytest.approx(summary["threshold"], rel=1e-5)
    assert got["is_anomaly"] == [r["is_anomaly"] == "1" for r in table]


# -- bad requests ------------------------------------------------------------------------------

class Chunks:
    """A body sent in chunks (no Content-Length), as often as it is posted."""

    def __init__(self, chunk: bytes, n: int):
        self.chunk, self.n = chunk, n

    def __iter__(self):
        return iter([self.chunk] * self.n)


ROW = [1.0] * 12
BAD = [
    # (name, request kwargs, status, message fragment)
    ("malformed JSON", dict(content=b'{"instances": [[1, 2', headers=JSON_T), 400, "malformed JSON"),
    ("not UTF-8", dict(content=b'\xff\xfe{"instances"', headers=JSON_T), 400, "not UTF-8"),
    ("missing instances", dict(json={"rows": [ROW]}), 422, 'missing "instances"'),
    ("instances not a list", dict(json={"instances": "1,2,3"}), 422, "must be a list of rows"),
    ("empty batch", dict(json={"instances": []}), 422, "empty batch"),
    ("one flat row", dict(json={"instances": ROW}), 422, "one flat list of 12 values"),
    ("wrong feature count", dict(json={"instances": [[1.0] * 11]}), 422, "rows of shape (11,), the model takes (batch, 12)"),
    ("ragged rows", dict(json={"instances": [ROW, ROW[:-1]]}), 422, "rows of different lengths"),
    ("string value", dict(json={"instances": [ROW[:-1] + ["7"]]}), 422, 'non-numeric value "7"'),
    ("null value", dict(json={"instances": [ROW[:-1] + [None]]}), 422, "non-numeric value null"),
    ("boolean value", dict(json={"instances": [[True] + ROW[1:]]}), 422, "non-numeric value true"),
    ("NaN", dict(content=('{"instances": [[' + ",".join(["1"] * 11 + ["NaN"]) + "]]}").encode(), headers=JSON_T),
     422, "NaN in row 0"),
    ("inf", dict(content=('{"instances": [[1,2,3,4,5,6,7,8,9,0,1,2], [' + ",".join(["1"] * 11 + ["-Infinity"]) + "]]}").encode(),
                 headers=JSON_T), 422, "inf in row 1"),
    ("beyond float32", dict(json={"instances": [[1e39] * 12]}), 422, "beyond float32's range"),
    ("batch over max rows", dict(json={"instances": [ROW] * 101}), 413, "batch of 101 rows is over the limit of 100"),
    ("body over the size limit", dict(content=b"[" * 250_000, headers=JSON_T), 413, "body of 250000 bytes is over the limit"),
    ("chunked body over the limit", dict(content=Chunks(b"[" * 50_000, 5), headers=JSON_T), 413, "body is over the limit"),
    ("wrong content type", dict(content=b"1,2,3", headers={"content-type": "text/csv"}), 415,
     "content type 'text/csv' is not accepted"),
    ("no content type", dict(content=b"1,2,3", headers={"content-type": ""}), 415, "no content type is not accepted"),
    ("PNG for a tabular run", dict(content=b"\x89PNG\r\n\x1a\n", headers=PNG_T), 415, "PNG is taken by image runs only"),
    ("empty body", dict(content=b"", headers=JSON_T), 400, "empty body"),
    ("not a .npy", dict(content=b"PK\x03\x04 a zip", headers=NPY_T), 400, "not a .npy file"),
    ("pickled .npy", dict(content=npy(np.array([{"a": 1}], dtype=object)), headers=NPY_T), 400, "pickled .npy"),
    ("truncated .npy", dict(content=npy(np.ones((4, 12), np.float32))[:-8], headers=NPY_T), 400,
     "the header says shape (4, 12)"),
    ("string .npy", dict(content=npy(np.array([["a"] * 12])), headers=NPY_T), 422, "non-numeric dtype <U1"),
    ("wrong .npy shape", dict(content=npy(np.ones((2, 3, 4, 5), np.float32)), headers=NPY_T), 422,
     "rows of shape (3, 4, 5)"),
    ("NaN in .npy", dict(content=npy(np.where(np.eye(3, 12) > 0, np.nan, 1).astype(np.float32)), headers=NPY_T),
     422, "NaN in row 0"),
]


@pytest.mark.parametrize("name,request_kw,status,fragment", BAD, ids=[b[0] for b in BAD])
def test_bad_request(tab, name, request_kw, status, fragment):
    r = tab.post("/score", **request_kw)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    assert "\n" not in r.text and list(r.json()) == ["error"]
    assert fragment in r.json()["error"]
    assert "Traceback" not in r.text


def test_routing_errors_are_json_and_the_service_keeps_serving(tab, runs):
    r = tab.get("/nope")
    assert r.status_code == 404 and r.json() == {"error": "no endpoint /nope; see /docs"}
    r = tab.get("/score")
    assert r.status_code == 405 and r.json()["error"].startswith("GET is not allowed on /score")
    for case in BAD:  # after every bad request above, good ones still get answers
        assert tab.post("/score", **case[1]).status_code == case[2]
    assert len(ok(tab.post("/score", json={"instances": runs["table"][:3].tolist()}))["scores"]) == 3
    assert ok(tab.get("/health")) == {"status": "ok"}


def test_a_bad_run_fails_at_start_in_one_line(tmp_path, runs):
    from aekit.cli import main
    from aekit.serve import create_app

    with pytest.raises(AekitError, match="not a run directory"):
        create_app(tmp_path / "nothing")
    with pytest.raises(AekitError, match="the key is empty"):
        create_app(runs["tab"], api_key=" ")
    assert main(["serve", str(runs["tab"]), "--max-batch", "0"]) == 2


# -- series runs -------------------------------------------------------------------------------

def test_a_series_run_scores_one_series_per_request(tmp_path):
    """A run of aekit.SeriesDetector (2 channels, window 16): /score and /detect give what the
    detector gives in Python (scores per step, flags, merged events), from JSON steps or a .npy
    series in the training file's units; the series' own mistakes are 4xx in one JSON line;
    the API key guards it like any run; --onnx serves the run's export with the same numbers."""
    from aekit.serve import create_app

    rng = np.random.default_rng(0)
    t = np.arange(600)
    x = np.stack([np.sin(t / 4), np.cos(t / 7)], 1) * 50 + 200 + rng.normal(0, 1, (600, 2))  # raw units
    det = aekit.SeriesDetector(window=16, arch="mlp", epochs=3, random_state=0).fit(x[:400])
    det.save(tmp_path / "run")
    test = x[400:].copy()
    test[100:110, 0] += 150  # a burst on the first channel
    want = aekit.SeriesDetector.load(tmp_path / "run")
    scores, flags = want.anomaly_score(test), want.predict(test)
    assert flags[100:110].all() and flags.mean() < 0.3  # the burst is flagged, most steps are not
    with pytest.raises(AekitError, match="no ONNX export of this run; write it with: aekit export"):
        create_app(tmp_path / "run", onnx=True)
    aekit.deploy.export(tmp_path / "run")  # RUN/model.onnx: --onnx serves it, with the same numbers
    with running(create_app(tmp_path / "run", onnx=True)) as url, httpx.Client(base_url=url, timeout=30) as c:
        assert ok(c.get("/metadata"))["backend"] == "onnxruntime"
        got = ok(c.post("/detect", json={"instances": test.tolist()}))
        np.testing.assert_allclose(got["scores"], scores, rtol=1e-5)
        r = c.post("/score", json={"instances": test[:16].tolist()})
        assert r.status_code == 422 and "the exported scorer takes more than the window of 16 steps" in r.text
    app = create_app(tmp_path / "run", api_key="k", max_body_bytes=100_000)
    auth = {"authorization": "Bearer k"}
    with running(app) as url, httpx.Client(base_url=url, timeout=30, headers=auth) as c:
        meta = ok(c.get("/metadata"))
        assert meta["kind"] == "series" and meta["window"] == 16 and meta["channels"] == ["0", "1"]
        assert meta["threshold"] == pytest.approx(want.threshold_) and meta["threshold_rule"] == "pot"
        got = ok(c.post("/detect", json={"instances": test.tolist()}))
        np.testing.assert_allclose(got["scores"], scores, rtol=1e-5)
        assert got["is_anomaly"] == flags.astype(bool).tolist() and got["threshold"] == pytest.approx(want.threshold_)
        assert [(e["start"], e["end"], e["peak"]) for e in got["events"]] == [
            (e.start, e.end, e.peak) for e in want.events(test)]
        r = c.post("/score", content=npy(test.astype(np.float32)), headers={**NPY_T, "accept": "application/x-npy"})
        assert r.status_code == 200
        np.testing.assert_allclose(np.load(io.BytesIO(r.content)), scores, rtol=1e-5)
        for body, status, fragment in [
            ({"instances": test[:, :1].tolist()}, 422, "steps of 1 values, the run was trained on 2 channels"),
            ({"instances": test[:10].tolist()}, 422, "10 steps, fewer than the detector's window of 16"),
            ({"instances": [[1.0, "a"]] * 20}, 422, "non-numeric value \"a\""),
            ({"instances": [[[1.0, 2.0]]] * 20}, 422, "a series is (steps,) or (steps, channels), got shape (20, 1, 2)"),
            ({"rows": []}, 422, 'missing "instances"'),
        ]:
            r = c.post("/score", json=body)
            assert r.status_code == status and fragment in r.json()["error"], (body, r.text)
        nan = test.copy()
        nan[5, 1] = np.nan
        r = c.post("/detect", content=npy(nan), headers=NPY_T)
        assert r.status_code == 422 and "NaN at step 5" in r.json()["error"]
        r = c.post("/score", content=b"1,2", headers={"content-type": "text/csv"})
        assert r.status_code == 415 and "not accepted by a series run" in r.json()["error"]
        r = c.post("/score", content=b"x" * 200_000, headers=JSON_T)
        assert r.status_code == 413
        assert c.post("/score", json={"instances": test.tolist()}, headers={"authorization": "Bearer no"}).status_code == 401
        assert ok(c.get("/health")) == {"status": "ok"}


# -- ONNX --------------------------------------------------------------------------------------

def test_onnx_mode_serves_the_export_with_the_same_numbers(runs, tmp_path):
    """``--onnx`` serves RUN/model.onnx through onnxruntime: the same scores, reconstructions
    and codes as the torch service; a missing or damaged export, or one written with fewer
    outputs, is refused in one line."""
    pytest.importorskip("onnxruntime")
    import shutil

    from aekit.deploy import export
    from aekit.serve import create_app

    run = tmp_path / "tab"
    shutil.copytree(runs["tab"], run)
    with pytest.raises(AekitError, match="model.onnx: no ONNX export of this run; write it with: aekit export"):
        create_app(run, onnx=True)
    export(run)
    x = {"instances": runs["table"][:20].tolist()}
    with running(create_app(runs["tab"])) as u1, running(create_app(run, onnx=True)) as u2, \
            httpx.Client(base_url=u1, timeout=30) as torch_, httpx.Client(base_url=u2, timeout=30) as onnx_:
        assert ok(onnx_.get("/metadata"))["backend"] == "onnxruntime"
        assert ok(onnx_.get("/metadata"))["threshold"] == pytest.approx(ok(torch_.get("/metadata"))["threshold"], rel=1e-6)
        for path, key in [("/score", "scores"), ("/reconstruct", "reconstructions"), ("/embed", "codes")]:
            a, b = np.array(ok(torch_.post(path, json=x))[key]), np.array(ok(onnx_.post(path, json=x))[key])
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6 * np.abs(a).max())
        assert ok(onnx_.post("/detect", json=x))["is_anomaly"] == ok(torch_.post("/detect", json=x))["is_anomaly"]
        assert onnx_.post("/score", json={"instances": [[1.0] * 11]}).status_code == 422  # checked before the model

    export(run, outputs=("score",))
    with running(create_app(run, onnx=True)) as url, httpx.Client(base_url=url, timeout=30) as c:
        assert len(ok(c.post("/score", json=x))["scores"]) == 20
        r = c.post("/reconstruct", json=x)
        assert r.status_code == 409 and "this export has no 'recon' output (it has score)" in r.json()["error"]

    model = run / "model.onnx"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    with pytest.raises(AekitError, match="model.onnx: not a readable ONNX model"):
        create_app(run, onnx=True)


# -- the API key -------------------------------------------------------------------------------

def test_api_key(runs):
    from aekit.serve import create_app

    body = {"instances": [ROW]}
    with running(create_app(runs["tab"], api_key="s3cret")) as url, httpx.Client(base_url=url, timeout=30) as c:
        assert ok(c.get("/health")) == {"status": "ok"}  # open: load balancers probe it
        for path in ("/metadata", "/docs", "/openapi.json"):
            r = c.get(path)
            assert r.status_code == 401 and r.json() == {"error": "missing API key: send the header Authorization: Bearer KEY"}
        r = c.post("/score", json=body)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        r = c.post("/score", json=body, headers={"authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.json() == {"error": "wrong API key"}
        r = c.post("/score", json=body, headers={"authorization": "Basic czNjcmV0"})
        assert r.status_code == 401 and "expected Authorization: Bearer KEY" in r.json()["error"]
        r = c.post("/score", content=b"x" * 10_000_000, headers={**JSON_T, "authorization": "Bearer no"})
        assert r.status_code == 401  # refused before the body is read
        auth = {"authorization": "Bearer s3cret"}
        assert len(ok(c.post("/score", json=body, headers=auth))["scores"]) == 1
        assert ok(c.get("/metadata", headers=auth))["family"] == "ae"
        spec = ok(c.get("/openapi.json", headers=auth))
        assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        assert "security" in spec["paths"]["/score"]["post"] and "security" not in spec["paths"]["/health"]["get"]


# -- PNG ---------------------------------------------------------------------------------------

def test_png_bodies_of_an_image_run(img, runs):
    x8 = np.load(runs["root"] / "digits8.npy")[:2]  # (2, 1, 8, 8) uint8
    meta = ok(img.get("/metadata"))
    assert "image/png" in meta["serve"]["content_types"]
    want = ok(img.post("/score", json={"instances": x8.astype(float).tolist()}))["scores"]  # raw pixels
    got = [ok(img.post("/score", content=png(a[0]), headers=PNG_T))["scores"][0] for a in x8]
    assert got == pytest.approx(want, rel=1e-6)
    z = ok(img.post("/embed", content=png(x8[0, 0]), headers=PNG_T))["codes"]
    assert np.array(z).shape == (1, 4)
    r = np.array(ok(img.post("/reconstruct", content=png(x8[0, 0]), headers=PNG_T))["reconstructions"])
    assert r.shape == (1, 1, 8, 8) and r.max() > 1  # data units: 8-bit pixel values

    from PIL import Image

    back = img.post("/reconstruct", content=png(x8[0, 0]), headers={**PNG_T, "accept": "image/png"})
    assert back.headers["content-type"] == "image/png"
    im = Image.open(io.BytesIO(back.content))
    assert im.size == (8, 8) and np.abs(np.asarray(im, float) - r[0, 0]).max() <= 0.5 + 1e-6
    rgb = np.repeat(x8[0, 0][..., None], 3, axis=2)  # colour is converted to the run's one channel
    assert ok(img.post("/score", content=png(rgb), headers=PNG_T))["scores"] == pytest.approx(want[:1], rel=1e-6)

    for body, status, fragment in [
        (png(np.zeros((9, 8), np.uint8)), 422, "image is 8x9, the model takes 8x8"),
        (png(x8[0, 0])[:45], 400, "corrupt PNG"),  # cut inside the pixel data
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, 400, "corrupt PNG"),
        (b"GIF89a....", 400, "no PNG signature"),
    ]:
        r = img.post("/score", content=body, headers=PNG_T)
        assert r.status_code == status and fragment in r.json()["error"], r.text
    r = img.post("/reconstruct", json={"instances": x8.astype(float).tolist()}, headers={"accept": "image/png"})
    assert r.status_code == 406 and "one image, the batch has 2" in r.json()["error"]


# -- concurrency -------------------------------------------------------------------------------

def test_concurrent_requests_are_merged_and_each_gets_its_own_rows(tab, runs):
    """64 concurrent requests of 1 to 5 rows: each reply holds exactly its rows' scores (as
    when sent alone), and the model ran fewer forward passes than there were requests."""
    x = runs["table"]
    sizes = [1 + i % 5 for i in range(64)]
    starts = np.cumsum([0] + sizes[:-1])
    alone = np.concatenate([ok(tab.post("/score", content=npy(x[i:i + 100]), headers=NPY_T))["scores"]
                            for i in range(0, sum(sizes), 100)])
    engine = tab.app.state.engine
    before = engine.batches

    async def fire():
        async with httpx.AsyncClient(base_url=str(tab.base_url), timeout=30) as c:
            return await asyncio.gather(*[
                c.post("/score", json={"instances": x[s:s + n].tolist()}) for s, n in zip(starts, sizes)])

    replies = asyncio.run(fire())
    for r, s, n in zip(replies, starts, sizes):
        np.testing.assert_allclose(ok(r)["scores"], alone[s:s + n], rtol=1e-5)
    assert engine.batches - before < 64


class SlowModel:
    """A stand-in model: 50 ms per forward pass, and it refuses rows holding -1."""

    backend = "test"
    metadata = {}

    def __init__(self):
        self.calls = []

    def __call__(self, x):
        time.sleep(0.05)
        self.calls.append(len(x))
        if (x == -1).any():
            raise AekitError("x: -1 is not allowed")
        return {"score": x.sum(1), "recon": x, "code": x[:, :1]}


def test_engine_merges_what_waits_and_isolates_a_failing_request():
    from aekit.serve.engine import Engine

    model = SlowModel()
    engine = Engine(model, max_rows=8)
    xs = [np.full((2, 3), i, np.float32) for i in range(9)]
    xs[5][1, 2] = -1

    async def go():
        return await asyncio.gather(*[engine(x) for x in xs], return_exceptions=True)

    out = asyncio.run(go())
    # all 9 requests (18 rows) were waiting when the queue was first read: 8 + 8 rows, then 2; the
    # pass holding the bad request failed and ran again request by request, so only that one fails
    assert model.calls == [8, 8, 2, 2, 2, 2, 2]
    assert isinstance(out[5], AekitError)
    for i, o in enumerate(out):
        if i != 5:
            np.testing.assert_array_equal(o["score"], xs[i].sum(1))
            np.testing.assert_array_equal(o["recon"], xs[i])
    engine.close()

    solo = Engine(SlowModel(), batching=False, threads=2)
    async def go_solo():
        return await asyncio.gather(*[solo(x) for x in xs[:4]])

    out = asyncio.run(go_solo())
    assert solo.model.calls == [2, 2, 2, 2] and [o["score"][0] for o in out] == [0, 3, 6, 9]
    solo.close()


# -- the command: workers, SIGTERM -------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def readme_serving_commands() -> tuple[list[str], list[str]]:
    """The README's serving block: the ``aekit serve`` line and the ``curl`` line, as argv."""
    import re
    import shlex

    from conftest import ROOT

    section = (ROOT / "README.md").read_text().split("## Serving", 1)[1].split("\n## ", 1)[0]
    lines = re.findall(r"```bash\n(.*?)```", section, flags=re.S)[0].splitlines()
    serve = next(shlex.split(ln.split("#")[0]) for ln in lines if ln.startswith("aekit serve"))
    curl = next(shlex.split(ln) for ln in lines if ln.startswith("curl"))
    return serve, curl


def test_readme_commands_and_sigterm_draining_a_request_in_flight(runs, tmp_path):
    """The README's two serving commands, as written (run path and port substituted): the
    service answers the curl line with ``aekit detect``'s fields. Then a request whose body is
    half sent when the server gets SIGTERM is still answered in full, and the server exits."""
    import shutil

    serve, curl = readme_serving_commands()
    assert serve[:3] == ["aekit", "serve", "runs/ae"] and "localhost:8000/detect" in curl
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    argv = [sys.executable, "-m", "aekit", "serve", str(runs["tab"]), *serve[3:], "--port", str(port)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "aekit serve did not start"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        x = runs["table"][:3]
        want = ok(httpx.post(f"http://127.0.0.1:{port}/score", json={"instances": x.tolist()}))["scores"]

        if shutil.which(curl[0]):
            np.save(tmp_path / "rows.npy", x)
            out = subprocess.run([a.replace("localhost:8000", f"127.0.0.1:{port}") for a in curl], cwd=tmp_path,
                                 capture_output=True, text=True, timeout=60)
            got = json.loads(out.stdout)
            assert set(got) == {"scores", "is_anomaly", "threshold"} and got["scores"] == pytest.approx(want, rel=1e-6)

        body = json.dumps({"instances": x.tolist()}).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"POST /score HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                      + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:20])
            time.sleep(0.3)  # the server has the headers: the request is in flight
            proc.send_signal(signal.SIGTERM)
            time.sleep(1.0)
            assert proc.poll() is None  # still draining
            s.sendall(body[20:])
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
        head, _, payload = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), reply
        assert json.loads(payload)["scores"] == pytest.approx(want, rel=1e-6)
        # uvicorn re-raises the signal once it has drained, so the exit status is SIGTERM's own
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
        assert b"Finished server process" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_worker_builds_its_app_from_the_environment(runs, monkeypatch):
    """``--workers N``: uvicorn starts each worker from an import string; the worker reads
    create_app's options from the environment the parent set, and loads the model itself."""
    from aekit.serve import app as serve_app

    opts = {"run_dir": str(runs["tab"]), "api_key": "k", "max_batch": 7, "max_body_bytes": 1000,
            "plugins": [], "batching": False, "threads": 1, "onnx": False}
    monkeypatch.setenv(serve_app.ENV_OPTIONS, json.dumps(opts))
    import torch

    n = torch.get_num_threads()
    try:
        app = serve_app.app_from_env()
    finally:
        torch.set_num_threads(n)
    with running(app) as url, httpx.Client(base_url=url, timeout=30, headers={"authorization": "Bearer k"}) as c:
        meta = ok(c.get("/metadata"))["serve"]
        assert meta["max_batch"] == 7 and meta["max_body_bytes"] == 1000 and meta["batching"] is False
        assert len(ok(c.post("/score", json={"instances": [ROW] * 7}))["scores"]) == 7
        assert c.post("/score", json={"instances": [ROW] * 8}).status_code == 413


def test_help_imports_neither_torch_nor_fastapi():
    code = ("import sys\nfrom aekit.cli import build_parser\nbuild_parser().parse_args(['serve', 'RUN'])\n"
            "print(sorted(m for m in ('torch', 'fastapi', 'uvicorn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
