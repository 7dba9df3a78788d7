"""The change generation (app.db.stamp), read outside the ORM and in the event loop, for the
read cache (app.http.read_cache): on SQLite on a connection of its own, on PostgreSQL on a
few asyncio connections shared by the requests that arrive together."""

import asyncio
import contextlib
import logging
import sqlite3
import time
from typing import Any, Protocol

from sqlalchemy.engine import make_url

from app.db.stamp import GENERATION_SQL

log = logging.getLogger("assistcal")


class Generation(Protocol):
    async def current(self) -> int | None:
        """The change generation now, or None when it cannot be read."""

    async def close(self) -> None: ...


class SqliteGeneration:
    """Reads the generation on a connection of its own, in the event loop: a read of a WAL
    database takes no lock that a writer holds, and a busy database (a restore, a migration)
    makes it answer None at once rather than wait."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.connection: sqlite3.Connection | None = None

    async def current(self) -> int | None:
        try:
            if self.connection is None:
                self.connection = sqlite3.connect(
                    self.path, timeout=0, isolation_level=None, check_same_thread=False
                )
                self.connection.execute("PRAGMA query_only = 1")
            row = self.connection.execute(GENERATION_SQL).fetchone()
        except sqlite3.Error:
            await self.close()
            return None
        return int(row[0]) if row else 0

    async def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class PostgresGeneration:
    """Reads the generation on a few asyncio connections of its own.  A request waits for a
    query sent after it arrived (so that it sees every commit acknowledged before).  The
    requests that arrive together share one query, sent at the end of the event loop's turn;
    while every connection has a query in flight, the requests that arrive wait together for
    the first that comes back."""

    CONNECTIONS = 2
    RETRY_SECONDS = 1.0
    TIMEOUT_SECONDS = 2.0

    def __init__(self, url: str) -> None:
        self.url = url
        self.idle: list[Any] = []  # connections with no query in flight
        self.busy = 0  # queries in flight
        self.next: asyncio.Future[int | None] | None = None  # for requests not yet sent
        self.sending: set[asyncio.Task[None]] = set()
        self.retry_at = 0.0

    async def current(self) -> int | None:
        if self.next is None:
            self.next = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(self._send)
        # Shielded: a request that is cancelled must not cancel what others wait for.
        return await asyncio.shield(self.next)

    def _send(self) -> None:
        if self.next is None or self.busy >= self.CONNECTIONS:
            return  # sent already, or sent when a query comes back
        answer, self.next = self.next, None
        self.busy += 1
        task = asyncio.get_running_loop().create_task(self._answer(answer))
        self.sending.add(task)
        task.add_done_callback(self.sending.discard)

    async def _answer(self, answer: "asyncio.Future[int | None]") -> None:
        generation = None
        try:
            generation = await self._query()
        except Exception:  # whatever fails, the requests that wait must go on
            log.exception("read cache: the change generation could not be read")
        finally:  # cancelled too (the app stops): nobody is left waiting
            self.busy -= 1
            if not answer.done():
                answer.set_result(generation)
        self._send()  # the requests that came while every connection was busy

    async def _query(self) -> int | None:
        import psycopg

        if time.monotonic() < self.retry_at:
            return None
        connection = self.idle.pop() if self.idle else None
        try:
            async with asyncio.timeout(self.TIMEOUT_SECONDS):
                if connection is None:
                    connection = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
                cursor = await connection.execute(GENERATION_SQL)
                row = await cursor.fetchone()
        except (psycopg.Error, OSError, TimeoutError) as exc:
            log.warning("read cache: the change generation could not be read: %s", exc)
            self.retry_at = time.monotonic() + self.RETRY_SECONDS
            if connection is not None:
                await _close(connection)
            return None
        except asyncio.CancelledError:
            if connection is not None:
                await _close(connection)
            raise
        self.idle.append(connection)
        return int(row[0]) if row else 0

    async def close(self) -> None:
        sending = list(self.sending)
        for task in sending:
            task.cancel()
        await asyncio.gather(*sending, return_exceptions=True)
        if self.next is not None:
            self.next.set_result(None)
            self.next = None
        idle, self.idle = self.idle, []
        for connection in idle:
            await _close(connection)


async def _close(connection: Any) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection may fail too
        await connection.close()


class NoGeneration:
    """An in-memory SQLite database is seen by one connection only: nothing is cached."""

    async def current(self) -> int | None:
        return None

    async def close(self) -> None:
        return None


def generation_for(database_url: str) -> Generation:
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
        return PostgresGeneration(plain)
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        return NoGeneration()
    return SqliteGeneration(url.database)
