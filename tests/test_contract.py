"""The contract every registered family honours, run over every family and variant.

A family added to the registry is picked up here automatically, with each of its
``variants`` (option sets that exercise its code paths), on every registered network that
takes an image shape, and again on every one that takes a series window (W, C) — mlp and
the sequence networks — except where the family's own config check refuses the pair (e.g. the
VAE's σ(z) decoder on the user's own modules).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

import aekit
from aekit.models import Output
from aekit.nets import get_network, network_names
from aekit.registry import MODELS, model_names

SHAPE = (1, 8, 8)
TINY = {"latent_dim": 4, "hidden": (16,)}
SERIES = (16, 3)  # a series window: 16 steps × 3 channels
SERIES_TINY = {"latent_dim": 4, "hidden": (8,), "channels": (4,)}
SERIES_NET = {"d_model": 8, "heads": 2, "layers": 1, "blocks": 1}  # tiny, for the networks taking them
TOKENS = (12,)  # a row of 12 token ids
TOKENS_TINY = {"latent_dim": 4, "hidden": (8,), "vocab_size": 11, "net_options": {"embed_dim": 8}}


def takes(net, shape) -> bool:
    """Does the registered network take inputs of this shape (its own check)?"""
    if net.check is None:
        return True
    try:
        net.check(SimpleNamespace(input_shape=shape, channels=(), hidden=(16,), net_options={}))
    except aekit.AekitError:
        return False
    return True


def refuses(cls, opts) -> bool:
    """Does the family's config check refuse these options (with its one-line message)? Such
    a pair is not a model the family builds."""
    try:
        cls.config_class.from_dict({"input_shape": SHAPE, **opts}, where=cls.__name__)
    except aekit.AekitError:
        return True
    return False


def cases():
    """Every family × variant × registered network that takes SHAPE; ``sequential`` and
    ``module`` (the user's own modules) with a small nn.Sequential pair. A text family
    (``inputs = "tokens"``) runs on every token network instead."""
    for name in model_names():
        cls = MODELS[name]
        for i, variant in enumerate(cls.variants):
            if cls.inputs == "tokens":
                yield from token_cases(name, i, variant)
                continue
            for arch in [*network_names(), "module"]:
                net = get_network(arch)
                if not (net.modules or takes(net, SHAPE)) or refuses(cls, {**TINY, **variant, "arch": arch}):
                    continue
                yield pytest.param(cls, {**TINY, **variant, "arch": arch}, id=f"{name}-{i}-{arch}")
            yield from series_cases(name, i, variant)


def series_cases(name, i, variant):
    """The family's variant on every registered network that takes a series window, with
    tiny sizes; a pair the family's config check refuses (with its one-line message) is not a
    model the family builds."""
    cls = MODELS[name]
    for arch in network_names():
        net = get_network(arch)
        if net.modules or not takes(net, SERIES):
            continue
        opts = {**SERIES_TINY, **variant, "arch": arch, "input_shape": SERIES}
        small = {k: v for k, v in SERIES_NET.items() if k in (net.options or ())}
        if small:
            opts["net_options"] = small
        if refuses(cls, opts):
            continue
        yield pytest.param(cls, opts, id=f"{name}-{i}-{arch}-series")


def token_cases(name, i, variant):
    """A text family's variant on every registered token network (or the one it names)."""
    cls = MODELS[name]
    archs = [variant["arch"]] if "arch" in variant else [a for a in network_names()
                                                         if get_network(a).input_dtype == "long"]
    for arch in archs:
        opts = {**TOKENS_TINY, **variant, "arch": arch, "input_shape": TOKENS}
        yield pytest.param(cls, opts, id=f"{name}-{i}-{arch}")


def data_of(opts):
    """What ``batch`` needs to make inputs of this case: the shape, the vocabulary for tokens
    and, for a translator, where the source side ends."""
    return {"shape": opts.get("input_shape", SHAPE), "vocab": opts.get("vocab_size"),
            "source": opts.get("source_length")}


def user_modules(cls, opts):
    """A newcomer's nn.Sequential encoder (features, not the code: the family adds a head
    where it needs one) and a decoder taking the family's code, as the mlp twin's decoder does."""
    twin = cls(input_shape=SHAPE, **{**opts, "arch": "mlp"})
    dec_in = next(m for m in twin.decoder.modules() if hasattr(m, "in_features")).in_features
    d = math.prod(SHAPE)
    enc = nn.Sequential(nn.Flatten(), nn.Linear(d, 16), nn.ReLU(), nn.Linear(16, 12))
    dec = nn.Sequential(nn.Linear(dec_in, 16), nn.Tanh(), nn.Linear(16, d), nn.Unflatten(1, SHAPE))
    if opts["arch"] == "module":  # a module that is not a plain nn.Sequential: no layer-by-layer spec
        enc = Wrapped(enc)
    return enc, dec


class Wrapped(nn.Module):
    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        return self.body(x)


def build(cls, opts, seed=0):
    torch.manual_seed(seed)
    if get_network(opts["arch"]).modules:
        enc, dec = user_modules(cls, opts)
        rest = {k: v for k, v in opts.items() if k not in ("arch", "hidden")}
        return cls(input_shape=SHAPE, encoder=enc, decoder=dec, **rest)
    return cls(**{"input_shape": SHAPE, **opts})


def load_again(cls, opts, path):
    """aekit.load; a run on the user's own (non-Sequential) modules takes fresh copies of them."""
    if opts["arch"] == "module":
        enc, dec = user_modules(cls, opts)
        return aekit.load(path, encoder=enc, decoder=dec)
    return aekit.load(path)


def batch(n=6, seed=1, shape=SHAPE, vocab=None, source=None):
    """Uniform numbers in [0, 1), or, with ``vocab``, rows of token ids: 1 to L − 1 random
    tokens (ids 5 … vocab − 1), EOS, then PAD — two such sides when ``source`` splits the row."""
    g = torch.Generator().manual_seed(seed)
    if vocab is None:
        return torch.rand(n, *shape, generator=g)

    def side(length):
        ids = torch.randint(5, vocab, (n, length), generator=g)
        n_tok = torch.randint(1, length, (n, 1), generator=g)
        pos = torch.arange(length)
        return torch.where(pos < n_tok, ids, torch.where(pos == n_tok, 2, 0))

    return side(shape[0]) if source is None else torch.cat([side(source), side(shape[0] - source)], 1)


@pytest.mark.parametrize("cls,opts", list(cases()))
def test_forward_contract(cls, opts):
    model = build(cls, opts)
    x = batch(**data_of(opts))
    out = model(x)
    assert isinstance(out, Output)
    assert out.recon.shape == x.shape
    assert out.z.shape[0] == x.shape[0]
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    assert "recon" in out.terms
    for k, v in out.terms.items():
        assert v.dim() == 0 and torch.isfinite(v), k
    assert model.code(x).shape[0] == x.shape[0]
    s = model.score(x)
    assert s.shape == (x.shape[0],) and torch.isfinite(s).all()
    assert model.reconstruct(x).shape == x.shape


@pytest.mark.parametrize("cls,opts", list(cases()))
def test_backward_reaches_encoder_and_decoder(cls, opts):
    model = build(cls, opts)
    model.train()
    out = model(batch(**data_of(opts)))
    out.loss.backward()
    enc = [p.grad for p in model.encoder.parameters()]
    dec = [p.grad for p in model.decoder.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in enc), "no gradient reached the encoder"
    assert any(g is not None and g.abs().sum() > 0 for g in dec), "no gradient reached the decoder"


@pytest.mark.parametrize("cls,opts", list(cases()))
def test_save_load_round_trip(cls, opts, tmp_path):
    model = build(cls, opts)
    aekit.Trainer(epochs=1, batch_size=8, progress=False, val_split=0).fit(model, batch(24, **data_of(opts)).numpy())
    model.save_pretrained(tmp_path)
    same = load_again(cls, opts, tmp_path)
    assert type(same) is cls and same.config == model.config
    x = batch(**data_of(opts))
    torch.testing.assert_close(same.reconstruct(x), model.reconstruct(x), rtol=0, atol=0)
    torch.manual_seed(3)
    a = model.score(x)
    torch.manual_seed(3)
    b = same.score(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("cls,opts", list(cases()))
def test_same_seed_same_weights(cls, opts):
    data = batch(40, **data_of(opts)).numpy()
    states = []
    for _ in range(2):
        model = build(cls, opts)
        aekit.Trainer(epochs=2, batch_size=16, seed=5, progress=False).fit(model, data)
        states.append(model.state_dict())
    for k in states[0]:
        torch.testing.assert_close(states[0][k], states[1][k], rtol=0, atol=0, msg=k)
    other = build(cls, opts)
    aekit.Trainer(epochs=2, batch_size=16, seed=6, progress=False).fit(other, data)
    assert any(not torch.equal(states[0][k], other.state_dict()[k]) for k in states[0] if states[0][k].is_floating_point())


@pytest.mark.parametrize("name", model_names("features"))
def test_training_lowers_the_loss(name):
    """Every family learns something on real digits in a few epochs."""
    cls = MODELS[name]
    d = aekit.datasets.load("digits")
    torch.manual_seed(0)
    model = cls(input_shape=d.input_shape, latent_dim=8, **cls.variants[0])
    t = aekit.Trainer(epochs=15, batch_size=64, progress=False, val_split=0.2)
    hist = t.fit(model, d)
    assert hist[-1]["val_recon"] < 0.9 * hist[0]["val_recon"]
    assert np.isfinite(hist[-1]["train_loss"])


COLOUR = {(3, 32, 32): (4, 4, 8), (3, 64, 64): (4, 4, 8, 8)}  # tiny channels, one per stage


@pytest.mark.parametrize("shape", list(COLOUR), ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", model_names("features"))
def test_resnet_trains_every_family_on_colour_images(name, shape, tmp_path):
    """The residual network under every family at the sizes it is for: it trains a step,
    scores, and reloads to identical reconstructions."""
    cls = MODELS[name]
    torch.manual_seed(0)
    model = cls(input_shape=shape, latent_dim=4, arch="resnet", channels=COLOUR[shape], **cls.variants[0])
    x = torch.rand(4, *shape, generator=torch.Generator().manual_seed(1))
    hist = aekit.Trainer(epochs=1, batch_size=4, progress=False, val_split=0).fit(model, x.numpy())
    assert np.isfinite(hist[-1]["train_loss"])
    assert model.reconstruct(x).shape == x.shape and model.score(x).shape == (4,)
    model.save_pretrained(tmp_path)
    torch.testing.assert_close(aekit.load(tmp_path).reconstruct(x), model.reconstruct(x), rtol=0, atol=0)
