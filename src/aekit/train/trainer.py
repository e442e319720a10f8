"""A model-agnostic trainer.

It knows the model contract only: ``configure_optimizers``, ``training_step``, ``forward``'s
``Output`` and the epoch/step hooks. Data that fits in memory lives as one tensor on the
training device; each epoch draws a permutation and slices batches from it (no per-sample
``__getitem__``, no collate). Loss terms accumulate on the device and are read once per epoch
(and every ``log_every`` steps for the progress bar), so a step does not wait on the host.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import io
from .._version import __version__
from ..config import Config, check
from ..data.bundle import Data, as_data
from ..data.lazy import is_lazy
from ..errors import AekitError, close_matches
from . import checkpoint
from . import distributed as dist_
from .setup import compile_forward, flush_denormals, make_optimizer, resolve_device

log = logging.getLogger("aekit.train")

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig(Config):
    epochs: int = 10
    batch_size: int = 256
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd / rmsprop only
    val_split: float = 0.1
    early_stopping: int = 0  # patience in epochs without a better validation loss; 0 = off
    lr_schedule: Literal["constant", "cosine"] = "constant"
    grad_clip: float = 0.0  # max global gradient norm; 0 = off
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    log_every: int = 50
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"  # mixed precision (autocast) for training steps
    compile: Literal["auto", "on", "off"] = "auto"  # torch.compile the forward pass (see setup.compile_forward)
    fused: Literal["auto", "off"] = "auto"  # hand-written step for MLP AE/DAE/sparse/VAE on CPU (see _fused_step)

    def validate(self) -> None:
        check(self.epochs > 0, "epochs", f"must be a positive integer, got {self.epochs}")
        check(self.batch_size > 0, "batch_size", f"must be a positive integer, got {self.batch_size}")
        check(self.lr > 0 and math.isfinite(self.lr), "lr", f"learning rate must be positive, got {self.lr}")
        check(
            self.optimizer in OPTIMIZERS,
            "optimizer",
            f"{self.optimizer!r} is not one of {', '.join(OPTIMIZERS)}{close_matches(self.optimizer, OPTIMIZERS)}",
        )
        check(self.weight_decay >= 0, "weight_decay", f"must be ≥ 0, got {self.weight_decay}")
        check(0 <= self.val_split < 1, "val_split", f"must be in [0, 1), got {self.val_split}")
        check(self.early_stopping >= 0, "early_stopping", f"patience must be ≥ 0, got {self.early_stopping}")
        check(self.grad_clip >= 0, "grad_clip", f"must be ≥ 0 (0 turns it off), got {self.grad_clip}")
        check(self.log_every > 0, "log_every", f"must be positive, got {self.log_every}")
        check(0 <= self.seed < 2**32, "seed", f"must be in [0, 2**32), got {self.seed}")
        check(self.device in ("auto", "cpu", "mps") or self.device.startswith("cuda"),
              "device", f"must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}")


def _fold(sums: dict[str, torch.Tensor], window: list[tuple[dict[str, torch.Tensor], int]]) -> None:
    """Add Σ_step w·term for a window of steps to ``sums``: a few kernels per logging
    interval instead of two per term per step."""
    weights = torch.tensor([float(w) for _, w in window], device=window[0][0]["loss"].device)
    for k in window[0][0]:
        vals = torch.stack([t[k].float() for t, _ in window])
        total = (vals * weights).sum()
        sums[k] = sums[k] + total if k in sums else total


class DivergenceError(AekitError):
    """The loss or the gradients became NaN or infinite."""


class Trainer:
    """``Trainer(epochs=20).fit(model, data)``; with ``out_dir`` it writes a run directory.

    ``callbacks``: callables ``cb(trainer, model, epoch, row)`` run after each epoch's
    history row is made (on the main process only).
    """

    def __init__(self, config: TrainConfig | None = None, *, out_dir: str | Path | None = None,
                 callbacks: list | None = None, **kwargs: Any):
        if config is None:
            config = TrainConfig.from_dict(kwargs, where="Trainer")
        elif kwargs:
            config = config.replace(**kwargs)
        self.config = config
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.callbacks = list(callbacks or [])
        self.history: list[dict[str, float]] = []
        self.train_seconds = 0.0
        self.device: torch.device | None = None
        self.rank, self.world = 0, 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # -- data -----------------------------------------------------------------------------------
    def _split(self, x: np.ndarray, gen: torch.Generator, ordered: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        n_val = int(round(self.config.val_split * len(x)))
        if n_val == 0:
            return x, None
        if n_val >= len(x):
            raise AekitError(f"val_split: {self.config.val_split} leaves no training data out of {len(x)} samples")
        if isinstance(x, np.memmap) or ordered:  # a memory map stays views of the file; a series holds out its end
            return x[:len(x) - n_val], x[len(x) - n_val:]
        perm = torch.randperm(len(x), generator=gen).numpy()
        return x[perm[n_val:]], x[perm[:n_val]]

    def _epoch_batches(self, xt: torch.Tensor, gen: torch.Generator):
        """In-memory fast path: one permutation per epoch, batches sliced from the device
        tensor. Under torchrun each rank takes every world-th row of each global batch.
        Yields (local batch, global batch size)."""
        c, n = self.config, len(xt)
        if is_lazy(xt):  # out-of-core (a memory map, a Dataset): read in batches (aekit.data.stream)
            from ..data.stream import iter_batches

            pin = self.device.type == "cuda"
            for xb in iter_batches(xt, self._stream_pre, c.batch_size, gen):
                # pinned host memory lets the copy to the GPU overlap with compute
                yield (xb.pin_memory() if pin else xb).to(self.device, non_blocking=True), len(xb)
            return
        perm = torch.randperm(n, generator=gen).to(xt.device)
        for start in range(0, n, c.batch_size):
            idx = perm[start:start + c.batch_size]
            glob = len(idx)
            if self.world > 1:
                idx = idx[self.rank::self.world]
            yield xt.index_select(0, idx), glob  # (B, *input_shape)

    # -- the loop -------------------------------------------------------------------------------
    def fit(self, model, data: Any, resume: str | Path | None = None) -> list[dict[str, float]]:
        """Train ``model`` on ``data``; ``resume`` is a checkpoint (``RUN/checkpoint/last.pt``)
        to continue from: weights, optimizer and scheduler state, epoch, RNG states, history.
        Denormal floats are flushed to zero while it runs (:func:`~aekit.train.setup.flush_denormals`)."""
        with flush_denormals():
            return self._fit(model, data, resume)

    def _fit(self, model, data: Any, resume: str | Path | None) -> list[dict[str, float]]:
        c = self.config
        device = dist_.local_device(resolve_device(c.device))
        data = as_data(data)
        x_all = data.x_train if data.streaming else data.train()  # a memory map stays on disk
        want = tuple(model.config.input_shape)
        if tuple(x_all.shape[1:]) != want:
            raise AekitError(
                f"data: samples have shape {tuple(x_all.shape[1:])} but the model expects {want}; "
                f"build the model with input_shape={tuple(x_all.shape[1:])}"
            )
        gen = torch.Generator().manual_seed(c.seed)
        x_train, x_val = self._split(x_all, gen, ordered=data.chronological)
        n = len(x_train)
        if c.batch_size > n:
            raise AekitError(
                f"batch_size: {c.batch_size} is larger than the {n} training samples; use a batch size ≤ {n}"
            )
        self.rank, self.world = dist_.setup(device)
        self.device = device
        # each rank draws its own noise (corruption, reparameterization), reproducibly
        torch.manual_seed(c.seed + self.rank)
        model.to(device)
        if self.world > 1:
            dist_.broadcast_parameters(model)
        if data.streaming:  # out-of-core: xt/xv stay memory maps, preprocessed a batch at a time
            if self.world > 1:
                raise AekitError("data: out-of-core (memory-mapped) training runs on one process; drop torchrun or load the data in memory")
            xt, xv, self._stream_pre = x_train, x_val, data.preprocess
        else:
            xt = torch.from_numpy(np.ascontiguousarray(x_train)).to(device)
            xv = torch.from_numpy(np.ascontiguousarray(x_val)).to(device) if x_val is not None else None

        def make(params):
            return make_optimizer(c.optimizer, params, c.lr, c.weight_decay, c.momentum, device)

        optimizers = model.configure_optimizers(make)
        schedulers = []
        if c.lr_schedule == "cosine":
            schedulers = [torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=c.epochs) for o in optimizers]

        params = [p for p in model.parameters() if p.requires_grad]
        loss_scale = [1.0]  # local share of the global batch × world size (1 on one process)
        if c.precision == "fp16" and device.type != "cuda":
            raise AekitError("precision: fp16 needs a CUDA device; use bf16 or fp32 here")
        amp_dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[c.precision]
        scaler = torch.amp.GradScaler("cuda") if c.precision == "fp16" else None

        def backward(loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
            opt.zero_grad(set_to_none=True)
            loss = loss.float() * loss_scale[0] if self.world > 1 else loss.float()
            (scaler.scale(loss) if scaler is not None else loss).backward()

        def apply(opt: torch.optim.Optimizer) -> None:
            if scaler is not None:
                scaler.unscale_(opt)
            if self.world > 1:
                dist_.average_gradients(params, self.world)
            if c.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, c.grad_clip, foreach=True)
            if scaler is not None:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()

        def step(loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
            backward(loss, opt)
            apply(opt)

        def autocast():
            if amp_dtype is None:
                return contextlib.nullcontext()
            return torch.autocast(device_type=device.type, dtype=amp_dtype)

        start_epoch, best_val, best_state, bad_epochs = 0, math.inf, None, 0
        if resume is not None:
            ck = checkpoint.restore(resume, model, optimizers, schedulers, gen)
            start_epoch, self.history = int(ck["epoch"]), list(ck["history"])
            best_val, bad_epochs = float(ck.get("best_val", math.inf)), int(ck.get("bad_epochs", 0))
            best_state = ck.get("best_state")
            if start_epoch >= c.epochs:
                log.info("checkpoint is already at epoch %d of %d; nothing to train", start_epoch, c.epochs)

        if self.out_dir is not None and self.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._write_static(model, data)

        n_batches = math.ceil(n / c.batch_size)
        global_step = start_epoch * n_batches
        sync_buffers = self.world > 1 and any(True for _ in model.buffers())
        fused = self._fused_step(model, optimizers)
        checked = False
        if fused is not None:
            uncompile = lambda: None  # noqa: E731
        else:
            batch = len(next(self._epoch_batches(xt, torch.Generator()))[0])
            uncompile = compile_forward(model, c.compile, device, batch, (c.epochs - start_epoch) * n_batches)
        t_start = time.perf_counter()
        stopped = False
        for epoch in range(start_epoch, c.epochs):
            if stopped:
                break
            t0 = time.perf_counter()
            model.on_train_epoch_start(epoch, c.epochs)
            model.train()
            sums: dict[str, torch.Tensor] = {}
            window: list[dict[str, torch.Tensor]] = []
            bar = tqdm(total=n_batches, desc=f"epoch {epoch + 1}/{c.epochs}", leave=False,
                       disable=None if (c.progress and self.is_main) else True, unit="batch")
            for b, (xb, glob) in enumerate(self._epoch_batches(xt, gen)):
                if data.batch_transform is not None:  # e.g. dynamic binarization: a fresh sample per batch
                    xb = data.batch_transform(xb, gen)
                w = len(xb)
                loss_scale[0] = w * self.world / glob
                model.on_train_step(global_step)
                if fused is not None and not checked:  # the first batch: against autograd first
                    checked = True
                    terms, fused = self._checked_fast_step(fused, model, xb, optimizers, backward, apply, step)
                elif fused is not None:
                    terms = fused(xb)
                else:
                    with autocast():
                        terms = model.training_step(xb, optimizers, step)
                if sync_buffers:
                    dist_.broadcast_buffers(model)
                window.append((terms, w))  # folded into the sums at the next logging step
                global_step += 1
                if (b + 1) % c.log_every == 0 or b + 1 == n_batches:
                    _fold(sums, window)
                    running = sums["loss"].item() / min(n, (b + 1) * c.batch_size) * self.world
                    if not math.isfinite(running):
                        self._diverged(epoch, b + 1 - len(window), [t for t, _ in window])
                    window = []
                    if not bar.disable:  # every loss term, live (one host read per term)
                        seen = min(n, (b + 1) * c.batch_size) / self.world
                        bar.set_postfix({k: f"{v.item() / seen:.4g}" for k, v in sums.items()}, refresh=False)
                bar.update(1)
            bar.close()
            if self.world > 1:
                sums = dist_.sum_across(sums)
            row: dict[str, float] = {"epoch": epoch + 1}
            row.update({f"train_{k}": v.item() / n for k, v in sums.items()})
            if xv is not None:
                row.update({f"val_{k}": v for k, v in self.evaluate_terms(model, xv).items()})
            row["lr"] = optimizers[0].param_groups[0]["lr"]
            row.update(model.schedule_values())
            row["seconds"] = time.perf_counter() - t0
            self.history.append(row)
            for s in schedulers:
                s.step()
            if (epoch + 1) % max(1, c.epochs // 10) == 0 or epoch + 1 == c.epochs:
                log.info("epoch %d/%d %s", epoch + 1, c.epochs,
                         " ".join(f"{k}={v:.4g}" for k, v in row.items() if k.endswith("loss")))
            if c.early_stopping and xv is not None:
                if row["val_loss"] < best_val - 1e-12:
                    best_val, bad_epochs = row["val_loss"], 0
                    best_state = {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}
                else:
                    bad_epochs += 1
                    if bad_epochs >= c.early_stopping:
                        log.info("early stopping after epoch %d (best val_loss %.4g)", epoch + 1, best_val)
                        stopped = True
            if self.is_main:
                for cb in self.callbacks:
                    cb(self, model, epoch, row)
                if self.out_dir is not None:
                    io.write_csv(self.out_dir / "history.csv", self.history)
                    checkpoint.save(self.out_dir / "checkpoint" / "last.pt", model, optimizers, schedulers,
                                    epoch + 1, self.history, gen,
                                    {"best_val": best_val, "bad_epochs": bad_epochs, "best_state": best_state})
        uncompile()
        if best_state is not None:
            model.load_state_dict(best_state)
        self.train_seconds = time.perf_counter() - t_start
        model.eval()
        if self.out_dir is not None and self.is_main:
            model.save_pretrained(self.out_dir)
            self._write_static(model, data)
        dist_.barrier()
        return self.history

    def _fused_step(self, model, optimizers):
        """The hand-written MLP AE, sparse AE or VAE step (:mod:`aekit.accel`) where it computes
        exactly the model's loss: ``fused="auto"``, fp32, one process, CPU, no ``compile="on"``.
        What it gains over autograd is measured in BENCHMARKS.md."""
        c = self.config
        if c.fused == "off" or c.precision != "fp32" or self.world > 1 or c.compile == "on" or self.device.type != "cpu":
            return None
        from .. import accel

        step = accel.build(model, optimizers, c.grad_clip)
        if isinstance(step, str):
            log.debug("training through autograd: %s", step)
            return None
        return step

    def _checked_fast_step(self, fast, model, xb, optimizers, backward, apply, step):
        """The fit's first batch with a hand-written step: checked against the model's own
        ``training_step`` (:func:`aekit.accel.check.verify`), then the one optimizer step —
        the fast step's where they agree, autograd's where they do not. Returns (terms, the
        step for the rest of the fit: ``fast``, or None to train through autograd)."""
        from ..accel import check

        stepped = []

        def deferred(loss, opt):  # backward now; clip and step once the two are compared
            stepped.append(opt)
            backward(loss, opt)

        start = torch.get_rng_state()
        terms, diff = check.verify(fast, model, xb, lambda x: model.training_step(x, optimizers, deferred))
        if diff is None and len(stepped) == 1:
            fast.update()
            return terms, fast
        if len(stepped) != 1:  # not one backward to finish: replay the batch through autograd
            diff = diff or f"its training_step, which stepped {len(stepped)} optimizers"
            torch.set_rng_state(start)
            terms = model.training_step(xb, optimizers, step)
        else:
            apply(stepped[0])
        msg = check.mismatch_message(fast, model, diff)
        warnings.warn(msg, check.FastPathMismatch, stacklevel=4)
        log.warning(msg)
        return terms, None

    def _diverged(self, epoch: int, first: int, window: list[dict[str, torch.Tensor]]) -> None:
        """Name the first step of ``window`` (steps ``first``, ``first + 1`` … of the epoch)
        whose loss terms were not finite."""
        at = next((i for i, t in enumerate(window) if not all(torch.isfinite(v).all() for v in t.values())),
                  len(window) - 1)
        bad = [k for k, v in window[at].items() if not torch.isfinite(v).all()]
        where = f"epoch {epoch + 1}, step {first + at + 1}"
        raise DivergenceError(
            f"training diverged at {where}: loss term(s) {', '.join(bad) or 'loss'} became NaN/inf; "
            "lower the learning rate (--lr) or clip gradients (--grad-clip 1.0)"
            + (f"; the last good checkpoint is in {self.out_dir / 'checkpoint'}" if self.out_dir else "")
        )

    @torch.inference_mode()
    def evaluate_terms(self, model, x: torch.Tensor, batch_size: int | None = None) -> dict[str, float]:
        """Mean loss terms over ``x`` in eval mode (no corruption)."""
        batch_size = batch_size or model.inference_batch_size()
        if is_lazy(x):  # out-of-core validation rows, read a batch at a time
            from ..data.stream import mean_terms

            return mean_terms(model, x, self._stream_pre, batch_size, self.device)
        model.eval()
        sums: dict[str, torch.Tensor] = {}
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            out = model(xb)
            terms = {"loss": out.loss, **out.terms}
            for k, v in terms.items():
                sums[k] = sums[k] + v * len(xb) if k in sums else v * len(xb)
        model.train()
        return {k: v.item() / len(x) for k, v in sums.items()}

    # -- the run directory -----------------------------------------------------------------------
    def _write_static(self, model, data: Data) -> None:
        d = self.out_dir
        io.write_json(d / "config.json", {
            **model.config_dict(),
            "data": data.describe(),
            "training": {**self.config.to_dict(), "device_used": str(self.device),
                         "world_size": self.world, "train_seconds": round(self.train_seconds, 3)},
            "aekit_version": __version__,
        })
        io.write_json(d / "preprocess.json", data.preprocess.to_dict())
