"""aekit's modules depend in one direction (GUIDE.md): cli → tasks/report/sklearn → train →
models → nets/data, with small shared utilities at the bottom. Every import in src/aekit,
module-level or inside a function, is read with ``ast``; the test fails on an import cycle
(which a function-level import only hides until run time) and on an import of a higher layer.

``python tests/test_layering.py`` prints the import graph and any cycles.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Lowest first. A module may import modules of its own layer (without a cycle) and of the
# layers below; a name matches itself and its submodules ("aekit.data" covers aekit.data.files).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("utilities", ("aekit._version", "aekit.errors", "aekit.config", "aekit.io", "aekit.plots")),
    ("nets, data and shared pieces", ("aekit.nets", "aekit.data", "aekit.latents", "aekit.corruption",
                                      "aekit.likelihoods", "aekit.schedules", "aekit.rundir")),
    ("models", ("aekit.models", "aekit.registry")),
    ("train", ("aekit.train", "aekit.accel", "aekit.tensorboard")),
    ("tasks, report, sklearn", ("aekit.tasks", "aekit.metrics", "aekit.apply", "aekit.report", "aekit.sklearn",
                                "aekit.serve", "aekit.export", "aekit.workflow", "aekit.deploy",
                                "aekit.series_detector", "aekit.series_run", "aekit.text_run")),
    ("cli", ("aekit.cli", "aekit.__main__")),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((SRC / "aekit").rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> dict[str, int]:
    """aekit modules that ``name`` imports anywhere in its file → the first line doing so.

    ``import a.b`` counts as importing ``a.b``; ``from .x import y`` as importing ``x.y`` when
    that is a module, else ``x``. A module not (yet) in the tree is no edge."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[str, int] = {}

    def add(target: str, line: int) -> None:
        if target in known and target != name:
            found.setdefault(target, line)

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                full = f"{target}.{alias.name}"
                add(full if full in known else target, node.lineno)
    return found


def graph() -> dict[str, dict[str, int]]:
    mods = modules()
    known = set(mods)
    return {name: imports(name, path, known) for name, path in mods.items()}


def cycles(g: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(g)))
    for v in g:
        if v not in index:
            visit(v)
    return found


def describe(comp: list[str], g: dict[str, dict[str, int]]) -> str:
    inside = set(comp)
    return "; ".join(f"{a}:{line} → {b}" for a in comp for b, line in sorted(g[a].items()) if b in inside)


def layer(name: str) -> int | None:
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return rank
    return None


def test_no_import_cycles():
    g = graph()
    found = cycles(g)
    assert not found, "import cycles (move the shared piece down a layer):\n" + "\n".join(
        describe(c, g) for c in found)


def test_every_module_has_a_layer():
    unplaced = [m for m in graph() if m != "aekit" and layer(m) is None]
    assert not unplaced, f"add these modules to LAYERS in tests/test_layering.py: {unplaced}"


def test_no_module_imports_a_higher_layer():
    g = graph()
    upward = [f"{a}:{line} ({LAYERS[layer(a)][0]}) → {b} ({LAYERS[layer(b)][0]})"
              for a, targets in g.items() if a != "aekit" and layer(a) is not None
              for b, line in sorted(targets.items()) if layer(b) is not None and layer(b) > layer(a)]
    assert not upward, "imports against the layering:\n" + "\n".join(upward)


def test_the_checks_see_function_level_imports_and_cycles(tmp_path):
    # the parser finds an import inside a function, and a two-module cycle is reported
    (tmp_path / "a.py").write_text("def f():\n    from . import b\n")
    (tmp_path / "b.py").write_text("from .a import f\n")
    known = {"aekit.t.a", "aekit.t.b"}
    g = {"aekit.t.a": imports("aekit.t.a", tmp_path / "a.py", known),
         "aekit.t.b": imports("aekit.t.b", tmp_path / "b.py", known)}
    assert g == {"aekit.t.a": {"aekit.t.b": 2}, "aekit.t.b": {"aekit.t.a": 1}}
    assert cycles(g) == [["aekit.t.a", "aekit.t.b"]]


if __name__ == "__main__":
    g = graph()
    for name, targets in sorted(g.items()):
        print(f"{name} → {', '.join(sorted(targets)) or '-'}")
    for comp in cycles(g):
        print("CYCLE:", describe(comp, g))
