"""The served model of one worker process: loaded once, run off the event loop, and fed by a
queue that merges concurrent requests into one forward pass.

The model is a :class:`aekit.deploy.RunScorer` (raw rows in; score, reconstruction in data
units and code out, preprocessing inside) or, with ``onnx=True``, its ONNX export run by
onnxruntime. Either releases the GIL while it computes, so the event loop keeps reading and
checking other requests meanwhile.

Batching (Clipper, Crankshaw et al. 2017; the "continuous batching" of model servers): requests
wait in a queue; whenever the model is free it takes everything waiting (up to ``max_rows`` rows)
as one batch and hands each request its own rows of the outputs. No request waits for a timer:
alone, a request runs at once; under load, the requests that arrived during one forward pass
share the next. Every output of the run's scorer is row-wise (each row's score, reconstruction
and code depend on that row alone), so merging changes no result.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import AekitError

log = logging.getLogger("aekit.serve")

OUTPUTS = ("score", "recon", "code")


class TorchModel:
    """The run's :class:`~aekit.deploy.RunScorer`, called on numpy batches."""

    backend = "torch"

    def __init__(self, run_dir: Path, plugins=(), threads: int | None = None):
        from ..deploy import RunScorer

        self.scorer = RunScorer.from_run(run_dir, outputs=OUTPUTS, plugins=tuple(plugins))
        self.metadata = dict(self.scorer.metadata)
        self.outputs = tuple(self.scorer.outputs)

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return self.scorer.run(x)  # inference mode, eval mode, (B, …) float32 → numpy


class OnnxModel:
    """The run's ONNX export (``RUN/model.onnx``, written by ``aekit export RUN``) run by
    onnxruntime; refused in one line when it is missing, damaged or altered."""

    backend = "onnxruntime"

    def __init__(self, run_dir: Path, threads: int | None = None):
        from ..deploy import load_onnx

        path = run_dir / "model.onnx"
        if not path.is_file():
            raise AekitError(f"{path}: no ONNX export of this run; write it with: aekit export {run_dir} "
                             "(or serve the run with torch: leave out --onnx)")
        self.scorer = load_onnx(path, threads=threads)
        self.metadata = dict(self.scorer.metadata)
        self.outputs = tuple(self.scorer.outputs)

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return self.scorer.run(x)


def load_model(run_dir: str | Path, *, onnx: bool = False, plugins=(), threads: int | None = None):
    """The model a worker serves: the run's scorer in torch, or its ONNX export."""
    from ..rundir import RunDir

    run_dir = RunDir(run_dir).require_run().path
    return OnnxModel(run_dir, threads=threads) if onnx else TorchModel(run_dir, plugins=plugins)


class Engine:
    """Runs the model for the requests of one worker.

    ``batching=True``: the queue described in the module docstring, one forward pass at a time
    on one model thread. ``batching=False``: each request its own forward pass, ``threads`` of
    them at once (for comparison, and for models whose batches grow slow)."""

    def __init__(self, model, *, batching: bool = True, max_rows: int = 1024, threads: int = 2):
        self.model = model
        self.batching = batching
        self.max_rows = max_rows
        self.executor = ThreadPoolExecutor(max_workers=1 if batching else threads, thread_name_prefix="aekit-model")
        self._pending: deque[tuple[np.ndarray, asyncio.Future]] = deque()
        self._draining = False
        self._task: asyncio.Task | None = None
        self.batches = 0  # forward passes run, for /metadata and the tests
        self.rows = 0

    async def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        loop = asyncio.get_running_loop()
        if not self.batching:
            return await loop.run_in_executor(self.executor, self._forward, x)
        fut = loop.create_future()
        self._pending.append((x, fut))
        if not self._draining:
            self._draining = True
            self._task = loop.create_task(self._drain())  # a reference keeps the task alive
        return await fut

    def _forward(self, x: np.ndarray) -> dict[str, np.ndarray]:
        out = self.model(x)
        self.batches += 1
        self.rows += len(x)
        return out

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch = [self._pending.popleft()]
                rows = len(batch[0][0])
                while self._pending and rows + len(self._pending[0][0]) <= self.max_rows:
                    batch.append(self._pending.popleft())
                    rows += len(batch[-1][0])
                xs = batch[0][0] if len(batch) == 1 else np.concatenate([x for x, _ in batch])
                try:
                    out = await loop.run_in_executor(self.executor, self._forward, xs)
                except Exception as e:
                    if len(batch) == 1:
                        _settle(batch[0][1], exc=e)
                        continue
                    # one request's rows broke the merged pass: run each alone, so only it fails
                    for x, fut in batch:
                        try:
                            _settle(fut, await loop.run_in_executor(self.executor, self._forward, x))
                        except Exception as e1:
                            _settle(fut, exc=e1)
                    continue
                start = 0
                for x, fut in batch:
                    _settle(fut, {k: v[start:start + len(x)] for k, v in out.items()})
                    start += len(x)
        finally:
            self._draining = False

    def close(self) -> None:
        self.executor.shutdown(wait=True)


def _settle(fut: asyncio.Future, result=None, exc: BaseException | None = None) -> None:
    if fut.done():  # the request was cancelled meanwhile
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)
