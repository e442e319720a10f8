"""aekit: autoencoders of every family, for every job.

    import aekit
    model = aekit.VAE(input_shape=(1, 28, 28), latent_dim=16, arch="conv")
    aekit.Trainer(epochs=20).fit(model, aekit.datasets.load("mnist", root="data/mnist"))
    model.save_pretrained("runs/vae")
    same = aekit.load("runs/vae")

Attributes are imported lazily, so ``import aekit`` (and the ``aekit`` command's ``--help``)
does not import torch until a model, trainer or data set is used.
"""

from __future__ import annotations

import importlib
import logging

from ._version import __version__

logging.getLogger("aekit").addHandler(logging.NullHandler())

_LAZY = {
    "Autoencoder": "aekit.models",
    "Output": "aekit.models",
    "AE": "aekit.models",
    "DenoisingAE": "aekit.models",
    "SparseAE": "aekit.models",
    "VAE": "aekit.models",
    "BetaVAE": "aekit.models",
    "IWAE": "aekit.models",
    "AAE": "aekit.models",
    "ScheduledDAE": "aekit.models",
    "ContractiveAE": "aekit.models",
    "KSparseAE": "aekit.models",
    "VQVAE": "aekit.models",
    "WAE": "aekit.models",
    "USAD": "aekit.models",
    "SeqAE": "aekit.models",
    "SentenceVAE": "aekit.models",
    "DenoisingSeqAE": "aekit.models",
    "Seq2Seq": "aekit.models",
    "translate_ensemble": "aekit.models",
    "load": "aekit.models",
    "register_network": "aekit.nets",
    "load_plugins": "aekit.nets",
    "Trainer": "aekit.train",
    "TrainConfig": "aekit.train",
    "Data": "aekit.data",
    "read_series": "aekit.data",
    "read_text": "aekit.data",
    "Tokenizer": "aekit.data",
    "RunDir": "aekit.rundir",
    "train_run": "aekit.workflow",
    "resume_run": "aekit.workflow",
    "RunResult": "aekit.workflow",
    "export": "aekit.deploy",
    "deploy": None,
    "evaluate": "aekit.metrics",
    "AnomalyDetector": "aekit.sklearn",
    "AutoencoderTransformer": "aekit.sklearn",
    "SeriesDetector": "aekit.series_detector",
    "tasks": None,
    "sklearn": None,
    "AekitError": "aekit.errors",
    "datasets": None,
    "models": None,
    "data": None,
    "corruption": None,
    "latents": None,
    "nets": None,
    "registry": None,
    "schedules": None,
    "likelihoods": None,
    "metrics": None,
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'aekit' has no attribute {name!r}")
    if name == "datasets":
        value = importlib.import_module("aekit.data")
    elif _LAZY[name] is None:
        value = importlib.import_module(f"aekit.{name}")
    else:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
