"""The naming convention is on the metadata before any table exists, whichever model module
a process imports first: it lives in app.db.types, which each of them imports (not in
app/__init__.py, which every `assistcal` command runs, --help included)."""

import ast
from pathlib import Path

from app.tables import metadata

APP = Path(__file__).resolve().parents[2] / "app"


def _defines_a_table(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.ClassDef)
        and any(
            keyword.arg == "table"
            and isinstance(keyword.value, ast.Constant)
            and keyword.value.value is True
            for keyword in node.keywords
        )
        for node in tree.body
    )


def _imports_db_types(tree: ast.Module) -> bool:
    return any(
        (isinstance(node, ast.Import) and any(a.name == "app.db.types" for a in node.names))
        or (isinstance(node, ast.ImportFrom) and node.module == "app.db.types")
        or (
            isinstance(node, ast.ImportFrom)
            and node.module == "app.db"
            and any(a.name == "types" for a in node.names)
        )
        for node in tree.body
    )


def test_every_module_with_a_table_model_imports_the_naming_convention() -> None:
    modules = {
        path.relative_to(APP.parent).as_posix(): ast.parse(path.read_text())
        for path in APP.rglob("*.py")
    }
    with_tables = {name for name, tree in modules.items() if _defines_a_table(tree)}
    assert len(with_tables) >= 10  # the scan finds them
    assert [name for name in sorted(with_tables) if not _imports_db_types(modules[name])] == []


def test_every_primary_key_is_named_by_the_convention() -> None:
    for table in metadata.sorted_tables:
        assert table.primary_key.name == f"pk_{table.name}"
