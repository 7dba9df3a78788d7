"""What running the service needs around the routes: a request id and one JSON log line per
request (secrets redacted), security headers, rate limits, Prometheus metrics, readiness."""

import contextvars
import hashlib
import logging
import math
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from pythonjsonlogger.json import JsonFormatter
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.keys import key_prefix
from app.errors import AppError, TooManyRequests

log = logging.getLogger("assistcal.access")
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Secrets that travel in paths: private feed tokens.  Query strings are never logged.
_SECRET_PATHS = re.compile(r"(/feeds/private/)[^/]+")


def redacted(path: str) -> str:
    return _SECRET_PATHS.sub(r"\1***", path) if "/feeds/private/" in path else path


class RequestIdFilter(logging.Filter):
    """Adds the request's id (or "-") to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s %(request_id)s"
# The loggers that write JSON lines: the service's, and uvicorn's own (start, stop, errors).
JSON_LOGGERS = ("assistcal", "uvicorn", "uvicorn.error")


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for the service's and the server's loggers (JSON_LOGGERS): time,
    level, logger, message, the request id and whatever the call adds.  Other loggers' handlers
    (an embedding server's) are left as they are."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(LOG_FORMAT))
    handler.addFilter(RequestIdFilter())
    for name in JSON_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level)
        logger.propagate = False


def log_config(level: str = "INFO") -> dict[str, Any]:
    """`configure_logging` as a logging.config.dictConfig configuration, for uvicorn
    (`uvicorn.run(log_config=...)`), so that its lines from before the app starts are JSON
    too."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"json": {"()": JsonFormatter, "fmt": LOG_FORMAT}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["request_id"],
            }
        },
        "loggers": {
            name: {"handlers": ["json"], "level": level, "propagate": False}
            for name in JSON_LOGGERS
        },
    }


# Metrics -------------------------------------------------------------------------------------


class Metrics:
    """The service's own registry (one per app, so tests and processes do not mix)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "assistcal_requests_total",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "assistcal_request_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.findings_open = Gauge(
            "assistcal_findings_open",
            "Open findings, by kind (read at scrape time)",
            ["kind"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "assistcal_rate_limited_total",
            "Requests refused with 429",
            ["by"],
            registry=self.registry,
        )


class CacheCollector:
    """A cache's hits and misses, read at scrape time (`cache` has `hits` and `misses`)."""

    def __init__(self, name: str, documentation: str, cache: Any) -> None:
        self.name = name
        self.documentation = documentation
        self.cache = cache

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self.name, self.documentation, labels=["result"])
        family.add_metric(["hit"], self.cache.hits)
        family.add_metric(["miss"], self.cache.misses)
        yield family


