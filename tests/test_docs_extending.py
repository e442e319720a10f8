"""docs/extending.md is a worked example: every ```python block on the page runs, in order,
in one namespace (a family, a network, a data set and a file reader are registered, then
removed again so that no other test sees them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture
def clean_registries():
    from aekit.data.named import DATASETS
    from aekit.data.readers import READERS
    from aekit.models.registry import MODELS
    from aekit.nets.registry import NETWORKS

    before = [dict(r) for r in (DATASETS, READERS, MODELS, NETWORKS)]
    yield
    for reg, old in zip((DATASETS, READERS, MODELS, NETWORKS), before):
        for k in [k for k in reg if k not in old]:
            del reg[k]


def test_every_example_runs(tmp_path, monkeypatch, clean_registries, one_thread):
    code = blocks()
    assert len(code) >= 5, "docs/extending.md lost its examples"
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    for i, src in enumerate(code):
        exec(compile(src, f"docs/extending.md[python block {i}]", "exec"), ns)  # noqa: S102
    # what the examples claim
    import aekit

    assert "small-conv" in aekit.nets.network_names() and "rae" in aekit.registry.model_names()
    assert ns["same"].config.arch == "sequential"
    assert (tmp_path / "runs" / "my-ae" / "model.safetensors").is_file()
    assert ns["vae"].network.name == "small-conv"


def test_the_page_names_every_builtin_network_and_registry():
    import aekit

    text = DOC.read_text(encoding="utf-8")
    for name in ("register_network", "register_reader", "register(", "dataset("):
        assert name in text, name
    for name in aekit.nets.network_names():
        if name in ("mlp", "conv", "sequential", "module"):
            assert name in text, name
