"""Bursts of concurrent requests, and writers racing each other, on a real server."""

import threading
import time
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from app.activities import service as activities
from app.activities.models import Activity, ActivityCreate, ActivityUpdate
from app.auth import service as keys_service
from app.db.engine import open_session
from app.errors import Forbidden
from app.findings import detection as findings
from tests.conftest import KeyMaker
from tests.helpers import activity_body, auth, table_counts

API = "/api/v1"


def burst(base: str, requests: list[tuple[str, str, dict[str, Any]]]) -> list[httpx.Response]:
    """Send every request at the same moment, each from its own thread and connection."""
    results: list[httpx.Response] = []
    gate = threading.Barrier(len(requests))
    lock = threading.Lock()

    def send(method: str, path: str, kwargs: dict[str, Any]) -> None:
        with httpx.Client(base_url=base, timeout=120) as http:
            gate.wait()
            response = http.request(method, path, **kwargs)
        with lock:
            results.append(response)

    threads = [threading.Thread(target=send, args=request) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_a_burst_of_a_hundred_mixed_requests_is_served_without_errors(
    live_server: str, make_key: KeyMaker, engine: Engine
) -> None:
    key = make_key()
    with httpx.Client(base_url=live_server) as http:
        first = http.post(f"{API}/activities", json=activity_body(), headers=auth(key)).json()
    one = f"{API}/activities/{first['activity']['id']}"
    requests: list[tuple[str, str, dict[str, Any]]] = []
    for n in range(100):
        kind = n % 10
        if kind < 4:
            body = activity_body(title=f"Burst activity {n}")
            requests.append(("POST", f"{API}/activities", {"json": body, "headers": auth(key)}))
        elif kind < 8:
            requests.append(("GET", f"{API}/activities", {"headers": auth(key)}))
        elif kind == 8:
            requests.append(("GET", one, {}))
        else:
            requests.append(("GET", "/healthz", {}))
    results = burst(live_server, requests)
    assert Counter(r.status_code for r in results) == Counter({201: 40, 200: 60})
    assert table_counts(engine)["activity"] == 41


def test_owner_change_between_load_and_write_is_seen(
    engine: Engine, make_key: KeyMaker, clean_db: None
) -> None:
    """A provider's change is judged against the owner it finds under the row lock, not the
    one it loaded before (PostgreSQL; on SQLite a write transaction holds the write lock from
    its first statement, so the owner cannot change in between)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    xorg = make_key("XORG", "provider")
    coordinator = make_key("COORD", "coordinator")
    make_key("YORG", "provider")
    with open_session(engine, write=True) as setup:
        owner, _ = keys_service.authenticate(setup, xorg)
        created, _ = activities.create(
            setup, ActivityCreate.model_validate(activity_body()), actor=owner
        )
        setup.commit()
    with open_session(engine, write=True) as provider_session:
        owner, _ = keys_service.authenticate(provider_session, xorg)
        loaded = provider_session.get(Activity, created.id)
        assert loaded is not None
        with open_session(engine, write=True) as coordinator_session:
            actor, _ = keys_service.authenticate(coordinator_session, coordinator)
            moved = coordinator_session.get(Activity, created.id)
            assert moved is not None
            activities.update(
                coordinator_session, moved, ActivityUpdate(provider="YORG"), actor=actor
            )
            coordinator_session.commit()
        with pytest.raises(Forbidden):
            activities.update(
                provider_session, loaded, ActivityUpdate(title="Overwritten"), actor=owner
            )


def _in_thread(work: Any) -> tuple[threading.Thread, list[BaseException | None]]:
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            work()
            outcome.append(None)
        except BaseException as exc:  # the test reports it
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_a_pair_refreshed_from_both_sides_at_once_never_fails(
    engine: Engine, make_key: KeyMaker, clean_db: None
) -> None:
    """A withdrawal of one activity and an edit of the other, and a rescan beside a new
    submission, each refresh the same pair's finding at the same moment (PostgreSQL)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    keys = {"x": make_key("UNLIREC", "provider"), "y": make_key("OPCW", "provider")}
    body = activity_body(
        title="National workshop on 1540 reporting", themes=["reporting"], countries=["DO"]
    )

    def principal(session: Any, who: str) -> Any:
        return keys_service.authenticate(session, keys[who])[0]

    def create(who: str, **fields: Any) -> uuid.UUID:
        with open_session(engine, write=True) as session:
            activity, _ = activities.create(
                session,
                ActivityCreate.model_validate({**body, **fields}),
                actor=principal(session, who),
            )
            findings.refresh(session, activity, created=True)
            session.commit()
            return activity.id

    x = create("x")
    y = create("y", title="Reporting seminar")
    withdrawing = open_session(engine, write=True)
    withdrawn = activities.withdraw(
        withdrawing, withdrawing.get(Activity, y), actor=principal(withdrawing, "y")
    )
    findings.refresh(withdrawing, withdrawn)

    def edit_x() -> None:
        with open_session(engine, write=True) as session:
            loaded = session.get(Activity, x)
            edited, _ = activities.update(
                session, loaded, ActivityUpdate(description="agenda"), actor=principal(session, "x")
            )
            findings.refresh(session, edited)
            session.commit()

    thread, outcome = _in_thread(edit_x)
    time.sleep(0.5)
    withdrawing.commit()
    withdrawing.close()
    thread.join()
    assert outcome == [None]

    x2 = create("x", countries=["HT"], start_date="2025-06-10", end_date="2025-06-12")
    submitting = open_session(engine, write=True)
    y2, _ = activities.create(
        submitting,
        ActivityCreate.model_validate(
            {
                **body,
                "title": "Reporting seminar",
                "countries": ["HT"],
                "start_date": "2025-06-10",
                "end_date": "2025-06-12",
            }
        ),
        actor=principal(submitting, "y"),
    )
    findings.refresh(submitting, y2, created=True)

    def rescan_x2() -> None:
        with open_session(engine, write=True) as session:
            findings.rescan(session, [x2])
            session.commit()

    thread, outcome = _in_thread(rescan_x2)
    time.sleep(0.5)
    submitting.commit()
    submitting.close()
    thread.join()
    assert outcome == [None]
