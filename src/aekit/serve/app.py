"""The HTTP service of one run: a FastAPI app (``create_app``) and the uvicorn runner (``serve``).

Endpoints: ``GET /health`` (no key needed), ``GET /metadata``, and ``POST /score``, ``/detect``,
``/reconstruct`` and ``/embed``, each taking a batch of raw rows (see :mod:`aekit.serve.bodies`).
Every error a client can cause is answered with a 4xx and one JSON line ``{"error": "..."}``;
the handlers live in one place (:func:`aekit.serve.http.install_error_handlers`), so no route
formats its own errors and no traceback reaches a client. The replies, the body limit and the
API key are in :mod:`aekit.serve.http`.
"""

# no `from __future__ import annotations`: FastAPI reads the routes' annotations (``Request``,
# imported inside create_app so that importing this module needs no FastAPI) as objects
import asyncio
import ctypes
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import AekitError
from .bodies import JSON, NPY, PNG, InputSpec, RequestError, parse
from .engine import Engine, load_model
from .http import errors_doc, json_response, new_app, plain, read_body, reply, score_models

log = logging.getLogger("aekit.serve")

MAX_BODY_BYTES = 16 << 20  # 16 MiB: a 256-row MNIST batch is about 2 MiB of JSON
MAX_BATCH = 2048
ENV_OPTIONS = "AEKIT_SERVE_OPTIONS"  # create_app's arguments, for the worker processes of --workers N
INLINE_BODY = 64 << 10  # bodies up to this size are parsed on the event loop, larger ones on the parser thread


def _need_fastapi():
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise AekitError(f"aekit serve needs FastAPI and uvicorn ({e.name} is missing); "
                         "install them with: pip install 'aekit[serve]'") from None


def _png_scale(run_dir: Path) -> float:
    """8-bit pixels → the run's data units: 1 for a run whose preprocessing starts from 8-bit
    pixels (scale by 1/255, min-max or standardization fitted on them), 1/255 for a run that
    took intensities in [0, 1] as they were (preprocess none), as ``aekit reconstruct`` reads
    images."""
    from ..rundir import RunDir

    pre = RunDir(run_dir).read_preprocess()
    raw_unit = pre.method == "none" or (pre.method == "scale" and pre.factor == 1.0)
    return 1.0 / 255.0 if raw_unit else 1.0


def _input_spec(run_dir: Path, metadata: dict, max_batch: int) -> InputSpec:
    from ..rundir import RunDir

    shape = metadata.get("input_shape") or RunDir(run_dir).section("model").get("input_shape")
    shape = tuple(int(s) for s in shape)
    image = len(shape) == 3 and shape[0] in (1, 3)
    return InputSpec(shape, max_batch, _png_scale(run_dir) if image else None)


def _finite(outputs: dict[str, np.ndarray], names) -> None:
    for k in names:
        v = outputs[k]
        if not np.isfinite(v).all():
            row = int(np.argwhere(~np.isfinite(v.reshape(len(v), -1)))[0][0])
            raise RequestError(422, f"row {row}: the model's {k} is not finite; its inputs are far outside "
                                    "the range of the training data (check their units)")


def _openapi_body(spec: InputSpec) -> dict:
    row = [0.0] * min(spec.features, 4)
    content = {
        JSON: {"schema": {"type": "object", "required": ["instances"], "properties": {"instances": {
            "type": "array", "minItems": 1, "maxItems": spec.max_batch,
            "description": f"rows of shape {spec.describe()}, raw data units (preprocessing is applied by the service)",
            "items": {"type": "array", "items": {}}}}},
            "example": {"instances": [row + (["..."] if spec.features > 4 else [])]}},
        NPY: {"schema": {"type": "string", "format": "binary",
                         "description": f"a numpy.save array of shape {spec.describe()}; object arrays are refused"}},
    }
    if spec.png_scale is not None:
        c, h, w = spec.input_shape
        content[PNG] = {"schema": {"type": "string", "format": "binary",
                                   "description": f"one {w}x{h} {'grayscale' if c == 1 else 'RGB'} PNG image"}}
    return {"requestBody": {"required": True, "content": content}}


