"""The first-step check: a hand-written step is an optimization of the model's own loss,
never a second definition of it.

A step in this package writes out what a family's ``forward`` computes. Edit the family —
``VAE.forward``, ``SparseAE.penalty`` — without editing its step here, and the model still
qualifies structurally, so a CPU fit would optimize the old objective. The trainer therefore
runs :func:`verify` on the first batch of every fit that chose a hand-written step: the
model's own ``training_step`` (``forward`` + autograd's backward) and the step's
:meth:`~aekit.accel.step.Step.gradients`, from the same global RNG state (the corruption
noise and the VAE's ε are drawn from it), before any optimizer step. The loss, every logged
term and every parameter's gradient must agree up to float rounding; otherwise the fit
trains through autograd with one :class:`FastPathMismatch` warning naming the file here to
update. The cost is one extra forward and backward per fit.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

RTOL = 1e-4  # float32 rounding between two orders of summation stays far below this
ATOL = 1e-7  # for quantities that are (near) zero altogether: a penalty at initialization


class FastPathMismatch(UserWarning):
    """A hand-written training step (:mod:`aekit.accel`) disagreed with the model's own
    forward and autograd on a fit's first batch; that fit trains through autograd."""


def source(step) -> str:
    """The file that defines ``step``'s class, as ``aekit/accel/vae.py``."""
    return type(step).__module__.replace(".", "/") + ".py"


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """|a − b| ≤ RTOL·(|b| + max|b|) + ATOL elementwise: relative to each entry, and to the
    tensor's largest for entries near zero (a gradient's sums that cancel round like the
    tensor's large entries, not like their own small value)."""
    if a.shape != b.shape:
        return False
    a, b = a.detach().double(), b.detach().double()
    top = b.abs().max() if b.numel() else 0.0
    return bool(((a - b).abs() <= RTOL * (b.abs() + top) + ATOL).all())


def difference(terms: dict, ref_terms: dict, grads: dict, ref_grads: dict) -> str | None:
    """The first quantity in which the hand-written step (``terms``, ``grads``) differs from
    autograd (``ref_terms``, ``ref_grads``), in words, or None. Gradients are
    ``{parameter name: tensor or None}``; a missing gradient counts as zeros."""
    for k in ref_terms.keys() | terms.keys():
        if k not in terms:
            return f"the logged term {k!r} (the hand-written step does not compute it)"
        if k not in ref_terms:
            return f"the logged term {k!r} (the model no longer logs it)"
        a, b = torch.as_tensor(terms[k]), torch.as_tensor(ref_terms[k])
        if not close(a, b):
            what = "the loss" if k == "loss" else f"the logged term {k!r}"
            return f"{what} ({float(a.float().mean()):.6g} vs autograd's {float(b.float().mean()):.6g})"
    for name, ref in ref_grads.items():
        g = grads.get(name)
        if g is None and ref is None:
            continue
        g = torch.zeros_like(ref) if g is None else g
        ref = torch.zeros_like(g) if ref is None else ref
        if not close(g, ref):
            err = (g.double() - ref.double()).abs().max().item()
            return f"the gradient of {name} (largest difference {err:.3g}, autograd's largest entry " \
                   f"{ref.abs().max().item():.3g})"
    return None


def verify(step, model, x: torch.Tensor, autograd: Callable[[torch.Tensor], dict]):
    """Run ``autograd(x)`` (the model's own training step with a backward but no optimizer
    step; it returns the logged terms) and ``step.gradients(x)`` from the same global RNG
    state, and compare them.

    Returns ``(terms, None)`` where they agree: the parameters hold the hand-written step's
    gradients and the RNG is where a plain fast fit leaves it, so ``step.update()`` finishes
    the batch exactly as that fit would. Returns ``(autograd's terms, difference)`` where
    they do not: the parameters hold autograd's gradients and the RNG is where autograd left
    it, so the caller's clip and optimizer step finish the batch exactly as an autograd fit
    would."""
    params = dict(model.named_parameters())
    start = torch.get_rng_state()
    ref_terms = autograd(x)
    after_ref = torch.get_rng_state()
    ref_grads = {n: p.grad for n, p in params.items()}
    for p in params.values():
        p.grad = None  # the step allocates its own; autograd's stay in ref_grads
    torch.set_rng_state(start)
    terms = step.gradients(x)
    diff = difference(terms, ref_terms, {n: p.grad for n, p in params.items()}, ref_grads)
    if diff is None:
        return terms, None
    for n, p in params.items():
        p.grad = ref_grads[n]
    torch.set_rng_state(after_ref)
    return ref_terms, diff


def mismatch_message(step, model, diff: str) -> str:
    name = type(model).__name__
    return (f"aekit.accel: the hand-written {name} training step ({type(step).__name__}) differs from "
            f"{name}'s own forward and autograd on the first batch in {diff}; this fit trains through "
            f"autograd. If the {name} loss changed on purpose, update {source(step)} to match it; "
            f"fused='off' (--fused off) skips the hand-written step and this check")
