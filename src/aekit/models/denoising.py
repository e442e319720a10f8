"""Denoising autoencoder (Vincent, Larochelle, Bengio & Manzagol 2008, "Extracting and
Composing Robust Features with Denoising Autoencoders").

The input is corrupted by a stochastic process q(x̃|x) during training only, and the network
reconstructs the clean input:

    L(x) = E_{x̃ ~ q(x̃|x)} ‖x − g(f(x̃))‖²

Corruptions: additive Gaussian (σ), masking noise (a fraction ν of features set to 0) and
salt-and-pepper (a fraction ν set to 0 or 1); see :mod:`aekit.corruption`. ``noise_clip=(0, 1)``
clamps the corrupted inputs to the data's range, as clipped test images are.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch

from ..config import option
from ..corruption import Corruption, check_clip, check_level
from .ae import AE, AEConfig
from .registry import register


@dataclasses.dataclass(frozen=True, kw_only=True)
class DenoisingAEConfig(AEConfig):
    noise: Literal["gaussian", "masking", "salt_pepper"] = option("gaussian", "corruption of the training inputs")
    noise_level: float = option(0.3, "σ for gaussian, fraction ν for masking / salt_pepper")
    noise_clip: tuple[float, ...] = option((), "clamp corrupted inputs to the data range lo,hi, e.g. 0,1 (images)")

    def validate(self) -> None:
        super().validate()
        check_level(self.noise, self.noise_level)
        check_clip(self.noise_clip)


@register("dae")
class DenoisingAE(AE):
    """An :class:`AE` with a corruption process on its training inputs."""

    config_class = DenoisingAEConfig
    denoising = True
    variants = (
        {"noise": "gaussian"},
        {"noise": "gaussian", "noise_clip": (0.0, 1.0)},
        {"noise": "masking", "noise_level": 0.5},
        {"noise": "salt_pepper"},
    )
    paper = "Vincent et al. 2008, Extracting and Composing Robust Features with Denoising Autoencoders"

    def __init__(self, config: DenoisingAEConfig | None = None, **kwargs):
        super().__init__(config, **kwargs)
        self.corruption = Corruption(self.config.noise, self.config.noise_level, self.config.noise_clip)

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        return self.corruption(x)  # identity in eval mode

    def schedule_values(self) -> dict[str, float]:
        return {"noise_level": self.corruption.level}
