"""Every autoencoder family; importing this package registers them all."""

from .ae import AE, AEConfig
from .base import ArchConfig, Autoencoder, Output, load
from .denoising import DenoisingAE, DenoisingAEConfig
from .sparse import SparseAE, SparseAEConfig
from .vae import VAE, VAEConfig

__all__ = [
    "AE", "AEConfig", "ArchConfig", "Autoencoder", "Output", "load",
    "DenoisingAE", "DenoisingAEConfig", "SparseAE", "SparseAEConfig", "VAE", "VAEConfig",
]
