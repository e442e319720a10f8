"""Shared fixtures: real data from ../shared/data (skipped with a reason where absent)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AEKIT_SHARED_DATA", ROOT.parent / "shared" / "data"))
MNIST = SHARED / "mnist"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (it lives in ../shared/data)")
    return path


@pytest.fixture
def one_thread():
    """Small MLPs run faster on one thread, and the CI machine's cores are shared."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    return need(MNIST / "train-images-idx3-ubyte.gz").parent


@pytest.fixture(scope="session")
def mnist(mnist_root):
    import aekit

    return aekit.datasets.load("mnist", root=mnist_root, download=False)


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600):
    """Run the real ``aekit`` command in a subprocess; returns CompletedProcess."""
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "aekit", *args], capture_output=True, text=True, cwd=cwd, timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
