"""Each family's declared capabilities (``variational``, ``generative``, ``denoising``,
``multi_optimizer`` on :class:`aekit.models.base.Autoencoder`) agree with what it does.

Metrics, tasks, the report and the CLI read these flags instead of probing attributes, so a
family that declares wrongly would be evaluated, sampled or reported wrongly; here every
registered family and variant is checked, and deliberately mis-declared families are shown
to fail the check.
"""

from __future__ import annotations

import pytest
import torch

from aekit.models import AE, VAE, Autoencoder, DenoisingAE
from aekit.registry import MODELS, model_names

SHAPE = (1, 8, 8)
TINY = {"latent_dim": 4, "hidden": (16,)}
FLAGS = ("variational", "generative", "denoising", "multi_optimizer")


def cases():
    for name in model_names("features"):
        cls = MODELS[name]
        for i, variant in enumerate(cls.variants):
            for arch in getattr(cls, "archs", ("mlp", "conv")):
                yield pytest.param(cls, {**TINY, **variant, "arch": arch}, id=f"{name}-{i}-{arch}")


def _encoder_input(model: Autoencoder, x: torch.Tensor, training: bool) -> torch.Tensor:
    """The input ``encode`` receives during one forward pass in train or eval mode (seed 0)."""
    seen = []
    encode = model.encode

    def spy(t):
        seen.append(t.detach().clone())
        return encode(t)

    model.encode = spy
    try:
        model.train(training)
        torch.manual_seed(0)
        model(x)
    finally:
        del model.encode
    return seen[0]


def observed(cls, opts) -> dict[str, bool]:
    """What a family built with ``opts`` does, for each declared capability."""
    torch.manual_seed(0)
    model = cls(input_shape=SHAPE, **opts)
    x = torch.rand(5, *SHAPE, generator=torch.Generator().manual_seed(1))
    out = {}

    enc = model.encode(x)
    kl = getattr(enc, "kl", None)
    out["variational"] = callable(kl)
    if out["variational"]:
        k = kl()
        assert k.shape == (5,) and bool((k >= -1e-6).all()), "KL(q ‖ p) per sample must be ≥ 0"
        for name in ("sample", "mode", "log_prob"):
            assert callable(getattr(enc, name, None)), f"the posterior has no {name}()"
        for name in ("elbo_terms", "decode_params", "nll", "prior_log_prob"):
            assert callable(getattr(model, name, None)), f"a variational family needs {name}()"

    sample = getattr(model, "sample", None)
    out["generative"] = callable(sample)
    if out["generative"]:
        s = sample(3, generator=torch.Generator().manual_seed(0))
        assert s.shape == (3, *SHAPE) and bool(torch.isfinite(s).all()), "sample(n) must give n finite inputs"

    train_in = _encoder_input(model, x, training=True)
    eval_in = _encoder_input(model, x, training=False)
    torch.testing.assert_close(eval_in, x, rtol=0, atol=0, msg="the eval forward must encode x itself")
    out["denoising"] = not torch.equal(train_in, eval_in)
    if out["denoising"]:
        assert "noise" in cls.config_class.field_names(), "a denoising family takes the noise options"
        assert hasattr(model, "corruption"), "a denoising family has its corruption process"

    opts_ = model.configure_optimizers(lambda params: torch.optim.SGD(params, lr=0.1))
    out["multi_optimizer"] = len(opts_) > 1
    return out


def mismatches(cls, opts) -> list[str]:
    seen = observed(cls, opts)
    return [f"{cls.__name__}.{f} = {getattr(cls, f)} but it behaves as {seen[f]}"
            for f in FLAGS if getattr(cls, f) is not seen[f]]


def test_every_flag_is_a_class_level_bool():
    for name in model_names():
        cls = MODELS[name]
        for f in FLAGS:
            assert isinstance(getattr(cls, f), bool), f"{cls.__name__}.{f}"
            assert f not in vars(cls.config_class), f"{f} belongs to the model class, not its config"


@pytest.mark.parametrize("cls,opts", list(cases()))
def test_declarations_match_behaviour(cls, opts):
    assert mismatches(cls, opts) == []


def test_declarations_cover_each_kind_of_family():
    # every flag is true for some family and false for another, so each check above bites
    for f in FLAGS:
        values = {getattr(MODELS[n], f) for n in model_names()}
        assert values == {True, False}, f


class _SaysGenerative(AE):
    generative = True  # but has no sample()


class _SaysNotVariational(VAE):
    variational = False


class _SaysNotDenoising(DenoisingAE):
    denoising = False


class _SaysOneOptimizer(AE):
    multi_optimizer = False

    def configure_optimizers(self, make):
        return [make(list(self.encoder.parameters())), make(list(self.decoder.parameters()))]


@pytest.mark.parametrize("cls,flag", [(_SaysGenerative, "generative"), (_SaysNotVariational, "variational"),
                                      (_SaysNotDenoising, "denoising"), (_SaysOneOptimizer, "multi_optimizer")])
def test_a_wrong_declaration_is_caught(cls, flag):
    found = mismatches(cls, {**TINY, "arch": "mlp"})
    assert len(found) == 1 and f".{flag} =" in found[0]
