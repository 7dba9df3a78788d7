"""Engine, sessions and migrations for SQLite (embedded default) and PostgreSQL."""

import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from app.deadlines import deadline_of
from app.errors import Unavailable
from app.read_cache import is_cacheable

IMMEDIATE = "assistcal_immediate"

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = 1000) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most `size` items: for IN (...) lists, which both databases
    cap (SQLite at 32,766 parameters) and plan worse when long."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _migrations_dir() -> Path:
    """migrations/ of the checkout, or app/migrations where a built wheel installed them."""
    here = Path(__file__).resolve().parent
    installed = here / "migrations"
    return installed if installed.is_dir() else here.parent / "migrations"


MIGRATIONS_DIR = _migrations_dir()


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


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Gate:
    """Admission of requests to the database.

    At most `capacity` requests hold a session at once, the size of the connection pool, and
    on SQLite one request per process writes at a time.  Requests wait here, in the event
    loop, not in a worker thread: a thread blocked on a pool or a lock while the request that
    holds it waits for a free thread is how a burst of requests deadlocks a sync app.  SQLite's
    own busy handler would serialise writers too, but by sleeping and polling, which stretches
    the tail latency of concurrent writes by hundreds of milliseconds.
    """

    def __init__(self, *, capacity: int, one_writer: bool, timeout: float) -> None:
        self.sessions = anyio.Semaphore(capacity)
        self.writer = anyio.Lock() if one_writer else None
        self.timeout = timeout

    @asynccontextmanager
    async def enter(self, *, write: bool) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            try:
                with anyio.fail_after(self.timeout):
                    if write and self.writer is not None:
                        await stack.enter_async_context(self.writer)
                    await stack.enter_async_context(self.sessions)
            except TimeoutError as exc:
                raise Unavailable(
                    "the service is busy; retry in a few seconds",
                    retry_after=5,
                ) from exc
            yield


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One transaction per request, admitted by the gate: committed when the handler returns,
    rolled back if it raises.

    Opening and closing are done here, in the event loop, and go to a worker thread only for
    database I/O: a read session connects lazily, in the handler's own thread, and one that
    never connected closes without I/O.  Each trip to a worker thread costs a hand-over of
    the GIL both ways, which under load costs more than a short query."""
    write = request.method not in READ_METHODS
    engine = request.app.state.engine
    if not write and is_cacheable(request.scope):
        # A cacheable route only reads (its answers are kept): on PostgreSQL its statements
        # run without BEGIN and COMMIT, two round trips fewer.  Its statements see no more
        # than each its own snapshot either way (READ COMMITTED).
        engine = request.app.state.reading_engine
    # Ending a read transaction on SQLite releases a lock on a local file: it never waits.
    end_here = not write and engine.dialect.name == "sqlite"
    async with request.app.state.gate.enter(write=write):
        if write:
            session = await run_in_threadpool(open_session, engine, write=True)
        else:
            session = open_session(engine, write=False)
        try:
            yield session
        except BaseException:
            await _finish(session, commit=False, here=end_here)
            raise
        deadline = deadline_of(request.scope)
        if deadline is not None and not deadline.may_commit():
            # The client was answered "timed out, nothing stored": keep it true.
            await _finish(session, commit=False, here=end_here)
            raise Unavailable("the request ran out of time; nothing was stored")
        await _finish(session, commit=True, here=end_here)


@asynccontextmanager
async def read_session(request: Request) -> AsyncIterator[Session]:
    """A short read-only session of its own, admitted by the gate and ended before the
    request's transaction begins: for what a route must know (who calls) before long work
    that holds no lock (reading an uploaded file), after which it opens its transaction."""
    engine = request.app.state.engine
    async with request.app.state.gate.enter(write=False):
        session = open_session(engine, write=False)
        here = engine.dialect.name == "sqlite"
        try:
            yield session
        except BaseException:
            await _finish(session, commit=False, here=here)
            raise
        # Ended as a request's read is (a commit writes nothing): what it loaded stays loaded.
        await _finish(session, commit=True, here=here)


async def _finish(session: Session, *, commit: bool, here: bool) -> None:
    if here or not session.in_transaction():  # not connected: nothing to wait for
        _end(session, commit)
        return
    with anyio.CancelScope(shield=True):  # a cancelled request still ends its transaction
        await run_in_threadpool(_end, session, commit)


def _end(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


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


def upsert(
    session: Session,
    table: sa.Table,
    rows: list[dict[str, Any]],
    *,
    keys: tuple[str, ...],
    update: tuple[str, ...],
) -> None:
    """Insert rows (batched by the driver into few statements); a row whose `keys` exist
    already updates the `update` columns of the stored one instead.  The rows are parameters
    of one statement, so it is compiled once per table rather than once per number of rows."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_={name: statement.excluded[name] for name in update}
    )
    session.execute(statement, rows)
