"""Corruption processes for denoising autoencoders (Vincent et al. 2008, 2010).

- ``gaussian``: x̃ = x + σ ε, ε ~ N(0, I)
- ``masking``: each feature is set to 0 with probability ν
- ``salt_pepper``: each feature is set to 0 or 1 (equally likely) with probability ν

``level`` (σ or ν) is a plain attribute so a schedule can lower it during training. ``clip``
(lo, hi) clamps the corrupted input to the data's range: Gaussian noise on [0, 1] images
leaves it, and a network trained on unclipped noise meets clipped inputs (a saved image, a
sensor's range) it never saw.
"""

from __future__ import annotations

import torch
from torch import nn

from .errors import AekitError

KINDS = ("gaussian", "masking", "salt_pepper")


def check_clip(clip: tuple[float, ...]) -> None:
    if clip and (len(clip) != 2 or not clip[0] < clip[1]):
        raise AekitError(
            f"noise_clip: give the data range as two numbers lo < hi, e.g. (0, 1), or () for no "
            f"clipping; got {tuple(clip)}"
        )


def check_level(kind: str, level: float) -> None:
    if kind not in KINDS:
        raise AekitError(f"noise: unknown corruption {kind!r}; choose one of {', '.join(KINDS)}")
    if level < 0:
        raise AekitError(f"noise_level: must be ≥ 0, got {level}")
    if kind != "gaussian" and level > 1:
        raise AekitError(f"noise_level: {kind} noise is a fraction in [0, 1], got {level}")


class Corruption(nn.Module):
    """Applies the corruption in training mode only; identity in eval mode."""

    def __init__(self, kind: str = "gaussian", level: float = 0.3, clip: tuple[float, ...] = ()):
        super().__init__()
        check_level(kind, level)
        check_clip(clip)
        self.kind = kind
        self.level = float(level)
        self.clip = tuple(float(c) for c in clip)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, level={self.level}" + (f", clip={self.clip}" if self.clip else "")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.level == 0:
            return x
        out = corrupt(x, self.kind, self.level)
        return out.clamp_(*self.clip) if self.clip else out


def corrupt(x: torch.Tensor, kind: str, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Corrupt ``x`` regardless of mode (used for evaluation inputs too)."""
    check_level(kind, level)
    if kind == "gaussian":
        return x + level * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    if kind == "masking":
        return x * (u >= level)
    # salt and pepper: u < level/2 → 0, level/2 ≤ u < level → 1
    out = x.clone()
    out[u < level / 2] = 0.0
    out[(u >= level / 2) & (u < level)] = 1.0
    return out
