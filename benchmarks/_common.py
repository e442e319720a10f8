"""What the benchmark scripts share: where the data and the results live, and how a run is
recorded (``benchmarks/results/NAME{tag}.json`` with every number, ``.md`` with the table)."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
MNIST = DATA / "mnist"
OUT = ROOT / "benchmarks" / "results"


def command(script: str, argv: list[str] | None) -> str:
    """The command line that reproduces this run."""
    return "python " + " ".join([f"benchmarks/{script}", *(argv or sys.argv[1:])])


def machine() -> str:
    import torch

    return f"{platform.machine()}, {torch.get_num_threads()} torch threads, no GPU"


def mnist_arrays(root, train_cap: int = 0):
    """MNIST from ``root`` (no download) as (x_train, y_train, x_test, y_test), the training part
    cut to its first ``train_cap`` images when that is not 0."""
    import aekit

    data = aekit.datasets.load("mnist", root=root, download=False)
    xtr, ytr, xte, yte = data.train(), data.y_train, data.test(), data.y_test
    if train_cap:
        xtr, ytr = xtr[:train_cap], ytr[:train_cap]
    return xtr, ytr, xte, yte


def write_results(name: str, tag: str, result: dict, lines: list[str]) -> None:
    """Write the JSON record and the Markdown table, and print the table."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}{tag}.json").write_text(json.dumps(result, indent=1))
    (OUT / f"{name}{tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def tutorial_epoch(model, loader, opt, limit: int | None = None) -> None:
    """One epoch of the loop a tutorial writes: for each DataLoader batch, ``model(x).loss``,
    zero_grad, backward, step (the first ``limit`` batches only, when given)."""
    model.train()
    for i, (xb,) in enumerate(loader):
        if limit is not None and i >= limit:
            break
        loss = model(xb).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
