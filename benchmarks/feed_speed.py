"""How fast a 5,000-event feed is served: cold (a new process), warm, and two floors.

    python benchmarks/feed_speed.py [--events 5000] [--requests 300] [--restarts 3]
    ASSISTCAL_DATABASE_URL=postgresql://... python benchmarks/feed_speed.py

Fills a fresh database with `--events` activities in the feed's window (half all-day, half
timed in ten time zones, 300-character descriptions), then measures the server time of
GET /feeds/all.ics (from the request entering the ASGI app to its last byte leaving it,
TestClient, in-process):

- the first render ever (every event rendered with icalendar, then kept in the database);
- cold after a restart: each time a new Python process, a new app on the same database,
  empty caches: the feed is assembled from the texts kept in the database (`--restarts`
  times; the process's start-up is not counted, its first request is);
- warm: the same feed again (median and p99), and the first response after one activity
  changed (one event rendered, the others from memory);

and beside them the plain icalendar way (one Calendar with every event, `to_ical()`) and
the string-join floor (the feed's parts, already in memory, joined).
"""

import argparse
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
import sqlalchemy as sa
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.activities.models import Activity
from app.config import Settings
from app.core.principal import Principal
from app.db.engine import make_engine, open_session
from app.db.migrate import upgrade
from app.feeds import event_texts, render
from app.feeds import events as feed_events
from app.feeds.models import FeedFilters
from app.feeds.spec import spec_for
from app.main import create_app
from app.organizations import service as organizations
from benchmarks.common import add_activities, databases, spread

ZONES = [
    "America/Port_of_Spain",
    "America/Santiago",
    "America/Mexico_City",
    "America/New_York",
    "Europe/Vienna",
    "Europe/Paris",
    "Africa/Nairobi",
    "Asia/Bangkok",
    "Asia/Tokyo",
    "Australia/Sydney",
]
COUNTRIES = ["TT", "CL", "MX", "AT", "TH", "JM", "PE", "KE"]


def fill(url: str, count: int) -> None:
    upgrade(url)
    engine = make_engine(url)
    rng = random.Random(1540)
    today = datetime.now(UTC).date()
    new = []
    for n in range(count):
        start = today + timedelta(days=rng.randrange(-80, 700))
        end = start + timedelta(days=rng.choice([0, 1, 2, 4]))
        timed = n % 2 == 1
        zone = rng.choice(ZONES) if timed else None
        body = {
            "title": f"Taller nacional {n} sobre control de exportaciones, aduanas y fronteras",
            "description": ("Capacitação em segurança nuclear; controle, de exportações. " * 6)[
                :300
            ],
            "language": "es",
            "activity_type": "workshop",
            "themes": ["export_control", "border_control"],
            "audiences": ["customs"],
            "partners": ["OAS"],
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "start_time": "09:00" if timed else None,
            "end_time": "17:00" if timed else None,
            "timezone": zone,
            "countries": [rng.choice(COUNTRIES)],
            "venue": {"city": "Port of Spain", "country": "TT", "modality": "in_person"},
        }
        new.append(("UNODA", body))
    with open_session(engine, write=True) as session:
        provider = organizations.ensure(
            session, acronym="UNODA", name="UN Office for Disarmament Affairs"
        )
        assert provider.id is not None
        actor = Principal(uuid.uuid4(), "bench", provider.id, "UNODA", "provider")
        add_activities(session, new, actor=actor)
        session.commit()
    engine.dispose()


