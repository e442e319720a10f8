"""Hyperparameter schedules: a value that moves from ``start`` to ``end`` during training.

Used for the scheduled denoising AE's noise level (Geras & Sutton 2015), the VAE's KL
warm-up (β from 0 to its final value; Bowman et al. 2016, Sønderby et al. 2016) and the
k-sparse AE's k (Makhzani & Frey 2013). With t the epoch or the global step and T = ``length``:

- ``constant``:     v(t) = end
- ``linear``:       v(t) = start + (end − start) · min(t / T, 1)
- ``exponential``:  v(t) = start · (end / start)^min(t / T, 1)         (start, end > 0)
- ``steps``:        ``levels`` equal plateaus start = v_0, …, v_{n−1} = end over [0, T),
                    v_i = start + (end − start) · i / (n − 1), then ``end``

A schedule is a pure function of (epoch, step): the trainer's hooks
``on_train_epoch_start(epoch, epochs)`` and ``on_train_step(step)`` tell a model where it
is, and the value is computed from that position, never accumulated, so a resumed run that
calls the hooks again gets exactly the same values.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

from .errors import AekitError

KINDS = ("constant", "linear", "exponential", "steps")
UNITS = ("epoch", "step")


@dataclasses.dataclass(frozen=True)
class Schedule:
    """``Schedule("linear", start=0.0, end=1.0, length=10)``: 0 → 1 over 10 epochs.

    ``length = 0`` with ``unit="epoch"`` spans the whole run (the ``epochs`` the trainer
    announces). ``name`` is the option the schedule drives, used in error messages.
    """

    kind: Literal["constant", "linear", "exponential", "steps"]
    start: float
    end: float
    length: int = 0
    unit: Literal["epoch", "step"] = "epoch"
    levels: int = 4
    name: str = "schedule"

    def __post_init__(self) -> None:
        n = self.name
        if self.kind not in KINDS:
            raise AekitError(f"{n}: unknown schedule {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.unit not in UNITS:
            raise AekitError(f"{n}: schedule unit must be 'epoch' or 'step', got {self.unit!r}")
        if self.length < 0:
            raise AekitError(f"{n}: schedule length must be ≥ 0, got {self.length}")
        if self.length == 0 and self.unit == "step" and self.kind != "constant":
            raise AekitError(f"{n}: a schedule by step needs a positive length (number of steps)")
        if self.kind == "exponential" and not (self.start > 0 and self.end > 0):
            raise AekitError(
                f"{n}: an exponential schedule needs start and end > 0, got {self.start} → {self.end}; "
                "use 'linear' to reach 0"
            )
        if self.kind == "steps" and self.levels < 2:
            raise AekitError(f"{n}: a 'steps' schedule needs at least 2 levels, got {self.levels}")

    def value(self, epoch: int = 0, step: int = 0, epochs: int = 0) -> float:
        """The value at 0-based ``epoch`` / global ``step`` of a run of ``epochs`` epochs."""
        if self.kind == "constant":
            return float(self.end)
        t = epoch if self.unit == "epoch" else step
        length = self.length or epochs
        if length <= 0:  # whole-run schedule before the trainer said how long the run is
            return float(self.start)
        frac = min(max(t, 0) / length, 1.0)
        a, b = float(self.start), float(self.end)
        if self.kind == "linear":
            return a * (1 - frac) + b * frac  # exactly a at the start and b at the end
        if self.kind == "exponential":
            return b if frac >= 1 else a * math.exp(math.log(b / a) * frac)
        # piecewise constant: plateau i covers [i·T/n, (i+1)·T/n)
        n = self.levels
        i = min(int(n * max(t, 0) // length), n - 1)
        return (a * (n - 1 - i) + b * i) / (n - 1)

    def values(self, ts: range | list[int], epochs: int = 0) -> list[float]:
        """Values at several times (in this schedule's unit), e.g. for a plot."""
        if self.unit == "epoch":
            return [self.value(epoch=t, epochs=epochs) for t in ts]
        return [self.value(step=t, epochs=epochs) for t in ts]


class Clock:
    """Where training is: set (never incremented) by the trainer's hooks.

    A model holds one and forwards ``on_train_epoch_start`` / ``on_train_step`` to it.
    """

    def __init__(self) -> None:
        self.epoch = 0
        self.epochs = 0
        self.step = 0

    def at(self, schedule: Schedule) -> float:
        return schedule.value(self.epoch, self.step, self.epochs)
