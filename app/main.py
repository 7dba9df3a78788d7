"""The application factory: create_app(settings) -> FastAPI."""

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.activities.routes import router as activities_router
from app.assistance.routes import router as assistance_router
from app.auth.routes import router as keys_router
from app.compression import Compression, CompressionStats
from app.config import Settings
from app.db import Gate, SessionDep, make_engine, schema_head, schema_revision
from app.deadlines import Deadlines
from app.errors import (
    ERROR_RESPONSES,
    AppError,
    BadRequest,
    FieldError,
    PayloadTooLarge,
    Unavailable,
    ValidationFailed,
)
from app.exports.routes import router as exports_router
from app.feeds.routes import api as feeds_api_router
from app.feeds.routes import feeds as feeds_router
from app.feeds.service import FeedCache
from app.findings.routes import router as findings_router
from app.findings.service import open_findings
from app.imports import sandbox
from app.imports.routes import router as imports_router
from app.operations import (
    CacheCollector,
    Metrics,
    Operations,
    configure_logging,
    is_page,
)
from app.organizations.routes import router as organizations_router
from app.read_cache import ReadCache, Store, cacheable_prefixes, generation_for
from app.reports.routes import router as reports_router
from app.warmup import settle
from app.web import docs
from app.web.pages import page_error
from app.web.pages import router as pages_router
from app.webhooks.delivery import Worker
from app.webhooks.routes import router as webhooks_router

log = logging.getLogger("assistcal")

API_PREFIX = "/api/v1"
WEB_STATIC = Path(__file__).parent / "web" / "static"


def _error_body(code: str, message: str, details: list[FieldError] | None = None) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "details": [{"field": d.field, "message": d.message} for d in details or []],
        }
    }


def _field_name(loc: tuple[int | str, ...]) -> str:
    """('body', 'countries', 1) -> 'countries[1]'; ('query', 'country', 0) -> 'country';
    ('header', 'if-match') -> 'If-Match'."""
    if len(loc) >= 2 and loc[0] == "header":
        return "-".join(part.capitalize() for part in str(loc[1]).split("-"))
    if len(loc) >= 2 and loc[0] in ("query", "path", "cookie"):
        return str(loc[1])
    parts = loc[1:] if loc and loc[0] == "body" else loc
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name or "body"


def _validation_details(exc: RequestValidationError) -> list[FieldError]:
    details = []
    for error in exc.errors():
        message = error.get("msg", "invalid value")
        if error.get("type") == "extra_forbidden":
            message = "unknown field"
        elif error.get("type") == "json_invalid":
            details.append(FieldError("body", f"the body is not valid JSON ({message})"))
            continue
        details.append(FieldError(_field_name(tuple(error.get("loc", ()))), message))
    return details


def render(exc: AppError) -> JSONResponse:
    """The one JSON rendering of every error the service answers with."""
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Unavailable) else None
    return JSONResponse(
        _error_body(exc.code, exc.message, exc.details), exc.status_code, headers=headers
    )


async def _on_app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    if is_page(request.url.path):
        return page_error(request, exc)
    return render(exc)


async def _on_database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    """A pool that stays exhausted, a lock held too long, a lost connection: the request may
    succeed if retried, so 503 rather than 500."""
    log.warning("database unavailable: %s", exc)
    return render(Unavailable("the database is not answering; retry in a few seconds"))


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details = _validation_details(exc)
    message = "; ".join(f"{d.field}: {d.message}" for d in details[:5])
    if is_page(request.url.path):
        return page_error(request, ValidationFailed(message, details=details))
    return JSONResponse(_error_body("validation_error", message, details), 422)


async def _on_http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}
    code = codes.get(exc.status_code, "http_error")
    # FastAPI's only 400 of its own: a body it could not parse (too deep, too long a number).
    details = [FieldError("body", str(exc.detail))] if exc.status_code == 400 else []
    return JSONResponse(
        _error_body(code, str(exc.detail), details),
        exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(_error_body("internal_error", "internal error"), 500)


_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)


# File uploads (the API's and the import page's) have their own, larger limit.
UPLOAD_PATHS = (API_PREFIX + "/imports", "/import")


