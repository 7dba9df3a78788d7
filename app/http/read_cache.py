"""Answers to repeated reads, kept by each process while the database has not changed.

Reading one activity, a list page or a feed costs FastAPI's routing and dependencies, a trip
to a worker thread, a transaction, the ORM and pydantic: about 1 ms of CPU, where answering
with bytes already made costs a tenth of that.  Calendars are read far more than they are
written (feed polls, dashboards), so `ReadCache` keeps the answers (200 and 304) of the
routes marked `cacheable`, keyed by everything such a route may read from the request, under
the change generation (app.db.stamp) read when the request arrived.

It is correct across processes: every request first reads the generation from the database,
in the event loop (SQLite: a query on a connection of its own, microseconds; PostgreSQL: one
query on one of two asyncio connections of its own, shared by the requests that arrive
together).  A write acknowledged to any client, by any process, was committed with a new
generation, so a request sent after it finds the cache stale and goes to the route.  When the
generation cannot be read, requests go to the route as if there were no cache.

A route is `cacheable` when its answer depends only on the method, path and query, the
Authorization and Cookie headers, If-None-Match, If-Modified-Since, Host, the coding
Accept-Encoding chooses (app.http.compression compresses inside this cache), today's date, and
rows of the tables the change stamp watches (app.db.stamp: activities, organizations, API
keys, feed tokens).
"""

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import timeutil
from app.db.generation import Generation
from app.db.session import read_only
from app.http import compression

log = logging.getLogger("assistcal")

_CACHEABLE: set[Callable[..., Any]] = set()

E = TypeVar("E", bound=Callable[..., Any])


def cacheable(endpoint: E) -> E:
    """Mark a GET route whose answers ReadCache may keep (see the module's conditions).  Such
    a route only reads (app.db.session.read_only)."""
    _CACHEABLE.add(endpoint)
    return read_only(endpoint)


def is_cacheable(scope: Scope) -> bool:
    return getattr(scope.get("route"), "endpoint", None) in _CACHEABLE


_NOT_KEPT = "assistcal.not_kept"


def keep_out(scope: Scope) -> None:
    """This answer of a cacheable route must not be kept: it depends on the moment it was
    made (a feed's Last-Modified while its second is still running)."""
    scope[_NOT_KEPT] = True


def cacheable_prefixes(routes: Iterable[BaseRoute]) -> tuple[str, ...]:
    """The paths of the cacheable routes up to their first parameter: the requests that
    ReadCache looks at (the others go by without reading the generation)."""
    # FastAPI keeps included routers whole: iter_route_contexts sees the routes inside.
    return tuple(
        sorted(
            {
                context.path.split("{")[0]
                for context in iter_route_contexts(list(routes))
                if context.endpoint in _CACHEABLE and context.path
            }
        )
    )


# The store -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    # The route that made it, for what reads the scope afterwards (metrics by route).
    route: Any = None
    path_params: dict[str, Any] | None = None


def _size(key: tuple[Any, ...], answer: Answer) -> int:
    """Bytes an entry holds, roughly: its key too (a long query string is part of it)."""
    parts: list[bytes | str] = [
        answer.body,
        *(part for header in answer.headers for part in header),
    ]
    parts += [part for part in key if isinstance(part, bytes | str)]
    parts += [value for part in key if isinstance(part, tuple) for value in part]
    return sum(len(part) for part in parts) + 200


