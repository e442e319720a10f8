"""The trainer's choice of a hand-written training step (:mod:`aekit.accel`) and the check of
its first batch against autograd.

:func:`choose` gives the hand-written MLP AE, sparse AE or VAE step where it computes exactly
the model's loss (``fused="auto"``, fp32, one process, CPU, no ``compile="on"``), else None;
:func:`first_step` runs the fit's first batch through both and keeps the fast step only where
they agree. What the fast step gains over autograd is measured in BENCHMARKS.md.
"""

from __future__ import annotations

import logging
import warnings

import torch

log = logging.getLogger("aekit.train")


def choose(config, model, optimizers, world: int, device: torch.device):
    """The hand-written step for ``model`` under the trainer's ``config``, or None (autograd)."""
    c = config
    if c.fused == "off" or c.precision != "fp32" or world > 1 or c.compile == "on" or device.type != "cpu":
        return None
    from .. import accel

    step = accel.build(model, optimizers, c.grad_clip)
    if isinstance(step, str):
        log.debug("training through autograd: %s", step)
        return None
    return step


def first_step(fast, model, xb, optimizers, backward, apply, step):
    """The fit's first batch with a hand-written step: checked against the model's own
    ``training_step`` (:func:`aekit.accel.check.verify`), then the one optimizer step —
    the fast step's where they agree, autograd's where they do not. Returns (terms, the
    step for the rest of the fit: ``fast``, or None to train through autograd)."""
    from ..accel import check

    stepped = []

    def deferred(loss, opt):  # backward now; clip and step once the two are compared
        stepped.append(opt)
        backward(loss, opt)

    start = torch.get_rng_state()
    terms, diff = check.verify(fast, model, xb, lambda x: model.training_step(x, optimizers, deferred))
    if diff is None and len(stepped) == 1:
        fast.update()
        return terms, fast
    if len(stepped) != 1:  # not one backward to finish: replay the batch through autograd
        diff = diff or f"its training_step, which stepped {len(stepped)} optimizers"
        torch.set_rng_state(start)
        terms = model.training_step(xb, optimizers, step)
    else:
        apply(stepped[0])
    msg = check.mismatch_message(fast, model, diff)
    warnings.warn(msg, check.FastPathMismatch, stacklevel=4)
    log.warning(msg)
    return terms, None
