"""A hand-written forward and backward pass for fully connected autoencoders and VAEs (the CPU
fast path).

For an :class:`~aekit.AE` or :class:`~aekit.DenoisingAE` whose networks are stacks of
``Linear`` layers and activations, one training step is a fixed chain of matrix products. At
the batch sizes autoencoders train with, autograd's graph, a fresh allocation per operation and
separate bias/activation kernels cost about as much on a CPU as the products themselves.
:class:`MLPStep` computes the same loss and gradients (equal to autograd's up to float
rounding; tested) with ``addmm`` into buffers reused from step to step, writes the gradients
into each parameter's ``.grad`` and then calls the model's own optimizer, so optimizer state,
LR schedules, checkpoints and ``--resume`` are unchanged.

:class:`SparseStep` does the same for a sparse AE (the L1/KL-ρ penalty and the top-k or
sigmoid code transform written out) and :class:`VAEStep` for a VAE/β-VAE, Bernoulli or
Gaussian (reparameterization, the KL gradient and log σ's written out). :func:`build` returns
the step for a model, or why there is none (:func:`plan`, :func:`plan_sparse`,
:func:`plan_vae`): anything else that changes the math (a contractive penalty, an overridden
``forward``/``training_step``/``penalty``, a convolutional network, frozen or non-fp32
parameters, several optimizers) trains through autograd as before.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..likelihoods import LOG_2PI, bernoulli_nll
from ..models.sparse import kl_sparsity
from ..nets.mlp import TiedLinear

aten = torch.ops.aten


class Act(NamedTuple):
    """An activation: forward from the pre-activation (in place where ``keep_pre`` is False)
    and backward from (grad, pre-activation, output)."""

    forward: object
    backward: object
    keep_pre: bool


def _act(m: nn.Module) -> Act | None:
    if type(m) is nn.ReLU:
        return Act(torch.relu_, lambda g, pre, out: aten.threshold_backward(g, out, 0), False)
    if type(m) is nn.LeakyReLU:
        s = m.negative_slope
        return Act(lambda t: F.leaky_relu_(t, s), lambda g, pre, out: aten.leaky_relu_backward(g, out, s, True), False)
    if type(m) is nn.ELU:
        a = m.alpha
        return Act(lambda t: F.elu_(t, a), lambda g, pre, out: aten.elu_backward(g, a, 1, 1, True, out), False)
    if type(m) is nn.Tanh:
        return Act(torch.tanh_, lambda g, pre, out: aten.tanh_backward(g, out), False)
    if type(m) is nn.Sigmoid:
        return Act(torch.sigmoid_, lambda g, pre, out: aten.sigmoid_backward(g, out), False)
    if type(m) is nn.GELU:
        ap = m.approximate
        return Act(lambda t: F.gelu(t, approximate=ap), lambda g, pre, out: aten.gelu_backward(g, pre, approximate=ap), True)
    if type(m) is nn.SiLU:
        return Act(F.silu, lambda g, pre, out: aten.silu_backward(g, pre), True)
    return None


def _through_sigmoid_(g: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """g · y (1 − y) in place: a gradient through y = σ(h), from the output y."""
    return g.mul_(y).addcmul_(g, y, value=-1)


class Layer(NamedTuple):
    linear: nn.Linear | TiedLinear
    act: Act | None  # activation after this layer; None for the code layer and the output layer


def _stack(seq: nn.Module) -> list[Layer] | None:
    """[Linear, act, Linear, …, Linear] → layers, or None for any other structure."""
    if not isinstance(seq, nn.Sequential) or len(seq) % 2 == 0:
        return None
    mods = list(seq)
    layers = []
    for i in range(0, len(mods), 2):
        if type(mods[i]) not in (nn.Linear, TiedLinear) or mods[i].bias is None:
            return None
        act = _act(mods[i + 1]) if i + 1 < len(mods) else None
        if i + 1 < len(mods) and act is None:
            return None
        layers.append(Layer(mods[i], act))
    return layers


_SAME = ("forward", "training_step", "encode", "decode_logits", "code_transform", "penalty", "recon_loss")
_SAME_VAE = ("forward", "training_step", "encode", "decode_params", "nll", "elbo_terms", "prior_log_prob")


def _qualifies(model, base, names, what: str) -> str | None:
    """Why ``model`` cannot take a step written for ``base`` (not one, or a method of ``names``
    replaced on its class or on the instance — a wrapper, a test's spy), or None."""
    if not isinstance(model, base):
        return f"{type(model).__name__} is not {what}"
    changed = [n for n in names if n in vars(model) or getattr(type(model), n) is not getattr(base, n)]
    return f"{type(model).__name__} overrides {', '.join(changed)}" if changed else None


def _common(model, optimizers: list) -> tuple[list[Layer], list[Layer]] | str:
    if model.config.arch != "mlp":
        return "convolutional network"
    enc, dec = _stack(model.encoder), _stack(model.decoder)
    if enc is None or dec is None:
        return "the networks are not Linear/activation stacks"
    params = list(model.parameters())
    if any(not p.requires_grad or p.dtype != torch.float32 or p.device.type != "cpu" for p in params):
        return "parameters are frozen, not float32 or not on the CPU"
    if len(optimizers) != 1 or sum(len(g["params"]) for g in optimizers[0].param_groups) != len(params):
        return "not one optimizer over all parameters"
    return enc, dec


def plan(model, optimizers: list) -> list[Layer] | str:
    """The model's layers when the hand-written AE step computes exactly its training loss,
    else the reason it does not (for the debug log)."""
    from ..models.ae import AE

    nets = _qualifies(model, AE, _SAME, "a plain AE/DAE") or _common(model, optimizers)
    return nets if isinstance(nets, str) else nets[0] + nets[1]


def plan_vae(model, optimizers: list) -> tuple[list[Layer], list[Layer]] | str:
    """(encoder layers, decoder layers) when the hand-written VAE step computes exactly the
    model's training loss (a VAE or β-VAE, Bernoulli or Gaussian), else the reason it does not."""
    from ..models.vae import VAE

    return _qualifies(model, VAE, _SAME_VAE, "a VAE") or _common(model, optimizers)


def plan_sparse(model, optimizers: list) -> tuple[list[Layer], list[Layer]] | str:
    """(encoder layers, decoder layers) when the hand-written sparse step computes exactly the
    model's training loss (a SparseAE or KSparseAE), else the reason it does not."""
    from ..models.sparse import SparseAE

    return _qualifies(model, SparseAE, _SAME, "a sparse AE") or _common(model, optimizers)


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


class Chain:
    """Forward and backward of one Linear/activation stack with buffers reused every step."""

    def __init__(self, layers: list[Layer], input_grad: bool = False):
        self.layers, self.input_grad = layers, input_grad
        self._buffers: dict[int, tuple[list[torch.Tensor], list[torch.Tensor]]] = {}
        self.ins: list[torch.Tensor] = []
        self.pres: list[torch.Tensor] = []

    def buffers(self, b: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per batch size: each layer's output and each layer's input gradient (the first
        layer's only with ``input_grad``), reused every step (a fresh large allocation each step
        costs page faults on the CPU)."""
        if b not in self._buffers:
            if len(self._buffers) >= 2:  # the full batch and the epoch's last partial batch
                self._buffers.clear()
            outs = [torch.empty(b, lay.linear.out_features) for lay in self.layers]
            grads = [torch.empty(b, lay.linear.in_features) if i or self.input_grad else None
                     for i, lay in enumerate(self.layers)]
            self._buffers[b] = (outs, grads)
        return self._buffers[b]

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """The last layer's pre-activation; keeps each layer's input and pre-activation."""
        outs, _ = self.buffers(h.shape[0])
        self.ins, self.pres = [], []
        for lay, buf in zip(self.layers, outs):
            self.ins.append(h)
            h = torch.addmm(lay.linear.bias, h, lay.linear.weight.t(), out=buf)
            self.pres.append(h)
            if lay.act is not None:
                h = lay.act.forward(h)
        return h

    def backward(self, g: torch.Tensor, s: float, written: set[int]) -> torch.Tensor | None:
        """From ``g`` = dL/d(last pre-activation) / s: writes every weight and bias gradient
        (s folds into those, not into every activation gradient) and returns dL/d(input) / s
        with ``input_grad``. ``written``: ids of the weights whose gradient this step has
        written already — a weight shared by a tied layer gets the second gradient added."""
        _, gbufs = self.buffers(g.shape[0])
        for i in range(len(self.layers) - 1, -1, -1):
            lin = self.layers[i].linear
            if type(lin) is TiedLinear:  # y = x Wᵀᵀ: the shared W (in × out here) gets xᵀ g
                w = lin._tied[0].weight
                torch.addmm(w.grad, self.ins[i].t(), g, beta=int(id(w) in written), alpha=s, out=w.grad)
            else:
                w = lin.weight
                torch.addmm(w.grad, g.t(), self.ins[i], beta=int(id(w) in written), alpha=s, out=w.grad)
            written.add(id(w))
            torch.sum(g, 0, out=lin.bias.grad)
            lin.bias.grad.mul_(s)
            if i > 0 or self.input_grad:
                g = torch.mm(g, lin.weight, out=gbufs[i])
                act = self.layers[i - 1].act if i > 0 else None
                if act is not None:
                    g = act.backward(g, self.pres[i - 1], self.ins[i])
        return g if self.input_grad else None


class _Step:
    """Gradients into ``.grad``, clipping, then the model's own optimizer."""

    def __init__(self, model, chains: list[Chain], optimizer: torch.optim.Optimizer, grad_clip: float):
        self.model, self.optimizer, self.grad_clip = model, optimizer, grad_clip
        # the parameters once each (a tied layer owns only its bias; its weight is the encoder's)
        self.params = [p for c in chains for lay in c.layers
                       for p in ((lay.linear.bias,) if type(lay.linear) is TiedLinear else (lay.linear.weight, lay.linear.bias))]
        c = model.config
        self.bce = getattr(c, "recon_loss", "mse") == "bce"
        self.sigmoid = getattr(c, "output", "sigmoid") == "sigmoid"
        self._out: dict[int, torch.Tensor] = {}

    def zero_grads(self) -> None:
        for p in self.params:
            if p.grad is None:
                p.grad = torch.empty_like(p)  # every element is overwritten by the backward

    def recon(self, h: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
        """The AE reconstruction loss (mean over all elements) of decoder pre-activation ``h``
        and its gradient with respect to ``h``, up to the factor s: (loss, g, s). ``h`` is
        overwritten."""
        n = target.numel()
        if self.bce:
            loss = F.binary_cross_entropy_with_logits(h, target)
            return loss, h.sigmoid_().sub_(target), 1.0 / n  # dL/dh = (σ(h) − x) / n
        y = h.sigmoid_() if self.sigmoid else h
        if target.shape[0] not in self._out:
            self._out = {target.shape[0]: torch.empty_like(target)}
        g = torch.sub(y, target, out=self._out[target.shape[0]])
        loss = torch.dot(g.view(-1), g.view(-1)) / n
        if self.sigmoid:  # (y − x) · y (1 − y)
            _through_sigmoid_(g, y)
        return loss, g, 2.0 / n

    def update(self) -> None:
        if self.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip, foreach=True)
        self.optimizer.step()


class MLPStep(_Step):
    """One training step of a qualifying AE/DAE: corrupt, forward, loss, backward, clip, step."""

    def __init__(self, model, layers: list[Layer], optimizer: torch.optim.Optimizer, grad_clip: float = 0.0):
        self.chain = Chain(layers)
        super().__init__(model, [self.chain], optimizer, grad_clip)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        target = x.flatten(1).to(torch.float32)
        h = self.chain.forward(self.model.corrupt(x).flatten(1).to(torch.float32))
        self.zero_grads()
        loss, g, s = self.recon(h, target)
        self.chain.backward(g, s, set())
        self.update()
        return {"loss": loss, "recon": loss}


class SparseStep(_Step):
    """One training step of a qualifying sparse AE (L1, KL-ρ or top-k, k-sparse included):
    encode, code transform, decode, reconstruction loss + λ·penalty, backward through the
    penalty and the transform, clip, step. The logged terms are the model's own."""

    def __init__(self, model, enc: list[Layer], dec: list[Layer], optimizer: torch.optim.Optimizer,
                 grad_clip: float = 0.0):
        self.enc, self.dec = Chain(enc), Chain(dec, input_grad=True)
        super().__init__(model, [self.enc, self.dec], optimizer, grad_clip)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
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
            gpre = _through_sigmoid_(gz, z)
        else:
            pen, act = torch.zeros(()), (z != 0).float().mean()
            gpre = torch.zeros_like(pre).scatter_(-1, idx, gz.gather(-1, idx))
        self.enc.backward(gpre, s, written)
        self.update()
        loss = recon + lam * pen  # top-k: pen is 0
        return {"loss": loss, "recon": recon, "sparsity": pen, "mean_activation": act}


class VAEStep(_Step):
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
    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
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
        self.update()
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
            _through_sigmoid_(g, mu)
        return rec, g
