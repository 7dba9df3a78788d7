"""The Alembic migrations, run against a fresh, empty database of their own.

The tests depend on `db_url` so that they are marked `db` and run again on PostgreSQL, but
they never touch that shared database (other tests need it at head): on SQLite they use a new
file, on PostgreSQL a new database on the same server, dropped afterwards.
"""

import ast
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from psycopg import sql
from sqlalchemy.engine import make_url

from app.db.engine import make_engine
from app.db.migrate import MIGRATIONS_DIR, alembic_config, current_revision, downgrade, upgrade
from app.tables import metadata

VERSIONS_DIR = MIGRATIONS_DIR / "versions"
APP_TABLES = {table.name for table in metadata.sorted_tables}


def _libpq_url(url: sa.URL) -> str:
    """A URL psycopg understands (no SQLAlchemy '+driver')."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def fresh_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database on the same backend as `db_url`."""
    shared = make_url(db_url)
    if shared.get_backend_name() != "postgresql":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    base = (shared.database or "assistcal")[:50]
    name = f"{base}_{secrets.token_hex(4)}"
    # Connected to the shared test database only to create and drop the new one.
    server = _libpq_url(shared)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield shared.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _script(url: str) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(url))


def _head(url: str) -> str:
    head = _script(url).get_current_head()
    assert head is not None
    return head


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _schema_diff(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def _revisions_base_to_head(url: str) -> list[Script]:
    return list(reversed(list(_script(url).walk_revisions("base", "heads"))))


def test_upgrade_empty_database_to_head(fresh_url: str) -> None:
    assert current_revision(fresh_url) is None
    assert _tables(fresh_url) == set()

    upgrade(fresh_url)

    tables = _tables(fresh_url)
    assert tables >= APP_TABLES, f"missing after upgrade: {sorted(APP_TABLES - tables)}"
    assert tables - APP_TABLES == {"alembic_version"}
    assert current_revision(fresh_url) == _head(fresh_url)


# Each replica upgrades at start-up (assistcal serve): all three start at the same moment.
_REPLICA = """
import sys, time
from app.db.migrate import upgrade
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
upgrade(sys.argv[1])
"""


def test_replicas_started_at_once_migrate_one_after_the_other(fresh_url: str) -> None:
    """Without the migration lock, two of three replicas started together on a fresh
    PostgreSQL database crashed (a unique violation on alembic_version)."""
    import time

    start = f"{time.time() + 3:.3f}"  # after all three have imported the app
    replicas = [
        subprocess.Popen(
            [sys.executable, "-c", _REPLICA, fresh_url, start],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [replica.communicate(timeout=180)[0] for replica in replicas]
    assert [replica.returncode for replica in replicas] == [0, 0, 0], outputs
    assert current_revision(fresh_url) == _head(fresh_url)
    assert _schema_diff(fresh_url) == []


def test_models_and_migrations_agree(fresh_url: str) -> None:
    upgrade(fresh_url)
    assert _schema_diff(fresh_url) == []


def test_downgrade_to_base_and_upgrade_again(fresh_url: str) -> None:
    upgrade(fresh_url)
    downgrade(fresh_url, "base")

    assert _tables(fresh_url) <= {"alembic_version"}
    assert current_revision(fresh_url) is None
    if make_url(fresh_url).get_backend_name() == "postgresql":
        engine = make_engine(fresh_url)
        try:
            with engine.connect() as conn:
                # Nothing the migrations made outlives them (sequences of serial keys, types).
                assert sa.inspect(conn).get_sequence_names() == []
                assert sa.inspect(conn).get_enums() == []  # type: ignore[attr-defined]
        finally:
            engine.dispose()

    upgrade(fresh_url)
    assert current_revision(fresh_url) == _head(fresh_url)
    assert _tables(fresh_url) >= APP_TABLES
    assert _schema_diff(fresh_url) == []


def test_each_revision_upgrades_and_downgrades_one_step_at_a_time(fresh_url: str) -> None:
    revisions = _revisions_base_to_head(fresh_url)
    for script in revisions:
        upgrade(fresh_url, script.revision)
        assert current_revision(fresh_url) == script.revision
    for script in reversed(revisions):
        downgrade(fresh_url, "-1")
        assert current_revision(fresh_url) == script.down_revision
    assert _tables(fresh_url) <= {"alembic_version"}


def _is_stub(function: ast.FunctionDef) -> bool:
    """True when a function's body is only a docstring, `pass` or `...`."""
    for statement in function.body:
        if isinstance(statement, ast.Pass):
            continue
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue
        return False
    return True


def test_every_migration_has_upgrade_and_downgrade_and_the_chain_is_linear(db_url: str) -> None:
    # `db_url` only supplies a URL for the Alembic config; nothing connects to it here.
    script = _script(db_url)
    files = sorted(p for p in VERSIONS_DIR.glob("*.py") if p.name != "__init__.py")
    assert files, "no migration files"

    revisions = _revisions_base_to_head(db_url)
    assert {Path(s.path).resolve() for s in revisions} == {p.resolve() for p in files}, (
        "every file in migrations/versions is a revision on the chain"
    )

    assert len(script.get_heads()) == 1, f"more than one head: {script.get_heads()}"
    assert len(script.get_bases()) == 1, f"more than one base: {script.get_bases()}"
    previous: str | None = None
    for revision in revisions:
        assert not isinstance(revision.down_revision, tuple | list), (
            f"{revision.revision} is a merge of {revision.down_revision}"
        )
        assert revision.down_revision == previous, f"{revision.revision} is off the chain"
        assert not revision.branch_labels, f"{revision.revision} has branch labels"
        previous = revision.revision
    assert previous == script.get_current_head()

    for path in files:
        functions = {
            node.name: node
            for node in ast.parse(path.read_text("utf-8")).body
            if isinstance(node, ast.FunctionDef)
        }
        for name in ("upgrade", "downgrade"):
            assert name in functions, f"{path.name} has no {name}()"
            assert not _is_stub(functions[name]), f"{path.name}: {name}() does nothing"
        module = next(s for s in revisions if Path(s.path).resolve() == path.resolve()).module
        assert callable(module.upgrade)
        assert callable(module.downgrade)


def _filler(column: sa.Column[Any]) -> Any:
    """A value of the column's type, for a NOT NULL column a test does not care about."""
    kind = getattr(column.type, "impl", column.type)
    if isinstance(kind, sa.Uuid):
        return uuid.uuid4()
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer):
        return 1
    if isinstance(kind, sa.DateTime):
        return datetime.now(UTC)
    if isinstance(kind, sa.JSON):
        return {}
    if isinstance(kind, sa.LargeBinary):
        return b"x"
    return "x"


def _insert(conn: sa.Connection, old: sa.Table, **values: Any) -> None:
    """A row in the table as it was (`old`, reflected), its values bound as the models bind
    them (UUIDs, dates)."""
    model = metadata.tables[old.name]
    for column in old.columns:
        if column.name not in values and (
            not column.nullable or (column.primary_key and column.name == "id")
        ):
            if column.primary_key and not isinstance(model.c[column.name].type, sa.Uuid):
                continue  # an integer key numbers itself
            values[column.name] = _filler(model.c[column.name])
    conn.execute(model.insert().values(**values))


def test_upgrading_a_database_in_use_keeps_every_row(fresh_url: str) -> None:
    """A migration that rebuilds tables (SQLite's batch mode) must not cascade to, or stop
    at, the rows that point at them: sessions, uploads, private feeds, pending webhook
    deliveries of a database in use are all there after the upgrade to head."""
    before_people = "0f6c926be370"
    upgrade(fresh_url, before_people)
    engine = make_engine(fresh_url)
    tables = sa.MetaData()
    tables.reflect(engine)
    key, webhook = uuid.uuid4(), uuid.uuid4()
    with engine.begin() as conn:
        _insert(conn, tables.tables["organization"], id=1, acronym="UNLIREC")
        _insert(conn, tables.tables["api_key"], id=key, organization_id=1, key_hash="h" * 64)
        _insert(conn, tables.tables["web_session"], api_key_id=key, token_hash="s" * 64)
        _insert(conn, tables.tables["pending_upload"], api_key_id=key)
        _insert(conn, tables.tables["feed_token"], api_key_id=key, organization_id=1)
        _insert(conn, tables.tables["webhook"], id=webhook, organization="UNLIREC")
        _insert(conn, tables.tables["webhook_delivery"], webhook_id=webhook, status="pending")
    counted = ("api_key", "web_session", "pending_upload", "feed_token", "webhook_delivery")

    def counts() -> dict[str, int]:
        with engine.connect() as conn:
            return {
                name: conn.execute(
                    sa.select(sa.func.count()).select_from(sa.table(name))
                ).scalar_one()
                for name in counted
            }

    assert counts() == dict.fromkeys(counted, 1)
    try:
        upgrade(fresh_url)
        assert counts() == dict.fromkeys(counted, 1)
    finally:
        engine.dispose()
