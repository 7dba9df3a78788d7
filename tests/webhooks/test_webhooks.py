"""Webhooks: events queued in the transaction that made them, signed, delivered after the
commit, retried with backoff, logged; never sent for a transaction that rolled back; a
provider receives only what it may see."""

import hashlib
import hmac
import json
import threading
import time
import uuid
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.activities import service as activities
from app.activities.models import ActivityCreate
from app.config import Settings
from app.core.principal import Principal
from app.core.timeutil import utcnow
from app.db.engine import open_session
from app.main import create_app
from app.organizations import service as organizations
from app.webhooks.delivery import MAX_ATTEMPTS, deliver_due
from app.webhooks.destination import http_client
from app.webhooks.models import WebhookDelivery
from tests.conftest import KeyMaker
from tests.helpers import activity_body, auth, record_request

API = "/api/v1"
SECRET = "a-long-shared-secret-1540"


class Receiver:
    """A local HTTP endpoint that answers with the statuses it is given, in turn (then 200),
    and keeps what it received."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[tuple[dict[str, str], str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                receiver.received.append((dict(self.headers), self.rfile.read(length).decode()))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def subscribe(client: TestClient, key: str, url: str, *events: str, **extra: Any) -> Any:
    body = {"url": url, "events": list(events), "secret": SECRET, **extra}
    return client.post(f"{API}/webhooks", json=body, headers=auth(key))


def post_activity(client: TestClient, key: str, **fields: Any) -> dict[str, Any]:
    answer = client.post(f"{API}/activities", json=activity_body(**fields), headers=auth(key))
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def queued(engine: Engine) -> list[tuple[str, str]]:
    """(event type, webhook organization) of every delivery in the outbox."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT d.event_type, w.organization FROM webhook_delivery d "
                "JOIN webhook w ON w.id = d.webhook_id ORDER BY d.created_at, d.event_type"
            )
        )
        return [(str(kind), str(org)) for kind, org in rows]


def send(engine: Engine, at: datetime) -> int:
    with http_client(timeout=5, allow_private=True) as http:
        return deliver_due(engine, client=http, now=lambda: at)