def create_app(run_dir: str | os.PathLike, *, onnx: bool = False, api_key: str | None = None,
               max_body_bytes: int = MAX_BODY_BYTES, max_batch: int = MAX_BATCH, plugins=(),
               batching: bool = True, threads: int | None = None):
    """The FastAPI app serving the run in ``run_dir``; the model is loaded here, once. A series
    run gets the app of :mod:`aekit.serve.series` (one series per request, a score per step).

    ``onnx``: serve the run's ONNX export through onnxruntime instead of torch. ``api_key``:
    require ``Authorization: Bearer API_KEY`` on every path but ``/health``. ``max_body_bytes``
    and ``max_batch``: the largest request body (413 beyond) and the most rows in one request.
    ``plugins``: modules that register the run's family or network. ``batching``: merge
    concurrent requests into one forward pass (:mod:`aekit.serve.engine`); ``threads``: torch
    threads of this process (default: torch's own choice)."""
    _need_fastapi()
    from contextlib import asynccontextmanager

    from fastapi import Request
    from pydantic import BaseModel

    if max_body_bytes < 1 or max_batch < 1:
        raise AekitError(f"max_body_bytes and max_batch must be positive, got {max_body_bytes} and {max_batch}")
    if api_key is not None and not api_key.strip():
        raise AekitError("--api-key: the key is empty; pass a non-empty key (or leave it out for no key)")
    if threads is not None:
        import torch

        torch.set_num_threads(int(threads))
    run_dir = Path(run_dir)
    from ..series_run import is_series_run

    if is_series_run(run_dir):
        from .series import create_series_app

        return create_series_app(run_dir, onnx=onnx, api_key=api_key, max_body_bytes=max_body_bytes,
                                 plugins=plugins, threads=threads)
    model = load_model(run_dir, onnx=onnx, plugins=plugins, threads=threads)
    spec = _input_spec(run_dir, model.metadata, max_batch)
    engine = Engine(model, batching=batching, max_rows=max(max_batch, 1024), threads=max(2, threads or 2))
    threshold = model.metadata.get("threshold")
    log.info("serving %s (%s, %s backend): input %s, threshold %s", run_dir, model.metadata.get("family"),
             model.backend, spec.describe(), threshold)

    # large bodies are decoded on one thread of their own: the event loop keeps answering, and
    # however many arrive at once, one at a time is held decoded besides the model's batch
    parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aekit-parse")

    @asynccontextmanager
    async def lifespan(app):
        yield
        engine.close()  # uvicorn has drained the requests in flight by now
        parser.shutdown(wait=True)

    app = new_app(f"aekit: {run_dir.name}", f"Anomaly scores, reconstructions and codes of the aekit run "
                  f"`{run_dir.name}` ({model.metadata.get('family')}). Rows in raw data units; preprocessing is "
                  "inside.", lifespan, api_key)
    app.state.engine, app.state.spec, app.state.model = engine, spec, model

    async def rows(request: Request) -> np.ndarray:
        body = await read_body(request, max_body_bytes)
        ctype = request.headers.get("content-type")
        if len(body) <= INLINE_BODY:
            return parse(ctype, body, spec)
        return await asyncio.get_running_loop().run_in_executor(parser, parse, ctype, body, spec)

    async def infer(request: Request, name: str) -> dict[str, np.ndarray]:
        if name not in model.outputs:  # an ONNX export written with fewer --outputs
            raise RequestError(409, f"this export has no {name!r} output (it has {', '.join(model.outputs)}); "
                                    f"export the run again with --outputs score,recon,code")
        out = await engine(await rows(request))
        _finite(out, (name,))
        return out

    Scores, Detections = score_models()

    class Reconstructions(BaseModel):
        reconstructions: list

    class Codes(BaseModel):
        codes: list

    body_doc = _openapi_body(spec)
    npy_doc = {"description": "JSON, or with `Accept: application/x-npy` a .npy array",
               "content": {NPY: {"schema": {"type": "string", "format": "binary"}}}}
    errors = errors_doc("body or batch too large", "rows the model cannot take")

    @app.get("/metadata", summary="the run: family, input shape, threshold, preprocessing, score; the limits")
    async def metadata():
        doc = {**plain(model.metadata), "backend": model.backend, "serve": {
            "max_batch": max_batch, "max_body_bytes": max_body_bytes, "content_types": list(spec.content_types),
            "batching": batching}}
        return json_response(doc)

    @app.post("/score", response_model=Scores, openapi_extra=body_doc, responses={200: npy_doc, **errors},
              summary="anomaly score per row (higher = more anomalous)")
    async def score(request: Request):
        return reply(request, (await infer(request, "score"))["score"], "scores")

    @app.post("/detect", response_model=Detections, openapi_extra=body_doc, responses=errors,
              summary="scores and is_anomaly: score above the run's threshold")
    async def detect(request: Request):
        if threshold is None:
            raise RequestError(409, "this run has no anomaly threshold; use /score and choose one")
        out = await infer(request, "score")
        s = out["score"]
        return json_response({"scores": s.tolist(), "is_anomaly": (s > threshold).tolist(),
                              "threshold": float(threshold)})

    @app.post("/reconstruct", response_model=Reconstructions, openapi_extra=body_doc,
              responses={200: npy_doc, **errors},
              summary="reconstruction of each row in data units (Accept: image/png for one image)")
    async def reconstruct(request: Request):
        return reply(request, (await infer(request, "recon"))["recon"], "reconstructions", spec)

    @app.post("/embed", response_model=Codes, openapi_extra=body_doc, responses={200: npy_doc, **errors},
              summary="the code of each row (posterior mean for variational families)")
    async def embed(request: Request):
        return reply(request, (await infer(request, "code"))["code"], "codes")

    return app


