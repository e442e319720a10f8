"""The hand-written training step of a fully connected VAE or β-VAE
(:class:`aekit.models.vae.VAE`), Bernoulli or Gaussian: encode, reparameterize, decode,
−ELBO = −log p(x|z) + β·KL(q(z|x) ‖ N(0, I)) (mean over the batch), backward, clip, step.

It mirrors ``VAE.forward``/``VAE.elbo_terms``/``VAE.nll``; an edit to those belongs here too:
the trainer checks the two against each other on the first batch of every fit (:mod:`.check`)
and trains through autograd where they differ."""

from __future__ import annotations

import torch

from ..likelihoods import LOG_2PI, bernoulli_nll
from .chain import Chain, Layer, through_sigmoid_
from .step import Step, networks, qualifies

SAME = ("forward", "training_step", "encode", "decode_params", "nll", "elbo_terms", "prior_log_prob")


def plan_vae(model, optimizers: list) -> tuple[list[Layer], list[Layer]] | str:
    """(encoder layers, decoder layers) when the hand-written VAE step computes exactly the
    model's training loss (a VAE or β-VAE, Bernoulli or Gaussian), else the reason it does not."""
    from ..models.vae import VAE

    if isinstance(model, VAE) and model.config.gaussian_scale == "decoder":
        return "the Gaussian decoder outputs σ(z) (gaussian_scale='decoder'), which this step does not compute"
    return qualifies(model, VAE, SAME, "a VAE") or networks(model, optimizers)


class VAEStep(Step):
    """One training step of a qualifying VAE: encode, reparameterize, decode, −ELBO = −log
    p(x|z) + β·KL (mean over the batch), backward, clip, step. The likelihood is Bernoulli
    (logits) or Gaussian (mean through the output activation, learned per-feature log σ). ε
    is drawn as the autograd path draws it (one ``torch.randn`` of the code's shape), so a seed
    gives the same run either way."""

    def __init__(self, model, enc: list[Layer], dec: list[Layer], optimizer: torch.optim.Optimizer,
                 grad_clip: float = 0.0):
        self.enc, self.dec = Chain(enc), Chain(dec, input_grad=True)
        super().__init__(model, [self.enc, self.dec], optimizer, grad_clip)
        c = model.config
        self.d = c.latent_dim
        self.gaussian = c.likelihood == "gaussian"
        if self.gaussian:
            self.params.append(model.log_scale)

    @torch.no_grad()
    def gradients(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        target = x.flatten(1).to(torch.float32)
        b, d = target.shape[0], self.d
        h = self.enc.forward(target)
        mean, logvar = h[:, :d], h[:, d:]
        std = logvar.mul(0.5).exp_()
        eps = torch.randn(mean.shape, dtype=mean.dtype, device=mean.device)
        z = torch.addcmul(mean, std, eps)
        logits = self.dec.forward(z)
        self.zero_grads()
        w = self.model.kl_weight()
        if self.gaussian:
            rec, g = self.gaussian_nll(logits, target)
        else:
            rec = bernoulli_nll(logits, target).sum() / b
            g = logits.sigmoid_().sub_(target)  # dBCE/dlogits
        var = std * std
        kl = 0.5 * (mean.pow(2) + var - logvar - 1).sum() / b
        # gradients up to the factor 1/b: decoder, then through z = μ + σ ε into (μ, log σ²)
        gz = self.dec.backward(g, 1.0 / b, set())
        gh = torch.empty_like(h)
        torch.add(gz, mean, alpha=w, out=gh[:, :d])
        gl = gh[:, d:]
        torch.mul(gz, eps, out=gl)
        gl.mul_(std).add_(var.sub_(1), alpha=w).mul_(0.5)  # ½ (g_z ε σ + β (σ² − 1))
        self.enc.backward(gh, 1.0 / b, set())
        loss = rec + w * kl
        return {"loss": loss, "recon": rec, "kl": kl, "neg_elbo": rec + kl}

    def gaussian_nll(self, h: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean over the batch of −log N(x; mean(h), σ²) (``aekit.likelihoods.gaussian_nll``),
        and its gradient with respect to ``h`` times the batch size; writes log σ's gradient.
        ``h`` is overwritten."""
        b = target.shape[0]
        log_scale = self.model.log_scale
        ls = log_scale.reshape(-1)
        mu = h.sigmoid_() if self.sigmoid else h
        inv = torch.exp(-ls)
        u = (target - mu).mul_(inv)  # standardized residual
        uu = u * u
        rec = (0.5 * uu.sum() + b * (ls.sum() + 0.5 * LOG_2PI * ls.numel())) / b
        log_scale.grad.copy_((1 - uu.mean(0)).view_as(log_scale))  # d/d log σ of Σ (½ u² + log σ) / b
        g = u.mul_(inv).neg_()  # d/dμ = −u / σ
        if self.sigmoid:
            through_sigmoid_(g, mu)
        return rec, g
