"""Engines and sessions for SQLite (the embedded default) and PostgreSQL (psycopg 3)."""

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

IMMEDIATE = "assistcal_immediate"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever driver the URL names (or none)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


POOL_RESERVE = 5
SQLITE_BUSY_MS = 30_000


def make_engine(url: str, *, pool_size: int = 10, statement_timeout_ms: int = 0) -> Engine:
    """An engine whose pool holds `pool_size` connections for requests (see Gate) and a few
    more for work outside them (key touches, health checks, the CLI).  On PostgreSQL a
    statement running longer than `statement_timeout_ms` is cancelled (a 503)."""
    url = normalise_url(url)
    pool = {"pool_size": pool_size, "max_overflow": POOL_RESERVE, "pool_timeout": 30}
    if make_url(url).get_backend_name() != "sqlite":
        options = {"options": f"-c statement_timeout={statement_timeout_ms}"}
        return sa.create_engine(
            url,
            pool_pre_ping=True,
            connect_args=options if statement_timeout_ms else {},
            hide_parameters=True,  # errors are logged: never with the values (secrets, keys)
            **pool,
        )
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        hide_parameters=True,
        **pool,
    )
    if statement_timeout_ms:
        _limit_statements(engine, statement_timeout_ms / 1000)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling is switched off so that writers can take the
        # write lock up front (BEGIN IMMEDIATE): a deferred writer that read first would get
        # SQLITE_BUSY instead of waiting its turn.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get(IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


_STATEMENT_ENDS = "assistcal_statement_ends"


def _limit_statements(engine: Engine, seconds: float) -> None:
    """SQLite's counterpart of PostgreSQL's statement_timeout: a statement still running
    after `seconds` is interrupted (an OperationalError, answered 503).  SQLite calls the
    progress handler every few thousand virtual-machine steps, in the statement's thread."""

    @sa.event.listens_for(engine, "connect")
    def _watch(dbapi_connection: Any, record: Any) -> None:
        ends = record.info.setdefault(_STATEMENT_ENDS, [0.0])
        dbapi_connection.set_progress_handler(lambda: time.monotonic() > ends[0], 10_000)

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _start(conn: sa.Connection, *_args: Any) -> None:
        conn.info[_STATEMENT_ENDS][0] = time.monotonic() + seconds


def open_session(engine: Engine, *, write: bool) -> Session:
    """A session whose transaction, on SQLite, holds the write lock from its start when
    `write` is true."""
    session = Session(engine, expire_on_commit=False)
    if write:
        session.connection(execution_options={IMMEDIATE: True})
    return session
