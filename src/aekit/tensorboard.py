"""TensorBoard event files for a training run (``aekit train --tensorboard``).

A trainer callback: after every epoch it writes each value of the epoch's history row as a
scalar (``train/recon``, ``val/kl``, ``schedule/lr`` …), and every ``images_every`` epochs (and
after the last) image grids: fixed inputs above their reconstructions, and for generative
families samples x = g(z), z ~ N(0, I) from a fixed z. Needs the ``tensorboard`` package.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from .errors import AekitError
from .nets.modes import eval_mode

log = logging.getLogger("aekit.tensorboard")


def _tile(x: torch.Tensor, nrow: int) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] → (C, H', W') grid, ``nrow`` images per row."""
    from torchvision.utils import make_grid

    return make_grid(x.clamp(0, 1).float().cpu(), nrow=nrow, padding=1, pad_value=1.0)


class TensorBoardLogger:
    """``Trainer(callbacks=[TensorBoardLogger(run_dir / "tensorboard", x_show)])``.

    ``x_show``: a few preprocessed inputs (images: (N, C, H, W)) whose reconstructions are drawn.
    """

    def __init__(self, log_dir: str | Path, x_show: np.ndarray | None = None, images_every: int = 5, seed: int = 0):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise AekitError(
                "--tensorboard: the tensorboard package is not installed; `pip install tensorboard` or drop --tensorboard"
            ) from None
        self.log_dir = Path(log_dir)
        self.writer = SummaryWriter(str(self.log_dir))
        self.images_every = max(1, int(images_every))
        self.x_show = None if x_show is None else torch.as_tensor(np.ascontiguousarray(x_show[:16]), dtype=torch.float32)
        self.seed = seed
        self._z = None

    def __call__(self, trainer, model, epoch: int, row: dict[str, float]) -> None:
        step = epoch + 1
        for k, v in row.items():
            if k == "epoch" or not isinstance(v, (int, float)):
                continue
            split, _, term = k.partition("_")
            tag = f"{split}/{term}" if split in ("train", "val") and term else ("time/" + k if k == "seconds" else "schedule/" + k)
            self.writer.add_scalar(tag, v, step)
        last = step == trainer.config.epochs
        if step % self.images_every == 0 or last:
            try:
                self.images(model, step)
            except Exception as e:  # a picture must never stop training
                log.warning("tensorboard: images at epoch %d skipped: %s", step, e)
        self.writer.flush()

    @torch.inference_mode()
    def images(self, model, step: int) -> None:
        shape = tuple(model.config.input_shape)
        if len(shape) != 3 or shape[0] not in (1, 3):
            return
        if self.x_show is not None:
            x = self.x_show
            r = model.reconstruct(x).float().cpu()
            lo, hi = float(x.min()), float(x.max())
            if lo < -0.01 or hi > 1.01:  # standardized images: show on the inputs' range
                x, r = (x - lo) / (hi - lo + 1e-12), (r - lo) / (hi - lo + 1e-12)
            self.writer.add_image("reconstructions", _tile(torch.cat([x, r]), nrow=len(x)), step)
        if model.generative:
            p = next(model.parameters())
            if p.device.type == "cpu":  # the same seed draws the same z at every epoch
                s = model.sample(32, generator=torch.Generator().manual_seed(self.seed)).float()
            else:  # a CPU generator cannot draw on the GPU: decode a fixed z ~ N(0, I)
                if self._z is None:
                    self._z = torch.randn(32, model.config.latent_dim, generator=torch.Generator().manual_seed(self.seed))
                with eval_mode(model):
                    s = model.decode(self._z.to(device=p.device, dtype=p.dtype)).float().cpu()
            self.writer.add_image("samples", _tile(s, nrow=8), step)

    def close(self) -> None:
        self.writer.close()
