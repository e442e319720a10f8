"""The data layer's modules import one another in one direction: no module imports a module
that imports it back (module-level or inside a function)."""

from __future__ import annotations

import ast
from pathlib import Path

import aekit.data

DATA = Path(aekit.data.__file__).parent


def sibling_imports() -> dict[str, set[str]]:
    mods = {p.stem for p in DATA.glob("*.py")}
    graph = {}
    for m in mods:
        deps = set()
        for node in ast.walk(ast.parse((DATA / f"{m}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                deps |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aekit.data."):
                deps.add(node.module.split(".")[2])
        graph[m] = (deps & mods) - {m}
    return graph


def test_no_import_cycles_in_the_data_layer():
    graph = sibling_imports()
    assert "named" in graph["vision"] and "datasets" not in graph["vision"]  # the cycle this replaced

    def reaches(a, b, seen=()):
        return b in graph[a] or any(reaches(c, b, (*seen, a)) for c in graph[a] if c not in seen)

    cycles = sorted(m for m in graph if reaches(m, m))
    assert cycles == [], f"modules on an import cycle: {cycles}"


def test_shared_helpers_stay_importable_from_datasets():
    from aekit.data import datasets, named

    for name in ("dataset", "find", "missing", "try_download", "SCALE", "DATASETS"):
        assert getattr(datasets, name) is getattr(named, name)
    assert {"mnist", "cifar10", "svhn", "celeba"} <= set(datasets.names())
