"""Compressed answers: gzip, and brotli when the optional `brotli` package is installed.

A 5,000-event feed is about 4 MB of text that compresses to a tenth; JSON lists and CSV
exports compress as well.  Starlette's GZipMiddleware does the compressing (whole bodies and
streamed ones, Content-Length, large bodies in a worker thread); `Compression` is the thin
layer around it that knows what the library does not:

- which coding the client accepts, with its q-values (`gzip;q=0` means no gzip);
- the entity tags: a compressed body is another representation, so it gets its own strong
  tag, the plain one with a suffix (`"3"` -> `"3-gzip"`, `"3-br"`).  Conditional requests
  may name either form: the suffix is taken off If-None-Match and If-Match before the route
  reads them, so a route only ever compares its own plain tags, and a 304 names the tag of
  the representation the client holds (see `tag_for_304`);
- `Vary: Accept-Encoding` on every answer whose type may be compressed, compressed or not.

It sits inside the read cache (app.http.read_cache), whose key holds the coding `chosen` here: an
answer is compressed once, by the route's request, and a repeat is answered with the bytes
kept.  Bodies under `MINIMUM_BYTES`, types that are compressed already (XLSX is a zip) and
bodiless answers (304, HEAD's as the server sends them) go as they are.
"""

import functools
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import anyio.to_thread
from prometheus_client.core import CounterMetricFamily
from starlette.datastructures import MutableHeaders
from starlette.middleware.gzip import (
    DEFAULT_EXCLUDED_CONTENT_TYPES,
    GZipMiddleware,
    IdentityResponder,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

try:
    import brotli
except ImportError:  # an optional extra: pip install 'assistcal[brotli]'
    brotli = None

MINIMUM_BYTES = 1024
GZIP_LEVEL = 6  # 9 costs twice the time for a few per cent
BROTLI_QUALITY = 5  # brotli's default, 11, is a hundred times slower
THREAD_BYTES = 128 * 1024  # larger bodies are compressed in a worker thread, as GZip does
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NOT_COMPRESSED = (
    *DEFAULT_EXCLUDED_CONTENT_TYPES,
    XLSX,
    "application/pdf",
    "application/octet-stream",
)

# The codings this process can send, preferred first.
OFFERED: tuple[str, ...] = ("br", "gzip") if brotli is not None else ("gzip",)
ALL_CODINGS = ("gzip", "br")


# Negotiation ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def negotiate(accept_encoding: bytes | None, offered: tuple[str, ...]) -> str | None:
    """The coding of `offered` to send for this Accept-Encoding, or None for the body as it
    is: the one with the highest q-value above 0 (ties go to the first offered); none when
    the header is absent, or when it prefers `identity` by a higher q-value."""
    if not accept_encoding:
        return None
    weights: dict[str, float] = {}
    for item in accept_encoding.decode("latin-1").split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        coding = "gzip" if coding == "x-gzip" else coding
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
                q = q if 0.0 <= q <= 1.0 else 0.0
        if coding:
            weights.setdefault(coding, q)
    anything = weights.get("*", 0.0)
    best, best_q = None, 0.0
    for coding in offered:
        q = weights.get(coding, anything)
        if q > best_q:
            best, best_q = coding, q
    if best is not None and weights.get("identity", 0.0) > best_q:
        return None
    return best


def chosen(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The coding this process sends for a request with these (ASGI) headers."""
    values = [value for name, value in headers if name == b"accept-encoding"]
    return negotiate(b", ".join(values) if values else None, OFFERED)


# Entity tags ---------------------------------------------------------------------------------

_CODED_TAG = re.compile(rb'-(?:gzip|br)"')


def without_coding(tags: bytes) -> bytes:
    """If-None-Match or If-Match as the route compares it: `"3-gzip", W/"a-br"` -> `"3", W/"a"`."""
    return _CODED_TAG.sub(b'"', tags)


def with_coding(tag: bytes, coding: str | None) -> bytes:
    """The tag of the `coding` representation: `"3"` -> `"3-gzip"` (unquoted tags are kept)."""
    if coding is None or not tag.endswith(b'"'):
        return tag
    return tag[:-1] + b"-" + coding.encode() + b'"'


def tag_for_304(tag: bytes, if_none_match: bytes | None, coding: str | None) -> bytes:
    """The tag a 304 names: the form of `tag` the client sent in If-None-Match (the one for
    this request's coding when it sent several), so that its cache can match the 304 with
    the answer it holds.  When the client sent no form of it (`*`, or If-Modified-Since
    alone), the form for this request's coding."""
    sent = {t.strip().removeprefix(b"W/") for t in (if_none_match or b"").split(b",")}
    plain = tag.removeprefix(b"W/")
    for candidate in (
        with_coding(plain, coding),
        plain,
        *(with_coding(plain, other) for other in ALL_CODINGS),
    ):
        if candidate in sent:
            return tag[: len(tag) - len(plain)] + candidate
    return with_coding(tag, coding)


# The middleware ------------------------------------------------------------------------------


def _compressible(content_type: str | None) -> bool:
    media_type = (content_type or "").partition(";")[0].strip().lower()
    return not {media_type, media_type.partition("/")[0] + "/*"} & set(NOT_COMPRESSED)


def _has_vary(headers: MutableHeaders, name: str) -> bool:
    values = ",".join(headers.getlist("vary")).lower().split(",")
    return any(value.strip() in (name.lower(), "*") for value in values)


class BrotliResponder(IdentityResponder):
    """Starlette's GZip responder with brotli's compressor: the same rules for what is
    compressed, streamed bodies and Content-Length."""

    content_encoding = "br"

    def __init__(self, app: ASGIApp, minimum_size: int) -> None:
        super().__init__(app, minimum_size, exclude_content_types=NOT_COMPRESSED)
        self.compressor: Any = None

    async def apply_compression(self, body: bytes, *, more_body: bool) -> bytes:
        if len(body) >= THREAD_BYTES:
            return await anyio.to_thread.run_sync(self._compress, body, more_body)
        return self._compress(body, more_body)

    def _compress(self, body: bytes, more_body: bool) -> bytes:
        if self.compressor is None:
            self.compressor = brotli.Compressor(quality=BROTLI_QUALITY)
        out: bytes = self.compressor.process(body)
        return out + (self.compressor.flush() if more_body else self.compressor.finish())


class CompressionStats:
    """Answers compressed by this process, and their bytes before and after (for /metrics and
    the tests: a repeat answered by the read cache is not compressed again)."""

    def __init__(self) -> None:
        self.responses: Counter[str] = Counter()
        self.plain_bytes: Counter[str] = Counter()
        self.sent_bytes: Counter[str] = Counter()

    def collect(self) -> Iterator[CounterMetricFamily]:
        families = (
            ("assistcal_compressed_responses", "Answers compressed", self.responses),
            ("assistcal_compressed_plain_bytes", "Their bodies before", self.plain_bytes),
            ("assistcal_compressed_sent_bytes", "Their bodies as sent", self.sent_bytes),
        )
        for name, documentation, counts in families:
            family = CounterMetricFamily(name, documentation, labels=["coding"])
            for coding in ALL_CODINGS:
                family.add_metric([coding], counts[coding])
            yield family


class Compression:
    """ASGI middleware: the answer in the coding the request accepts (see the module)."""

    def __init__(
        self, app: ASGIApp, *, stats: CompressionStats, minimum_size: int = MINIMUM_BYTES
    ) -> None:
        self.app = app
        self.stats = stats
        self.minimum_size = minimum_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        coding = chosen(scope["headers"])
        if_none_match = None
        headers = []
        for name, value in scope["headers"]:
            if name == b"accept-encoding":
                continue  # replaced by the coding chosen, for GZipMiddleware
            if name == b"if-none-match" and if_none_match is None:
                if_none_match = value
            if name in (b"if-none-match", b"if-match"):
                value = without_coding(value)
            headers.append((name, value))
        if coding is not None:
            headers.append((b"accept-encoding", coding.encode()))
        scope["headers"] = headers  # in place: the layers outside read the route from it
        plain = sent = 0
        coded_by_app = coded_here = False

        async def route(scope: Scope, receive: Receive, send: Send) -> None:
            async def measured(message: Message) -> None:
                nonlocal plain, coded_by_app
                if message["type"] == "http.response.start":
                    names = {name.lower() for name, _ in message.get("headers", [])}
                    coded_by_app = b"content-encoding" in names
                elif message["type"] == "http.response.body":
                    plain += len(message.get("body", b""))
                await send(message)

            await self.app(scope, receive, measured)

        async def coded(message: Message) -> None:
            nonlocal sent, coded_here
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", []))
                out = MutableHeaders(raw=message["headers"])
                if _compressible(out.get("content-type")) and not _has_vary(out, "accept-encoding"):
                    out.add_vary_header("Accept-Encoding")
                coded_here = (
                    coding is not None
                    and not coded_by_app
                    and out.get("content-encoding") == coding
                )
                tag = out.get("etag")
                if tag is not None and coded_here:
                    out["etag"] = with_coding(tag.encode("latin-1"), coding).decode("latin-1")
                elif tag is not None and message["status"] == 304:
                    named = tag_for_304(tag.encode("latin-1"), if_none_match, coding)
                    out["etag"] = named.decode("latin-1")
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        responder: ASGIApp
        if coding == "gzip":
            responder = GZipMiddleware(
                route,
                self.minimum_size,
                compresslevel=GZIP_LEVEL,
                exclude_content_types=NOT_COMPRESSED,
            )
        elif coding == "br":
            responder = BrotliResponder(route, self.minimum_size)
        else:
            responder = route
        await responder(scope, receive, coded)
        if coded_here and coding is not None:
            self.stats.responses[coding] += 1
            self.stats.plain_bytes[coding] += plain
            self.stats.sent_bytes[coding] += sent