class Timed:
    """ASGI wrapper: server time of each request, from entry to the last body byte."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()

        async def timed_send(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.last = (time.perf_counter() - started) * 1000

        await self.app(scope, receive, timed_send)


def cold(url: str, path: str) -> None:
    """In a new process: the first request of a new app on `url` (printed in ms)."""
    app = create_app(Settings(database_url=url))
    timed = Timed(app)
    with TestClient(timed) as client:  # type: ignore[arg-type]
        response = client.get(path, headers={"Accept-Encoding": "identity"})
        assert response.status_code == 200
        print(f"{timed.last:.1f} {response.content.count(b'BEGIN:VEVENT')}")


def restarted(url: str, path: str = "/feeds/all.ics") -> tuple[float, int]:
    done = subprocess.run(
        [sys.executable, __file__, "--cold", url, "--path", path],
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed, events = done.stdout.split()[-2:]
    return float(elapsed), int(events)


def floors(engine: Any) -> None:
    """The plain icalendar way, and the string-join floor, for the same feed."""
    with open_session(engine, write=False) as session:
        spec = spec_for(FeedFilters(), date_from=None, date_to=None, hide_cancelled=False)
        refs = feed_events.refs(session, spec)
        events = feed_events.load(session, spec, refs)
        texts = event_texts.stored(session, refs, spec.language)
    started = time.perf_counter()
    calendar = icalendar.Calendar()
    calendar.add("prodid", render.PRODID)
    calendar.add("version", "2.0")
    for event in events:
        calendar.add_component(render.component(event))
    calendar.add_missing_timezones()
    plain = calendar.to_ical()
    elapsed = (time.perf_counter() - started) * 1000
    print(
        f"plain icalendar (one Calendar, add_missing_timezones, to_ical): {elapsed:.0f} ms "
        f"for {len(events):,} events, {len(plain) / 2**20:.1f} MB"
    )
    parts = [render.header("All", "All"), *texts.values(), b"END:VCALENDAR\r\n"]
    runs = []
    for _ in range(20):
        started = time.perf_counter()
        b"".join(parts)
        runs.append((time.perf_counter() - started) * 1000)
    print(f"string-join floor (the {len(texts):,} texts in memory, joined): {spread(runs, 2)}")


def transfer(client: TestClient, timed: Timed, requests: int) -> None:
    """What goes over the wire: the feed plain, gzip- and brotli-encoded (sizes, server time,
    and the time to send it over a 10 and a 100 Mbit/s link), and a 304 revalidation."""
    import gzip

    from app.http import compression

    def wire(response: Any) -> int:  # status line, headers and body as sent
        head = sum(len(k) + len(v) + 4 for k, v in response.headers.raw) + 17
        return head + int(response.headers.get("content-length", 0))

    sizes = {}
    for coding in ("identity", "gzip", *(("br",) if "br" in compression.OFFERED else ())):
        headers = {"Accept-Encoding": coding}
        first = client.get("/feeds/all.ics", headers=headers)  # a read cache miss
        first_ms = timed.last
        kept = []
        for _ in range(requests):
            client.get("/feeds/all.ics", headers=headers)
            kept.append(timed.last)
        size = wire(first)
        sizes[coding] = size
        print(
            f"{coding}: {size / 2**20:.2f} MB on the wire ({size / sizes['identity']:.1%}), "
            f"{size * 8 / 10e6 * 1000:.0f} ms at 10 Mbit/s, {size * 8 / 100e6 * 1000:.0f} ms at "
            f"100 Mbit/s; server time {first_ms:.0f} ms made, {spread(kept, 2)} kept"
        )
    body = client.get("/feeds/all.ics", headers={"Accept-Encoding": "identity"}).content
    started = time.perf_counter()
    gzip.compress(body, compression.GZIP_LEVEL)
    elapsed = (time.perf_counter() - started) * 1000
    print(f"gzip level {compression.GZIP_LEVEL} of the plain body alone: {elapsed:.0f} ms")
    tag = client.get("/feeds/all.ics", headers={"Accept-Encoding": "gzip"}).headers["etag"]
    revalidated = []
    for _ in range(requests):
        answer = client.get(
            "/feeds/all.ics", headers={"Accept-Encoding": "gzip", "If-None-Match": tag}
        )
        assert answer.status_code == 304
        revalidated.append(timed.last)
    print(f"304 (gzip tag): {wire(answer)} bytes on the wire, server time {spread(revalidated, 2)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--cold", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--path", default="/feeds/all.ics", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold:
        cold(args.cold, args.path)
        return
    for url in databases(os.environ.get("ASSISTCAL_DATABASE_URL"), "feeds.db"):
        fill(url, args.events)
        app = create_app(Settings(database_url=url))
        timed = Timed(app)
        with TestClient(timed) as client:  # type: ignore[arg-type]
            client.headers["Accept-Encoding"] = "identity"  # compressed: see transfer()
            engine = app.state.engine
            print(f"database: {engine.dialect.name}, {args.events:,} activities")

            first = client.get("/feeds/all.ics")
            count = first.content.count(b"BEGIN:VEVENT")
            print(
                f"first render ever (icalendar, then kept): {timed.last:.0f} ms server time "
                f"for {count:,} events, {len(first.content) / 2**20:.1f} MB"
            )

            for n in range(args.restarts):
                elapsed, events = restarted(url)
                assert events == count
                print(f"cold after a restart #{n + 1} (new process, kept texts): {elapsed:.0f} ms")

            # The same feed in another language: its own texts, rendered once, then kept.
            spanish = "/feeds/all.ics?lang=es"
            client.get(spanish)
            print(f"first render in Spanish (icalendar, then kept): {timed.last:.0f} ms")
            elapsed, events = restarted(url, spanish)
            assert events == count
            print(f"cold after a restart, in Spanish (new process, kept texts): {elapsed:.0f} ms")

            warm = []
            for _ in range(args.requests):
                client.get("/feeds/all.ics")
                warm.append(timed.last)
            print(f"warm, the same feed again: {spread(warm, 2)}")

            # One activity changes, as an edit would (a session's write moves the stamp).
            with open_session(engine, write=True) as session:
                session.execute(
                    sa.update(Activity)
                    .where(Activity.id == sa.select(Activity.id).limit(1).scalar_subquery())
                    .values(revision=Activity.revision + 1, updated_at=datetime.now(UTC))
                )
                session.commit()
            client.get("/feeds/all.ics")
            print(f"after one edit (one rendered, the others from memory): {timed.last:.0f} ms")

            floors(engine)
            transfer(client, timed, args.requests)


if __name__ == "__main__":
    main()
