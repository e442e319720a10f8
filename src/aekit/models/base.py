"""The model contract every family implements.

- a frozen config dataclass (``config_class``), the only source of hyperparameters;
- ``encode(x)`` → a code tensor (or a posterior with ``.sample()``, ``.mode()``, ``.kl()``);
- ``decode(z)`` → a reconstruction in data space;
- ``forward(x)`` → :class:`Output` (``loss``, ``terms``, ``recon``, ``z``);
- ``score(x)`` → one anomaly score per sample (higher = more anomalous);
- ``save_pretrained(dir)`` / ``from_pretrained(dir)``: ``config.json`` + ``model.safetensors``.

Training goes through :meth:`Autoencoder.training_step`, which a family with several
optimizers (an adversarial AE) overrides; the trainer never asks which family it trains.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from .. import io
from .._version import __version__
from ..config import Config, check
from ..errors import AekitError, close_matches
from ..nets.conv import conv_layout
from ..nets.mlp import ACTIVATIONS


@dataclasses.dataclass(frozen=True, kw_only=True)
class ArchConfig(Config):
    """Options shared by every family: the data shape and the encoder/decoder networks."""

    input_shape: tuple[int, ...]
    latent_dim: int = 32
    arch: Literal["mlp", "conv"] = "mlp"
    hidden: tuple[int, ...] = (256,)
    channels: tuple[int, ...] = ()
    activation: str = "relu"

    def validate(self) -> None:
        check(len(self.input_shape) > 0, "input_shape", "must not be empty, e.g. (784,) or (1, 28, 28)")
        check(all(s > 0 for s in self.input_shape), "input_shape", f"sizes must be positive, got {self.input_shape}")
        check(self.latent_dim > 0, "latent_dim", f"must be a positive integer, got {self.latent_dim}")
        check(all(h > 0 for h in self.hidden), "hidden", f"layer sizes must be positive, got {self.hidden}")
        check(all(c > 0 for c in self.channels), "channels", f"must be positive, got {self.channels}")
        check(
            self.activation in ACTIVATIONS,
            "activation",
            f"{self.activation!r} is not one of {', '.join(ACTIVATIONS)}{close_matches(self.activation, ACTIVATIONS)}",
        )
        if self.arch == "conv":
            conv_layout(self.input_shape, self.channels)

    @property
    def input_dim(self) -> int:
        return math.prod(self.input_shape)


@dataclasses.dataclass
class Output:
    """What ``forward`` returns, always with these four fields.

    ``terms`` holds the named parts of the loss (``recon``, ``kl``, ``sparsity`` …) and
    diagnostics (``mean_activation``, ``perplexity`` …), each a scalar tensor.
    """

    loss: torch.Tensor
    terms: dict[str, torch.Tensor]
    recon: torch.Tensor
    z: torch.Tensor


StepFn = Callable[[torch.Tensor, torch.optim.Optimizer], None]


class Autoencoder(nn.Module):
    """Base of every family. Subclasses set ``config_class`` and implement
    ``encode``, ``decode``, ``forward`` and ``score``."""

    config_class: ClassVar[type[ArchConfig]] = ArchConfig
    registry_name: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    variational: ClassVar[bool] = False
    # Option sets that exercise each code path of the family; the contract test suite runs
    # every one of them (with tiny sizes) for every registered family.
    variants: ClassVar[tuple[dict, ...]] = ({},)

    def __init__(self, config: ArchConfig | None = None, **kwargs: Any):
        super().__init__()
        if config is None:
            config = self.config_class.from_dict(kwargs, where=type(self).__name__)
        elif kwargs:
            config = config.replace(**kwargs)
        if not isinstance(config, self.config_class):
            raise AekitError(
                f"config: {type(self).__name__} needs a {self.config_class.__name__}, "
                f"got {type(config).__name__}"
            )
        self.config = config

    # -- the contract ---------------------------------------------------------------------
    def encode(self, x: torch.Tensor):
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> Output:
        raise NotImplementedError

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """Anomaly score per sample (B,): higher means less like the training data."""
        raise NotImplementedError

    # -- conveniences built on the contract ------------------------------------------------
    def code(self, x: torch.Tensor) -> torch.Tensor:
        """A deterministic code tensor (B, latent_dim): the posterior mean for variational models."""
        enc = self.encode(x)
        return enc.mode() if hasattr(enc, "mode") else enc

    @torch.inference_mode()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic reconstruction in data space (eval mode: no noise, posterior mean)."""
        was = self.training
        self.eval()
        try:
            return self.decode(self.code(self.check_input(x)))
        finally:
            self.train(was)

    @torch.inference_mode()
    def transform(self, x: torch.Tensor) -> torch.Tensor:
        was = self.training
        self.eval()
        try:
            return self.code(self.check_input(x))
        finally:
            self.train(was)

    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        """Validate a batch at the API boundary: shape (B, *input_shape), finite floats."""
        shape = tuple(self.config.input_shape)
        if not isinstance(x, torch.Tensor):
            raise AekitError(f"x: expected a torch.Tensor, got {type(x).__name__}")
        if tuple(x.shape[1:]) != shape:
            if x.dim() >= 2 and math.prod(x.shape[1:]) == math.prod(shape):
                x = x.reshape(x.shape[0], *shape)
            else:
                raise AekitError(
                    f"x: expected shape (batch, {', '.join(map(str, shape))}) for this model, "
                    f"got {tuple(x.shape)}; reshape the data or build the model with "
                    f"input_shape={tuple(x.shape[1:])}"
                )
        p = next(self.parameters(), None)
        if p is not None:
            x = x.to(device=p.device, dtype=p.dtype)
        return x

    def inference_batch_size(self, budget: int = 8 << 20) -> int:
        """Rows per chunk for scoring, encoding and validation: the largest power of two (64 to
        2048) whose widest activation fits in ``budget`` bytes. Chunks whose activations spill
        far out of the CPU caches were slow: a 1×28×28 conv AE scored 10.6k images/s in
        2048-row chunks and 17.7k/s in 256-row ones (BENCHMARKS.md); MLPs keep 2048."""
        c = self.config
        widest = max(math.prod(c.input_shape), *getattr(c, "hidden", ()), 1)
        if getattr(c, "arch", "mlp") == "conv":
            chans, _, _ = conv_layout(c.input_shape, c.channels)
            h, w = c.input_shape[1:]
            widest = max(widest, *(ch * (h >> (i + 1)) * (w >> (i + 1)) for i, ch in enumerate(chans)))
        rows = 2048
        while rows > 64 and rows * widest * 4 > budget:
            rows //= 2
        return rows

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- training hooks (no-ops unless a family schedules something) ----------------------
    def configure_optimizers(
        self, make: Callable[[Sequence[nn.Parameter]], torch.optim.Optimizer]
    ) -> list[torch.optim.Optimizer]:
        """One optimizer over all parameters; families with several phases return more."""
        return [make(list(self.parameters()))]

    def training_step(self, x: torch.Tensor, optimizers: list, step: StepFn) -> dict[str, torch.Tensor]:
        """One update. ``step(loss, optimizer)`` zeroes, back-propagates, clips and steps.

        Returns the detached loss terms (with ``loss``) for logging.
        """
        out = self(x)
        step(out.loss, optimizers[0])
        return {"loss": out.loss.detach(), **{k: v.detach() for k, v in out.terms.items()}}

    def on_train_epoch_start(self, epoch: int, epochs: int) -> None:
        """Called by the trainer before each training epoch (0-based)."""

    def on_train_step(self, step: int) -> None:
        """Called by the trainer before each training step (0-based, global)."""

    def schedule_values(self) -> dict[str, float]:
        """Current values of scheduled hyperparameters (noise level, β, k …) for history.csv."""
        return {}

    # -- persistence -------------------------------------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        return {
            "aekit_version": __version__,
            "model_class": type(self).__name__,
            "model": self.config.to_dict(),
        }

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into ``directory``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        io.save_tensors(d / "model.safetensors", self.state_dict(), {"model_class": type(self).__name__})
        cfg_path = d / "config.json"
        existing = io.read_json(cfg_path) if cfg_path.is_file() else {}
        io.write_json(cfg_path, {**existing, **self.config_dict()})
        return d

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> Autoencoder:
        from ..registry import get_model_class

        d = Path(directory)
        if not d.is_dir():
            raise AekitError(f"{d}: no such run directory; pass a folder written by save_pretrained or aekit train")
        meta = io.read_json(d / "config.json")
        if not isinstance(meta, dict) or "model_class" not in meta or "model" not in meta:
            raise AekitError(f"{d / 'config.json'}: missing 'model_class' or 'model'; not an aekit model config")
        klass = get_model_class(meta["model_class"])
        if cls is not Autoencoder and not issubclass(klass, cls):
            raise AekitError(f"{d}: holds a {klass.__name__}, not a {cls.__name__}; load it with aekit.load")
        config = klass.config_class.from_saved(meta["model"], where=str(d / "config.json"))
        model = klass(config)
        state = io.load_tensors(d / "model.safetensors")
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise AekitError(
                f"{d / 'model.safetensors'}: weights do not match config.json "
                f"({str(e).splitlines()[0]}); the files come from different models"
            ) from None
        model.eval()
        return model.to(device)


def load(directory: str | Path, device: str | torch.device = "cpu") -> Autoencoder:
    """Load any saved aekit model (``config.json`` + ``model.safetensors``)."""
    return Autoencoder.from_pretrained(directory, device=device)