def test_delivered_once_after_a_failure_and_a_retry_with_a_signature_that_verifies(
    client: TestClient, make_key: KeyMaker, engine: Engine, receiver: Receiver
) -> None:
    key = make_key("UNLIREC", "provider")
    receiver.statuses = [500]
    made = subscribe(client, key, receiver.url, "activity.created")
    assert made.status_code == 201, made.text
    webhook = made.json()
    assert "secret" not in webhook
    activity = post_activity(client, key)["activity"]

    start = utcnow() + timedelta(seconds=1)
    assert send(engine, start) == 1  # the receiver fails
    assert send(engine, start + timedelta(seconds=10)) == 0  # not due before 30 s
    assert send(engine, start + timedelta(seconds=31)) == 1  # the retry succeeds
    assert send(engine, start + timedelta(hours=1)) == 0  # and it is not sent again

    assert len(receiver.received) == 2
    (_, first), (headers, body) = receiver.received
    assert first == body  # the same event, the same id
    timestamp = headers["X-Assistcal-Timestamp"]
    expected = hmac.new(SECRET.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    assert headers["X-Assistcal-Signature"] == "sha256=" + expected.hexdigest()
    assert abs(int(timestamp) - (start + timedelta(seconds=31)).timestamp()) < 2
    event = json.loads(body)
    assert set(event) == {"id", "type", "created_at", "data"}
    assert event["type"] == "activity.created"
    assert (event["data"]["id"], event["data"]["provider"]) == (activity["id"], "UNLIREC")
    assert headers["X-Assistcal-Event"] == "activity.created"

    log = client.get(f"{API}/webhooks/{webhook['id']}/deliveries", headers=auth(key)).json()
    [delivery] = log["items"]
    assert (delivery["status"], delivery["attempts"], delivery["event_id"]) == (
        "delivered",
        2,
        event["id"],
    )
    assert [a["status_code"] for a in delivery["log"]] == [500, 200]
    assert delivery["log"][0]["error"] == "HTTP 500"
    assert delivery["next_attempt_at"] is None


def test_nothing_is_sent_for_a_transaction_that_rolled_back(
    client: TestClient, make_key: KeyMaker, engine: Engine, receiver: Receiver
) -> None:
    key = make_key("UNLIREC", "provider")
    assert subscribe(client, key, receiver.url, "activity.created").status_code == 201
    with open_session(engine, write=True) as session:
        unlirec = organizations.find(session, "UNLIREC")
        assert unlirec is not None
        assert unlirec.id is not None
        actor = Principal(uuid.uuid4(), "test", unlirec.id, "UNLIREC", "provider")
        data = ActivityCreate.model_validate(activity_body())
        activities.create(session, data, actor=actor)
        assert len(session.exec(sa.select(WebhookDelivery.id)).all()) == 1  # type: ignore[call-overload]
        session.rollback()
    # An import that fails as a whole rolls its events back with its rows.
    bad = (
        b"title,start,countries,themes\nGood,2025-01-01,TT,reporting\nBad,2025-01-01,XX,reporting\n"
    )
    failed = client.post(f"{API}/imports", files={"file": ("a.csv", bad)}, headers=auth(key))
    assert failed.status_code == 422
    assert queued(engine) == []
    assert send(engine, utcnow() + timedelta(seconds=1)) == 0
    assert receiver.received == []


def test_a_provider_receives_only_the_findings_it_may_see(
    client: TestClient, make_key: KeyMaker, engine: Engine, receiver: Receiver
) -> None:
    unlirec = make_key("UNLIREC", "provider")
    opcw = make_key("OPCW", "provider")
    bafa = make_key("BAFA", "provider")
    coordinator = make_key("OAS-CICTE", "coordinator")
    assert subscribe(client, unlirec, receiver.url, "finding.created").status_code == 201
    assert subscribe(client, coordinator, receiver.url, "finding.created").status_code == 201
    workshop = {"title": "National workshop on export control", "countries": ["JM"]}
    post_activity(client, opcw, **workshop)
    post_activity(client, bafa, **workshop)  # a duplicate between OPCW and BAFA
    assert queued(engine) == [("finding.created", "OAS-CICTE")]
    post_activity(client, unlirec, **workshop)  # now UNLIREC's activity is in two findings
    assert sorted(queued(engine)) == sorted(
        [("finding.created", "OAS-CICTE")] * 3 + [("finding.created", "UNLIREC")] * 2
    )


def test_every_event_type_is_queued(
    client: TestClient, make_key: KeyMaker, engine: Engine, receiver: Receiver
) -> None:
    provider = make_key("UNLIREC", "provider")
    coordinator = make_key("OAS-CICTE", "coordinator")
    everything = [
        "activity.created",
        "activity.updated",
        "activity.withdrawn",
        "finding.created",
        "finding.decided",
        "request.matched",
    ]
    assert subscribe(client, coordinator, receiver.url, *everything).status_code == 201
    first = post_activity(client, provider, title="National workshop on export control")
    second = post_activity(
        client, provider, title="Taller nacional sobre control de exportaciones", language="es"
    )
    [finding] = [f for f in second["findings"] if f["kind"] == "duplicate"]
    decided = client.post(
        f"{API}/findings/{finding['id']}/decision",
        json={"decision": "dismiss", "note": "two sessions"},
        headers=auth(coordinator),
    )
    assert decided.status_code == 200, decided.text
    activity_url = f"{API}/activities/{first['activity']['id']}"
    assert (
        client.patch(
            activity_url, json={"description": "Day one"}, headers=auth(provider)
        ).status_code
        == 200
    )
    assert client.delete(activity_url, headers=auth(provider)).status_code in (200, 204)
    request = record_request(client, coordinator)
    request_url = f"{API}/assistance-requests/{request['id']}"
    client.patch(request_url, json={"status": "circulated"}, headers=auth(coordinator))
    client.patch(request_url, json={"status": "matched"}, headers=auth(coordinator))
    types = [kind for kind, _ in queued(engine)]
    assert set(types) == set(everything)
    assert types.count("request.matched") == 1
    assert send(engine, utcnow() + timedelta(seconds=1)) == len(types)
    sent = [json.loads(body) for _, body in receiver.received]
    matched = next(e for e in sent if e["type"] == "request.matched")
    assert matched["data"]["id"] == request["id"]
    decided_event = next(e for e in sent if e["type"] == "finding.decided")
    assert decided_event["data"]["status"] == "dismissed"


def test_retries_stop_after_the_last_attempt_and_a_disabled_webhook_gets_nothing(
    client: TestClient, make_key: KeyMaker, engine: Engine, receiver: Receiver
) -> None:
    key = make_key("UNLIREC", "provider")
    receiver.statuses = [503] * 50
    webhook = subscribe(client, key, receiver.url, "activity.created").json()
    post_activity(client, key)
    at = utcnow() + timedelta(seconds=1)
    for _ in range(MAX_ATTEMPTS + 2):
        send(engine, at)
        at += timedelta(hours=7)
    assert len(receiver.received) == MAX_ATTEMPTS
    [delivery] = client.get(f"{API}/webhooks/{webhook['id']}/deliveries", headers=auth(key)).json()[
        "items"
    ]
    assert (delivery["status"], delivery["attempts"]) == ("failed", MAX_ATTEMPTS)

    gone = client.delete(f"{API}/webhooks/{webhook['id']}", headers=auth(key))
    assert gone.status_code == 204
    post_activity(client, key, title="Another one")
    assert len(queued(engine)) == 1  # only the failed delivery of before
    assert client.get(f"{API}/webhooks/{webhook['id']}", headers=auth(key)).json()["disabled_at"]


def test_webhooks_are_checked_and_kept_to_their_organization(
    client: TestClient, make_key: KeyMaker, receiver: Receiver
) -> None:
    unlirec = make_key("UNLIREC", "provider")
    opcw = make_key("OPCW", "provider")
    admin = make_key("ASSISTCAL", "admin")
    for body, field in (
        ({"url": "ftp://example.org/x", "events": ["activity.created"], "secret": SECRET}, "url"),
        ({"url": receiver.url, "events": ["activity.moved"], "secret": SECRET}, "events[0]"),
        ({"url": receiver.url, "events": [], "secret": SECRET}, "events"),
        ({"url": receiver.url, "events": ["activity.created"], "secret": "short"}, "secret"),
    ):
        bad = client.post(f"{API}/webhooks", json=body, headers=auth(unlirec))
        assert bad.status_code == 422, bad.text
        assert bad.json()["error"]["details"][0]["field"] == field
    assert (
        subscribe(
            client, unlirec, receiver.url, "activity.created", organization="OPCW"
        ).status_code
        == 403
    )
    own = subscribe(client, unlirec, receiver.url, "activity.created").json()
    assert own["sees_all"] is False
    for_opcw = subscribe(client, admin, receiver.url, "finding.created", organization="OPCW").json()
    assert (for_opcw["organization"], for_opcw["sees_all"]) == ("OPCW", False)
    assert [w["id"] for w in client.get(f"{API}/webhooks", headers=auth(opcw)).json()["items"]] == [
        for_opcw["id"]
    ]
    assert client.get(f"{API}/webhooks/{own['id']}", headers=auth(opcw)).status_code == 404
    assert client.delete(f"{API}/webhooks/{own['id']}", headers=auth(opcw)).status_code == 404
    assert len(client.get(f"{API}/webhooks", headers=auth(admin)).json()["items"]) == 2
    assert client.post(f"{API}/webhooks", json={}).status_code == 401


def test_the_worker_sends_as_soon_as_the_transaction_commits(
    make_key: KeyMaker, settings: Settings, receiver: Receiver
) -> None:
    key = make_key("UNLIREC", "provider")
    live = settings.model_copy(update={"webhook_worker": True, "webhook_poll_seconds": 60})
    with TestClient(create_app(live)) as client:
        assert subscribe(client, key, receiver.url, "activity.created").status_code == 201
        activity = post_activity(client, key)["activity"]
        deadline = time.monotonic() + 10
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.05)
    [(_, body)] = receiver.received
    assert json.loads(body)["data"]["id"] == activity["id"]