def app_from_env():
    """The app of one ``--workers N`` worker process, from the options the parent put in
    :data:`ENV_OPTIONS` (uvicorn starts workers from an import string, not an object)."""
    opts = json.loads(os.environ[ENV_OPTIONS])
    return create_app(opts.pop("run_dir"), **opts)


def limit_malloc_arenas() -> None:
    """One glibc malloc arena for this process and the workers it starts.

    glibc gives a thread that allocates while another holds the heap lock an arena of its own,
    and keeps what is freed in each arena for reuse there. The service allocates on several
    threads (the event loop decodes bodies and encodes replies, the parser and model threads
    make arrays and tensors of every batch size), and under a long mixed load its resident
    memory crept up arena by arena; with one arena it stayed flat (benchmarks/serve_load.py's
    soak). A ``MALLOC_ARENA_MAX`` the user set is left alone; elsewhere than glibc, nothing
    happens."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    os.environ["MALLOC_ARENA_MAX"] = "1"  # read by glibc when each worker process starts
    try:
        ctypes.CDLL("libc.so.6").mallopt(-8, 1)  # M_ARENA_MAX, for this already running process
    except (OSError, AttributeError):
        pass


def serve(run_dir: str | os.PathLike, *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          access_log: bool = False, drain_timeout: float = 30.0, **options) -> None:
    """Serve ``run_dir`` with uvicorn until SIGINT/SIGTERM, which stop new connections and let
    the requests in flight finish (up to ``drain_timeout`` seconds). ``options``: those of
    :func:`create_app`. Each of ``workers`` processes loads the model once."""
    _need_fastapi()
    limit_malloc_arenas()  # before the model and its threads allocate anything
    import uvicorn

    if workers < 1:
        raise AekitError(f"--workers: must be at least 1, got {workers}")
    if not 0 <= port <= 65535:
        raise AekitError(f"--port: must be in 0..65535, got {port}")
    if host not in ("127.0.0.1", "localhost", "::1") and not options.get("api_key"):
        log.warning("serving on %s without an API key: anyone who reaches this address can use the model "
                    "(pass --api-key or set AEKIT_API_KEY)", host)
    common = dict(host=host, port=port, access_log=access_log, timeout_graceful_shutdown=drain_timeout,
                  log_level="info", server_header=False)
    if workers == 1:
        uvicorn.run(create_app(run_dir, **options), **common)
        return
    if options.get("threads") is None:  # share the cores among the workers instead of oversubscribing them
        options["threads"] = max(1, (os.cpu_count() or 1) // workers)
    create_app(run_dir, **options)  # a bad run fails here, once, not in every worker
    os.environ[ENV_OPTIONS] = json.dumps({"run_dir": str(run_dir), **{k: list(v) if isinstance(v, tuple) else v
                                                                       for k, v in options.items()}})
    uvicorn.run("aekit.serve.app:app_from_env", factory=True, workers=workers, **common)
