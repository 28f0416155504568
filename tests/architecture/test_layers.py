"""The capability graph of ``platform/tsunagu``: no import cycle between capability folders, no upward arrow.

A capability is a first-level folder (or top-level module) of the package. Every import counts — relative or
absolute, at module level or inside a function: a lazy import is a dependency all the same. The layer table
is the README's (Architecture) and ``[tool.importlinter]``'s in ``pyproject.toml``; a new capability must be
placed in it before it can be imported from anywhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "platform" / "tsunagu"

#: Bottom to top. A capability may import any capability of a lower layer, and within its own layer the ones
#: listed before it.
LAYERS: list[list[str]] = [
    ["config", "core", "web"],  # 0: the shared toolkit; knows no feature
    ["keys", "tenancy", "identity"],  # 1: keys (issue #16) knows no feature: sealed columns are core's types
    ["engine", "forms", "notifications"],  # 2: the engine knows no domain module and no screen
    # audit, then sharing, first: the domain modules record into the one and ask the other what a viewer may
    # see; neither knows them
    [
        "audit",
        "sharing",
        "cases",
        "inbox",
        "meetings",
        "referrals",
        "reports",
        "privacy",
    ],  # 3: domain modules
    ["admin", "models", "jobs", "app", "devserver", "cli"],  # 4: wiring and entry points
]
RANK = {name: (layer, position) for layer, names in enumerate(LAYERS) for position, name in enumerate(names)}
#: Pairs of one layer that must not depend on each other in either direction.
INDEPENDENT = {frozenset({"engine", "forms"}), frozenset({"engine", "notifications"})}


def _capability(path: Path, root: Path) -> str:
    rel = path.relative_to(root)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path, root: Path) -> set[str]:
    """Capabilities of ``tsunagu`` that ``path`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = list(path.relative_to(root.parent).with_suffix("").parts)
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level]
                module = ".".join(base + ([node.module] if node.module else []))
                names = [module] if node.module else [f"{module}.{alias.name}" for alias in node.names]
            else:
                names = [node.module or ""]
        for name in names:
            parts = name.split(".")
            if parts[0] == "tsunagu" and len(parts) > 1:
                found.add(parts[1])
    return found


def capability_graph(root: Path = PACKAGE) -> dict[str, dict[str, list[str]]]:
    """``{capability: {imported capability: [files importing it]}}``."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in sorted(root.rglob("*.py")):
        if path.parent == root and path.name == "__init__.py":
            continue
        source = _capability(path, root)
        arrows = graph.setdefault(source, {})
        for target in _imports(path, root) - {source, "__init__"}:
            arrows.setdefault(target, []).append(str(path.relative_to(root)))
    return graph


def cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Strongly connected components of more than one capability (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def upward_arrows(graph: dict[str, dict[str, list[str]]]) -> list[str]:
    bad = []
    for source, arrows in sorted(graph.items()):
        for target, files in sorted(arrows.items()):
            if source not in RANK or target not in RANK:
                continue  # reported by the test for unplaced capabilities
            if RANK[target] >= RANK[source] or frozenset({source, target}) in INDEPENDENT:
                bad.append(f"{source} -> {target} ({', '.join(files)})")
    return bad


def test_every_capability_has_a_place_in_the_layers() -> None:
    unplaced = sorted(set(capability_graph()) - set(RANK))
    assert unplaced == [], f"place these capabilities in LAYERS (and in pyproject's importlinter): {unplaced}"


def test_no_import_cycle_joins_two_capability_folders() -> None:
    assert cycles(capability_graph()) == []


def test_no_import_points_up_the_layers() -> None:
    assert upward_arrows(capability_graph()) == []


def test_the_engine_knows_no_domain_module_and_no_screen() -> None:
    forbidden = {"cases", "inbox", "identity", "web", "meetings", "sharing", "admin", "referrals", "reports"}
    assert sorted(set(capability_graph()["engine"]) & forbidden) == []


@pytest.mark.parametrize(
    ("source", "statement", "expected"),
    [
        # an upward arrow that also closes a cycle (engine -> cases -> engine)
        ("engine/bad.py", "from ..cases import services\n", ("cycle", "engine -> cases")),
        # a lazy import inside a function is a dependency all the same
        ("core/bad.py", "def f():\n    from tsunagu.jobs import app\n", ("cycle", "core -> jobs")),
        # sideways inside a layer, against the order (tenancy may not use identity)
        ("tenancy/bad.py", "from ..identity import permissions\n", ("cycle", "tenancy -> identity")),
    ],
)
def test_the_checks_catch_a_bad_import(
    tmp_path: Path, source: str, statement: str, expected: tuple[str, str]
) -> None:
    """The same checks on a copy of the package with one bad import added fail, and say where."""
    import shutil

    copy = tmp_path / "tsunagu"
    shutil.copytree(
        PACKAGE, copy, ignore=shutil.ignore_patterns("static", "templates", "translations", "__pycache__")
    )
    (copy / source).write_text(statement, encoding="utf-8")
    graph = capability_graph(copy)
    kind, arrow = expected
    assert any(arrow.split(" -> ")[0] in c and arrow.split(" -> ")[1] in c for c in cycles(graph)), kind
    assert any(line.startswith(arrow) and source in line for line in upward_arrows(graph))
