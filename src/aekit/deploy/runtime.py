"""Loading an exported scorer: an ONNX file run by onnxruntime, or a ``.pt2`` program.

A file that is missing, truncated, not a model, not written by aekit, or whose graph no longer
matches the checksum it was written with is refused in one line naming the file and the fix
(export it again). Both loaders give the same small interface as the torch module:
``run(x) → {output name: array}``, ``outputs``, ``input_shape`` and ``metadata``.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AekitError

FIX = "export it again: aekit export RUN"
METADATA_KEY = "aekit"  # metadata_props / extra_files entry holding the JSON metadata
CHECKSUM_KEY = "aekit_graph_sha256"


def graph_checksum(proto) -> str:
    """SHA-256 of an ONNX model's graph (nodes and weights), which ``metadata_props`` is not part of."""
    return hashlib.sha256(proto.graph.SerializeToString(deterministic=True)).hexdigest()


def _check_file(path: Path, what: str, fix: str = FIX) -> Path:
    path = Path(path)
    if not path.is_file():
        raise AekitError(f"{path}: no such {what} file; {fix}")
    if path.stat().st_size == 0:
        raise AekitError(f"{path}: the file is empty; {fix}")
    return path


class OnnxScorer:
    """An aekit ONNX export run by onnxruntime (CPU). ``threads``: onnxruntime's intra-op
    threads (default: its own choice)."""

    backend = "onnxruntime"

    def __init__(self, path, threads: int | None = None, *, fix: str = FIX, name: str | None = None):
        try:
            import onnx
            import onnxruntime as ort
        except ImportError as e:
            raise AekitError(f"--onnx: needs the onnx and onnxruntime packages ({e}); "
                             "pip install 'aekit[deploy]'") from None
        self.path = path = _check_file(path, "ONNX", fix)
        where = name or path
        try:
            proto = onnx.load_model(str(path))
        except Exception as e:  # noqa: BLE001 — protobuf's DecodeError and friends
            raise AekitError(f"{where}: not a readable ONNX model ({type(e).__name__}); the file is truncated "
                             f"or corrupt; {fix}") from None
        props = {p.key: p.value for p in proto.metadata_props}
        if METADATA_KEY not in props or CHECKSUM_KEY not in props:
            raise AekitError(f"{where}: an ONNX model without aekit's metadata (not written by aekit export); {fix}")
        if graph_checksum(proto) != props[CHECKSUM_KEY]:
            raise AekitError(f"{where}: the graph or its weights differ from what aekit wrote (checksum mismatch: "
                             f"the file was altered or damaged); {fix}")
        try:
            self.metadata: dict[str, Any] = json.loads(props[METADATA_KEY])
        except json.JSONDecodeError:
            raise AekitError(f"{where}: its aekit metadata is not valid JSON; {fix}") from None
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
        try:
            self.session = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 — onnxruntime's Fail/InvalidGraph/NotImplemented
            raise AekitError(f"{where}: onnxruntime {ort.__version__} cannot load the model ({_first(e)}; "
                             f"the versions tested are in docs/deploy.md); {fix}") from None
        self.outputs = tuple(o.name for o in self.session.get_outputs())
        self.input_name = self.session.get_inputs()[0].name
        self.input_shape = tuple(self.metadata["input_shape"])

    def run(self, x) -> dict[str, np.ndarray]:
        """Raw rows (B, *input_shape) or flat (B, prod(input_shape)) → {output name: array}."""
        x = np.ascontiguousarray(x, dtype=np.float32).reshape(len(x), *self.input_shape)
        return dict(zip(self.outputs, self.session.run(None, {self.input_name: x})))

    def __call__(self, x) -> tuple[np.ndarray, ...]:
        return tuple(self.run(x).values())


class Pt2Scorer:
    """An aekit ``.pt2`` export (``torch.export.load``)."""

    backend = "torch.export"

    def __init__(self, path, *, fix: str = FIX, name: str | None = None):
        import torch

        self.path = path = _check_file(path, ".pt2", fix)
        where = name or path
        extra = {f"{METADATA_KEY}.json": ""}
        try:  # from bytes: torch.export.load insists on a name ending in .pt2
            program = torch.export.load(io.BytesIO(path.read_bytes()), extra_files=extra)
        except Exception as e:  # noqa: BLE001 — zipfile, pickle and torch errors of a damaged archive
            raise AekitError(f"{where}: not a readable torch.export program ({_first(e)}); {fix}") from None
        if not extra[f"{METADATA_KEY}.json"]:
            raise AekitError(f"{where}: a torch.export program without aekit's metadata; {fix}")
        self.metadata = json.loads(extra[f"{METADATA_KEY}.json"])
        self.module = program.module()
        self.outputs = tuple(self.metadata["output_names"])
        self.input_shape = tuple(self.metadata["input_shape"])

    def run(self, x) -> dict[str, np.ndarray]:
        import torch

        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).reshape(len(x), *self.input_shape)
        with torch.no_grad():
            return {k: v.numpy() for k, v in zip(self.outputs, self.module(t))}

    def __call__(self, x) -> tuple[np.ndarray, ...]:
        return tuple(self.run(x).values())


def _first(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return (lines[0] if lines else type(e).__name__)[:200]


def load_onnx(path, threads: int | None = None, **kwargs) -> OnnxScorer:
    """An aekit ONNX export, checked (readable, aekit's metadata, graph checksum) and ready to run."""
    return OnnxScorer(path, threads=threads, **kwargs)


def load_pt2(path, **kwargs) -> Pt2Scorer:
    """An aekit ``.pt2`` export, ready to run."""
    return Pt2Scorer(path, **kwargs)
