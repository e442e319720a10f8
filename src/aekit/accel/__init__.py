"""Hand-written forward and backward passes for fully connected autoencoders (the CPU fast
path).

For an :class:`~aekit.AE`, :class:`~aekit.DenoisingAE`, sparse AE or VAE whose networks are
stacks of ``Linear`` layers and activations, one training step is a fixed chain of matrix
products (:mod:`.chain`). Each family's step computes the same loss and gradients as autograd
(up to float rounding), writes the gradients into each parameter's ``.grad`` and then calls
the model's own optimizer, so optimizer state, LR schedules, checkpoints and ``--resume`` are
unchanged. What it gains is measured in BENCHMARKS.md.

- :class:`~.ae.MLPStep` (:mod:`.ae`): AE, DAE, scheduled DAE;
- :class:`~.sparse.SparseStep` (:mod:`.sparse`): L1, KL-ρ and top-k sparse AEs, k-sparse;
- :class:`~.vae.VAEStep` (:mod:`.vae`): VAE/β-VAE, Bernoulli or Gaussian.

:func:`build` returns the step for a model, or why there is none (:func:`plan`,
:func:`plan_sparse`, :func:`plan_vae`): anything else that changes the math (a contractive
penalty, an overridden ``forward``/``training_step``/``penalty``, a convolutional network,
frozen or non-fp32 parameters, several optimizers) trains through autograd.

A step that qualifies is still checked against the model's own forward and autograd on the
first batch of every fit (:mod:`.check`): a family edited without its step here trains
through autograd, with one :class:`FastPathMismatch` warning naming the file to update.
"""

from __future__ import annotations

from .ae import MLPStep, plan
from .check import FastPathMismatch
from .sparse import SparseStep, plan_sparse
from .vae import VAEStep, plan_vae

__all__ = ["build", "FastPathMismatch", "plan", "plan_sparse", "plan_vae", "MLPStep", "SparseStep", "VAEStep"]


def build(model, optimizers: list, grad_clip: float = 0.0):
    """The hand-written step for this model (:class:`MLPStep`, :class:`SparseStep` or
    :class:`VAEStep`), or the reason there is none."""
    from ..models.sparse import SparseAE
    from ..models.vae import VAE

    if isinstance(model, VAE):
        nets = plan_vae(model, optimizers)
        return nets if isinstance(nets, str) else VAEStep(model, *nets, optimizers[0], grad_clip)
    if isinstance(model, SparseAE):
        nets = plan_sparse(model, optimizers)
        return nets if isinstance(nets, str) else SparseStep(model, *nets, optimizers[0], grad_clip)
    layers = plan(model, optimizers)
    return layers if isinstance(layers, str) else MLPStep(model, layers, optimizers[0], grad_clip)
