"""Generation with autoencoders: sampling, interpolation and latent traversals.

Sampling. A family with a prior (VAE and IWAE: z ~ N(0, I); AAE, WAE, VQ-VAE) declares
``generative`` and has ``model.sample``.
A deterministic AE has no prior, so one is fitted after training (Ghosh et al. 2020, "From
Variational to Deterministic Autoencoders", ex-post density estimation): a K-component
Gaussian mixture on the training codes,

    p(z) = Σ_k π_k N(z; μ_k, Σ_k),    x = g(z),  z ~ p(z),

fitted by EM (scikit-learn's GaussianMixture) and stored as ``code_gmm.safetensors``
(weights, means, Cholesky factors; never a pickle).

Interpolation between x₀ and x₁ decodes z(t), t ∈ [0, 1], z₀ = f(x₀), z₁ = f(x₁):
linear z(t) = (1 − t) z₀ + t z₁, or spherical (White 2016, "Sampling Generative Networks"),
z(t) = sin((1 − t)Ω)/sin Ω · z₀ + sin(tΩ)/sin Ω · z₁ with cos Ω = ẑ₀·ẑ₁, which keeps a
Gaussian latent's norm typical. Traversal varies one code dimension at a time around f(x).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import AekitError
from .common import as_tensor, codes

GMM_FILE = "code_gmm.safetensors"


class CodeGMM:
    """A Gaussian mixture over codes: ``weights`` (K,), ``means`` (K, D), ``chol`` (K, D, D)."""

    def __init__(self, weights: torch.Tensor, means: torch.Tensor, chol: torch.Tensor):
        self.weights, self.means, self.chol = weights.double(), means.double(), chol.double()

    @classmethod
    def fit(cls, z, n_components: int = 10, seed: int = 0) -> CodeGMM:
        from sklearn.mixture import GaussianMixture

        z = as_tensor(z).double().numpy()
        if n_components < 1:
            raise AekitError(f"n_components: must be ≥ 1, got {n_components}")
        k = min(n_components, len(z))
        g = GaussianMixture(k, covariance_type="full", reg_covar=1e-5, random_state=seed, max_iter=200).fit(z)
        chol = np.linalg.cholesky(g.covariances_)
        return cls(torch.from_numpy(g.weights_), torch.from_numpy(g.means_), torch.from_numpy(chol))

    @property
    def std(self) -> torch.Tensor:
        """Per-dimension standard deviation of the whole mixture (D,)."""
        cov = self.chol @ self.chol.transpose(1, 2)
        mean = (self.weights[:, None] * self.means).sum(0)
        second = (self.weights[:, None] * (torch.diagonal(cov, dim1=1, dim2=2) + self.means**2)).sum(0)
        return (second - mean**2).clamp_min(1e-12).sqrt()

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n codes (n, D) float32."""
        comp = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.means.shape[1], generator=generator, dtype=torch.float64)
        z = self.means[comp] + (self.chol[comp] @ eps[:, :, None])[:, :, 0]
        return z.float()

    def save(self, path: str | Path) -> None:
        from .. import io

        io.save_tensors(path, {"weights": self.weights, "means": self.means, "chol": self.chol},
                        {"what": "Gaussian mixture over training codes"})

    @classmethod
    def load(cls, path: str | Path) -> CodeGMM:
        from .. import io

        t = io.load_tensors(path)
        missing = {"weights", "means", "chol"} - set(t)
        if missing:
            raise AekitError(f"{path}: missing {sorted(missing)}; delete it and sample again to refit")
        return cls(t["weights"], t["means"], t["chol"])


