"""Crash safety: the server is killed (SIGKILL) in the middle of a write load, restarted on the
same database, and every write it acknowledged is there exactly once, nothing half-written is
visible, and the database passes its integrity check.  On SQLite, and on PostgreSQL when the
tests run there (.ci/run)."""

import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.e2e.live import start, stop
from tests.helpers import activity_body

WRITERS = 6


def _write(
    url: str,
    key: str,
    n: int,
    created: dict[str, str],
    edited: dict[str, int],
    failures: list[int],
    done: threading.Event,
) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, timeout=15) as http:
        i = 0
        while not done.is_set():
            ref = f"crash-{n}-{i}"
            body = activity_body(
                title=f"Crash test seminar {n} {i}",
                external_ref=ref,
                countries=["TT", "JM"],
                regions=["029"] if i % 3 == 0 else [],
                start_date=f"2025-{1 + i % 12:02d}-{1 + n:02d}",
                end_date=f"2025-{1 + i % 12:02d}-{1 + n:02d}",
            )
            try:
                answer = http.post(
                    "/api/v1/activities", json=body, headers={**headers, "Idempotency-Key": ref}
                )
                if answer.status_code >= 500:
                    failures.append(answer.status_code)
                if answer.status_code == 201:
                    activity = answer.json()["activity"]
                    created[ref] = activity["id"]
                    if i % 2 == 0:
                        patch = http.patch(
                            f"/api/v1/activities/{activity['id']}",
                            json={"description": f"edit {i}"},
                            headers={**headers, "If-Match": str(activity["revision"])},
                        )
                        if patch.status_code >= 500:
                            failures.append(patch.status_code)
                        if patch.status_code == 200:
                            edited[activity["id"]] = patch.json()["revision"]
            except httpx.TransportError:
                return
            i += 1


def test_acknowledged_writes_survive_a_kill(tmp_path: Path, db_url: str, clean_db: None) -> None:
    process, server = start(tmp_path, database_url=db_url)
    admin = next(line.strip() for line in server.output if line.strip().startswith("ac_"))
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin}"}) as http:
        http.post("/api/v1/organizations", json={"acronym": "UNLIREC", "name": "UNLIREC"})
        key = http.post("/api/v1/organizations/UNLIREC/api-keys", json={"role": "provider"}).json()[
            "key"
        ]
    created: dict[str, str] = {}
    edited: dict[str, int] = {}
    failures: list[int] = []
    done = threading.Event()
    writers = [
        threading.Thread(target=_write, args=(server.url, key, n, created, edited, failures, done))
        for n in range(WRITERS)
    ]
    for writer in writers:
        writer.start()
    deadline = time.monotonic() + 20
    while len(created) < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)  # in the middle of the writes
    process.wait(timeout=10)
    done.set()
    for writer in writers:
        writer.join(timeout=20)
    assert len(created) >= 60, "the load did not get going"
    # No 5xx before the kill (writers editing and creating in the same States once deadlocked
    # on PostgreSQL: a row lock against a foreign key check, each waiting for the other).
    assert failures == []

    process, server = start(tmp_path, database_url=db_url)
    try:
        engine = sa.create_engine(db_url)
        with engine.connect() as conn:
            stored: dict[str, list[Any]] = {}
            for ref, activity_id, revision in conn.execute(
                sa.text("SELECT external_ref, id, revision FROM activity")
            ):
                stored.setdefault(ref, []).append((str(activity_id).replace("-", ""), revision))
            for ref, activity_id in created.items():
                assert len(stored.get(ref, [])) == 1, ref  # there, exactly once
                assert stored[ref][0][0] == activity_id.replace("-", "")
            revisions = {i: r for rows in stored.values() for i, r in rows}
            for activity_id, revision in edited.items():
                assert revisions[activity_id.replace("-", "")] >= revision

            # Nothing half-written: every stored activity has its States and its audit entry.
            def ids(query: str) -> set[str]:
                return {str(v).replace("-", "") for (v,) in conn.execute(sa.text(query))}

            everything = ids("SELECT id FROM activity")
            assert everything == ids(
                "SELECT activity_id FROM activity_country WHERE country = 'TT'"
            )
            assert everything == ids(
                "SELECT entity_id FROM audit_entry WHERE action = 'activity.create'"
            )
            if engine.dialect.name == "sqlite":
                assert conn.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
                assert conn.execute(sa.text("PRAGMA foreign_key_check")).all() == []
        engine.dispose()
        if make_url(db_url).get_backend_name() == "postgresql" and shutil.which("pg_amcheck"):
            url = make_url(db_url)
            checked = subprocess.run(
                [
                    "pg_amcheck",
                    "-h",
                    url.host or "127.0.0.1",
                    "-p",
                    str(url.port or 5432),
                    "-U",
                    url.username or "postgres",
                    "-d",
                    url.database or "",
                    "--heapallindexed",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            assert checked.returncode == 0, checked.stdout + checked.stderr
        # The restarted service answers for what it acknowledged.
        some = next(iter(created.values()))
        assert httpx.get(f"{server.url}/api/v1/activities/{some}").status_code == 200
        assert httpx.get(f"{server.url}/readyz").status_code == 200
    finally:
        stop(process)
