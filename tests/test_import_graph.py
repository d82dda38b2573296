"""The package's import graph: no cycles, and instrument engines never import each other.

Every ``import``/``from … import`` in ``caldp/`` is read with :mod:`ast`, including those inside
functions (a deferred import still couples two modules; it only hides the cycle from Python).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "caldp"
#: engine packages of one instrument each; they share code only through ``engines/common`` and ``engines/ccd``
INSTRUMENT_PACKAGES = ("acs", "wfc3", "cos", "stis")
#: the shared layers, which import no instrument package
SHARED_PACKAGES = ("common", "ccd")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, root: Path, known: set[str]) -> set[str]:
    """Modules of the package that `path` imports (``from x import y`` counts ``x.y`` when that is a module)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # ``from pkg import mod`` imports pkg.mod; ``from mod import name`` imports mod
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            # the longest known module that the target names (a name imported from a module is not a module)
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    files = sorted(root.rglob("*.py"))
    known = {module_name(p, root) for p in files}
    return {module_name(p, root): imported_modules(p, root, known) for p in files}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def instrument_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) >= 3 and parts[:2] == ["caldp", "engines"]:
        inst = parts[2]
        return inst if inst in INSTRUMENT_PACKAGES else None
    return None


def cross_instrument_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported) where an instrument package imports another, or a shared layer imports one."""
    bad = []
    for mod, targets in graph.items():
        parts = mod.split(".")
        shared = len(parts) >= 3 and parts[:2] == ["caldp", "engines"] and parts[2] in SHARED_PACKAGES
        mine = instrument_of(mod)
        if mine is None and not shared:
            continue
        bad += [(mod, t) for t in sorted(targets) if instrument_of(t) not in (None, mine)]
    return sorted(bad)


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_instrument_engines_do_not_import_each_other():
    bad = cross_instrument_imports(import_graph())
    assert not bad, "instrument engine packages importing another: " + ", ".join(f"{a} -> {b}" for a, b in bad)


def test_walk_sees_function_level_and_relative_imports():
    graph = import_graph()
    # the walk found the whole package, and the engines' relative imports resolve to real modules
    assert "caldp.engines.common.hstio" in graph
    assert graph["caldp.engines.acs.calacs"], "no imports found for the ACS driver"


@pytest.fixture
def toy_package(tmp_path):
    root = tmp_path / "caldp"
    for d in ("", "engines", "engines/acs", "engines/wfc3", "engines/common"):
        (root / d).mkdir(exist_ok=True)
        (root / d / "__init__.py").write_text("")
    return root


def test_detects_a_cycle_through_a_function_level_import(toy_package):
    (toy_package / "engines/common/a.py").write_text("from . import b\n")
    (toy_package / "engines/common/b.py").write_text("def f():\n    from .a import x\n    return x\n")
    cycle = find_cycle(import_graph(toy_package))
    assert cycle and set(cycle) == {"caldp.engines.common.a", "caldp.engines.common.b"}


def test_detects_the_shared_layer_importing_an_instrument(toy_package):
    (toy_package / "engines/ccd").mkdir()
    (toy_package / "engines/ccd/__init__.py").write_text("")
    (toy_package / "engines/acs/dq.py").write_text("BAD = 1\n")
    (toy_package / "engines/ccd/rej.py").write_text("def f():\n    from ..acs.dq import BAD\n    return BAD\n")
    assert cross_instrument_imports(import_graph(toy_package)) == [("caldp.engines.ccd.rej", "caldp.engines.acs.dq")]


def test_detects_an_instrument_importing_another(toy_package):
    (toy_package / "engines/wfc3/rej.py").write_text("X = 1\n")
    (toy_package / "engines/acs/rej.py").write_text("from ..wfc3.rej import X\n")
    (toy_package / "engines/acs/ok.py").write_text("from ..common import a\nimport caldp.engines.common\n")
    (toy_package / "engines/common/a.py").write_text("")
    assert cross_instrument_imports(import_graph(toy_package)) == [("caldp.engines.acs.rej", "caldp.engines.wfc3.rej")]
    assert find_cycle(import_graph(toy_package)) is None
