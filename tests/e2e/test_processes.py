"""Several worker processes on one database (PostgreSQL in .ci/run's second pass, SQLite in the
first): an Idempotency-Key sent to every process at once makes one activity, feeds' ETags and
304s agree across processes and follow a change made through any of them, two duplicates sent
to two processes at the same moment find each other, and each webhook event is delivered once.
Every request opens a new connection, so the processes take turns answering."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.live import start, stop
from tests.helpers import activity_body
from tests.webhooks.test_webhooks import Receiver

WORKERS = 3
API = "/api/v1"


def fresh(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """A request on a connection of its own (so any process may take it)."""
    with httpx.Client(timeout=30) as client:
        return client.request(method, url, **kwargs)


def test_several_processes_share_one_database(tmp_path: Path, db_url: str, clean_db: None) -> None:
    receiver = Receiver()
    process, server = start(tmp_path, "--workers", str(WORKERS), database_url=db_url)
    try:
        admin = next(line.strip() for line in server.output if line.strip().startswith("ac_"))
        base = server.url + API
        as_admin = {"Authorization": f"Bearer {admin}"}
        fresh(
            "POST",
            f"{base}/organizations",
            json={"acronym": "UNLIREC", "name": "U"},
            headers=as_admin,
        )
        key = fresh(
            "POST",
            f"{base}/organizations/UNLIREC/api-keys",
            json={"role": "provider"},
            headers=as_admin,
        ).json()["key"]
        auth = {"Authorization": f"Bearer {key}"}
        hook = fresh(
            "POST",
            f"{base}/webhooks",
            json={"url": receiver.url, "events": ["activity.created"], "secret": "s" * 24},
            headers=auth,
        )
        assert hook.status_code == 201, hook.text

        # One Idempotency-Key, sent to every process at once: one activity.
        body = activity_body(title="Workshop sent twice", countries=["TT"])
        with ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(
                    lambda _: fresh(
                        "POST",
                        f"{base}/activities",
                        json=body,
                        headers={**auth, "Idempotency-Key": "one-workshop"},
                    ),
                    range(8),
                )
            )
        assert {a.status_code for a in answers} <= {200, 201}, [a.text for a in answers]
        assert len({a.json()["activity"]["id"] for a in answers}) == 1
        listed = fresh("GET", f"{base}/activities?q=sent%20twice", headers=auth).json()["items"]
        assert len(listed) == 1

        # Feeds: the same ETag from every process, 304 from every process, a change seen by all.
        feed = f"{server.url}/feeds/countries/TT.ics?from=2025-01-01"
        tags = {fresh("GET", feed).headers["etag"] for _ in range(2 * WORKERS)}
        assert len(tags) == 1
        [tag] = tags
        assert {
            fresh("GET", feed, headers={"If-None-Match": tag}).status_code
            for _ in range(2 * WORKERS)
        } == {304}
        fresh(
            "PATCH",
            f"{base}/activities/{listed[0]['id']}",
            json={"title": "Workshop sent twice, renamed"},
            headers=auth,
        )
        after = [fresh("GET", feed, headers={"If-None-Match": tag}) for _ in range(2 * WORKERS)]
        assert {a.status_code for a in after} == {200}
        assert all("renamed" in a.text for a in after)

        # Two duplicates at the same moment, through different processes, find each other.
        barrier = threading.Barrier(2)

        def submit(title: str, language: str) -> httpx.Response:
            barrier.wait()
            return fresh(
                "POST",
                f"{base}/activities",
                json=activity_body(title=title, language=language, countries=["JM"]),
                headers=auth,
            )

        with ThreadPoolExecutor(2) as pool:
            first, second = pool.map(
                lambda args: submit(*args),
                [
                    ("National workshop on export control", "en"),
                    ("Taller nacional sobre control de exportaciones", "es"),
                ],
            )
        ids = {first.json()["activity"]["id"], second.json()["activity"]["id"]}
        found = fresh("GET", f"{base}/findings?kind=duplicate", headers=as_admin).json()["items"]
        assert any(set(f["activity_ids"]) == ids for f in found), found

        # Each webhook event once, whichever process queued and whichever sends it.
        created = 3  # the idempotent workshop and the two duplicates
        deadline = time.monotonic() + 20
        while len(receiver.received) < created and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(WORKERS * 1.0)  # room for a duplicate sending to show up
        events = [json.loads(body)["id"] for _, body in receiver.received]
        assert len(events) == created
        assert len(set(events)) == created
        answered_by = {
            json.loads(line)["process"]
            for line in list(server.output)
            if line.startswith("{") and '"request"' in line
        }
        assert len(answered_by) > 1, "one process answered everything"
    finally:
        stop(process)
        receiver.close()