class RequestGuard:
    """Refuse what the database cannot take before any route sees it: bodies over
    `max_bytes` (413, whether announced by Content-Length or streamed in chunks) and NUL
    characters in the query string or a JSON body (PostgreSQL text cannot hold them)."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.limits = (max_bytes, max_upload_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits[scope["path"] in UPLOAD_PATHS]

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


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.json_logs:
            configure_logging(settings.log_level)
        settle()
        engine = make_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            statement_timeout_ms=settings.db_statement_timeout_ms,
        )
        app.state.engine = engine
        app.state.reading_engine = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else engine
        )
        app.state.schema_head = schema_head()
        app.state.file_reader = sandbox.reader_for(settings)
        app.state.gate = Gate(
            capacity=settings.db_pool_size,
            one_writer=engine.dialect.name == "sqlite",
            timeout=settings.queue_timeout_seconds,
        )
        worker = None
        if settings.webhook_worker:
            worker = Worker(
                engine,
                poll_seconds=settings.webhook_poll_seconds,
                timeout_seconds=settings.webhook_timeout_seconds,
                allow_private=settings.webhook_allow_private,
            )
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            await generation.close()
            engine.dispose()

    app = FastAPI(
        title="assistcal",
        version="0.1.0",
        summary="The shared calendar of UNSCR 1540 assistance activities.",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's own loads its files from a CDN: app.web.docs serves them
        redoc_url=None,  # and ReDoc cannot do without one (app/web/docs.py)
    )
    app.state.settings = settings
    metrics = Metrics()
    app.state.metrics = metrics
    generation = generation_for(settings.database_url)
    app.add_exception_handler(AppError, _on_app_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(OperationalError, _on_database_unavailable)
    app.add_exception_handler(PoolTimeout, _on_database_unavailable)
    app.add_exception_handler(Exception, _on_unexpected)
    app.state.feed_cache = FeedCache()
    # Routes are tried in order, and each miss costs (FastAPI 0.16x matches included routers
    # route by route): the most requested first.  No two routers' paths overlap.
    app.include_router(activities_router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(feeds_router, responses=ERROR_RESPONSES)
    for router in (
        organizations_router,
        keys_router,
        findings_router,
        feeds_api_router,
        exports_router,
        imports_router,
        reports_router,
        assistance_router,
        webhooks_router,
    ):
        app.include_router(router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(pages_router)
    docs.install(app)
    app.mount("/static", StaticFiles(directory=WEB_STATIC), name="static")

    # Middleware, innermost first.  Added after the routes: the read cache learns which paths
    # it may answer from them.  Its answers skip the body limits and the deadline (they take
    # no time and read no body) but not CORS, the rate limits, headers, metrics and logs.
    app.add_middleware(
        RequestGuard,
        max_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    app.add_middleware(
        Deadlines,
        seconds=settings.request_timeout_seconds,
        upload_seconds=settings.import_timeout_seconds,
        upload_paths=UPLOAD_PATHS,
        render=render,
    )
    # Compressed inside the read cache, which keeps an answer in the coding it was sent in.
    app.state.compression = CompressionStats()
    app.add_middleware(Compression, stats=app.state.compression)
    app.state.read_cache = Store(settings.read_cache_mb * 2**20)
    if settings.read_cache_mb:
        app.add_middleware(
            ReadCache,
            generation=generation,
            store=app.state.read_cache,
            touch_seconds=settings.key_touch_seconds,
            prefixes=cacheable_prefixes(app.routes),
        )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "Idempotency-Key"],
            expose_headers=["ETag", "X-Request-ID"],
        )
    app.add_middleware(
        Operations,
        metrics=metrics,
        per_key=settings.rate_limit_per_key,
        per_address=settings.rate_limit_per_address,
        refuse=render,
    )
    if settings.forwarded_allow_ips:
        # Outermost: the rate limits and the logs see the client the trusted proxy names.
        # Whatever server runs the app, a header from any other peer changes nothing.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)

    metrics.registry.register(
        CacheCollector(
            "assistcal_feed_cache",
            "Feeds rendered by this process (miss) or taken from its feed cache (hit)",
            app.state.feed_cache,
        )
    )
    metrics.registry.register(app.state.compression)
    metrics.registry.register(
        CacheCollector(
            "assistcal_read_cache",
            "Reads answered by their route (miss) or from this process's read cache (hit)",
            app.state.read_cache,
        )
    )

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """200 while the process is up (a liveness check: it touches nothing else)."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        responses={503: {"description": "the database is unreachable or not migrated"}},
    )
    def readyz(request: Request, session: SessionDep) -> dict[str, str]:
        """200 when the database answers and its schema is at this version's head; 503
        otherwise (a readiness check for load balancers)."""
        revision = schema_revision(session)

        if revision != request.app.state.schema_head:
            raise Unavailable(
                f"the database schema is at {revision}, not {request.app.state.schema_head}: "
                "run assistcal db upgrade"
            )
        return {"status": "ready", "schema": str(revision)}

    @app.get("/metrics", tags=["operations"], response_class=Response)
    def metrics_page(session: SessionDep) -> Response:
        """Prometheus metrics of this process: requests, latency, open findings, feed cache."""
        for kind in ("duplicate", "overlap", "clash"):
            metrics.findings_open.labels(kind).set(0)
        for kind, count in open_findings(session).items():
            metrics.findings_open.labels(kind).set(count)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
