"""Request timeouts: a statement that runs too long is stopped on either database, and a
request that outlives its deadline is answered at once (408 or 503) and stores nothing."""

import asyncio
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from app.config import Settings
from app.db.engine import make_engine
from app.db.session import SessionDep
from app.http.deadlines import Deadline, Deadlines
from app.http.errors import render
from app.main import create_app
from app.organizations import service as organizations
from app.organizations.models import Organization
from tests.conftest import serving

SLOW = {
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
    "SELECT count(*) FROM n",
    "postgresql": "SELECT pg_sleep(5)",
}


def test_a_slow_statement_is_stopped_on_either_database(settings: Settings) -> None:
    engine = make_engine(settings.database_url, statement_timeout_ms=300)
    try:
        with engine.connect() as conn:
            started = time.monotonic()
            with pytest.raises(OperationalError):
                conn.execute(sa.text(SLOW[engine.dialect.name]))
            assert time.monotonic() - started < 3
        with engine.connect() as conn:
            # Each statement has its own time: a quick one later on the same connection runs.
            time.sleep(0.4)
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_statements_have_no_limit_when_it_is_off(settings: Settings) -> None:
    engine = make_engine(settings.database_url, statement_timeout_ms=0)
    longer = {
        "sqlite": SLOW["sqlite"].replace("FROM n)", "FROM n WHERE i < 5000000)"),
        "postgresql": "SELECT count(*) FROM (SELECT pg_sleep(0.4)) AS slept",
    }
    try:
        with engine.connect() as conn:
            started = time.monotonic()
            counted = conn.execute(sa.text(longer[engine.dialect.name])).scalar()
            assert time.monotonic() - started > 0.3  # longer than the other test's limit
            assert counted == (5_000_000 if engine.dialect.name == "sqlite" else 1)
    finally:
        engine.dispose()


def test_commit_and_deadline_exclude_each_other() -> None:
    committed = Deadline()
    assert committed.may_commit()
    assert not committed.expire()  # committing first: the real answer is awaited
    expired = Deadline()
    assert expired.expire()
    assert not expired.may_commit()  # answered "timed out": the commit is refused


def _slow_app(settings: Settings, seconds: float, deadline: float = 0.5) -> Any:
    app = create_app(settings.model_copy(update={"request_timeout_seconds": deadline}))

    @app.post("/test/slow")
    def slow(session: SessionDep) -> dict[str, str]:
        organizations.ensure(session, acronym="SLOWORG", name="Stored late")
        session.flush()
        time.sleep(seconds)
        return {"status": "done"}

    return app


def _stored(engine: Engine) -> list[Organization]:
    with engine.connect() as conn:
        return list(
            conn.execute(select(Organization).where(col(Organization.acronym) == "SLOWORG"))
        )


def test_a_request_out_of_time_is_answered_503_and_stores_nothing(
    settings: Settings, engine: Engine, clean_db: None
) -> None:
    with serving(_slow_app(settings, seconds=2)) as base:
        started = time.monotonic()
        answer = httpx.post(f"{base}/test/slow", timeout=10)
        answered_in = time.monotonic() - started
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "unavailable"
        assert "nothing was stored" in answer.json()["error"]["message"]
        assert answer.headers["retry-after"]
        assert answer.headers["x-request-id"]
        assert answered_in < 1.5, answered_in  # at the deadline, not when the handler ended
        time.sleep(2.5)  # the handler ends, and must not commit
        assert _stored(engine) == []
        # The process goes on serving.
        assert httpx.get(f"{base}/healthz").status_code == 200


def test_a_request_in_time_is_untouched(settings: Settings, engine: Engine, clean_db: None) -> None:
    # A first request on PostgreSQL (connecting, a loaded CI machine) may take over 0.5 s.
    with serving(_slow_app(settings, seconds=0.05, deadline=10)) as base:
        answer = httpx.post(f"{base}/test/slow", timeout=10)
        assert answer.status_code == 200
        assert answer.json() == {"status": "done"}
    assert len(_stored(engine)) == 1


def test_a_body_that_does_not_arrive_is_answered_408(settings: Settings, clean_db: None) -> None:
    with serving(_slow_app(settings, seconds=0)) as base:
        address = urlsplit(base)
        with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
            conn.sendall(
                b"POST /api/v1/activities HTTP/1.1\r\nHost: test\r\n"
                b"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{"
            )
            started = time.monotonic()
            answer = conn.recv(65536).decode()
            assert time.monotonic() - started < 3
        assert answer.startswith("HTTP/1.1 408"), answer
        assert '"code":"request_timeout"' in answer


def test_uploads_have_their_own_deadline() -> None:
    async def slow(_request: Request) -> PlainTextResponse:
        await asyncio.sleep(0.8)
        return PlainTextResponse("done")

    inner = Starlette(routes=[Route("/up", slow, methods=["POST"]), Route("/other", slow)])
    app = Deadlines(inner, seconds=0.3, upload_seconds=3, upload_paths=("/up",), render=render)
    with serving(app) as base:
        assert httpx.post(f"{base}/up", content=b"x").text == "done"
        assert httpx.get(f"{base}/other").status_code == 503
