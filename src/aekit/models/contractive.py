"""Contractive autoencoder (Rifai, Vincent, Muller, Glorot & Bengio 2011, "Contractive
Auto-Encoders: Explicit Invariance During Feature Extraction", ICML 2011).

An AE whose code h = f(x) = σ(W x + b) is made locally insensitive to the input by
penalizing the Frobenius norm of the encoder's Jacobian:

    L(x) = ‖x − g(f(x))‖² + λ ‖J_f(x)‖²_F,      J_f(x) = ∂h/∂x  (latent_dim × input_dim)

For the paper's one-layer sigmoid encoder the penalty has a closed form, since
∂h_j/∂x_i = h_j (1 − h_j) W_ji:

    ‖J_f(x)‖²_F = Σ_j (h_j (1 − h_j))² Σ_i W_ji²

For deeper (or convolutional) encoders it is computed exactly with one vector–Jacobian
product per code unit (``jacobian="exact"``), or estimated without bias with Hutchinson's
trick E_{v ~ N(0, I)} ‖vᵀ J‖² = ‖J‖²_F using ``n_projections`` random v
(``jacobian="hutchinson"``: one backward pass each, whatever the code size).
``jacobian="auto"`` takes the closed form where it applies and the exact product otherwise.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch

from ..config import check, option
from .ae import AE, AEConfig
from .base import Output
from .registry import register


@dataclasses.dataclass(frozen=True, kw_only=True)
class ContractiveAEConfig(AEConfig):
    contractive_weight: float = option(
        1e-4, "weight λ of the Jacobian penalty (the loss is per feature: ≈ a summed loss with λ ≈ 0.1 on MNIST)")
    code_activation: Literal["sigmoid", "linear"] = option("sigmoid", "activation of the code h = f(x)")
    jacobian: Literal["auto", "closed_form", "exact", "hutchinson"] = option(
        "auto", "how ‖J_f(x)‖²_F is computed; auto: the closed form where it applies, else exact")
    n_projections: int = option(1, "random projections of the Hutchinson estimate")

    def validate(self) -> None:
        super().validate()
        check(self.contractive_weight >= 0, "contractive_weight", f"λ must be ≥ 0, got {self.contractive_weight}")
        check(self.n_projections >= 1, "n_projections", f"must be ≥ 1, got {self.n_projections}")
        check(
            self.jacobian != "closed_form" or self.closed_form_applies,
            "jacobian",
            "'closed_form' needs the paper's one-layer sigmoid encoder (arch='mlp', hidden=(), "
            "code_activation='sigmoid'); use 'auto', 'exact' or 'hutchinson'",
        )

    @property
    def closed_form_applies(self) -> bool:
        return self.arch == "mlp" and self.hidden == () and self.code_activation == "sigmoid"


@register("cae")
class ContractiveAE(AE):
    config_class = ContractiveAEConfig
    paper = "Rifai et al. 2011, Contractive Auto-Encoders: Explicit Invariance During Feature Extraction"
    variants = ({}, {"hidden": ()}, {"jacobian": "hutchinson", "n_projections": 2, "code_activation": "linear"})

    @property
    def method(self) -> str:
        c = self.config
        if c.jacobian == "auto":
            return "closed_form" if c.closed_form_applies else "exact"
        return c.jacobian

    def code_transform(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(z) if self.config.code_activation == "sigmoid" else z

    def jacobian_norm(self, x: torch.Tensor, h: torch.Tensor | None = None,
                      method: str | None = None) -> torch.Tensor:
        """‖J_f(x)‖²_F per sample (B,). ``h`` = f(x) when already computed from this ``x``
        (for the autograd methods ``x`` must then require grad)."""
        method = method or self.method
        if method == "closed_form":
            h = self.code(x) if h is None else h  # (B, D)
            w2 = self.encoder[-1].weight.pow(2).sum(1)  # Σ_i W_ji², (D,)
            return (h * (1 - h)).pow(2) @ w2
        if torch.is_inference_mode_enabled() or not torch.is_grad_enabled():
            # evaluation: autograd is off, turn it on for this computation only
            with torch.inference_mode(False), torch.enable_grad():
                return self.jacobian_norm(x.clone(), None, method).detach()
        if h is None:
            x = x.detach().requires_grad_(True)
            h = self.code(x)
        if method == "exact":  # one vector–Jacobian product per code unit: row j of J
            total = 0
            for j in range(h.shape[1]):
                (g,) = torch.autograd.grad(h[:, j].sum(), x, create_graph=True, retain_graph=True)
                total = total + g.pow(2).flatten(1).sum(1)
            return total
        total = 0  # Hutchinson: E ‖vᵀ J‖² = ‖J‖²_F for v ~ N(0, I)
        for _ in range(self.config.n_projections):
            v = torch.randn_like(h)
            (g,) = torch.autograd.grad((h * v).sum(), x, create_graph=True, retain_graph=True)
            total = total + g.pow(2).flatten(1).sum(1)
        return total / self.config.n_projections

    def forward(self, x: torch.Tensor) -> Output:
        autograd = self.method != "closed_form" and torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
        xin = x.detach().requires_grad_(True) if autograd else x
        z = self.code(xin)  # (B, D)
        hx = self.decode_logits(z)
        recon = self.recon_loss(hx, x)
        jac = self.jacobian_norm(xin, z if autograd or self.method == "closed_form" else None).mean()
        loss = recon + self.config.contractive_weight * jac
        return Output(loss=loss, terms={"recon": recon.detach(), "contractive": jac.detach()},
                      recon=self.output_activation(hx), z=z)
