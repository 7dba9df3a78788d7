"""The operations routes: liveness, readiness and Prometheus metrics."""

from collections.abc import Callable, Mapping

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlmodel import Session

from app.db.migrate import schema_revision
from app.db.session import SessionDep
from app.errors import Unavailable
from app.http.operations import Metrics

# Open findings by kind, read when /metrics is asked (the domain's count, given by the app).
FindingsOpen = Callable[[Session], Mapping[str, int]]


def router(metrics: Metrics, *, findings_open: FindingsOpen) -> APIRouter:
    ops = APIRouter(tags=["operations"])

    @ops.get("/healthz")
    def healthz() -> dict[str, str]:
        """200 while the process is up (a liveness check: it touches nothing else)."""
        return {"status": "ok"}

    @ops.get(
        "/readyz",
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

    @ops.get("/metrics", response_class=Response)
    def get_metrics(session: SessionDep) -> Response:
        """Prometheus metrics of this process: requests, latency, open findings, feed cache."""
        for kind in ("duplicate", "overlap", "clash"):
            metrics.findings_open.labels(kind).set(0)
        for kind, count in findings_open(session).items():
            metrics.findings_open.labels(kind).set(count)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return ops
