"""The shape of the code, checked from its source with ``ast``: imports run one way (no
circle between any two modules of ``quoradesk``), the core is packages by concern with small
modules, the core knows nothing of Qt, and the GUI, the CLI and the server use each core
package through its face (its ``__init__``), not its insides."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "quoradesk"
CORE = PACKAGE / "core"
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str, path: Path) -> set[str]:
    """Every quoradesk module ``name`` imports, at any depth (a deferred import inside a
    function is still an edge: it only hides a circle until that function runs)."""
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("quoradesk"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if not source.startswith("quoradesk"):
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.add(sub if sub in MODULES else source)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imports_of(name, path) for name, path in MODULES.items()}


def cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return out


def test_no_import_circle():
    assert cycles() == []


def test_the_check_sees_a_circle():
    """The graph is real: the GUI imports the core, never the other way round."""
    assert "quoradesk.core.store" in GRAPH["quoradesk.gui.main_window"]
    GRAPH["quoradesk.core.store.writes"].add("quoradesk.core.store")
    try:
        assert cycles(), "a planted circle store -> store.writes -> store was not found"
    finally:
        GRAPH["quoradesk.core.store.writes"].discard("quoradesk.core.store")


def test_core_is_packages_by_concern():
    packages = [p for p in CORE.iterdir() if (p / "__init__.py").is_file()]
    plain = [p for p in CORE.glob("*.py") if p.name != "__init__.py"]
    assert len(packages) >= 4 and len(plain) <= 6, (packages, plain)
    for package in packages:
        face = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
        assert face and len(face) > 80, f"{package.name}/__init__.py says what the package offers"


def test_no_file_over_the_limit():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_core_knows_nothing_of_qt():
    for path in CORE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "PySide6" not in text and "pyqtgraph" not in text, path


def test_front_ends_use_the_core_packages_faces():
    core_packages = {f"quoradesk.core.{p.name}" for p in CORE.iterdir() if (p / "__init__.py").is_file()}
    inside = []
    for name, targets in GRAPH.items():
        if name.startswith(("quoradesk.gui", "quoradesk.cli")) or name in ("quoradesk.server", "quoradesk.selftest"):
            inside += [(name, t) for t in targets
                       if any(t.startswith(pkg + ".") for pkg in core_packages)]
    assert inside == []
