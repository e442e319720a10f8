"""A network of stock ``torch.nn`` layers written down as JSON, layer by layer.

The encoder a newcomer writes first — ``nn.Sequential(nn.Linear(784, 128), nn.ReLU(),
nn.Linear(128, 64))`` — is fully described by its layers' constructor arguments. aekit
records such a network in ``config.json`` as a list of ``{"type": "Linear", "in_features":
784, …}`` entries (:func:`to_spec`) and builds it again from that list (:func:`from_spec`),
so a run trained on the user's own ``nn.Sequential`` loads with ``aekit.load(RUN)`` and
works with every CLI verb — without pickling and without importing anything a file names:
only the layer types in :data:`LAYERS` can be built, each from its plain arguments.

A module that is not a (nested) ``nn.Sequential`` of exactly these types, or whose rebuilt
copy differs from it (same ``repr`` and the same parameter and buffer shapes are required),
has no spec; aekit then keeps it as a user module that is passed again at load time.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import AekitError

# layer type → the constructor arguments that are attributes of the same name; ``bias`` is
# derived from whether the layer has a bias.
_CONV = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "padding_mode")
LAYERS: dict[type[nn.Module], tuple[str, ...]] = {
    nn.Linear: ("in_features", "out_features"),
    nn.Bilinear: ("in1_features", "in2_features", "out_features"),
    nn.Conv1d: _CONV, nn.Conv2d: _CONV, nn.Conv3d: _CONV,
    nn.ConvTranspose1d: (*_CONV, "output_padding"),
    nn.ConvTranspose2d: (*_CONV, "output_padding"),
    nn.ConvTranspose3d: (*_CONV, "output_padding"),
    nn.BatchNorm1d: ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    nn.BatchNorm2d: ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    nn.LayerNorm: ("normalized_shape", "eps", "elementwise_affine"),
    nn.GroupNorm: ("num_groups", "num_channels", "eps", "affine"),
    nn.Dropout: ("p",), nn.Dropout1d: ("p",), nn.Dropout2d: ("p",), nn.AlphaDropout: ("p",),
    nn.Identity: (), nn.ReLU: (), nn.ReLU6: (), nn.Sigmoid: (), nn.Tanh: (), nn.SiLU: (), nn.Mish: (),
    nn.Hardtanh: ("min_val", "max_val"), nn.Softsign: (), nn.Tanhshrink: (), nn.SELU: (), nn.CELU: ("alpha",),
    nn.GELU: ("approximate",), nn.LeakyReLU: ("negative_slope",), nn.ELU: ("alpha",),
    nn.Softplus: ("beta", "threshold"), nn.PReLU: ("num_parameters",),
    nn.Flatten: ("start_dim", "end_dim"), nn.Unflatten: ("dim", "unflattened_size"),
    nn.MaxPool1d: ("kernel_size", "stride", "padding", "dilation", "ceil_mode"),
    nn.MaxPool2d: ("kernel_size", "stride", "padding", "dilation", "ceil_mode"),
    nn.AvgPool1d: ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"),
    nn.AvgPool2d: ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"),
    nn.AdaptiveAvgPool2d: ("output_size",), nn.AdaptiveAvgPool1d: ("output_size",),
    nn.Upsample: ("size", "scale_factor", "mode", "align_corners"),
    nn.PixelShuffle: ("upscale_factor",), nn.PixelUnshuffle: ("downscale_factor",),
}
_BY_NAME = {t.__name__: t for t in LAYERS}
_HAS_BIAS = (nn.Linear, nn.Bilinear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
             nn.ConvTranspose3d, nn.LayerNorm)


def _json(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_json(a) for a in v]
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    raise TypeError(type(v).__name__)


def _layer_spec(m: nn.Module) -> Any:
    if type(m) is nn.Sequential:
        return {"type": "Sequential", "layers": [_layer_spec(c) for c in m]}
    if type(m) not in LAYERS:
        raise TypeError(type(m).__name__)
    spec = {"type": type(m).__name__, **{k: _json(getattr(m, k)) for k in LAYERS[type(m)]}}
    if isinstance(m, _HAS_BIAS):
        spec["bias"] = getattr(m, "bias", None) is not None
    return spec


def _tuples(v: Any) -> Any:
    return tuple(_tuples(a) for a in v) if isinstance(v, list) else v


def _build_layer(spec: Any, where: str) -> nn.Module:
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise AekitError(f"{where}: a layer must be a mapping with a 'type', got {spec!r}")
    kind = spec["type"]
    args = {k: _tuples(v) for k, v in spec.items() if k != "type"}
    if kind == "Sequential":
        layers = args.get("layers", ())
        return nn.Sequential(*(_build_layer(s, f"{where}[{i}]") for i, s in enumerate(layers)))
    if kind not in _BY_NAME:
        raise AekitError(
            f"{where}: {kind!r} is not a stock torch.nn layer aekit rebuilds from config.json; "
            "register a network for it (aekit.register_network) or load the run with the modules"
        )
    try:
        return _BY_NAME[kind](**args)
    except (TypeError, ValueError, RuntimeError) as e:
        raise AekitError(f"{where}: cannot build {kind} from {args} ({str(e).splitlines()[0]})") from None


def to_spec(module: nn.Module) -> list | None:
    """The layer list of an ``nn.Sequential`` of stock layers, or None when it has none
    (another module type, a subclass, or a copy that would not be identical)."""
    if type(module) is not nn.Sequential:
        return None
    try:
        spec = [_layer_spec(m) for m in module]
        copy = from_spec(spec)
    except (TypeError, AekitError):
        return None
    if repr(copy) != repr(module) or _shapes(copy) != _shapes(module):
        return None
    return spec


def from_spec(spec: Any, where: str = "net_options") -> nn.Sequential:
    """Build the ``nn.Sequential`` a :func:`to_spec` list describes (fresh parameters)."""
    if not isinstance(spec, list):
        raise AekitError(f"{where}: expected a list of layers, got {type(spec).__name__}")
    return nn.Sequential(*(_build_layer(s, f"{where}[{i}]") for i, s in enumerate(spec)))


def _shapes(m: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in m.state_dict().items()}