class Store:
    """The answers of the newest generation seen, least recently used forgotten beyond
    `max_bytes` (keys included)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.generation: int | None = None
        self.answers: OrderedDict[tuple[Any, ...], tuple[Answer, int]] = OrderedDict()
        self.bytes = 0
        self.hits = self.misses = 0  # for /metrics

    def get(self, key: tuple[Any, ...], generation: int) -> Answer | None:
        if self.generation is None or generation > self.generation:
            self.answers.clear()
            self.bytes = 0
            self.generation = generation
        elif generation < self.generation:
            # Read by a query that was overtaken by a newer one (PostgreSQL reads on two
            # connections): a miss, without forgetting what the newer generation keeps.
            return None
        entry = self.answers.get(key)
        if entry is None:
            return None
        self.answers.move_to_end(key)
        return entry[0]

    def put(self, key: tuple[Any, ...], generation: int, answer: Answer) -> None:
        """Kept only while `generation` is still the newest seen, and if it fits."""
        size = _size(key, answer)
        if generation != self.generation or size > self.max_bytes // 4:
            return
        old = self.answers.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        self.answers[key] = (answer, size)
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, (_, dropped) = self.answers.popitem(last=False)
            self.bytes -= dropped


# The middleware ------------------------------------------------------------------------------


# Headers kept in the key as they are; secrets are kept as a digest.
_PLAIN_HEADERS = (b"host", b"if-none-match", b"if-modified-since")
_KEYED_HEADERS = frozenset({b"authorization", b"cookie", *_PLAIN_HEADERS})


def _secret(values: list[bytes] | None) -> bytes | None:
    return hashlib.sha256(b"\n".join(values)).digest() if values else None


class ReadCache:
    """ASGI middleware: GET and HEAD requests under `prefixes` are answered from the store
    when the generation has not moved since the answer was made; otherwise the route answers
    and, if it is `cacheable` and the answer a 200 or 304, the answer is kept.

    A request with an API key is answered from the store only if the same key went through
    the route less than `touch_seconds` ago, so that the key's last use is still recorded
    (app.api.caller) about as often as without the cache."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        generation: Generation,
        store: Store,
        touch_seconds: int,
        prefixes: tuple[str, ...],
    ) -> None:
        self.app = app
        self.generation = generation
        self.store = store
        self.touch_seconds = touch_seconds
        self.prefixes = prefixes
        self.vouched: dict[bytes, float] = {}  # credentials -> when the route last took them

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or not scope["path"].startswith(self.prefixes)
        ):
            await self.app(scope, receive, send)
            return
        generation = await self.generation.current()
        if generation is None:
            await self.app(scope, receive, send)
            return
        # Every value of the headers a cacheable route may read, in order: a route reads the
        # first of repeated headers, and a key made of another one would let a request
        # store its answer where another caller finds it.
        seen: dict[bytes, list[bytes]] = {}
        for name, value in scope["headers"]:
            if name in _KEYED_HEADERS:
                seen.setdefault(name, []).append(value)
        credentials = _secret(seen.get(b"authorization"))
        key = (
            scope["method"],
            scope["scheme"],
            scope["path"],
            scope["query_string"],
            credentials,
            _secret(seen.get(b"cookie")),
            *(tuple(seen.get(name, ())) for name in _PLAIN_HEADERS),
            compression.chosen(scope["headers"]),  # the answer is kept in its coding
            timeutil.today(),  # feeds' windows move with it
        )
        answer = self.store.get(key, generation)
        if answer is not None and self._vouched(credentials):
            self.store.hits += 1
            scope["route"] = answer.route
            scope["path_params"] = answer.path_params
            await send(
                {
                    "type": "http.response.start",
                    "status": answer.status,
                    "headers": list(answer.headers),
                }
            )
            await send({"type": "http.response.body", "body": answer.body})
            return
        self.store.misses += 1
        status = 0
        answer_headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            nonlocal status, answer_headers
            if message["type"] == "http.response.start":
                status = message["status"]
                # A copy: the middleware outside adds its own headers to the message.
                answer_headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, keep)
        if status not in (200, 304) or not is_cacheable(scope) or scope.get(_NOT_KEPT):
            return
        if any(name.lower() == b"set-cookie" for name, _ in answer_headers):
            return
        # A HEAD answer is sent without its body (the server drops it): none is kept.
        body = b"" if scope["method"] == "HEAD" else b"".join(chunks)
        answer = Answer(status, answer_headers, body, scope["route"], scope.get("path_params"))
        self.store.put(key, generation, answer)
        if credentials is not None:
            if len(self.vouched) > 10_000:
                self.vouched.clear()
            self.vouched[credentials] = time.monotonic()

    def _vouched(self, credentials: bytes | None) -> bool:
        if credentials is None:
            return True
        taken = self.vouched.get(credentials)
        return taken is not None and time.monotonic() - taken < self.touch_seconds
