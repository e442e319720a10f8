"""Request bodies → one float32 batch ``(B, *input_shape)``, or a :class:`RequestError` that
names the problem in one line.

Three encodings are read: JSON ``{"instances": [[…], …]}``, a raw ``.npy`` array
(``application/x-npy``, never unpickled) and, for image runs, one PNG (``image/png``).
Everything a client can get wrong is checked here, before the model sees the batch: the
encoding, the feature count or image size, non-numeric values, NaN/inf, an empty batch and the
row limit. The checks are plain numpy, so they run the same in the torch and the ONNX service.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass

import numpy as np

JSON = "application/json"
NPY = "application/x-npy"
PNG = "image/png"
NPY_MAGIC = b"\x93NUMPY"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class RequestError(Exception):
    """A bad request: the HTTP status and a one-line message naming the problem and the fix."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = " ".join(str(message).split())  # one line, whatever the parts held


@dataclass(frozen=True)
class InputSpec:
    """What the served run takes: its input shape, the row limit, and whether (and how) a PNG
    is read. ``png_scale``: the factor from 8-bit pixels to the run's data units (1/255 for a
    run trained on intensities in [0, 1], 1 for one trained on 8-bit pixels)."""

    input_shape: tuple[int, ...]
    max_batch: int
    png_scale: float | None = None  # None: not an image run, PNG refused

    @property
    def features(self) -> int:
        return math.prod(self.input_shape)

    @property
    def content_types(self) -> tuple[str, ...]:
        return (JSON, NPY) + ((PNG,) if self.png_scale is not None else ())

    def describe(self) -> str:
        return f"(batch, {', '.join(map(str, self.input_shape))})" + (
            f" or (batch, {self.features})" if len(self.input_shape) > 1 else "")


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` → ``application/json``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse(content_type: str | None, body: bytes, spec: InputSpec) -> np.ndarray:
    """The request's rows as float32 ``(B, *input_shape)``, checked (see the module docstring)."""
    kind = media_type(content_type)
    if kind not in spec.content_types:
        got = f"content type {kind!r}" if kind else "no content type"
        hint = "" if kind != PNG else " (PNG is taken by image runs only)"
        raise RequestError(415, f"{got} is not accepted{hint}; send {', '.join(spec.content_types)}")
    if not body:
        raise RequestError(400, "empty body; send a batch of rows")
    if kind == JSON:
        x = from_json(body)
    elif kind == NPY:
        x = from_npy(body)
    else:
        x = _from_png(body, spec)
    return check_rows(x, spec, where="instances" if kind == JSON else "array")


def from_json(body: bytes) -> np.ndarray:
    """The numbers of a JSON body ``{"instances": [...]}`` as an array, checked: UTF-8, valid JSON, a
    non-empty list of rows, numbers only (no strings, null or booleans), not ragged."""
    try:
        doc = json.loads(body.decode("utf-8"))  # RFC 8259: JSON between systems is UTF-8
    except UnicodeDecodeError:
        raise RequestError(400, "malformed JSON: the body is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise RequestError(400, f"malformed JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    if not isinstance(doc, dict) or "instances" not in doc:
        raise RequestError(422, 'missing "instances": send {"instances": [[...], ...]}, one list per row')
    rows = doc["instances"]
    if not isinstance(rows, list):
        raise RequestError(422, f'"instances" must be a list of rows, got {type(rows).__name__}')
    if not rows:
        raise RequestError(422, "empty batch: \"instances\" holds no rows; send at least one")
    ragged = "instances: rows of different lengths; every row needs the same number of values"
    try:
        x = np.asarray(rows)
    except ValueError:  # nesting numpy cannot even hold as objects
        raise RequestError(422, ragged) from None
    # numpy turns true/false into 1/0 beside numbers: a byte search keeps the check off the hot path
    if x.dtype.kind not in "iuf" or b"true" in body or b"false" in body:
        bad = next((v for v in _leaves(rows) if not _is_number(v)), _NONE)
        if bad is not _NONE:
            raise RequestError(422, f"instances: non-numeric value {_show(bad)}; every value must be a number")
    if x.dtype.kind not in "iuf":
        try:
            x = np.asarray(rows, dtype=np.float64)
        except OverflowError:
            raise RequestError(422, "instances: an integer too large for a float; send values within float32's range") from None
        except ValueError:
            raise RequestError(422, ragged) from None
    return x


_NONE = object()  # "no bad value found" (None itself is one: JSON null)


def _leaves(v):
    stack = [v]
    while stack:
        a = stack.pop()
        if isinstance(a, list):
            stack.extend(reversed(a))
        else:
            yield a


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _show(v) -> str:
    s = json.dumps(v)
    return s if len(s) <= 40 else s[:37] + "..."


def from_npy(body: bytes) -> np.ndarray:
    """An ``.npy`` body, its header checked before a byte of data is allocated: the dtype must be
    a plain number type (object arrays would need unpickling) and the header's shape must account
    for exactly the bytes sent, so a forged header cannot make the service allocate more."""
    if not body.startswith(NPY_MAGIC):
        raise RequestError(400, "not a .npy file (no \\x93NUMPY header); write the array with numpy.save")
    f = io.BytesIO(body)
    try:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(f, max_header_size=10_000)
    except Exception as e:  # numpy raises ValueError or SyntaxError for a damaged header
        raise RequestError(400, f"corrupt .npy header ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                                "write the array with numpy.save") from None
    if dtype.hasobject:
        raise RequestError(400, "pickled .npy (an object array) refused; send a numeric array")
    if dtype.kind not in "iuf" or dtype.fields is not None:
        raise RequestError(422, f"array: non-numeric dtype {dtype}; send float32 (or any int/float) values")
    data = len(body) - f.tell()
    if math.prod(shape) * dtype.itemsize != data:
        raise RequestError(400, f"corrupt .npy: the header says shape {shape} of {dtype} "
                                f"({math.prod(shape) * dtype.itemsize} bytes) but {data} bytes follow")
    try:
        return np.load(io.BytesIO(body), allow_pickle=False)
    except Exception as e:
        raise RequestError(400, f"corrupt .npy ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


def _from_png(body: bytes, spec: InputSpec) -> np.ndarray:
    """One PNG → a batch of one image in the run's data units. The size is read from the header
    and checked before the pixels are decoded."""
    from PIL import Image

    if not body.startswith(PNG_MAGIC):
        raise RequestError(400, "corrupt PNG: no PNG signature; send a PNG file's bytes")
    c, h, w = spec.input_shape
    try:
        img = Image.open(io.BytesIO(body), formats=["PNG"])
        if img.size != (w, h):
            raise RequestError(422, f"image is {img.size[0]}x{img.size[1]}, the model takes {w}x{h}; resize it first")
        img.load()
    except RequestError:
        raise
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError …
        msg = str(e).splitlines()[0] if str(e) and "<" not in str(e) else "cannot decode it"
        raise RequestError(400, f"corrupt PNG ({msg}); the file is truncated or damaged") from None
    from ..data.images import to_array

    a = to_array(img, c, None)  # uint8 (C, H, W), converted to the run's channels
    return a[None].astype(np.float32) * np.float32(spec.png_scale)


def check_values(x: np.ndarray, where: str, at: str, fix: str) -> None:
    """Every value finite and within float32's range, else a 422 naming the first bad one by
    its index on the first axis (``at``: "in row", "at step") and ``fix`` for a missing value."""
    if x.dtype.kind != "f":
        return  # integers are finite, and within float32's range
    finite = np.isfinite(x)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        raise RequestError(422, f"{where}: {'NaN' if np.isnan(x[tuple(bad)]) else 'inf'} {at} {int(bad[0])}; "
                                f"every value must be finite ({fix})")
    if x.dtype.itemsize > 4:
        big = np.abs(x) > np.finfo(np.float32).max
        if big.any():
            raise RequestError(422, f"{where}: a value {at} {int(np.argwhere(big)[0][0])} is beyond float32's range "
                                    "(±3.4e38); check the data's units")


def check_rows(x: np.ndarray, spec: InputSpec, where: str = "instances") -> np.ndarray:
    """``x`` as float32 ``(B, *input_shape)``: one row per sample, flat rows reshaped."""
    if x.ndim == 0 or len(x) == 0:
        raise RequestError(422, f"empty batch: {where} holds no rows; send at least one")
    if x.ndim == 1:
        raise RequestError(422, f"{where}: got one flat list of {len(x)} values; send a list of rows "
                                f"{spec.describe()}, e.g. [[...]] for one row")
    n = len(x)
    if n > spec.max_batch:
        raise RequestError(413, f"batch of {n} rows is over the limit of {spec.max_batch} rows; "
                                "split it into smaller requests (server option --max-batch)")
    if x.shape[1:] != spec.input_shape:
        if math.prod(x.shape[1:]) != spec.features:
            raise RequestError(422, f"{where}: rows of shape {tuple(x.shape[1:])}, the model takes {spec.describe()}")
        x = x.reshape(n, *spec.input_shape)
    check_values(x, where, "in row", "impute missing values first")
    return np.ascontiguousarray(x, dtype=np.float32)
