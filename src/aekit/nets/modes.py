"""Module modes as context managers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """``with eval_mode(model): …`` runs the block in eval mode (no corruption, dropout off,
    the posterior mean) and gives the module back the training flag it had, also when the
    block raises: scoring or sampling in the middle of a fit leaves the fit's mode alone."""
    was = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was)
