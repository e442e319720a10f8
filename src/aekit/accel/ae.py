"""The hand-written training step of a fully connected AE, DAE or scheduled DAE
(:class:`aekit.models.ae.AE`): corrupt, forward, reconstruction loss, backward, clip, step.

It mirrors ``AE.forward``/``AE.recon_loss``; an edit to those belongs here too: the trainer
checks the two against each other on the first batch of every fit (:mod:`.check`) and trains
through autograd where they differ."""

from __future__ import annotations

import torch

from .chain import Chain, Layer
from .step import Step, networks, qualifies

SAME = ("forward", "training_step", "encode", "decode_logits", "code_transform", "penalty", "recon_loss")


def plan(model, optimizers: list) -> list[Layer] | str:
    """The model's layers when the hand-written AE step computes exactly its training loss,
    else the reason it does not (for the debug log)."""
    from ..models.ae import AE

    nets = qualifies(model, AE, SAME, "a plain AE/DAE") or networks(model, optimizers)
    return nets if isinstance(nets, str) else nets[0] + nets[1]


class MLPStep(Step):
    """One training step of a qualifying AE/DAE: corrupt, forward, loss, backward, clip, step."""

    def __init__(self, model, layers: list[Layer], optimizer: torch.optim.Optimizer, grad_clip: float = 0.0):
        self.chain = Chain(layers)
        super().__init__(model, [self.chain], optimizer, grad_clip)

    @torch.no_grad()
    def gradients(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        target = x.flatten(1).to(torch.float32)
        h = self.chain.forward(self.model.corrupt(x).flatten(1).to(torch.float32))
        self.zero_grads()
        loss, g, s = self.recon(h, target)
        self.chain.backward(g, s, set())
        return {"loss": loss, "recon": loss}
