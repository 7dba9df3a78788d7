"""What every request passes through around the routes, installed in one place."""

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.config import Settings
from app.db.generation import Generation
from app.http.compression import Compression, CompressionStats
from app.http.deadlines import Deadlines
from app.http.errors import render
from app.http.guard import RequestGuard
from app.http.operations import CacheCollector, Metrics, Operations
from app.http.read_cache import ReadCache, Store, cacheable_prefixes


def install(
    app: FastAPI,
    settings: Settings,
    *,
    metrics: Metrics,
    generation: Generation,
    upload_paths: tuple[str, ...],
) -> None:
    """The middleware, innermost first.  Installed after the routes: the read cache learns
    which paths it may answer from them.  Its answers skip the body limits and the deadline
    (they take no time and read no body) but not CORS, the rate limits, headers, metrics and
    logs.  Sets `app.state.compression` and `app.state.read_cache` (their statistics)."""
    app.add_middleware(
        RequestGuard,
        max_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
        upload_paths=upload_paths,
    )
    app.add_middleware(
        Deadlines,
        seconds=settings.request_timeout_seconds,
        upload_seconds=settings.import_timeout_seconds,
        upload_paths=upload_paths,
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

    metrics.registry.register(app.state.compression)
    metrics.registry.register(
        CacheCollector(
            "assistcal_read_cache",
            "Reads answered by their route (miss) or from this process's read cache (hit)",
            app.state.read_cache,
        )
    )
