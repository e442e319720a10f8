"""The hand-written CPU steps (aekit.accel) against autograd, over every registered family.

Every family × each of its ``variants`` × every registered network (× tied weights where the
family takes them) × an image and a flat input: wherever ``aekit.accel.build`` returns a step,
that step's loss, logged terms and the gradient of every parameter must equal what the
model's own ``training_step`` and autograd give on the same batch with the same random draws
(corruption noise, the VAE's ε). A family or network registered later is enumerated here with
no new test code; a family edited without its step fails here with the file to update.
"""

from __future__ import annotations

import copy
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from aekit import accel
from aekit.accel import check
from aekit.errors import AekitError
from aekit.registry import MODELS, model_names

SHAPES = ((1, 8, 8), (64,))
TINY = {"latent_dim": 4, "hidden": (16,)}


def networks() -> list[str]:
    try:
        from aekit.nets import network_names
    except ImportError:  # before the network registry
        return ["mlp", "conv"]
    return network_names()


def takes(arch: str, shape) -> bool:
    """Does the network take inputs of this shape (its own check)?"""
    try:
        from aekit.nets import get_network
    except ImportError:
        return arch == "mlp" or len(shape) == 3
    net = get_network(arch)
    if net.check is None:
        return True
    try:
        net.check(SimpleNamespace(input_shape=shape, channels=(), hidden=(16,), net_options={}))
    except AekitError:
        return False
    return True


def combinations():
    for name in model_names("features"):
        cls = MODELS[name]
        tieds = (False, True) if "tied" in cls.config_class.field_names() else (None,)
        for i, variant in enumerate(cls.variants):
            for arch in networks():
                for shape in SHAPES:
                    if not takes(arch, shape):
                        continue
                    for tied in tieds:
                        opts = {**TINY, **variant, "arch": arch, **({} if tied is None else {"tied": tied})}
                        tag = f"{name}-{i}-{arch}-{'x'.join(map(str, shape))}" + ("" if tied is None else f"-tied{int(tied)}")
                        yield pytest.param(cls, shape, opts, id=tag)


def user_modules(cls, shape, opts):
    """For a network built from the user's modules: a small nn.Sequential pair of Linear layers
    (the structure the mlp network has), the decoder taking the family's code as the mlp
    twin's decoder does."""
    twin = cls(input_shape=shape, **{**opts, "arch": "mlp", "tied": False} if "tied" in opts else {**opts, "arch": "mlp"})
    dec_in = next(m for m in twin.decoder.modules() if isinstance(m, nn.Linear)).in_features
    d = math.prod(shape)
    enc = nn.Sequential(nn.Flatten(), nn.Linear(d, 16), nn.ReLU(), nn.Linear(16, 12))
    dec = nn.Sequential(nn.Linear(dec_in, 16), nn.Tanh(), nn.Linear(16, d), nn.Unflatten(1, shape))
    return enc, dec


def build(cls, shape, opts):
    """The model, or None where this combination is not a model the family builds (tied
    weights on a convolutional network, …)."""
    torch.manual_seed(0)
    try:
        from aekit.nets import get_network

        if get_network(opts["arch"]).modules:
            enc, dec = user_modules(cls, shape, opts)
            rest = {k: v for k, v in opts.items() if k not in ("arch", "hidden")}
            return cls(input_shape=shape, encoder=enc, decoder=dec, **rest)
        return cls(input_shape=shape, **opts)
    except AekitError:
        return None


def fast_step(cls, shape, opts):
    """(model, the hand-written step) where accel builds one, else (model or None, None)."""
    model = build(cls, shape, opts)
    if model is None:
        return None, None
    model.train()
    step = accel.build(model, [torch.optim.SGD(model.parameters(), lr=0.0)])
    return model, (None if isinstance(step, str) else step)


def autograd(model, x):
    """The model's own training step with a backward and no update: (terms, {name: grad})."""

    def backward(loss, opt):
        opt.zero_grad(set_to_none=True)
        loss.backward()

    terms = model.training_step(x, [torch.optim.SGD(model.parameters(), lr=0.0)], backward)
    return terms, {n: p.grad for n, p in model.named_parameters()}


@pytest.mark.parametrize("cls,shape,opts", list(combinations()))
def test_a_hand_written_step_computes_what_autograd_computes(cls, shape, opts):
    model, step = fast_step(cls, shape, opts)
    if step is None:
        return  # trains through autograd: nothing to compare
    ref = copy.deepcopy(model)
    x = torch.rand(12, *shape, generator=torch.Generator().manual_seed(1))
    fix = f"{cls.__name__}({opts}): {type(step).__name__} differs from autograd; update {check.source(step)} " \
          f"to match {cls.__name__}'s loss"
    torch.manual_seed(2)
    want, want_grads = autograd(ref, x)
    torch.manual_seed(2)  # the same corruption noise and ε
    got = step.gradients(x)
    assert set(got) == set(want), f"{fix}: logged terms {sorted(got)} vs {sorted(want)}"
    for k in want:
        assert got[k].item() == pytest.approx(want[k].item(), rel=1e-4, abs=1e-6), f"{fix}: term {k!r}"
    for n, p in model.named_parameters():
        g, r = p.grad, want_grads[n]
        g = torch.zeros_like(p) if g is None else g
        r = torch.zeros_like(p) if r is None else r
        assert torch.allclose(g, r, rtol=1e-4, atol=1e-6), \
            f"{fix}: gradient of {n} (largest difference {(g - r).abs().max().item():.3g})"


def test_the_hand_written_steps_cover_the_families_they_were_written_for():
    """The suite above cannot pass by qualifying nothing: the families accel writes out
    qualify on the mlp network, and nothing else qualifies on another network."""
    qualifying = set()
    for p in combinations():
        cls, shape, opts = p.values
        model, step = fast_step(cls, shape, opts)
        if step is not None:
            qualifying.add((cls.__name__, opts["arch"]))
    assert qualifying
    families = {f for f, _ in qualifying}
    assert {"AE", "SparseAE", "KSparseAE", "VAE"} <= families, families
    assert {a for _, a in qualifying} == {"mlp"}, qualifying
