"""The direction of imports between app's packages, as docs/architecture.md draws it.

The document lists the packages in layers, highest first; a package may import only those
listed after it.  Every import statement in app/ (at the top of a module or inside a function)
is checked against that order, so an import against the documented direction, and any import
that would close a cycle between packages, fails here; and every package of app/ must be in
the list, so the drawing stays true of the code."""

import ast
import re
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

Edge = tuple[str, str, str]  # importing package, imported package, where ("app/x.py:12")


def documented_order(text: str) -> list[list[str]]:
    """The layers of the fenced block that starts with `# layers`: each a list of packages."""
    block = re.search(r"```text\n# layers[^\n]*\n(.*?)```", text, re.S)
    assert block, "docs/architecture.md has no ```text block starting with '# layers'"
    layers = []
    for line in block.group(1).splitlines():
        _layer, _, packages = line.partition(":")
        if packages.strip():
            layers.append(packages.split())
    return layers


def imports(root: Path = APP) -> list[Edge]:
    """Every import of one package of app by another."""
    edges = []
    for path in sorted(root.rglob("*.py")):
        source = path.relative_to(root).parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from app import x` imports the package (or module) x.
                modules = (
                    [f"app.{alias.name}" for alias in node.names]
                    if node.module == "app"
                    else [node.module]
                )
            else:
                continue  # relative imports stay inside their package
            for module in modules:
                parts = module.split(".")
                if parts[0] == "app" and len(parts) > 1 and parts[1] != source:
                    where = f"{path.relative_to(root.parent)}:{node.lineno}"
                    edges.append((source, parts[1], where))
    return edges


def against_order(edges: Iterable[Edge], layers: list[list[str]]) -> list[str]:
    """The imports of a package listed after (below) the one it imports."""
    rank = {name: i for i, name in enumerate(name for layer in layers for name in layer)}
    return [
        f"{where}: {source} imports {target}, which the architecture puts above it"
        for source, target, where in edges
        if rank.get(source, -1) >= rank.get(target, len(rank))
    ]


def cycles(edges: Iterable[Edge]) -> list[list[str]]:
    """The strongly connected groups of two packages or more (Tarjan's algorithm)."""
    graph: dict[str, set[str]] = {}
    for source, target, _ in edges:
        graph.setdefault(source, set()).add(target)
        graph.setdefault(target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def packages(root: Path = APP) -> set[str]:
    return {
        path.name.removesuffix(".py")
        for path in root.iterdir()
        if (path.suffix == ".py" and path.name != "__init__.py")
        or (path.is_dir() and (path / "__init__.py").exists())
    }


@pytest.fixture(scope="module")
def layers() -> list[list[str]]:
    if not ARCHITECTURE.exists():
        pytest.skip("docs/architecture.md is not in this checkout")
    return documented_order(ARCHITECTURE.read_text("utf-8"))


def test_every_package_is_drawn_once(layers: list[list[str]]) -> None:
    drawn = [name for layer in layers for name in layer]
    assert len(drawn) == len(set(drawn)), "a package is drawn twice"
    assert set(drawn) == packages(), "docs/architecture.md's layers and app/ differ"


def test_imports_follow_the_documented_direction(layers: list[list[str]]) -> None:
    edges = imports()
    assert len(edges) > 100  # the walk saw the code
    assert against_order(edges, layers) == []


def test_no_cycles_between_packages() -> None:
    assert cycles(imports()) == []


def test_infrastructure_imports_no_domain_package(layers: list[list[str]]) -> None:
    names = {name for layer in layers for name in layer}
    infrastructure = {"db", "http"}
    allowed = infrastructure | {"config", "errors", "core"}
    assert infrastructure <= names
    wrong = [e for e in imports() if e[0] in infrastructure and e[1] not in allowed]
    assert wrong == []


def test_the_checks_catch_a_wrong_import_and_a_cycle() -> None:
    """The checks themselves fail on what they must catch."""
    layers = [["web"], ["findings", "activities"], ["db"]]
    edges: list[Edge] = [
        ("web", "findings", "a"),
        ("findings", "activities", "b"),
        ("activities", "findings", "c"),  # against the order, and a cycle
        ("db", "web", "d"),  # infrastructure importing an adapter
    ]
    wrong = against_order(edges, layers)
    assert [line.split(":")[0] for line in wrong] == ["c", "d"]
    assert cycles(edges) == [["activities", "findings"]]
    assert cycles(edges[:2]) == []


def test_the_walk_sees_imports_inside_functions(tmp_path: Path) -> None:
    package = tmp_path / "app" / "organizations"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "service.py").write_text(
        "from app.audit import service\n\ndef f():\n    from app.feeds.service import x\n"
    )
    found = {target: where for _, target, where in imports(tmp_path / "app")}
    assert found == {
        "audit": "app/organizations/service.py:1",
        "feeds": "app/organizations/service.py:4",
    }
