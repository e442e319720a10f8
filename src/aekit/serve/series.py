"""The HTTP service of a series run (one trained with ``aekit train --window`` or saved by
:meth:`aekit.SeriesDetector.save`): one request is one series, and the reply has one score per
step, as ``aekit detect`` writes them.

Endpoints: ``GET /health``, ``GET /metadata`` (window, channels, threshold, score), ``POST
/score`` (``{"scores": [...]}``, one per step) and ``POST /detect`` (the scores, ``is_anomaly``
per step, the threshold and the merged ``events``). A body is JSON ``{"instances": [...]}``
whose rows are the steps (numbers for a one-channel series, lists of the C channel values
otherwise) or a ``.npy`` array of shape (T,) or (T, C), in the units of the training file: the
run's scaling is applied here. The body checks, the API key and the one-line JSON errors are the
same as for the other runs (:mod:`aekit.serve.bodies`, :mod:`aekit.serve.http`). Scoring runs on
a thread of its own, one series at a time, so the event loop keeps answering.
"""

# no `from __future__ import annotations`: FastAPI reads the routes' annotations as objects
import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .bodies import JSON, NPY, RequestError, check_values, from_json, from_npy, media_type
from .http import errors_doc, json_response, new_app, plain, read_body, reply, score_models

log = logging.getLogger("aekit.serve")
CONTENT_TYPES = (JSON, NPY)


def parse_series(content_type: str | None, body: bytes, channels: int) -> np.ndarray:
    """A request body as one float32 series (T, C), checked: the encoding, numbers only, the
    channel count, finite values within float32's range. The window and the channel names are
    checked by the detector."""
    kind = media_type(content_type)
    if kind not in CONTENT_TYPES:
        got = f"content type {kind!r}" if kind else "no content type"
        raise RequestError(415, f"{got} is not accepted by a series run; send {', '.join(CONTENT_TYPES)}")
    if not body:
        raise RequestError(400, "empty body; send a series, one row per step")
    where = "instances" if kind == JSON else "array"
    x = from_json(body) if kind == JSON else from_npy(body)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or len(x) == 0:
        raise RequestError(422, f"{where}: a series is (steps,) or (steps, channels), got shape {x.shape}; send one "
                                "series per request")
    if x.shape[1] != channels:
        raise RequestError(422, f"{where}: steps of {x.shape[1]} values, the run was trained on {channels} "
                                "channels; send one value per channel at every step")
    check_values(x, where, "at step", "fill the gaps first")
    return np.ascontiguousarray(x, dtype=np.float32)


def create_series_app(run_dir, *, onnx: bool = False, api_key: str | None = None, max_body_bytes: int, plugins=(),
                      threads: int | None = None):
    """The FastAPI app of a series run; the detector is loaded here, once. The options are those
    of :func:`aekit.serve.create_app` that apply to a series; ``onnx``: score with the run's
    export (``RUN/model.onnx``, written by ``aekit export RUN``) through onnxruntime."""
    from contextlib import asynccontextmanager

    from fastapi import Request

    from ..deploy.series import score_in_pieces
    from ..series_detector import SeriesDetector
    from ..tasks.thresholds import events, events_table

    run_dir = Path(run_dir)
    det = SeriesDetector.load(run_dir, plugins=plugins)
    st = det.settings()
    family = det.model_.registry_name or type(det.model_).__name__
    exported = _series_export(run_dir, det, threads) if onnx else None
    meta = {"kind": "series", "family": family, "arch": getattr(det.model_.config, "arch", None),
            "window": st["window"], "channels": st["channels"], "score": st["score"], "threshold": st["threshold"],
            "threshold_rule": st["threshold_rule"], "min_gap": st["min_gap"]}
    log.info("serving %s (series run, %s): window %d, channels %s, threshold %s", run_dir, family, st["window"],
             ", ".join(st["channels"]), st["threshold"])
    scorer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aekit-series")

    @asynccontextmanager
    async def lifespan(app):
        yield
        scorer.shutdown(wait=True)

    app = new_app(f"aekit: {run_dir.name}", f"Per-step anomaly scores of the aekit series run `{run_dir.name}` "
                  f"({family}, window {st['window']}). One series per request, in the units of the training file.",
                  lifespan, api_key)

    def score_of(x: np.ndarray) -> np.ndarray:
        if exported is None:
            s = det.anomaly_score(x)
        elif len(x) <= det.window_:  # the export takes two windows at least
            raise RequestError(422, f"series: {len(x)} steps; the exported scorer takes more than the window of "
                                    f"{det.window_} steps")
        else:  # in pieces of windows: an export without the loop (piece_windows null) holds every window at once
            s = score_in_pieces(lambda p: exported.run(p)["score"], x, det.window_, det.score_kind_)
        if not np.isfinite(s).all():
            raise RequestError(422, "the model gave non-finite scores for this series; check the values' scale "
                                    "against the training file's")
        return s

    async def scores(request: Request) -> np.ndarray:
        x = parse_series(request.headers.get("content-type"), await read_body(request, max_body_bytes),
                         det.n_channels_)
        return await asyncio.get_running_loop().run_in_executor(scorer, score_of, x)

    Scores, Detections = score_models()

    class SeriesDetections(Detections):
        events: list[dict]

    body_doc = {"requestBody": {"required": True, "content": {
        JSON: {"schema": {"type": "object", "required": ["instances"], "properties": {"instances": {
            "type": "array", "description": f"the steps: numbers (one channel) or lists of {det.n_channels_} "
                                            "channel values"}}}},
        NPY: {"schema": {"type": "string", "format": "binary", "description": "a .npy array (T,) or (T, C)"}}}}}
    errors = errors_doc("body too large", "a series the run cannot take")

    @app.get("/metadata", summary="the series run: family, window, channels, score, threshold; the limits")
    async def metadata():
        return json_response({**plain(meta), "backend": "torch" if exported is None else exported.backend, "serve": {
            "max_body_bytes": max_body_bytes, "content_types": list(CONTENT_TYPES)}})

    @app.post("/score", response_model=Scores, openapi_extra=body_doc, responses=errors,
              summary="anomaly score per step (higher = more anomalous)")
    async def score(request: Request):
        return reply(request, await scores(request), "scores")

    @app.post("/detect", response_model=SeriesDetections, openapi_extra=body_doc, responses=errors,
              summary="scores, is_anomaly per step (score above the run's threshold) and the merged events")
    async def detect(request: Request):
        s = await scores(request)
        flags = s > det.threshold_
        found = events_table(events(flags, s, min_gap=int(det.min_gap)))
        return json_response({"scores": s.tolist(), "is_anomaly": flags.tolist(),
                              "threshold": float(det.threshold_), "events": plain(found)})

    return app


def _series_export(run_dir: Path, det, threads: int | None):
    """RUN/model.onnx, checked to be this run's series export (kind, window, channels, threshold)."""
    from ..errors import AekitError
    from .engine import OnnxModel

    scorer = OnnxModel(run_dir, threads=threads).scorer
    path, md = scorer.path, scorer.metadata
    if (md.get("kind") != "series" or md.get("window") != det.window_ or md.get("channels") != det.channel_names_
            or md.get("threshold") != det.threshold_):
        raise AekitError(f"{path}: not the series export of this run (its window, channels or threshold differ); "
                         f"export it again: aekit export {run_dir}")
    return scorer
