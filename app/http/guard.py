"""RequestGuard: what the database cannot take is refused before any route sees it."""

import re

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import BadRequest, FieldError, PayloadTooLarge, ValidationFailed
from app.http.errors import render

_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)


class RequestGuard:
    """Refuse what the database cannot take before any route sees it: bodies over
    `max_bytes` (413, whether announced by Content-Length or streamed in chunks) and NUL
    characters in the query string or a JSON body (PostgreSQL text cannot hold them)."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, max_upload_bytes: int, upload_paths: tuple[str, ...]
    ) -> None:
        self.app = app
        self.limits = (max_bytes, max_upload_bytes)
        self.upload_paths = upload_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits[scope["path"] in self.upload_paths]

        def too_large() -> JSONResponse:
            return render(PayloadTooLarge(f"the request body is over {limit} bytes"))

        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and not length.isdigit():
            bad = BadRequest(
                "Content-Length is not a number",
                details=[FieldError("Content-Length", "not a number")],
            )
            await render(bad)(scope, receive, send)
            return
        if length is not None and int(length) > limit:
            await too_large()(scope, receive, send)
            return
        query = scope.get("query_string", b"").lower()
        if b"%00" in query or "\x00" in scope["path"]:
            await self._nul("query" if b"%00" in query else "path")(scope, receive, send)
            return

        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await too_large()(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        is_json = b"json" in headers.get(b"content-type", b"json").lower()
        if is_json and _JSON_NUL.search(body):
            await self._nul("body")(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    @staticmethod
    def _nul(field: str) -> JSONResponse:
        return render(ValidationFailed.on(field, "text may not contain NUL (\\u0000) characters"))
