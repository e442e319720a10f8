"""Reading a run directory for the report: its history, its model, and its data preprocessed as at training time."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..errors import AekitError
from ..rundir import RunDir

log = logging.getLogger("aekit.report")


class _Run:
    """Everything the sections read, loaded once."""

    def __init__(self, run_dir: Path, model, data, tsne: bool, max_points: int, seed: int, max_rows: int = 20000):
        from ..data.runs import run_data
        from ..models import load

        self.dir, self.tsne, self.max_points, self.seed = run_dir, tsne, max_points, seed
        self.run = run = RunDir(run_dir)
        self.cfg = run.read_config()
        if model is not None and next(model.parameters()).device.type != "cpu":
            import copy

            model = copy.deepcopy(model).cpu()  # the figures are drawn on the CPU; the caller's model stays put
        self.model = model if model is not None else load(run_dir)
        self.model.eval()
        self.metrics = run.read_metrics()
        self.history = run.read_history()
        self.shape = tuple(self.model.config.input_shape)
        self.x = self.y = None
        self.data_note = ""
        try:
            data = data if data is not None else run_data(run_dir)
            pre = run.read_preprocess() if run.preprocess_path.exists() else data.preprocess
            test = data.x_test is not None
            x, y = (data.x_test, data.y_test) if test else (data.x_train, data.y_train)
            rows = np.arange(len(x))
            if len(x) > max_rows:  # a large (possibly memory-mapped) split: a seeded subset of rows
                rows = np.sort(np.random.default_rng(seed).choice(len(x), max_rows, replace=False))
            self.x = pre.transform(np.asarray(x[rows]), sample=True)  # as `aekit evaluate` reads it
            self.y = None if y is None else np.asarray(y)[rows]
            self.split = "test" if test else "training"
            if len(x) > max_rows:
                self.split += f" (a random {max_rows} of {len(x)})"
        except Exception as e:  # the figures that need data are left out, the rest still shows
            self.data_note = f"the run's data could not be loaded ({e})"
            log.warning("report: %s", self.data_note)

    # -- derived facts ---
    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3 and self.shape[0] in (1, 3)

    @property
    def anomaly_labels(self) -> bool:
        if self.y is None or self.y.ndim != 1:
            return False
        u = np.unique(self.y)
        return len(u) == 2 and set(u.tolist()) <= {0, 1}

    def need_data(self) -> np.ndarray:
        if self.x is None:
            raise AekitError(self.data_note)
        return self.x

    def apply(self, fn: Callable[[torch.Tensor], torch.Tensor], x: np.ndarray, bs: int = 2048) -> np.ndarray:
        outs = []
        with torch.inference_mode():
            for i in range(0, len(x), bs):
                outs.append(fn(torch.from_numpy(np.ascontiguousarray(x[i:i + bs]))).float().cpu().numpy())
        return np.concatenate(outs)

    def display(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """Images in [0, 1] for showing; data outside [0, 1] is rescaled by the first array's range."""
        lo, hi = float(arrays[0].min()), float(arrays[0].max())
        if lo >= -0.01 and hi <= 1.01:
            return [np.clip(a, 0, 1) for a in arrays]
        return [np.clip((a - lo) / max(hi - lo, 1e-12), 0, 1) for a in arrays]

    def pick(self, n: int) -> np.ndarray:
        """n test indices, one per class first where labels exist."""
        if self.y is not None and self.y.ndim == 1 and len(np.unique(self.y)) <= 20:
            first = [int(np.flatnonzero(self.y == c)[0]) for c in np.unique(self.y)]
            rest = [i for i in range(len(self.y)) if i not in set(first)]
            return np.array((first + rest)[:n])
        return np.arange(min(n, len(self.x)))