def test_two_workers_never_send_the_same_delivery(
    client: TestClient, make_key: KeyMaker, engine: Engine, receiver: Receiver
) -> None:
    key = make_key("UNLIREC", "provider")
    assert subscribe(client, key, receiver.url, "activity.created").status_code == 201
    for n in range(30):
        post_activity(client, key, title=f"Activity {n}", external_ref=f"R{n}")
    at = utcnow() + timedelta(seconds=1)
    with http_client(timeout=5, allow_private=True) as http:
        workers = [
            threading.Thread(
                target=deliver_due,
                args=(engine,),
                kwargs={"client": http, "now": lambda: at, "limit": 4},
            )
            for _ in range(3)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    ids = [json.loads(body)["id"] for _, body in receiver.received]
    assert len(ids) == 30
    assert len(set(ids)) == 30


def test_webhooks_may_not_call_into_the_network(
    make_key: KeyMaker, settings: Settings, engine: Engine, receiver: Receiver
) -> None:
    key = make_key("UNLIREC", "provider")
    strict = settings.model_copy(update={"webhook_allow_private": False})
    with TestClient(create_app(strict)) as client:
        for url in (
            receiver.url,
            "http://10.1.2.3/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/hook",
            "https://no-such-host.invalid/hook",
        ):
            refused = subscribe(client, key, url, "activity.created")
            assert refused.status_code == 422, url
            assert refused.json()["error"]["details"][0]["field"] == "url"
    # A webhook made while private addresses were allowed gets nothing sent once they are not.
    with TestClient(create_app(settings)) as client:
        made = subscribe(client, key, receiver.url, "activity.created").json()
        post_activity(client, key)
    with http_client(timeout=5) as http:
        deliver_due(engine, client=http, now=lambda: utcnow() + timedelta(seconds=1))
    assert receiver.received == []
    with TestClient(create_app(settings)) as client:
        log = client.get(f"{API}/webhooks/{made['id']}/deliveries", headers=auth(key)).json()
    assert log["items"][0]["log"][0]["error"].startswith("destination refused")


def bodies(engine: Engine, event_type: str) -> list[dict[str, Any]]:
    """The data of every queued delivery of this type."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT body FROM webhook_delivery WHERE event_type = :t ORDER BY created_at"),
            {"t": event_type},
        )
        return [json.loads(body)["data"] for (body,) in rows]


def test_a_finding_that_changes_kind_or_is_reopened_is_told(
    client: TestClient, make_key: KeyMaker, engine: Engine, receiver: Receiver
) -> None:
    provider = make_key("UNLIREC", "provider")
    coordinator = make_key("OAS-CICTE", "coordinator")
    events = ("finding.changed", "finding.reopened")
    assert subscribe(client, coordinator, receiver.url, *events).status_code == 201
    assert subscribe(client, provider, receiver.url, *events).status_code == 201
    post_activity(client, provider, title="National workshop on export control")
    other = post_activity(client, make_key("OPCW", "provider"), title="Chemical industry outreach")
    [overlap] = other["findings"]
    assert overlap["kind"] == "overlap"
    other_url = f"{API}/activities/{other['activity']['id']}"
    opcw = make_key("OPCW", "provider")
    renamed = client.patch(
        other_url, json={"title": "National workshop on export controls"}, headers=auth(opcw)
    )
    assert renamed.status_code == 200, renamed.text
    [changed, to_provider] = bodies(engine, "finding.changed")
    assert changed == to_provider  # the provider sees the findings of its own activities
    assert (changed["id"], changed["kind"], changed["previous_kind"]) == (
        overlap["id"],
        "duplicate",
        "overlap",
    )

    decision = f"{API}/findings/{overlap['id']}/decision"
    for body in ({"decision": "dismiss", "note": "two"}, {"decision": "reopen", "note": "oops"}):
        assert client.post(decision, json=body, headers=auth(coordinator)).status_code == 200
    assert [(e["id"], e["status"], e["reason"]) for e in bodies(engine, "finding.reopened")] == [
        (overlap["id"], "open", "decision")
    ] * 2
    dismissed = client.post(decision, json={"decision": "dismiss"}, headers=auth(coordinator))
    assert dismissed.status_code == 200
    moved = client.patch(
        other_url, json={"start_date": "2025-03-11", "end_date": "2025-03-13"}, headers=auth(opcw)
    )
    assert moved.status_code == 200, moved.text
    reopened = bodies(engine, "finding.reopened")[2:]
    assert [(e["id"], e["status"], e["reason"]) for e in reopened] == [
        (overlap["id"], "open", "changed")
    ] * 2
    assert send(engine, utcnow() + timedelta(seconds=1)) == 6


def test_a_finding_stored_meanwhile_by_another_transaction_is_named_by_its_stored_id(
    client: TestClient, make_key: KeyMaker, engine: Engine, receiver: Receiver
) -> None:
    """Two activities of a pair submitted at the same moment: the second transaction's insert
    of the pair meets the row the first one stored, updates it, and tells its id."""
    from app.findings import detection

    coordinator = make_key("OAS-CICTE", "coordinator")
    assert subscribe(client, coordinator, receiver.url, "finding.created").status_code == 201
    first = post_activity(client, make_key("UNLIREC", "provider"))["activity"]
    second = post_activity(client, make_key("OPCW", "provider"))
    [stored] = second["findings"]
    pair = detection._pair(uuid.UUID(first["id"]), uuid.UUID(second["activity"]["id"]))
    with open_session(engine, write=True) as session:
        row = detection._fresh(pair, {"kind": "duplicate", "score": 0.9, "reasons": []}, utcnow())
        providers = {first["id"]: "UNLIREC", second["activity"]["id"]: "OPCW"}
        detection._insert(session, [row], providers)
        assert row["id"] == uuid.UUID(stored["id"])
        session.commit()
    assert [e["id"] for e in bodies(engine, "finding.created")] == [stored["id"]] * 2
