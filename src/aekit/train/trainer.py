"""A model-agnostic trainer.

It knows the model contract only: ``configure_optimizers``, ``training_step``, ``forward``'s
``Output`` and the epoch/step hooks. Data that fits in memory lives as one tensor on the
training device; each epoch draws a permutation and slices batches from it (no per-sample
``__getitem__``, no collate). Loss terms accumulate on the device and are read once per epoch
(and every ``log_every`` steps for the progress bar), so a step does not wait on the host.
How rows become batches is :mod:`aekit.train.batches`; the hand-written CPU step and its
check against autograd, :mod:`aekit.train.fastpath`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import Config, check
from ..data.bundle import Data, as_data
from ..data.lazy import is_lazy
from ..errors import AekitError, close_matches
from ..nets.modes import eval_mode
from ..rundir import RunDir
from . import checkpoint, defaults, fastpath
from . import distributed as dist_
from .batches import epoch_batches, split
from .setup import compile_forward, flush_denormals, make_optimizer, resolve_device

log = logging.getLogger("aekit.train")

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig(Config):
    epochs: int | None = None  # None: about 2000 steps, 3-300 epochs (aekit.train.defaults)
    batch_size: int | None = None  # None: min(256, training rows); 64 for rows of tokens
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd / rmsprop only
    val_split: float = 0.1
    early_stopping: int | None = None  # patience in epochs; 0 = off; None: on with the default epochs only
    lr_schedule: Literal["constant", "cosine"] = "constant"
    grad_clip: float = 0.0  # max global gradient norm; 0 = off
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    log_every: int = 50
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"  # mixed precision (autocast) for training steps
    compile: Literal["auto", "on", "off"] = "auto"  # torch.compile the forward pass (see setup.compile_forward)
    fused: Literal["auto", "off"] = "auto"  # hand-written step for MLP AE/DAE/sparse/VAE on CPU (see train.fastpath)

    def validate(self) -> None:
        check(self.epochs is None or self.epochs > 0, "epochs", f"must be a positive integer, got {self.epochs}")
        check(self.batch_size is None or self.batch_size > 0, "batch_size",
              f"must be a positive integer, got {self.batch_size}")
        check(self.lr > 0 and math.isfinite(self.lr), "lr", f"learning rate must be positive, got {self.lr}")
        check(
            self.optimizer in OPTIMIZERS,
            "optimizer",
            f"{self.optimizer!r} is not one of {', '.join(OPTIMIZERS)}{close_matches(self.optimizer, OPTIMIZERS)}",
        )
        check(self.weight_decay >= 0, "weight_decay", f"must be ≥ 0, got {self.weight_decay}")
        check(0 <= self.val_split < 1, "val_split", f"must be in [0, 1), got {self.val_split}")
        check(self.early_stopping is None or self.early_stopping >= 0, "early_stopping",
              f"patience must be ≥ 0, got {self.early_stopping}")
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


@dataclasses.dataclass
class _Fit:
    """What the phases of one ``Trainer.fit`` share."""

    data: Data
    device: torch.device
    gen: torch.Generator  # the validation split, each epoch's permutation, batch transforms
    xt: Any  # training rows: a tensor on the device, or a memory map / Dataset read in batches
    xv: Any  # validation rows (the same kinds), or None
    n: int  # training rows
    n_batches: int
    sync_buffers: bool  # torchrun and the model has buffers: rank 0's are broadcast every step
    lengths: Any = None  # token rows (a text family): the tokens of each training row, for bucketing
    stream: tuple | None = None  # out of core: (preprocessing, device, input dtype) of the batches read
    optimizers: list = dataclasses.field(default_factory=list)
    schedulers: list = dataclasses.field(default_factory=list)
    backward: Any = None  # step(loss, opt) = backward(loss, opt) + apply(opt): _set_up_optimization
    apply: Any = None
    step: Any = None
    autocast: Any = None
    loss_scale: list = dataclasses.field(default_factory=lambda: [1.0])
    fast: Any = None  # the hand-written step (aekit.accel), or None: autograd
    checked: bool = False  # the hand-written step's first batch was checked against autograd
    uncompile: Any = lambda: None  # noqa: E731
    start_epoch: int = 0
    global_step: int = 0
    best_val: float = math.inf
    best_state: dict | None = None
    bad_epochs: int = 0
    t_start: float = 0.0


class DivergenceError(AekitError):
    """The loss or the gradients became NaN or infinite."""


class Trainer:
    """``Trainer(epochs=20).fit(model, data)``; with ``out_dir`` it writes a run directory.

    ``callbacks``: callables ``cb(trainer, model, epoch, row)`` run after each epoch's
    history row is made (on the main process only). Options left ``None`` (``batch_size``,
    ``epochs``, ``early_stopping``) are sized to the data when ``fit`` starts
    (:mod:`aekit.train.defaults`): ``config`` then holds the numbers used, ``requested`` what
    was asked for, and ``chosen`` how each default was chosen.
    """

    def __init__(self, config: TrainConfig | None = None, *, out_dir: str | Path | None = None,
                 callbacks: list | None = None, **kwargs: Any):
        if config is None:
            config = TrainConfig.from_dict(kwargs, where="Trainer")
        elif kwargs:
            config = config.replace(**kwargs)
        self.requested = self.config = config
        self.chosen: dict[str, str] = {}
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.callbacks = list(callbacks or [])
        self.history: list[dict[str, float]] = []
        self.train_seconds = 0.0
        self.device: torch.device | None = None
        self.rank, self.world = 0, 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # -- the loop -------------------------------------------------------------------------------
    def fit(self, model, data: Any, resume: str | Path | None = None) -> list[dict[str, float]]:
        """Train ``model`` on ``data``; ``resume`` is a checkpoint (``RUN/checkpoint/last.pt``)
        to continue from: weights, optimizer and scheduler state, epoch, RNG states, history.
        Denormal floats are flushed to zero while it runs (:func:`~aekit.train.setup.flush_denormals`)."""
        with flush_denormals():
            return self._fit(model, data, resume)

    def _fit(self, model, data: Any, resume: str | Path | None) -> list[dict[str, float]]:
        st = self._prepare(model, data)
        self._set_up_optimization(model, st)
        self._restore(model, st, resume)
        self._write_run(model, st, "start")
        self._choose_step(model, st)
        st.t_start = time.perf_counter()
        for epoch in range(st.start_epoch, self.config.epochs):
            t0 = time.perf_counter()
            sums = self._train_epoch(model, st, epoch)
            row = self._history_row(model, st, epoch, sums, t0)
            stop = self._early_stop(model, st, epoch, row)
            if self.is_main:
                for cb in self.callbacks:
                    cb(self, model, epoch, row)
            self._write_run(model, st, "epoch", epoch)
            if stop:
                break
        self._finish(model, st)
        return self.history

    # -- the phases of a fit --------------------------------------------------------------------
    def _prepare(self, model, data: Any) -> _Fit:
        """The data as training and validation rows on the device (checked against the
        model's input shape), the processes (torchrun), the seeds, the model on the device."""
        c = self.config
        device = dist_.local_device(resolve_device(c.device))
        data = as_data(data)
        x_all = data.x_train if data.streaming else data.train()  # a memory map stays on disk
        want = tuple(model.config.input_shape)
        if tuple(x_all.shape[1:]) != want and not data.streaming and math.prod(x_all.shape[1:]) == math.prod(want):
            x_all = x_all.reshape(len(x_all), *want)  # the same numbers per sample: 8×8 images for 64 inputs
        if tuple(x_all.shape[1:]) != want:
            raise AekitError(
                f"data: samples have shape {tuple(x_all.shape[1:])} but the model expects {want}; "
                f"build the model with input_shape={tuple(x_all.shape[1:])}"
            )
        gen = torch.Generator().manual_seed(c.seed)
        x_train, x_val = split(x_all, c.val_split, gen, ordered=data.chronological)
        n = len(x_train)
        tokens = getattr(model, "inputs", "features") == "tokens"
        self.config, self.chosen = defaults.resolve(self.requested, n, tokens)  # options left None, sized to n
        c = self.config
        if c.batch_size > n:
            raise AekitError(
                f"batch_size: {c.batch_size} is larger than the {n} training samples; use a batch size ≤ {n} "
                "(or leave it unset: the default fits the data)"
            )
        self.rank, self.world = dist_.setup(device)
        self.device = device
        if self.chosen and self.is_main:  # one line saying what the unset options became
            log.info("%s", ", ".join(f"{k} {getattr(c, k)} ({why})" for k, why in self.chosen.items()))
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
            dt = model.input_dtype()  # integer data for a float network is cast once, here
            xt = torch.from_numpy(np.ascontiguousarray(x_train)).to(device, dt)
            xv = torch.from_numpy(np.ascontiguousarray(x_val)).to(device, dt) if x_val is not None else None
        # rows of token ids are batched by length (the model declares what it takes)
        lengths = (xt != 0).sum(1).cpu() if tokens and not data.streaming else None
        return _Fit(data=data, device=device, gen=gen, xt=xt, xv=xv, n=n, n_batches=math.ceil(n / c.batch_size),
                    sync_buffers=self.world > 1 and any(True for _ in model.buffers()), lengths=lengths,
                    stream=(data.preprocess, device, model.input_dtype()) if data.streaming else None)

    def _set_up_optimization(self, model, st: _Fit) -> None:
        """The model's optimizers (``configure_optimizers``), LR schedules, mixed precision and
        the ``step(loss, optimizer)`` its ``training_step`` calls: zero, backward (scaled for
        fp16 and for this process's share of the global batch), unscale, average across
        processes, clip, step. ``backward`` and ``apply`` are its two halves."""
        c, device = self.config, st.device

        def make(params):
            return make_optimizer(c.optimizer, params, c.lr, c.weight_decay, c.momentum, device)

        st.optimizers = model.configure_optimizers(make)
        if c.lr_schedule == "cosine":
            st.schedulers = [torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=c.epochs) for o in st.optimizers]

        params = [p for p in model.parameters() if p.requires_grad]
        loss_scale = st.loss_scale  # local share of the global batch × world size (1 on one process)
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

        st.backward, st.apply, st.step, st.autocast = backward, apply, step, autocast

    def _restore(self, model, st: _Fit, resume: str | Path | None) -> None:
        """Continue from a checkpoint: weights, optimizer and scheduler state, the data
        generator, the epoch, the history and the early-stopping state."""
        if resume is None:
            return
        ck = checkpoint.restore(resume, model, st.optimizers, st.schedulers, st.gen)
        st.start_epoch, self.history = int(ck["epoch"]), list(ck["history"])
        st.best_val, st.bad_epochs = float(ck.get("best_val", math.inf)), int(ck.get("bad_epochs", 0))
        st.best_state = ck.get("best_state")
        st.global_step = st.start_epoch * st.n_batches
        if st.start_epoch >= self.config.epochs:
            log.info("checkpoint is already at epoch %d of %d; nothing to train", st.start_epoch, self.config.epochs)

    def _batches(self, st: _Fit, gen: torch.Generator, lengths: torch.Tensor | None = None):
        """An epoch's (local batch, global batch size) pairs (:func:`~aekit.train.batches.epoch_batches`)."""
        return epoch_batches(st.xt, gen, self.config.batch_size, lengths, self.rank, self.world, st.stream)

    def _choose_step(self, model, st: _Fit) -> None:
        """The hand-written step where it applies (:func:`aekit.train.fastpath.choose`); else
        autograd's, with the forward compiled where ``compile`` asks for it."""
        c = self.config
        st.fast = fastpath.choose(c, model, st.optimizers, self.world, st.device)
        if st.fast is None:
            batch = len(next(self._batches(st, torch.Generator()))[0])
            st.uncompile = compile_forward(model, c.compile, st.device, batch, (c.epochs - st.start_epoch) * st.n_batches)

    def _train_epoch(self, model, st: _Fit, epoch: int) -> dict[str, torch.Tensor]:
        """One pass over the training rows. Returns Σ over batches of batch size × each loss
        term, summed over processes (still on the device)."""
        c = self.config
        model.on_train_epoch_start(epoch, c.epochs)
        model.train()
        sums: dict[str, torch.Tensor] = {}
        window: list[dict[str, torch.Tensor]] = []
        bar = tqdm(total=st.n_batches, desc=f"epoch {epoch + 1}/{c.epochs}", leave=False,
                   disable=None if (c.progress and self.is_main) else True, unit="batch")
        for b, (xb, glob) in enumerate(self._batches(st, st.gen, st.lengths)):
            if st.data.batch_transform is not None:  # e.g. dynamic binarization: a fresh sample per batch
                xb = st.data.batch_transform(xb, st.gen)
            w = len(xb)
            st.loss_scale[0] = w * self.world / glob
            model.on_train_step(st.global_step)
            terms = self._train_step(model, st, xb)
            if st.sync_buffers:
                dist_.broadcast_buffers(model)
            window.append((terms, w))  # folded into the sums at the next logging step
            st.global_step += 1
            if (b + 1) % c.log_every == 0 or b + 1 == st.n_batches:
                _fold(sums, window)
                running = sums["loss"].item() / min(st.n, (b + 1) * c.batch_size) * self.world
                if not math.isfinite(running):
                    self._diverged(epoch, b + 1 - len(window), [t for t, _ in window])
                window = []
                if not bar.disable:  # every loss term, live (one host read per term)
                    seen = min(st.n, (b + 1) * c.batch_size) / self.world
                    bar.set_postfix({k: f"{v.item() / seen:.4g}" for k, v in sums.items()}, refresh=False)
            bar.update(1)
        bar.close()
        if self.world > 1:
            sums = dist_.sum_across(sums)
        return sums

    def _train_step(self, model, st: _Fit, xb: torch.Tensor) -> dict[str, torch.Tensor]:
        """One batch: the hand-written step (its first batch checked against autograd), or the
        model's own ``training_step``."""
        if st.fast is not None and not st.checked:
            st.checked = True
            terms, st.fast = fastpath.first_step(st.fast, model, xb, st.optimizers, st.backward, st.apply, st.step)
            return terms
        if st.fast is not None:
            return st.fast(xb)
        with st.autocast():
            return model.training_step(xb, st.optimizers, st.step)

    def _history_row(self, model, st: _Fit, epoch: int, sums: dict[str, torch.Tensor], t0: float) -> dict[str, float]:
        """The epoch's row of the history: mean training terms, validation terms (eval mode),
        the learning rate and the model's scheduled values; then the LR schedules step."""
        c = self.config
        row: dict[str, float] = {"epoch": epoch + 1}
        row.update({f"train_{k}": v.item() / st.n for k, v in sums.items()})
        if st.xv is not None:
            row.update({f"val_{k}": v for k, v in self.evaluate_terms(model, st.xv).items()})
        row["lr"] = st.optimizers[0].param_groups[0]["lr"]
        row.update(model.schedule_values())
        row["seconds"] = time.perf_counter() - t0
        self.history.append(row)
        for s in st.schedulers:
            s.step()
        if (epoch + 1) % max(1, c.epochs // 10) == 0 or epoch + 1 == c.epochs:
            log.info("epoch %d/%d %s", epoch + 1, c.epochs,
                     " ".join(f"{k}={v:.4g}" for k, v in row.items() if k.endswith("loss")))
        return row

    def _early_stop(self, model, st: _Fit, epoch: int, row: dict[str, float]) -> bool:
        """Keep the weights of the best validation loss; True once ``early_stopping`` epochs
        in a row brought no better one."""
        c = self.config
        if not c.early_stopping or st.xv is None:
            return False
        if row["val_loss"] < st.best_val - 1e-12:
            st.best_val, st.bad_epochs = row["val_loss"], 0
            st.best_state = {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}
            return False
        st.bad_epochs += 1
        if st.bad_epochs >= c.early_stopping:
            log.info("early stopping after epoch %d (best val_loss %.4g)", epoch + 1, st.best_val)
            return True
        return False

    def _write_run(self, model, st: _Fit, stage: str, epoch: int = 0) -> None:
        """Every write to the run directory, on the main process: config.json and
        preprocess.json at the ``"start"``; history.csv and the checkpoint after each
        ``"epoch"``; the weights, and config.json with the training time, at the ``"end"``."""
        if self.out_dir is None or not self.is_main:
            return
        if stage == "start":
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._write_static(model, st.data)
        elif stage == "epoch":
            run = RunDir(self.out_dir)
            run.write_history(self.history)
            checkpoint.save(run, model, st.optimizers, st.schedulers, epoch + 1, self.history, st.gen,
                            {"best_val": st.best_val, "bad_epochs": st.bad_epochs, "best_state": st.best_state})
        else:
            model.save_pretrained(self.out_dir)
            self._write_static(model, st.data)

    def _finish(self, model, st: _Fit) -> None:
        """The eager forward back, the best weights (early stopping), eval mode, the run
        directory's final files."""
        st.uncompile()
        if st.best_state is not None:
            model.load_state_dict(st.best_state)
        self.train_seconds = time.perf_counter() - st.t_start
        model.eval()
        self._write_run(model, st, "end")
        dist_.barrier()

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
        """Mean loss terms over ``x`` in eval mode (no corruption); the model's mode is given
        back afterwards."""
        batch_size = batch_size or model.inference_batch_size()
        if is_lazy(x):  # out-of-core validation rows, read a batch at a time
            from ..data.stream import mean_terms

            return mean_terms(model, x, self._stream_pre, batch_size, self.device)
        sums: dict[str, torch.Tensor] = {}
        with eval_mode(model):
            for i in range(0, len(x), batch_size):
                xb = x[i:i + batch_size]
                out = model(xb)
                terms = {"loss": out.loss, **out.terms}
                for k, v in terms.items():
                    sums[k] = sums[k] + v * len(xb) if k in sums else v * len(xb)
        return {k: v.item() / len(x) for k, v in sums.items()}

    # -- the run directory -----------------------------------------------------------------------
    def _write_static(self, model, data: Data) -> None:
        """config.json (the model, data and training sections) and preprocess.json."""
        run = RunDir(self.out_dir)
        run.write_config(model=model.config_dict(), data=data.describe(),
                         training={**self.config.to_dict(), **({"defaults": self.chosen} if self.chosen else {}),
                                   "epochs_trained": len(self.history), "device_used": str(self.device),
                                   "world_size": self.world, "train_seconds": round(self.train_seconds, 3)})
        run.write_preprocess(data.preprocess)
