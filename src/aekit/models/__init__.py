"""Every autoencoder family; importing this package registers them all."""

from .aae import AAE, AAEConfig
from .ae import AE, AEConfig
from .base import ArchConfig, Autoencoder, Output, load
from .contractive import ContractiveAE, ContractiveAEConfig
from .denoising import DenoisingAE, DenoisingAEConfig
from .iwae import IWAE, IWAEConfig
from .ksparse import KSparseAE, KSparseAEConfig
from .scheduled import ScheduledDAE, ScheduledDAEConfig
from .seq2seq import Seq2Seq, Seq2SeqConfig, ensemble_candidates, translate_ensemble
from .sparse import SparseAE, SparseAEConfig
from .text import SentenceVAE, SentenceVAEConfig, SeqAE, TextAutoencoder, TextConfig
from .text_denoising import DenoisingSeqAE, DenoisingSeqAEConfig
from .usad import USAD, USADConfig
from .vae import VAE, BetaVAE, BetaVAEConfig, VAEConfig
from .vqvae import VQVAE, VQVAEConfig
from .wae import WAE, WAEConfig

__all__ = [
    "AE", "AEConfig", "ArchConfig", "Autoencoder", "Output", "load",
    "DenoisingAE", "DenoisingAEConfig", "SparseAE", "SparseAEConfig", "VAE", "VAEConfig",
    "AAE", "AAEConfig", "BetaVAE", "BetaVAEConfig", "ContractiveAE", "ContractiveAEConfig",
    "IWAE", "IWAEConfig", "KSparseAE", "KSparseAEConfig", "ScheduledDAE", "ScheduledDAEConfig",
    "VQVAE", "VQVAEConfig", "WAE", "WAEConfig", "USAD", "USADConfig",
    "TextAutoencoder", "TextConfig", "SeqAE", "SentenceVAE", "SentenceVAEConfig", "DenoisingSeqAE",
    "DenoisingSeqAEConfig", "Seq2Seq", "Seq2SeqConfig", "ensemble_candidates", "translate_ensemble",
]
