"""The schema: Alembic's migrations, applied and read back."""

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from app.db.engine import IMMEDIATE, make_engine, normalise_url


def _migrations_dir() -> Path:
    """migrations/ of the checkout, or app/migrations where a built wheel installed them."""
    package = Path(__file__).resolve().parents[1]  # app/
    installed = package / "migrations"
    return installed if installed.is_dir() else package.parent / "migrations"


MIGRATIONS_DIR = _migrations_dir()


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def schema_head() -> str | None:
    """The latest migration this version of the service ships."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def schema_revision(session: Session) -> str | None:
    """The migration the database is at, None before the first (read in the session)."""
    try:
        with session.begin_nested():
            revision = session.execute(sa.text("SELECT version_num FROM alembic_version"))
            return revision.scalar()
    except sa.exc.DBAPIError:
        return None


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


# pg_advisory_lock's key for migrations: any constant that no other lock of the database uses.
MIGRATION_LOCK = 1540_2004


def check_foreign_keys(connection: sa.Connection) -> None:
    """On SQLite, before a migration commits: every row's foreign keys still point at rows
    (they were not enforced while tables were rebuilt)."""
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(
                f"the migration left rows whose foreign keys point nowhere: {broken[:5]}"
            )


@contextmanager
def migration_lock(connection: sa.Connection) -> Iterator[sa.Connection]:
    """Hold the database while migrations run on `connection`, so that replicas started at
    once migrate one after the other: the first upgrades, the others then find the schema at
    head and do nothing.  PostgreSQL: an advisory lock, held by the connection until it is
    released (or the connection dies).  SQLite: the migration's transaction takes the write
    lock when it begins (BEGIN IMMEDIATE), and the others wait for it (busy_timeout)."""
    if connection.dialect.name != "postgresql":
        # A batch migration rebuilds a table (copy, drop, rename): with foreign keys enforced,
        # the drop would cascade to the rows that point at it, or fail.  They are off for the
        # run, which is possible only outside a transaction, and checked before it commits
        # (check_foreign_keys).
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            yield connection.execution_options(**{IMMEDIATE: True})
        finally:
            if connection.in_transaction():
                connection.rollback()
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
        return
    connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
    connection.commit()  # the lock outlives this transaction: it is the session's
    try:
        yield connection
    finally:
        # A lost connection has let the lock go: its error, not the unlock's, is the one to see.
        with contextlib.suppress(sa.exc.DBAPIError):
            if connection.in_transaction():
                connection.rollback()  # a failed migration's transaction, before the unlock
            connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()
