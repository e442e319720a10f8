"""The hand-written training step of a fully connected sparse AE
(:class:`aekit.models.sparse.SparseAE`, :class:`~aekit.models.ksparse.KSparseAE`): encode,
code transform (identity, the KL-ρ sigmoid or top-k), decode, reconstruction loss + λ·penalty,
backward through the penalty and the transform, clip, step.

It mirrors ``SparseAE.code_transform``/``SparseAE.penalty``; an edit to those belongs here
too: the trainer checks the two against each other on the first batch of every fit
(:mod:`.check`) and trains through autograd where they differ."""

from __future__ import annotations

import torch

from ..models.sparse import kl_sparsity
from .ae import SAME
from .chain import Chain, Layer, through_sigmoid_
from .step import Step, networks, qualifies


def plan_sparse(model, optimizers: list) -> tuple[list[Layer], list[Layer]] | str:
    """(encoder layers, decoder layers) when the hand-written sparse step computes exactly the
    model's training loss (a SparseAE or KSparseAE), else the reason it does not."""
    from ..models.sparse import SparseAE

    return qualifies(model, SparseAE, SAME, "a sparse AE") or networks(model, optimizers)


class SparseStep(Step):
    """One training step of a qualifying sparse AE (L1, KL-ρ or top-k, k-sparse included):
    encode, code transform, decode, reconstruction loss + λ·penalty, backward through the
    penalty and the transform, clip, step. The logged terms are the model's own."""

    def __init__(self, model, enc: list[Layer], dec: list[Layer], optimizer: torch.optim.Optimizer,
                 grad_clip: float = 0.0):
        self.enc, self.dec = Chain(enc), Chain(dec, input_grad=True)
        super().__init__(model, [self.enc, self.dec], optimizer, grad_clip)

    @torch.no_grad()
    def gradients(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.model.config
        target = x.flatten(1).to(torch.float32)
        pre = self.enc.forward(self.model.corrupt(x).flatten(1).to(torch.float32))
        b = pre.shape[0]
        if c.sparsity == "kl":
            z = torch.sigmoid(pre)  # the code, in (0, 1)
        elif c.sparsity == "topk":
            values, idx = pre.topk(self.model.active_k(), dim=-1)
            z = torch.zeros_like(pre).scatter_(-1, idx, values)
        else:
            z = pre
        h = self.dec.forward(z)
        self.zero_grads()
        recon, g, s = self.recon(h, target)
        written: set[int] = set()
        gz = self.dec.backward(g, s, written)  # dL/dz / s
        lam = c.sparsity_weight
        if c.sparsity == "l1":
            pen, act = z.abs().sum(1).mean(), z.abs().mean()
            gz.add_(torch.sign(z), alpha=lam / (b * s))
            gpre = gz
        elif c.sparsity == "kl":
            rho, eps = c.rho, 1e-6  # aekit.models.sparse.kl_sparsity
            rho_hat = z.mean(0)
            pen, act = kl_sparsity(rho, rho_hat, eps), z.mean()
            r = rho_hat.clamp(eps, 1 - eps)
            d = ((1 - rho) / (1 - r) - rho / r) * ((rho_hat >= eps) & (rho_hat <= 1 - eps))
            gz.add_(d, alpha=lam / (b * s))
            gpre = through_sigmoid_(gz, z)
        else:
            pen, act = torch.zeros(()), (z != 0).float().mean()
            gpre = torch.zeros_like(pre).scatter_(-1, idx, gz.gather(-1, idx))
        self.enc.backward(gpre, s, written)
        loss = recon + lam * pen  # top-k: pen is 0
        return {"loss": loss, "recon": recon, "sparsity": pen, "mean_activation": act}
