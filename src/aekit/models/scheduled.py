"""Scheduled denoising autoencoder (Geras & Sutton 2015, "Scheduled denoising autoencoders",
ICLR 2015).

A denoising AE (Vincent et al. 2008) whose corruption level ν_t starts high and is lowered
during training, so the network first learns coarse, global structure from heavily
corrupted inputs and then finer detail:

    L_t(x) = E_{x̃ ~ q_{ν_t}(x̃|x)} ‖x − g(f(x̃))‖²,    ν_t = schedule(t),  ν_0 = noise_start → noise_level

The paper lowers masking noise 0.7 → 0.1 in equal plateaus; here the schedule is any
:class:`aekit.schedules.Schedule` (``linear``, ``exponential`` or piecewise-constant
``steps``), by epoch or by step. ``noise_level`` is the final level; the current level is
written to ``history.csv`` as ``noise_level``.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from ..config import check, option
from ..corruption import check_level
from ..schedules import Schedule
from .denoising import DenoisingAE, DenoisingAEConfig
from .registry import register


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScheduledDAEConfig(DenoisingAEConfig):
    noise: Literal["gaussian", "masking", "salt_pepper"] = option("masking", "corruption of the training inputs")
    noise_start: float = option(0.7, "noise level at the start, lowered to noise_level")
    noise_level: float = option(0.1, "final noise level: σ for gaussian, fraction ν for masking / salt_pepper")
    noise_schedule: Literal["linear", "exponential", "steps"] = option(
        "steps", "how the noise falls from noise_start to noise_level")
    schedule_unit: Literal["epoch", "step"] = option("epoch", "lower the noise by epoch or by step")
    schedule_length: int = option(0, "epochs (or steps) to reach noise_level; 0 = the whole run (epoch unit only)")
    schedule_levels: int = option(4, "plateaus of the steps schedule")

    def validate(self) -> None:
        super().validate()
        check_level(self.noise, self.noise_start)
        check(self.schedule_length >= 0, "schedule_length", f"must be ≥ 0, got {self.schedule_length}")
        self.schedule()  # raises AekitError for an impossible schedule

    def schedule(self) -> Schedule:
        return Schedule(self.noise_schedule, self.noise_start, self.noise_level, self.schedule_length,
                        self.schedule_unit, self.schedule_levels, name="noise_schedule")


@register("sdae")
class ScheduledDAE(DenoisingAE):
    """A :class:`DenoisingAE` whose noise level follows a schedule (high → low)."""

    config_class = ScheduledDAEConfig
    paper = "Geras & Sutton 2015, Scheduled Denoising Autoencoders"
    variants = (
        {},
        {"noise": "gaussian", "noise_start": 0.5, "noise_level": 0.05, "noise_schedule": "exponential"},
        {"noise_schedule": "linear", "schedule_unit": "step", "schedule_length": 3},
    )

    def __init__(self, config: ScheduledDAEConfig | None = None, **kwargs):
        super().__init__(config, **kwargs)
        self.schedule = self.config.schedule()
        self._update()

    def _update(self) -> None:
        self.corruption.level = self.clock.at(self.schedule)

    def on_train_epoch_start(self, epoch: int, epochs: int) -> None:
        super().on_train_epoch_start(epoch, epochs)
        self._update()

    def on_train_step(self, step: int) -> None:
        super().on_train_step(step)
        self._update()