@torch.inference_mode()
def sample(model, n: int, gmm: CodeGMM | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """n decoded samples (n, *input_shape): from the prior, or from ``gmm`` for deterministic AEs."""
    if n <= 0:
        raise AekitError(f"n: number of samples must be positive, got {n}")
    model.eval()
    if gmm is None:
        if not model.generative:
            raise AekitError(f"gmm: a {type(model).__name__} has no prior; fit one with CodeGMM.fit(codes(model, x_train))")
        return model.sample(n, generator=generator)
    p = next(model.parameters())
    return model.decode(gmm.sample(n, generator).to(p.device, p.dtype))


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (T, D) between z0 (D,) and z1 (D,); linear when they are parallel."""
    a, b = z0 / z0.norm().clamp_min(1e-12), z1 / z1.norm().clamp_min(1e-12)
    omega = torch.arccos((a * b).sum().clamp(-1.0, 1.0))
    if omega.abs() < 1e-6 or (np.pi - omega).abs() < 1e-6:
        return (1 - t)[:, None] * z0 + t[:, None] * z1
    s = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / s)[:, None] * z0 + (torch.sin(t * omega) / s)[:, None] * z1


@torch.inference_mode()
def interpolate(model, x0, x1, steps: int = 8, method: str = "auto") -> torch.Tensor:
    """Decoded path (steps, *input_shape) from x0 to x1 (each one sample, any batch-1 shape).

    ``method``: ``linear``, ``slerp`` or ``auto`` (slerp for variational models, whose
    latents are Gaussian; linear otherwise). The endpoints are the reconstructions of x0, x1.
    """
    if steps < 2:
        raise AekitError(f"steps: an interpolation needs at least 2 steps, got {steps}")
    if method not in ("auto", "linear", "slerp"):
        raise AekitError(f"method: choose auto, linear or slerp, got {method!r}")
    if method == "auto":
        method = "slerp" if model.variational else "linear"
    model.eval()
    shape = tuple(model.config.input_shape)
    z = model.transform(torch.cat([as_tensor(x0).reshape(1, *shape), as_tensor(x1).reshape(1, *shape)]))
    t = torch.linspace(0, 1, steps, dtype=z.dtype, device=z.device)
    path = slerp(z[0], z[1], t) if method == "slerp" else (1 - t)[:, None] * z[0] + t[:, None] * z[1]
    path[0], path[-1] = z[0], z[1]  # exact endpoints despite rounding
    return model.decode(path).cpu()


@torch.inference_mode()
def traverse(model, x, steps: int = 7, span: float = 3.0, scale=None, dims=None) -> torch.Tensor:
    """Vary each code dimension d over z_d + s_d · linspace(−span, span, steps) around f(x).

    ``scale`` s (D,): per-dimension spread; default 1 (the prior's σ) for variational models,
    else the standard deviation of the codes of ``x`` when it is a batch, else 1. Returns
    (len(dims), steps, *input_shape), decoded.
    """
    if steps < 2:
        raise AekitError(f"steps: a traversal needs at least 2 steps, got {steps}")
    model.eval()
    shape = tuple(model.config.input_shape)
    xb = as_tensor(x).reshape(-1, *shape)
    zs = codes(model, xb)
    z = zs[0]
    d = z.shape[0]
    if scale is None:
        scale = zs.std(0) if len(zs) > 1 and not model.variational else torch.ones(d)
    scale = as_tensor(scale).to(z)
    dims = list(range(d)) if dims is None else list(dims)
    if any(not 0 <= i < d for i in dims):
        raise AekitError(f"dims: code dimensions are 0..{d - 1}, got {dims}")
    offs = torch.linspace(-span, span, steps, dtype=z.dtype)
    zz = z.repeat(len(dims), steps, 1)  # (len(dims), steps, D)
    for r, i in enumerate(dims):
        zz[r, :, i] = z[i] + scale[i] * offs
    p = next(model.parameters())
    out = model.decode(zz.reshape(-1, d).to(p.device, p.dtype)).cpu()
    return out.reshape(len(dims), steps, *shape)


def run_gmm(run_dir: str | Path, model, n_components: int = 10, seed: int = 0, refit: bool = False) -> CodeGMM:
    """The run's code mixture: loaded from ``code_gmm.safetensors``, or fitted on the run's
    training data (up to 20,000 samples) and saved there."""
    from ..data.runs import run_data

    path = Path(run_dir) / GMM_FILE
    if path.is_file() and not refit:
        return CodeGMM.load(path)
    x = run_data(run_dir).train()
    if len(x) > 20000:
        x = x[np.random.default_rng(seed).choice(len(x), 20000, replace=False)]
    gmm = CodeGMM.fit(codes(model, x), n_components, seed)
    gmm.save(path)
    return gmm
