"""Preprocessing fitted on the training data and saved with the model (``preprocess.json``).

The transform, in order (each step optional):

1. impute: non-finite entries → the training mean of their feature (``--impute mean``);
2. method: ``none``; ``scale`` (x · factor, e.g. uint8 images /255 → [0, 1]); ``minmax``
   ((x − min) / (max − min) per feature); ``standardize`` ((x − μ) / σ per feature).
   Constant features (max = min, σ = 0) are shifted and left unscaled, never divided by 0;
3. per-channel normalization: (x_c − μ_c) / σ_c for each channel c, the channel being axis 1
   of images (N, C, H, W) or the last axis of series (T, C) and windows (N, W, C);
4. binarization for Bernoulli decoders: ``threshold`` (x > t), ``static`` (one Bernoulli
   sample x̃ ~ Bern(x) drawn once with a fixed seed), ``dynamic`` (a fresh x̃ ~ Bern(x) each
   time a batch is drawn: Burda, Grosse & Salakhutdinov 2015, "Importance Weighted
   Autoencoders", §5). With ``dynamic`` the transform returns the intensities x and
   :meth:`Preprocessor.sample_batch` draws the sample; evaluation uses one fixed sample.

The result is float32, except that integer data (token ids, categories) passes an identity
transform (``none`` and nothing else) with its dtype kept: a network that embeds integers
receives them, and a float network casts them at its input. Statistics are accumulated over
blocks of rows, so fitting on a memory-mapped file does not load it. :meth:`Preprocessor.inverse_transform` undoes steps 3 and 2 for outputs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..errors import AekitError

METHODS = ("none", "scale", "minmax", "standardize")
BINARIZE = ("none", "threshold", "static", "dynamic")
BLOCK = 65536


def _row_blocks(x: np.ndarray, block: int = BLOCK):
    """Blocks of rows of ``x`` (an array, a memory map, a Dataset's items) as arrays: at most
    ``block`` rows and about 64 MiB (as float64) at a time; a memory map's pages are given
    back once the caller is done with a block."""
    from .pages import release

    block = max(1, min(block, (64 << 20) // (8 * max(1, int(np.prod(x.shape[1:]))))))
    for i in range(0, len(x), block):
        rows = x[i:i + block]
        yield np.asarray(rows)
        release(rows)


def _blocks(x: np.ndarray, block: int = BLOCK):
    """Blocks of rows of ``x`` as float64 (rows, features)."""
    for rows in _row_blocks(x, block):
        yield rows.reshape(len(rows), -1).astype(np.float64)


def feature_stats(x: np.ndarray, fill: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per flattened feature: min, max, mean, std, and the mean of its finite values
    (Chan et al.'s pairwise update, one block of rows at a time)."""
    return block_stats(_blocks(x), fill)


@np.errstate(invalid="ignore", divide="ignore")  # non-finite entries (to impute) spoil only min/max/mean
def block_stats(blocks, fill: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """:func:`feature_stats` over an iterable of float64 blocks (rows, columns)."""
    n = 0
    lo = hi = mean = m2 = None
    fsum = fcnt = None
    for b in blocks:
        ok = np.isfinite(b)
        fs, fc = np.where(ok, b, 0.0).sum(0), ok.sum(0)
        fsum, fcnt = (fs, fc) if fsum is None else (fsum + fs, fcnt + fc)
        if fill is not None:
            b = np.where(ok, b, fill)
        bm, bn = b.mean(0), len(b)
        bm2 = ((b - bm) ** 2).sum(0)
        if mean is None:
            lo, hi, mean, m2, n = b.min(0), b.max(0), bm, bm2, bn
        else:
            d = bm - mean
            tot = n + bn
            mean = mean + d * bn / tot
            m2 = m2 + bm2 + d**2 * n * bn / tot
            lo, hi, n = np.minimum(lo, b.min(0)), np.maximum(hi, b.max(0)), tot
    return {"min": lo, "max": hi, "mean": mean, "std": np.sqrt(m2 / n), "finite_mean": fsum / fcnt, "finite_count": fcnt}


@dataclasses.dataclass
class Preprocessor:
    method: str = "none"
    factor: float = 1.0
    offset: list[float] | None = None  # per-feature (flattened) shift
    scale: list[float] | None = None  # per-feature (flattened) divisor
    fill: list[float] | None = None  # per-feature (flattened) value for NaN/inf (--impute mean)
    channel_mean: list[float] | None = None  # per-channel normalization
    channel_std: list[float] | None = None
    channel_axis: int = 1  # 1: channels first (images (N, C, H, W)); -1: channels last (series (N, …, C))
    binarize: str = "none"
    threshold: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise AekitError(f"preprocess: unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.binarize not in BINARIZE:
            raise AekitError(f"--binarize: unknown mode {self.binarize!r}; choose one of {', '.join(BINARIZE)}")
        if self.channel_axis not in (1, -1):
            raise AekitError(f"channel_axis: 1 (images, channels first) or -1 (series and windows, channels last), "
                             f"got {self.channel_axis!r}")

    @classmethod
    def fit_auto(cls, x: np.ndarray) -> Preprocessor:
        """uint8 data → scale by 1/255; other data is taken as is."""
        if x.dtype == np.uint8:
            return cls("scale", factor=1.0 / 255.0)
        return cls("none")

    @classmethod
    def fit(cls, x: np.ndarray, method: str, *, impute: str | None = None, channel_norm: bool = False,
            channel_axis: int = 1, binarize: str = "none", threshold: float = 0.5, seed: int = 0) -> Preprocessor:
        """Fit on the training split ``x`` (array, memory map or a Dataset's items, read a block
        at a time). ``channel_norm``: mean 0 / sd 1 per channel after the method, the channel
        being axis 1 of images (N, C, H, W) or, with ``channel_axis=-1``, the last axis of
        series (T, C) and windows (N, W, C); its statistics pool every other axis."""
        if method == "auto":
            method = cls.fit_auto(x).method
        if method not in METHODS:
            raise AekitError(f"preprocess: unknown method {method!r}; choose auto or one of {', '.join(METHODS)}")
        fill = None
        if impute not in (None, "none"):
            if impute != "mean":
                raise AekitError(f"--impute: unknown strategy {impute!r}; the one strategy is 'mean'")
            st = feature_stats(x)
            empty = np.flatnonzero(st["finite_count"] == 0)
            if len(empty):
                raise AekitError(f"--impute mean: feature {int(empty[0])} has no finite value in the training data; drop that column")
            fill = st["finite_mean"].tolist()
        pre = cls(method, fill=fill, binarize=binarize, threshold=threshold, seed=seed, channel_axis=channel_axis)
        if method == "scale":
            pre.factor = 1.0 / 255.0 if x.dtype == np.uint8 else 1.0
        elif method in ("minmax", "standardize"):
            st = feature_stats(x, None if fill is None else np.asarray(fill))
            if method == "minmax":
                rng = st["max"] - st["min"]
                pre.offset, pre.scale = st["min"].tolist(), np.where(rng > 0, rng, 1.0).tolist()
            else:
                pre.offset, pre.scale = st["mean"].tolist(), np.where(st["std"] > 0, st["std"], 1.0).tolist()
        if channel_norm:
            if channel_axis == 1 and x.ndim != 4:
                raise AekitError(f"--channel-norm: needs images (N, C, H, W), got shape {x.shape}")
            c = x.shape[channel_axis]
            st = block_stats(np.moveaxis(pre._base(b), channel_axis, -1).reshape(-1, c).astype(np.float64)
                             for b in _row_blocks(x))  # (rows · other axes, C), a block at a time
            pre.channel_mean = st["mean"].tolist()
            pre.channel_std = np.where(st["std"] > 0, st["std"], 1.0).tolist()
        if binarize != "none":
            st = feature_stats(pre._base(x[:BLOCK * 4]))
            if st["min"].min() < -1e-6 or st["max"].max() > 1 + 1e-6:
                raise AekitError(
                    f"--binarize {binarize}: needs values in [0, 1] after preprocessing, got "
                    f"[{st['min'].min():.3g}, {st['max'].max():.3g}]; use --preprocess scale or minmax"
                )
        return pre

    # -- applying --------------------------------------------------------------------------------
    @property
    def identity(self) -> bool:
        """True when the transform changes no value (no method, fill, channel statistics or binarization)."""
        return self.method == "none" and self.fill is None and self.channel_mean is None and self.binarize == "none"

    def output_dtype(self, dtype: Any) -> np.dtype:
        """The dtype :meth:`transform` gives for input of ``dtype``. Integers (token ids,
        categories, counts) pass an identity transform unchanged, so a network that embeds
        them receives them as they are; everything else becomes float32."""
        dtype = np.dtype(dtype)
        return dtype if self.identity and dtype.kind in "iu" else np.dtype(np.float32)

    def _base(self, x: np.ndarray) -> np.ndarray:
        """Steps 1-2: impute and the per-feature method, as float32 (integers through ``none``
        keep their dtype: :meth:`output_dtype`)."""
        x = np.asarray(x)  # a memory map stays a view; a Dataset's items are read here
        if self.fill is not None:
            x = x.astype(np.float32)
            bad = ~np.isfinite(x)
            if bad.any():
                fill = np.broadcast_to(np.asarray(self.fill, np.float32).reshape(x.shape[1:]), x.shape)
                x[bad] = fill[bad]
        if self.method == "none":
            return np.ascontiguousarray(x, dtype=self.output_dtype(x.dtype))
        if self.method == "scale":
            return x.astype(np.float32) * np.float32(self.factor)
        shape = x.shape
        flat = x.reshape(len(x), -1).astype(np.float32)
        off, sc = np.asarray(self.offset, np.float32), np.asarray(self.scale, np.float32)
        if flat.shape[1] != off.shape[0]:
            raise AekitError(
                f"preprocess: data has {flat.shape[1]} features but the preprocessing was fitted on {off.shape[0]}"
            )
        return ((flat - off) / sc).reshape(shape)

    def _channel_shape(self, x: np.ndarray) -> tuple[int, ...]:
        """The channel statistics' shape, broadcast against ``x``."""
        c = len(self.channel_mean)
        return (1, c) + (1,) * (x.ndim - 2) if self.channel_axis == 1 else (1,) * (x.ndim - 1) + (c,)

    def transform(self, x: np.ndarray, sample: bool = False) -> np.ndarray:
        """Preprocessed copy of ``x``: float32, or integers kept as they are by an identity
        transform (:meth:`output_dtype`). With ``binarize='dynamic'`` the intensities are
        returned, or with ``sample=True`` one fixed (seeded) Bernoulli sample of them."""
        x = self._base(x)
        if self.channel_mean is not None:
            cs = self._channel_shape(x)
            x = (x - np.asarray(self.channel_mean, np.float32).reshape(cs)) / np.asarray(self.channel_std, np.float32).reshape(cs)
        if self.binarize == "threshold":
            x = (x > self.threshold).astype(np.float32)
        elif self.binarize == "static" or (self.binarize == "dynamic" and sample):
            u = np.random.default_rng(self.seed).random(x.shape, dtype=np.float32)
            x = (u < x).astype(np.float32)
        return x

    def sample_batch(self, xb, generator=None):
        """One fresh Bernoulli sample of a batch of intensities (torch), for ``dynamic``."""
        import torch

        g_device = generator.device if generator is not None else xb.device
        u = torch.rand(xb.shape, generator=generator, device=g_device, dtype=xb.dtype)
        return (u.to(xb.device) < xb).to(xb.dtype)

    @property
    def batch_transform(self):
        """The per-batch transform the trainer applies (dynamic binarization), else None."""
        return self.sample_batch if self.binarize == "dynamic" else None

    def inverse_transform(self, x: np.ndarray) -> np.ndarray:
        """Outputs back to data units (binarization is not undone: a probability stays one)."""
        if self.channel_mean is not None:
            cs = self._channel_shape(x)
            x = x * np.asarray(self.channel_std, np.float32).reshape(cs) + np.asarray(self.channel_mean, np.float32).reshape(cs)
        if self.method == "none":
            return x
        if self.method == "scale":
            return x / np.float32(self.factor)
        shape = x.shape
        flat = x.reshape(len(x), -1)
        return (flat * np.asarray(self.scale, np.float32) + np.asarray(self.offset, np.float32)).reshape(shape)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessor:
        if not isinstance(d, dict):
            raise AekitError("preprocess.json: expected a mapping")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise AekitError(f"preprocess.json: unknown keys {sorted(unknown)}")
        return cls(**d)
