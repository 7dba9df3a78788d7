"""Engine, sessions and migrations for SQLite (embedded default) and PostgreSQL."""

import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Request
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

import migrations

IMMEDIATE = "assistcal_immediate"
MIGRATIONS_DIR = Path(migrations.__file__).parent


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever driver the URL names (or none)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    url = normalise_url(url)
    if make_url(url).get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=10)
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling is switched off so that writers can take the
        # write lock up front (BEGIN IMMEDIATE): a deferred writer that read first would get
        # SQLITE_BUSY instead of waiting its turn.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get(IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def open_session(engine: Engine, *, write: bool) -> Session:
    """A session whose transaction, on SQLite, holds the write lock from its start when
    `write` is true."""
    session = Session(engine, expire_on_commit=False)
    if write:
        session.connection(execution_options={IMMEDIATE: True})
    return session


_write_locks: "weakref.WeakKeyDictionary[Engine, threading.Lock]" = weakref.WeakKeyDictionary()


def _write_lock(engine: Engine) -> "threading.Lock | None":
    """On SQLite, one lock per engine that write requests of this process take in turn.
    SQLite's own busy handler would also serialise them, but by sleeping and polling, which
    stretches the tail latency of concurrent writes by hundreds of milliseconds."""
    if engine.dialect.name != "sqlite":
        return None
    return _write_locks.setdefault(engine, threading.Lock())


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back if it
    raises."""
    engine = request.app.state.engine
    write = request.method not in ("GET", "HEAD", "OPTIONS")
    lock = _write_lock(engine) if write else None
    if lock is not None:
        lock.acquire()
    try:
        with open_session(engine, write=write) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
    finally:
        if lock is not None:
            lock.release()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def json_contains(session: Session, column: Any, value: str) -> sa.ColumnElement[bool]:
    """`value` is an element of the JSON array in `column`."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.type_coerce(column, JSONB).contains([value])
    elements = sa.func.json_each(column).table_valued("value")
    return sa.exists(sa.select(1).select_from(elements).where(elements.c.value == value))


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


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