def _route_of(scope: Scope) -> str:
    """The route's template (/api/v1/activities/{activity_id}), not the path: ids would make
    every request a series of its own."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if template is None:
        return "unmatched"
    if isinstance(route, Mount):  # /static/...: one series for the whole mount
        return str(template)
    # An included router's route knows its path without the prefix it was mounted at: the
    # prefix is the path's leading segments beyond the template's (no route of this app takes
    # a "/" in a parameter).
    path: str = scope["path"]
    extra = path.count("/") - template.count("/")
    if extra <= 0:
        return str(template)
    return "/".join(path.split("/")[: extra + 1]) + template


# Rate limits -------------------------------------------------------------------------------


class Buckets:
    """Token buckets: `per_minute` requests a minute for each key (or that many per
    `window_seconds`), refilled continuously; the least recently used buckets are forgotten
    beyond `size`."""

    def __init__(self, per_minute: int, size: int = 50_000, *, window_seconds: float = 60) -> None:
        self.rate = per_minute / window_seconds
        self.capacity = float(per_minute)
        self.size = size
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.lock = threading.Lock()

    def peek(self, key: str, now: float) -> float:
        """What take() would answer, without taking (and without making a bucket)."""
        with self.lock:
            tokens, then = self.buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - then) * self.rate)
            return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def take(self, key: str, now: float) -> float:
        """0 if the request may go, else the seconds until it may."""
        with self.lock:
            tokens, then = self.buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - then) * self.rate)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / self.rate
            self.buckets[key] = (tokens, now)
            while len(self.buckets) > self.size:
                self.buckets.popitem(last=False)
            return wait


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def _address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _bearer(headers: dict[bytes, bytes]) -> str | None:
    value = headers.get(b"authorization", b"").decode("latin-1")
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


# The middleware ----------------------------------------------------------------------------

EXEMPT = ("/healthz", "/readyz", "/metrics", "/static/", "/favicon.ico")
# Everything else is a page (HTML for people): its errors are pages, it gets the CSP.
NOT_PAGES = (
    "/api/",
    "/feeds/",
    "/static/",
    "/docs",
    "/openapi.json",
    "/healthz",
    "/readyz",
    "/metrics",
    "/favicon.ico",
)


def is_page(path: str) -> bool:
    return not path.startswith(NOT_PAGES)


def csp(*script_hashes: str) -> str:
    """The pages' Content-Security-Policy; `script_hashes` (base64 SHA-256) allow those inline
    scripts too (the API documentation's start-up script)."""
    scripts = " ".join(["'self'", *(f"'sha256-{digest}'" for digest in script_hashes)])
    return (
        f"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


CSP = csp()


class Operations:
    """One ASGI middleware for what every request goes through: the request id, the rate
    limits (429 with Retry-After), the security headers, the metrics and the access log."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        per_key: int,
        per_address: int,
        refuse: Callable[[AppError], Any],
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.refuse = refuse
        self.per_key = Buckets(per_key) if per_key else None
        self.per_address = Buckets(per_address) if per_address else None

    def _limited(self, scope: Scope, headers: dict[bytes, bytes]) -> tuple[str, float] | None:
        """Whether the request is over a limit, before it runs.  A request with a key is
        counted against its key once it turned out valid, and against its address when it
        did not (see _count): random keys cannot buy unlimited requests, nor crowd out the
        buckets of real ones."""
        path: str = scope["path"]
        if path.startswith(EXEMPT):
            return None
        now = time.monotonic()
        key = _bearer(headers)
        address = _address(scope)
        if key is not None:
            if self.per_key is not None:
                wait = self.per_key.peek(_digest(key), now)
                if wait:
                    return ("key", wait)
            if self.per_address is not None:
                wait = self.per_address.peek(address, now)  # its failed keys so far
                return ("address", wait) if wait else None
            return None
        # Calendar services poll feeds for many users from few addresses: feeds are cached
        # and cheap, so they are left out of the per-address limit.
        if self.per_address is not None and not path.startswith("/feeds/"):
            wait = self.per_address.take(address, now)
            return ("address", wait) if wait else None
        return None

    def _count(self, scope: Scope, headers: dict[bytes, bytes], status: int) -> None:
        """After a request with a key: the key's bucket pays when the key was valid, the
        address's when it was not."""
        key = _bearer(headers)
        if key is None or scope["path"].startswith(EXEMPT):
            return
        now = time.monotonic()
        if status == 401:
            if self.per_address is not None:
                self.per_address.take(_address(scope), now)
        elif self.per_key is not None:
            self.per_key.take(_digest(key), now)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = given if _REQUEST_ID.match(given) else secrets.token_hex(16)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        path: str = scope["path"]
        page = is_page(path)

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = [
                    (b"x-request-id", rid.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                ]
                if page:
                    extra += [
                        (b"content-security-policy", CSP.encode()),
                        (b"x-frame-options", b"DENY"),
                    ]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            limited = self._limited(scope, headers)
            if limited is not None:
                by, wait = limited
                self.metrics.rate_limited.labels(by).inc()
                seconds = max(1, math.ceil(wait))
                refusal = self.refuse(
                    TooManyRequests(f"too many requests from this {by}: retry in {seconds} s")
                )
                refusal.headers["Retry-After"] = str(seconds)
                await refusal(scope, receive, send_with_headers)
            else:
                await self.app(scope, receive, send_with_headers)
                self._count(scope, headers, status)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_of(scope)
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            log.info(
                "request",
                extra={
                    "method": method,
                    "path": redacted(path),
                    "status": status,
                    "ms": round(elapsed * 1000, 1),
                    "key": _key_prefix(headers),
                    "client": _address(scope),
                },
            )
            request_id.reset(token)


def _key_prefix(headers: dict[bytes, bytes]) -> str | None:
    """Which key called, by the public prefix the API lists it under (never the key)."""
    key = _bearer(headers)
    return key_prefix(key) if key else None
