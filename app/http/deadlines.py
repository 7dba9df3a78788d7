"""Request deadlines: a request that has not begun its answer after `seconds` gets one now,
and the answer holds.

A handler that runs in a worker thread cannot be stopped from outside, so the deadline is
kept in two places.  The middleware answers the client (408 when the body had not all
arrived, else 503 with Retry-After) and drops whatever the handler sends later; the request's
session refuses to commit once that answer has gone (`may_commit`), so a request answered
"timed out" has stored nothing.  If the session began to commit first, the middleware waits
for the real answer instead: commits are short.  The database's statement timeout (see
app.db.engine.make_engine) ends the handler's slow queries, which frees its connection.
"""

import asyncio
import threading
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db.session import check_before_commit
from app.errors import AppError, RequestTimeout, Unavailable

_RUNNING, _COMMITTING, _EXPIRED = range(3)


class Deadline:
    """Who ends a request first: its session's commit or its deadline (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = _RUNNING

    def expire(self) -> bool:
        """Called when time is up: True if the request has not begun to commit (and now
        never will)."""
        with self._lock:
            if self._state == _RUNNING:
                self._state = _EXPIRED
            return self._state == _EXPIRED

    def may_commit(self) -> bool:
        """Called before a commit: False if the client has been answered already."""
        with self._lock:
            if self._state == _RUNNING:
                self._state = _COMMITTING
            return self._state == _COMMITTING


class Deadlines:
    """`seconds` for each request, `upload_seconds` for those to `upload_paths` (imports of
    large files); 0 for no limit."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        seconds: float,
        upload_seconds: float,
        upload_paths: tuple[str, ...],
        render: Callable[[AppError], ASGIApp],
    ) -> None:
        self.app = app
        self.limits = (seconds, upload_seconds)
        self.upload_paths = upload_paths
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        seconds = 0.0
        if scope["type"] == "http":
            seconds = self.limits[scope["path"] in self.upload_paths]
        if not seconds:
            await self.app(scope, receive, send)
            return
        deadline = Deadline()
        check_before_commit(scope, deadline.may_commit)
        headers = dict(scope["headers"])
        body_done = b"transfer-encoding" not in headers and headers.get(b"content-length") in (
            None,
            b"0",
        )
        answered = False  # by the response's start, the handler's or this middleware's
        late = False  # answered by this middleware: what the handler sends is dropped

        async def receiving() -> Message:
            nonlocal body_done
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def sending(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                if answered:
                    return
                answered = True
            elif late:
                return  # the client has its timeout answer; this is the handler's, too late
            await send(message)

        async def time_out() -> None:
            nonlocal answered, late
            if answered or not deadline.expire():
                return
            answered = late = True
            error: AppError
            if body_done:
                error = Unavailable(
                    f"the request took longer than {seconds:g} s and was stopped; "
                    "nothing was stored",
                    retry_after=5,
                )
            else:
                error = RequestTimeout(f"the request body did not arrive within {seconds:g} s")
            await self.render(error)(scope, receive, send)

        loop = asyncio.get_running_loop()
        fired: list[asyncio.Task[None]] = []
        timer = loop.call_later(seconds, lambda: fired.append(loop.create_task(time_out())))
        try:
            await self.app(scope, receiving, sending)
        finally:
            timer.cancel()
            for task in fired:
                await task
