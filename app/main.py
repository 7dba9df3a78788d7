"""The application: create_app(settings) -> FastAPI, the list of what is installed."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from app.api.activities import router as activities_router
from app.api.assistance import router as assistance_router
from app.api.exports import router as exports_router
from app.api.feeds import api as feeds_api_router
from app.api.feeds import feeds as feeds_router
from app.api.findings import router as findings_router
from app.api.imports import router as imports_router
from app.api.keys import router as keys_router
from app.api.organizations import router as organizations_router
from app.api.people import router as people_router
from app.api.reports import router as reports_router
from app.api.webhooks import router as webhooks_router
from app.auth import oidc
from app.config import Settings
from app.db import outbox
from app.db.engine import make_engine
from app.db.generation import Generation, generation_for
from app.db.migrate import schema_head
from app.db.session import Gate
from app.errors import ERROR_RESPONSES
from app.feeds.service import FeedCache
from app.findings import vectors
from app.findings.service import open_findings
from app.http import errors, openapi, ops, pipeline
from app.http.operations import CacheCollector, Metrics, configure_logging
from app.imports import sandbox
from app.mail import notices as notice_record
from app.mail import sending as mail_sending
from app.notices import batch as notice_batch
from app.notices import digest
from app.warmup import settle
from app.web import docs
from app.web.pages import page_error
from app.web.pages import router as pages_router
from app.webhooks.delivery import Worker

API_PREFIX = "/api/v1"
WEB_STATIC = Path(__file__).parent / "web" / "static"
# File uploads (the API's and the import page's) have their own, larger limits.
UPLOAD_PATHS = (API_PREFIX + "/imports", "/import")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    generation = generation_for(settings.database_url)
    app = FastAPI(
        title="assistcal",
        version="0.1.0",
        summary="The shared calendar of UNSCR 1540 assistance activities.",
        lifespan=_lifespan(settings, generation),
        generate_unique_id_function=openapi.operation_id,
        openapi_tags=openapi.TAGS,
        docs_url=None,  # FastAPI's own loads its files from a CDN: app.web.docs serves them
        redoc_url=None,  # and ReDoc cannot do without one (app/web/docs.py)
    )
    app.state.settings = settings
    app.state.metrics = metrics = Metrics()
    app.state.feed_cache = FeedCache()
    app.state.oidc = oidc.Provider.from_settings(settings)
    errors.install(app, page_error=page_error)
    _include_routes(app)
    app.include_router(ops.router(metrics, findings_open=open_findings))
    docs.install(app)
    app.mount("/static", StaticFiles(directory=WEB_STATIC), name="static")
    metrics.registry.register(
        CacheCollector(
            "assistcal_feed_cache",
            "Feeds rendered by this process (miss) or taken from its feed cache (hit)",
            app.state.feed_cache,
        )
    )
    pipeline.install(
        app, settings, metrics=metrics, generation=generation, upload_paths=UPLOAD_PATHS
    )
    return app


def _include_routes(app: FastAPI) -> None:
    # Routes are tried in order, and each miss costs (FastAPI 0.16x matches included routers
    # route by route): the most requested first.  No two routers' paths overlap.
    app.include_router(activities_router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(feeds_router, responses=ERROR_RESPONSES)
    for router in (
        organizations_router,
        people_router,
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


def _lifespan(
    settings: Settings, generation: Generation
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.json_logs:
            configure_logging(settings.log_level)
        settle()
        vectors.configure(enabled=settings.detection_model)
        vectors.start()  # loads the model in the background: the start is not slower
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
        workers: list[outbox.Worker] = []
        if settings.webhook_worker:
            workers.append(
                Worker(
                    engine,
                    poll_seconds=settings.webhook_poll_seconds,
                    timeout_seconds=settings.webhook_timeout_seconds,
                    allow_private=settings.webhook_allow_private,
                )
            )
        if settings.mail_worker:
            workers.append(
                mail_sending.Worker(
                    engine,
                    transport=mail_sending.transport_for(settings),
                    mail_from=settings.mail_from,
                    poll_seconds=settings.mail_poll_seconds,
                )
            )
        notice_record.configure(wait_seconds=settings.notice_wait_seconds)
        if settings.mail_worker:
            # Notices fall due a while after the change (settings.notice_wait_seconds): looked
            # for every few seconds, so that a person hears within that and a few seconds.
            workers.append(notice_batch.Worker(engine, settings, poll_seconds=5.0))
            # The coordinators' digests, queued at their hour by whichever process looks
            # first (app.notices.digest): they go where this process's mail goes.
            workers.append(digest.Worker(engine, settings))
        for worker in workers:
            worker.start()
        try:
            yield
        finally:
            for worker in workers:
                worker.stop()
            await generation.close()
            engine.dispose()

    return lifespan
