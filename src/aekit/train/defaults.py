"""The training options a user left unset, sized to the data (``batch_size``, ``epochs``,
``early_stopping`` of :class:`~aekit.TrainConfig` are ``None`` by default).

- **batch size**: ``min(256, n_train)`` — 64 instead of 256 for rows of tokens (the text
  families) — so 40 rows train as one batch of 36 instead of failing;
- **epochs**: about ``STEPS`` optimizer steps, ``clamp(ceil(STEPS / batches per epoch),
  EPOCHS_MIN, EPOCHS_MAX)``: 100 rows (90 train, one batch) train 300 epochs, MNIST's 54,000
  training rows 10 epochs of 211 batches, 10⁶ rows 3 epochs of 3,516 batches;
- **early stopping**, with those epochs only: stop after ``max(5, ceil(epochs / 10))`` epochs
  without a better validation loss and keep the best weights (off when the user gave
  ``epochs``: a run with its epochs given trains exactly as before).

A value the user gave is kept as given (a batch size larger than the training rows is still
refused by the trainer). :func:`resolve` returns the config with numbers in place of ``None``
— what the run directory records — and how each was chosen.
"""

from __future__ import annotations

import math

BATCH_SIZE = 256  # rows of numbers (tables, images, series windows)
TOKEN_BATCH_SIZE = 64  # rows of tokens (a text family's items)
STEPS = 2000  # the optimizer steps the default epochs aim for
EPOCHS_MIN, EPOCHS_MAX = 3, 300
PATIENCE_MIN = 5


def default_batch_size(n_train: int, tokens: bool = False) -> int:
    """``min(256, n_train)`` (64 for rows of tokens), at least 1."""
    return max(1, min(TOKEN_BATCH_SIZE if tokens else BATCH_SIZE, n_train))


def default_epochs(n_train: int, batch_size: int) -> int:
    """``clamp(ceil(STEPS / ceil(n_train / batch_size)), EPOCHS_MIN, EPOCHS_MAX)``."""
    per_epoch = max(1, math.ceil(n_train / batch_size))
    return min(EPOCHS_MAX, max(EPOCHS_MIN, math.ceil(STEPS / per_epoch)))


def default_patience(epochs: int) -> int:
    """Early-stopping patience for the default epochs: ``max(5, ceil(epochs / 10))``."""
    return max(PATIENCE_MIN, math.ceil(epochs / 10))


def resolve(config, n_train: int, tokens: bool = False):
    """(``config`` with ``batch_size``, ``epochs`` and ``early_stopping`` set, {option: how it
    was chosen} for those that were ``None``)."""
    chosen: dict[str, str] = {}
    changes: dict[str, int] = {}
    bs = config.batch_size
    if bs is None:
        cap = TOKEN_BATCH_SIZE if tokens else BATCH_SIZE
        bs = changes["batch_size"] = default_batch_size(n_train, tokens)
        chosen["batch_size"] = f"min({cap}, training rows)"
    if config.epochs is None:
        per_epoch = math.ceil(n_train / bs)
        epochs = changes["epochs"] = default_epochs(n_train, bs)
        chosen["epochs"] = (f"about {STEPS} steps at {per_epoch} batch{'es' if per_epoch > 1 else ''} per "
                            f"epoch, within {EPOCHS_MIN}-{EPOCHS_MAX}")
        if config.early_stopping is None:
            changes["early_stopping"] = default_patience(epochs)
            chosen["early_stopping"] = f"max({PATIENCE_MIN}, epochs / 10), with the default epochs"
    if config.early_stopping is None and "early_stopping" not in changes:
        changes["early_stopping"] = 0  # the user chose the epochs: no early stopping unless asked for
    return (config.replace(**changes) if changes else config), chosen
