"""The request's session: admitted by a gate, committed when the handler returns."""

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session
from starlette.types import Scope

from app.db.engine import open_session
from app.errors import Unavailable

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_READ_ONLY: set[Callable[..., Any]] = set()

E = TypeVar("E", bound=Callable[..., Any])


def read_only(endpoint: E) -> E:
    """Mark a GET route that only reads (app.http.read_cache.cacheable does): on PostgreSQL
    its statements run without BEGIN and COMMIT, two round trips fewer."""
    _READ_ONLY.add(endpoint)
    return endpoint


def is_read_only(scope: Scope) -> bool:
    return getattr(scope.get("route"), "endpoint", None) in _READ_ONLY


_COMMIT_CHECK = "assistcal.may_commit"


def check_before_commit(scope: Scope, may_commit: Callable[[], bool]) -> None:
    """The request's session asks `may_commit()` before it commits, and rolls back with a 503
    when it answers False (app.http.deadlines: the client was told "timed out")."""
    scope.setdefault("state", {})[_COMMIT_CHECK] = may_commit


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
    if not write and is_read_only(request.scope):
        # On PostgreSQL its statements run without BEGIN and COMMIT, two round trips fewer.
        # Its statements see no more than each its own snapshot either way (READ COMMITTED).
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
        may_commit = request.scope.get("state", {}).get(_COMMIT_CHECK)
        if may_commit is not None and not may_commit():
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
