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
from typing import Any, ClassVar

import torch
from torch import nn

from .._version import __version__
from ..config import Config, check, option
from ..errors import AekitError, close_matches
from ..nets.mlp import ACTIVATIONS
from ..nets.modes import eval_mode
from ..nets.registry import Headed, Network, check_options, get_network, probe
from ..nets.sequential import from_spec
from ..nets.user import user_modules
from ..rundir import RunDir
from ..schedules import Clock


@dataclasses.dataclass(frozen=True, kw_only=True)
class ArchConfig(Config):
    """Options shared by every family: the data shape and the encoder/decoder networks."""

    input_shape: tuple[int, ...] = option(help="shape of one sample, e.g. (784,) or (1, 28, 28)")
    latent_dim: int = option(32, "code size")
    arch: str = option("mlp", "network: one of `aekit models --networks`")
    hidden: tuple[int, ...] = option((256,), "hidden layer sizes of the MLP, e.g. 512,256")
    channels: tuple[int, ...] = option((), "conv channels per downsampling stage, e.g. 32,64")
    activation: str = option("relu", "hidden-layer activation: " + ", ".join(ACTIVATIONS))
    net_options: dict = option(help="the network's own options, as JSON (networks other than mlp and conv)",
                               default_factory=dict, hash=False)

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
        net = get_network(self.arch)
        check_options(self.net_options)
        if net.builtin and not net.modules:
            bad = [k for k in self.net_options if k not in (net.options or ())]
            check(not bad, "net_options",
                  f"the {net.name} network takes no option {bad[0]!r}" + close_matches(bad[0], net.options or ())
                  + (f"; its options: {', '.join(net.options)}" if net.options else
                     "; it takes its options from hidden/channels/activation") if bad else "")
        if net.check is not None:
            net.check(self)


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
    # What the family can do, declared rather than guessed from its attributes; metrics, tasks,
    # the report and the CLI read these, and tests/test_capabilities.py checks each against
    # what the family does.
    #   variational: ``encode`` returns a posterior q(z|x) (``.sample()``, ``.mode()``,
    #     ``.kl()``, ``.log_prob(z)``); the model has ``elbo_terms``, ``decode_params``, ``nll``
    #     and ``prior_log_prob`` (−ELBO metrics, ``aekit.likelihoods.log_marginal``);
    #   generative: a prior to draw from, ``sample(n, generator=None)`` → (n, *input_shape);
    #   denoising: corrupts its input while training (``corruption``, the ``noise`` options);
    #   multi_optimizer: ``configure_optimizers`` returns several optimizers and
    #     ``training_step`` runs its own phases (the adversarial AE);
    #   inputs: "features" (numbers of any shape: tables, images, series windows) or "tokens"
    #     (rows of token ids, the text families of aekit.models.text).
    variational: ClassVar[bool] = False
    generative: ClassVar[bool] = False
    denoising: ClassVar[bool] = False
    multi_optimizer: ClassVar[bool] = False
    inputs: ClassVar[str] = "features"
    # Option sets that exercise each code path of the family; the contract test suite runs
    # every one of them (with tiny sizes) for every registered family.
    variants: ClassVar[tuple[dict, ...]] = ({},)

    def __init__(self, config: ArchConfig | None = None, *, encoder: nn.Module | None = None,
                 decoder: nn.Module | None = None, **kwargs: Any):
        super().__init__()
        given = None
        if encoder is not None or decoder is not None:
            given, kwargs = user_modules(encoder, decoder, self.config_class.field_names(),
                                         None if config is None else config.to_dict(), kwargs,
                                         where=type(self).__name__)
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
        self.network: Network = get_network(config.arch)
        if self.network.name == "module" and given is None:
            raise AekitError(
                f"encoder: this {type(self).__name__} was built from the user's own modules "
                f"({config.net_options.get('encoder', '?')}, {config.net_options.get('decoder', '?')}); "
                "pass them again: aekit.load(run, encoder=..., decoder=...)"
            )
        self._given = given
        self._widest: int | None = None
        # where training is (epoch, step), set by the trainer's hooks below; a family's
        # schedules (β warm-up, noise level, k) are read from it with ``self.clock.at(schedule)``
        self.clock = Clock()

    # -- networks ---------------------------------------------------------------------------
    def build_networks(self, code_dim: int, config: ArchConfig | None = None) -> tuple[nn.Module, nn.Module]:
        """(encoder, decoder) of the configured network: the encoder maps (B, *input_shape) to
        (B, code_dim), the decoder (B, latent_dim) to the input's shape, pre-activation.

        The user's modules (``arch`` ``sequential`` or ``module``) get a linear head when their
        output width is not ``code_dim`` (a VAE's encoder outputs features; aekit adds the
        μ, log σ² head). Networks other than aekit's ``mlp`` and ``conv`` are checked with a
        dummy batch here, and that batch measures their widest activation."""
        c = config or self.config
        net = self.network
        shape = tuple(c.input_shape)
        if net.modules:
            if self._given is not None:
                enc, dec = self._given
            else:
                enc = from_spec(c.net_options.get("encoder"), "net_options.encoder")
                dec = from_spec(c.net_options.get("decoder"), "net_options.decoder")
            features, widest = probe(enc, dec, shape, c.latent_dim, net)
            if features != code_dim:
                enc = Headed(enc, features, code_dim)
        else:
            enc, dec = net.build(c, code_dim)
            widest = probe(enc, dec, shape, c.latent_dim, net, code_dim)[1] if net.probe else None
        self._widest = widest
        return enc, dec

    def input_dtype(self) -> torch.dtype:
        """The dtype batches are given to ``forward`` in: token ids (``torch.long``) for a
        network that embeds them, else the parameters' float dtype (integer data is cast here,
        not in the data layer, which keeps what it read)."""
        if self.network.input_dtype == "long":
            return torch.long
        p = next((p for p in self.parameters() if p.is_floating_point()), None)
        return p.dtype if p is not None else torch.float32

    def net_input(self, x: torch.Tensor) -> torch.Tensor:
        """The batch as the encoder takes it (flattened for ``mlp``)."""
        return self.network.prepare(x)

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
        return enc.mode() if self.variational else enc

    @torch.inference_mode()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic reconstruction in data space (eval mode: no noise, posterior mean)."""
        with eval_mode(self):
            return self.decode(self.code(self.check_input(x)))

    @torch.inference_mode()
    def score_map(self, x: torch.Tensor) -> torch.Tensor:
        """Anomaly score of every element, (B, *input_shape): the squared error of the
        deterministic reconstruction. A family with its own per-element score (USAD's α/β
        mix of its two decoders) overrides it. A series' score per timestep averages it over
        channels and over the windows that cover the step (:mod:`aekit.data.windows`)."""
        x = self.check_input(x)
        with eval_mode(self):
            return (self.decode(self.code(x)) - x).square_()

    @torch.inference_mode()
    def transform(self, x: torch.Tensor) -> torch.Tensor:
        with eval_mode(self):
            return self.code(self.check_input(x))

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
        if self.network.input_dtype == "long":
            if x.is_floating_point() or x.is_complex():
                raise AekitError(f"x: the {self.network.name} network takes integer token ids, got {x.dtype}")
            return x.to(device=p.device if p is not None else x.device, dtype=torch.long)
        if p is not None:
            x = x.to(device=p.device, dtype=p.dtype)
        return x

    def inference_batch_size(self, budget: int = 8 << 20) -> int:
        """Rows per chunk for scoring, encoding and validation: the largest power of two (64 to
        2048) whose widest activation fits in ``budget`` bytes. Chunks whose activations spill
        far out of the CPU caches were slow: a 1×28×28 conv AE scores much faster in 256-row
        chunks than in 2048-row ones (BENCHMARKS.md, "Scoring"); MLPs keep 2048."""
        c, net = self.config, self.network
        widest = net.widest(c) if net.widest is not None else (self._widest or math.prod(c.input_shape))
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
        """Called by the trainer before each training epoch (0-based): sets ``self.clock``."""
        self.clock.epoch, self.clock.epochs = epoch, epochs

    def on_train_step(self, step: int) -> None:
        """Called by the trainer before each training step (0-based, global): sets ``self.clock``."""
        self.clock.step = step

    def schedule_values(self) -> dict[str, float]:
        """Current values of scheduled hyperparameters (noise level, β, k …) for history.csv."""
        return {}

    # -- persistence -------------------------------------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        out = {
            "aekit_version": __version__,
            "model_class": type(self).__name__,
            "model": self.config.to_dict(),
        }
        plugins = self.plugins()
        if plugins:
            out["plugins"] = plugins
        return out

    def plugins(self) -> list[str]:
        """The user's modules that registered this model's family or network: a later
        ``aekit.load`` needs them imported (``plugins=[…]``, ``--plugin``). Recorded in
        config.json so the error can name them; aekit never imports them on its own."""
        mods = [type(self).__module__, self.network.origin]
        return sorted({m for m in mods if m != "aekit" and not m.startswith("aekit.")})

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into ``directory``."""
        run = RunDir(directory)
        run.path.mkdir(parents=True, exist_ok=True)
        run.write_weights(self.state_dict(), {"model_class": type(self).__name__})
        run.write_config(model=self.config_dict())  # the data and training sections stay
        return run.path

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu", *,
                        encoder: nn.Module | None = None, decoder: nn.Module | None = None,
                        plugins: Sequence[str] = ()) -> Autoencoder:
        """Rebuild a saved model. ``encoder``/``decoder``: the user's own modules, for a run
        trained on them (``arch='module'``); ``plugins``: modules to import first, which
        register the family or network the run names. Nothing else is imported: a
        ``config.json`` that names an unregistered family or network is refused."""
        from ..nets.registry import load_plugins, network_names
        from .registry import MODELS, get_model_class

        d = Path(directory)
        if not d.is_dir():
            what = "is a file, not a run directory" if d.exists() else "no such run directory"
            raise AekitError(f"{d}: {what}; pass a folder written by save_pretrained or aekit train")
        load_plugins(plugins)
        run = RunDir(d)
        cfg_path = run.config_path
        meta = run.read_config()
        if not isinstance(meta, dict) or "model_class" not in meta or "model" not in meta:
            raise AekitError(f"{cfg_path}: missing 'model_class' or 'model'; not an aekit model config")
        recorded = meta.get("plugins") or []
        hint = (f"; the run was trained with the plug-in {', '.join(map(str, recorded))} — if you trust it, "
                "pass plugins=[...] (CLI: --plugin MODULE)" if recorded else
                "; import the module that registers it, or pass plugins=[...] (CLI: --plugin MODULE)")
        name = meta["model_class"]
        if not isinstance(name, str) or (name not in MODELS and name not in {k.__name__ for k in MODELS.values()}):
            raise AekitError(f"{cfg_path}: names the model class {name!r}, which is not registered{hint}")
        arch = meta["model"].get("arch", "mlp") if isinstance(meta["model"], dict) else "mlp"
        if arch not in network_names() and arch != "module":
            raise AekitError(f"{cfg_path}: names the network {arch!r}, which is not registered{hint}")
        klass = get_model_class(name)
        if cls is not Autoencoder and not issubclass(klass, cls):
            raise AekitError(f"{d}: holds a {klass.__name__}, not a {cls.__name__}; load it with aekit.load")
        config = klass.config_class.from_saved(meta["model"], where=str(cfg_path))
        model = klass(config, encoder=encoder, decoder=decoder)
        state = run.read_weights()
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise AekitError(
                f"{run.weights_path}: weights do not match config.json "
                f"({str(e).splitlines()[0]}); the files come from different models"
            ) from None
        model.eval()
        return model.to(device)


def load(directory: str | Path, device: str | torch.device = "cpu", *, encoder: nn.Module | None = None,
         decoder: nn.Module | None = None, plugins: Sequence[str] = ()) -> Autoencoder:
    """Load any saved aekit model (``config.json`` + ``model.safetensors``); a run trained on
    the user's own modules takes them again (``encoder=``, ``decoder=``), a run whose family
    or network a plug-in registers takes ``plugins=["mypkg.nets"]``."""
    return Autoencoder.from_pretrained(directory, device=device, encoder=encoder, decoder=decoder, plugins=plugins)
