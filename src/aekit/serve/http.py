"""The HTTP plumbing of the service: replies in the format a client asks for (JSON, ``.npy``,
PNG), the request body read under a size limit, the API-key middleware and its OpenAPI entry,
and the error handlers that turn every failure into one JSON line ``{"error": "..."}``.
:mod:`aekit.serve.app` builds the routes from these."""

from __future__ import annotations

import hmac
import io
import json
import logging
import math

import numpy as np

from ..errors import AekitError
from .bodies import JSON, NPY, PNG, InputSpec, RequestError, media_type

log = logging.getLogger("aekit.serve")
OPEN_PATHS = ("/health",)  # the paths --api-key leaves open


def error_response(status: int, message: str, headers: dict | None = None):
    from starlette.responses import JSONResponse

    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status, headers=headers)


class BearerAuth:
    """ASGI middleware: every path but :data:`OPEN_PATHS` needs ``Authorization: Bearer KEY``.
    The key is compared in constant time; the body is never read for a refused request."""

    def __init__(self, app, key: str):
        self.app = app
        self.key = key.encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        if header is None:
            problem = "missing API key: send the header Authorization: Bearer KEY"
        else:
            scheme, _, token = header.partition(b" ")
            if scheme.lower() != b"bearer" or not token.strip():
                problem = "malformed Authorization header: expected Authorization: Bearer KEY"
            elif not hmac.compare_digest(token.strip(), self.key):
                problem = "wrong API key"
            else:
                return await self.app(scope, receive, send)
        await error_response(401, problem, {"WWW-Authenticate": "Bearer"})(scope, receive, send)


def _accepts(request, kind: str) -> bool:
    """True when the Accept header asks for ``kind`` and not for JSON (JSON is the default)."""
    accept = [media_type(a) for a in request.headers.get("accept", "").split(",")]
    return kind in accept and JSON not in accept


def _npy_response(a: np.ndarray):
    from starlette.responses import Response

    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return Response(buf.getvalue(), media_type=NPY)


def json_response(doc: dict):
    from starlette.responses import Response

    return Response(json.dumps(doc, separators=(",", ":"), allow_nan=False), media_type=JSON)


def plain(v):
    """Metadata as JSON values (numpy numbers and arrays, tuples, paths)."""
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    return str(v)


def reply(request, a: np.ndarray, key: str, spec: InputSpec | None = None):
    """``a`` as the client asked: .npy (Accept: application/x-npy), PNG for an image run's
    reconstruction (Accept: image/png), else JSON ``{key: [...]}``."""
    if _accepts(request, NPY):
        return _npy_response(a)
    if spec is not None and _accepts(request, PNG):
        return _png_response(a, spec)
    return json_response({key: a.tolist()})


def _png_response(r: np.ndarray, spec: InputSpec):
    from PIL import Image
    from starlette.responses import Response

    if spec.png_scale is None:
        raise RequestError(406, "PNG output is for image runs; accept application/json or application/x-npy")
    if len(r) != 1:
        raise RequestError(406, f"PNG output holds one image, the batch has {len(r)}; accept application/json or application/x-npy")
    a = np.clip(r[0] / spec.png_scale + 0.5, 0, 255).astype(np.uint8)  # data units → 8-bit pixels
    buf = io.BytesIO()
    Image.fromarray(a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)).save(buf, format="PNG")
    return Response(buf.getvalue(), media_type=PNG)


async def read_body(request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes
    (from Content-Length, or while a chunked body streams in)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            n = int(declared)
        except ValueError:
            raise RequestError(400, f"Content-Length {declared!r} is not a number") from None
        if n > limit:
            raise RequestError(413, f"body of {n} bytes is over the limit of {limit} bytes; "
                                    "send fewer rows per request (server option --max-body-mb)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"body is over the limit of {limit} bytes; "
                                    "send fewer rows per request (server option --max-body-mb)")
        chunks.append(chunk)
    return b"".join(chunks)


def install_error_handlers(app) -> None:
    """Every error → one JSON line ``{"error": "..."}``: the client's own mistakes with their
    4xx, the routing errors (404, 405) likewise, and anything unexpected with a 500 whose
    details go to the server log only."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    async def request_error(request, e: RequestError):
        return error_response(e.status, e.message)

    async def aekit_error(request, e: AekitError):  # the model refused the batch
        return error_response(422, str(e))

    async def http_error(request, e: HTTPException):
        msg = {404: f"no endpoint {request.url.path}; see /docs", 405: f"{request.method} is not allowed on "
               f"{request.url.path}; see /docs"}.get(e.status_code, str(e.detail))
        return error_response(e.status_code, msg, getattr(e, "headers", None))

    async def validation_error(request, e: RequestValidationError):
        first = e.errors()[0] if e.errors() else {}
        return error_response(422, f"{'.'.join(map(str, first.get('loc', ())))}: {first.get('msg', 'invalid request')}")

    async def internal_error(request, e: Exception):
        log.error("%s %s failed", request.method, request.url.path, exc_info=e)
        return error_response(500, "internal error; the server log has the details")

    app.add_exception_handler(RequestError, request_error)
    app.add_exception_handler(AekitError, aekit_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, internal_error)


def document_bearer(app) -> None:
    """Declare the bearer key in the OpenAPI schema, so /docs offers its "Authorize" button."""
    from fastapi.openapi.utils import get_openapi

    def schema():
        if app.openapi_schema is None:
            s = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            s.setdefault("components", {})["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            for path, ops in s.get("paths", {}).items():
                if path not in OPEN_PATHS:
                    for op in ops.values():
                        op["security"] = [{"bearer": []}]
            app.openapi_schema = s
        return app.openapi_schema

    app.openapi = schema


def new_app(title: str, description: str, lifespan, api_key: str | None):
    """A FastAPI app with what every aekit service has: the error handlers, the API key when one
    is given (with its OpenAPI entry), and ``GET /health``."""
    from fastapi import FastAPI
    from pydantic import BaseModel

    from .._version import __version__

    app = FastAPI(title=title, version=__version__, lifespan=lifespan, description=description)
    install_error_handlers(app)
    if api_key is not None:
        app.add_middleware(BearerAuth, key=api_key)
        document_bearer(app)

    class Health(BaseModel):
        status: str

    @app.get("/health", response_model=Health, summary="liveness: 200 while the service runs (no API key needed)")
    async def health():
        return json_response({"status": "ok"})

    return app


def errors_doc(too_large: str, unprocessable: str) -> dict:
    """The OpenAPI ``responses`` of the client errors a POST endpoint answers."""
    return {s: {"description": d, "content": {JSON: {"example": {"error": "..."}}}} for s, d in
            [(400, "malformed body"), (401, "missing or wrong API key"), (413, too_large),
             (415, "content type not accepted"), (422, unprocessable)]}


def score_models():
    """The response schemas of ``/score`` and ``/detect`` (pydantic models, for the OpenAPI page)."""
    from pydantic import BaseModel

    class Scores(BaseModel):
        scores: list[float]

    class Detections(BaseModel):
        scores: list[float]
        is_anomaly: list[bool]
        threshold: float

    return Scores, Detections
