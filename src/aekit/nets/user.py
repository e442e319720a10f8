"""The user's own encoder and decoder modules, turned into a family's config options.

``aekit.AE(encoder=…, decoder=…)`` (any family) passes its modules here before its config is
made: the options they imply are read from them, and the config records how to rebuild them.
"""

from __future__ import annotations

from torch import nn

from ..errors import AekitError
from .registry import encoder_width, get_network
from .sequential import to_spec


def user_modules(encoder, decoder, fields: list[str], config: dict | None, kwargs: dict, *,
                 where: str) -> tuple[tuple[nn.Module, nn.Module], dict]:
    """The user's modules → (modules, config options they imply); ``config``: the
    options of a given config (a run being loaded), whose choices are then checked, not made.

    ``input_shape`` is read from a leading ``nn.Linear`` when not given; ``latent_dim``
    defaults to the encoder's output width; a decoder ending in ``nn.Sigmoid`` gives its
    last layer to the family (``output='sigmoid'``: the loss then sees the logits, as BCE
    and the Bernoulli likelihood need), any other decoder's output is used as it is
    (``output='linear'``; with ``recon_loss='bce'`` it is read as logits). An
    ``nn.Sequential`` of stock layers is written to config.json layer by layer
    (``arch='sequential'``); other modules are passed again at load time (``arch='module'``)."""
    for name, m in (("encoder", encoder), ("decoder", decoder)):
        if not isinstance(m, nn.Module):
            raise AekitError(f"{name}: expected a torch.nn.Module (pass both encoder= and decoder=), "
                             f"got {type(m).__name__}")
    kwargs = dict(kwargs)
    opts = config if config is not None else kwargs
    if config is None and "arch" in kwargs:
        raise AekitError(f"{where}: pass either arch={kwargs['arch']!r} or encoder/decoder modules, not both")
    if "output" in fields:
        if type(decoder) is nn.Sequential and len(decoder) and type(decoder[-1]) is nn.Sigmoid:
            if opts.get("output", "sigmoid") != "sigmoid":
                raise AekitError(f"output: the decoder ends in nn.Sigmoid but output={opts['output']!r}; "
                                 "drop the option or the Sigmoid")
            decoder = decoder[:-1]
            if config is None:
                kwargs["output"] = "sigmoid"
        elif config is None:  # BCE reads the decoder's output as logits
            kwargs.setdefault("output", "sigmoid" if kwargs.get("recon_loss") == "bce" else "linear")
    if config is None:
        if "input_shape" not in kwargs:
            first = next((m for m in encoder.modules() if not list(m.children())), None)
            if not isinstance(first, nn.Linear):
                raise AekitError(f"input_shape: cannot be read from the encoder's first layer "
                                 f"({type(first).__name__}); pass input_shape=(C, H, W) or (features,)")
            kwargs["input_shape"] = (first.in_features,)
        enc_spec, dec_spec = to_spec(encoder), to_spec(decoder)
        if enc_spec is not None and dec_spec is not None:
            kwargs["arch"], kwargs["net_options"] = "sequential", {"encoder": enc_spec, "decoder": dec_spec}
        else:
            kwargs["arch"] = "module"
            kwargs["net_options"] = {"encoder": type(encoder).__qualname__, "decoder": type(decoder).__qualname__}
        if "latent_dim" not in kwargs:
            shape = tuple(int(s) for s in kwargs["input_shape"])
            kwargs["latent_dim"] = encoder_width(encoder, shape, get_network(kwargs["arch"]))
    return (encoder, decoder), kwargs
