"""Around the routes: request ids, JSON logs without secrets, security headers, CORS, rate
limits, readiness and metrics."""

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.config import Settings
from app.http.operations import configure_logging
from app.main import create_app
from tests.conftest import KeyMaker
from tests.e2e.live import start, stop
from tests.helpers import activity_body, auth

API = "/api/v1"


@pytest.fixture
def app_with(settings: Settings, clean_db: None) -> Iterator[Any]:
    clients: list[TestClient] = []

    def make(**changes: Any) -> TestClient:
        client = TestClient(create_app(settings.model_copy(update=changes)))
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def test_request_ids_and_security_headers(client: TestClient) -> None:
    answer = client.get("/", headers={"X-Request-ID": "trace-1540"})
    assert answer.headers["x-request-id"] == "trace-1540"
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert (
        "unsafe-inline"
        not in answer.headers["content-security-policy"].split("script-src")[1].split(";")[0]
    )
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"
    api = client.get(f"{API}/activities", headers={"X-Request-ID": "bad id with spaces"})
    assert len(api.headers["x-request-id"]) == 32  # a new one
    assert api.headers["x-content-type-options"] == "nosniff"
    assert (
        "access-control-allow-origin"
        not in client.get(
            f"{API}/activities", headers={"Origin": "https://elsewhere.example"}
        ).headers
    )


def test_cors_only_for_the_configured_origins(app_with: Any) -> None:
    client = app_with(cors_origins=["https://dashboard.example"])
    allowed = client.get(f"{API}/activities", headers={"Origin": "https://dashboard.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://dashboard.example"
    other = client.get(f"{API}/activities", headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in other.headers


def test_rate_limits_per_key_and_per_address(app_with: Any, make_key: KeyMaker) -> None:
    client = app_with(rate_limit_per_key=5, rate_limit_per_address=3)
    key = make_key("UNLIREC", "provider")
    answers = [client.get(f"{API}/activities", headers=auth(key)).status_code for _ in range(7)]
    assert answers == [200] * 5 + [429] * 2
    refused = client.get(f"{API}/activities", headers=auth(key))
    assert refused.json()["error"]["code"] == "too_many_requests"
    assert int(refused.headers["retry-after"]) >= 1
    other = make_key("OPCW", "provider")
    assert client.get(f"{API}/activities", headers=auth(other)).status_code == 200  # its own
    anonymous = [client.get(f"{API}/activities").status_code for _ in range(4)]
    assert anonymous == [200] * 3 + [429]
    assert client.get("/feeds/all.ics").status_code == 200  # feeds: no per-address limit
    # Made-up keys are counted against the address: they buy no extra requests.
    fresh = app_with(rate_limit_per_key=100, rate_limit_per_address=3)
    guesses = [
        fresh.get(f"{API}/activities", headers=auth(f"ac_guess{n}")).status_code for n in range(5)
    ]
    assert guesses == [401] * 3 + [429] * 2
    assert fresh.get(f"{API}/activities", headers=auth(key)).status_code == 429  # same address
    assert client.get("/healthz").status_code == 200
    metrics = client.get("/metrics").text
    assert 'assistcal_rate_limited_total{by="key"}' in metrics


def test_readiness_follows_the_database_schema(client: TestClient, engine: Engine) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    head = ready.json()["schema"]
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'older'"))
    try:
        behind = client.get("/readyz")
        assert behind.status_code == 503
        assert "assistcal db upgrade" in behind.json()["error"]["message"]
        assert client.get("/healthz").status_code == 200  # the process is still up
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": head})


def test_metrics(client: TestClient, make_key: KeyMaker, seconds_over: None) -> None:
    key = make_key("UNLIREC", "provider")
    for title in (
        "National workshop on export control",
        "Taller nacional sobre control de exportaciones",
    ):
        body = activity_body(title=title, countries=["JM"])
        assert client.post(f"{API}/activities", json=body, headers=auth(key)).status_code == 201
    client.get("/feeds/all.ics")
    client.get("/feeds/all.ics")  # answered by the read cache
    client.head("/feeds/all.ics")  # another request to the read cache: the feed cache answers
    client.get(f"{API}/activities/{'0' * 8}-0000-0000-0000-{'0' * 12}")
    text = client.get("/metrics").text
    assert (
        'assistcal_requests_total{method="POST",route="/api/v1/activities",status="201"} 2.0'
        in text
    )
    assert (
        'assistcal_request_seconds_bucket{le="0.5",method="POST",route="/api/v1/activities"}'
        in text
    )
    assert 'assistcal_findings_open{kind="duplicate"} 1.0' in text
    assert 'assistcal_feed_cache_total{result="hit"} 1.0' in text
    assert 'assistcal_feed_cache_total{result="miss"} 1.0' in text
    assert 'assistcal_read_cache_total{result="hit"} 1.0' in text
    assert 'assistcal_read_cache_total{result="miss"} 3.0' in text
    # An answer from the read cache is counted under its route, like the others.
    assert 'assistcal_requests_total{method="GET",route="/feeds/all.ics",status="200"} 2.0' in text
    assert 'route="/api/v1/activities/{activity_id}",status="404"' in text  # not one per id


def test_logs_are_json_lines_without_secrets(
    client: TestClient, make_key: KeyMaker, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO")
    key = make_key("UNLIREC", "provider")
    token = client.post(
        f"{API}/feed-tokens", json={"label": "desk", "filters": {}}, headers=auth(key)
    ).json()["token"]
    secret = "webhook-secret-never-logged"
    client.post(
        f"{API}/webhooks",
        json={
            "url": "https://receiver.example/hook",
            "events": ["activity.created"],
            "secret": secret,
        },
        headers=auth(key),
    )
    client.get(f"/feeds/private/{token}.ics", headers={"X-Request-ID": "req-42"})
    client.get(f"{API}/activities?q={secret}", headers=auth(key))
    logged = capsys.readouterr().err
    lines = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    assert lines, logged
    feed = next(line for line in lines if line.get("request_id") == "req-42")
    assert feed["path"] == "/feeds/private/***"
    assert feed["status"] == 200
    assert feed["message"] == "request"
    assert key not in logged
    assert token not in logged
    assert secret not in logged
    assert any(
        line.get("key") == key[: len(line.get("key") or "")] and line.get("key") for line in lines
    )
    logging.getLogger("assistcal").handlers = []


def test_a_path_with_a_backslash_is_counted_not_a_500(client: TestClient) -> None:
    # Found by the fuzzer: the route template was rebuilt with re.sub, which read the
    # backslash of the path as a group reference and failed after the response.
    answer = client.get(f"{API}/activities/a%5Cb")
    assert answer.status_code == 422
    text = client.get("/metrics").text
    assert 'route="/api/v1/activities/{activity_id}",status="422"' in text


def test_the_server_logs_its_own_lines_as_json_too(tmp_path: Path) -> None:
    """uvicorn's lines (start, stop) are JSON lines like the service's, from the first one."""
    process, server = start(tmp_path)
    try:
        httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": "probe-1"})
    finally:
        stop(process)
    time.sleep(0.2)  # the last lines are read by another thread
    logged = [line for line in server.output if line.startswith("{")]
    records = [json.loads(line) for line in logged]
    messages = {record["message"].split(" [")[0] for record in records}
    assert {"Started server process", "Application startup complete."} <= messages, logged
    assert {r["name"] for r in records if "startup" in r["message"]} == {"uvicorn.error"}
    assert all({"asctime", "levelname", "process"} <= record.keys() for record in records)
    assert not [line for line in server.output if line.startswith(("INFO:", "ERROR:"))]
