"""Compressed answers (app/http/compression.py): feeds, JSON and CSV travel gzip- or
brotli-encoded when the client accepts it, with entity tags, 304s and If-Match still right."""

import gzip
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.activities.models import Activity, ActivityCountry
from app.config import Settings
from app.db.engine import open_session
from app.http import compression
from app.http.compression import negotiate
from app.http.read_cache import Store
from app.main import create_app
from app.organizations import service as organizations
from tests.conftest import KeyMaker, serving
from tests.helpers import auth, submit

API = "/api/v1"
GZIP = {"Accept-Encoding": "gzip"}
BROTLI = {"Accept-Encoding": "br"}
SENTENCES = [
    "Capacitación para funcionarios de aduanas sobre el control de bienes de doble uso.",
    "National workshop on the implementation of resolution 1540 (2004).",
    "Table-top exercise on the detection of nuclear material at the border.",
    "Atelier sur la sécurité biologique des laboratoires et le transport des agents.",
    "Legislative assistance to draft the strategic trade control law and its regulations.",
    "Outreach to industry and academia on export licensing and internal compliance.",
    "Peer review of the national control list against the Wassenaar and MTCR lists.",
    "Seminário sobre financiamento da proliferação e sanções financeiras direcionadas.",
]
CITIES = ["Port of Spain", "Kingston", "Lima", "Santiago", "Vienna", "Bangkok", "Nairobi"]
ZONES = ["America/Port_of_Spain", "America/Lima", "Europe/Vienna", "Asia/Bangkok"]


def fill(engine: Engine, count: int) -> None:
    """`count` public activities in the feeds' default window, inserted in one statement (as
    benchmarks/feed_speed.py does): titles, descriptions, places and times that vary."""
    rng = random.Random(1540)
    now = datetime.now(UTC)
    with open_session(engine, write=True) as session:
        provider = organizations.ensure(session, acronym="UNODA", name="UNODA (test)")
        session.commit()
        provider_id = provider.id
    activities, links = [], []
    for n in range(count):
        start = now.date() + timedelta(days=rng.randrange(-60, 600))
        end = start + timedelta(days=rng.choice([0, 1, 2, 4]))
        timed = n % 2 == 1
        activity_id = uuid.uuid4()
        activities.append(
            {
                "id": activity_id,
                "provider_id": provider_id,
                "title": f"{rng.choice(SENTENCES)[:60]} ({n})",
                "description": " ".join(rng.sample(SENTENCES, 3)),
                "language": "en",
                "activity_type": rng.choice(["workshop", "training", "seminar"]),
                "themes": rng.sample(["export_control", "border_control", "legislation"], 2),
                "domains": [],
                "audiences": ["customs"],
                "partners": ["OAS"],
                "delivery_languages": [],
                "start_date": start,
                "end_date": end,
                "start_time": f"{rng.randrange(8, 12):02d}:00" if timed else None,
                "end_time": "17:30" if timed else None,
                "timezone": rng.choice(ZONES) if timed else None,
                "venue_city": rng.choice(CITIES),
                "venue_country": "TT",
                "modality": "in_person",
                "status": rng.choice(["planned", "confirmed"]),
                "visibility": "public",
                "revision": 1,
                "created_at": now - timedelta(minutes=rng.randrange(100_000)),
                "updated_at": now - timedelta(seconds=10),
            }
        )
        links.append(
            {
                "activity_id": activity_id,
                "country": rng.choice(["TT", "JM", "PE", "CL", "MX"]),
                "named": True,
                "long_running": False,
                "start_date": start,
                "end_date": end,
            }
        )
    with open_session(engine, write=True) as session:  # the change stamp moves
        session.execute(sa.insert(Activity), activities)
        session.execute(sa.insert(ActivityCountry), links)
        session.commit()


@pytest.fixture
def five_thousand(engine: Engine, clean_db: None) -> None:
    fill(engine, 5_000)


def raw(client: httpx.Client, method: str, url: str, **kwargs: Any) -> tuple[httpx.Response, bytes]:
    """An answer and its body as it came over the wire (httpx decodes .content)."""
    with client.stream(method, url, **kwargs) as response:
        return response, b"".join(response.iter_raw())


def plain_client(client: httpx.Client) -> httpx.Client:
    """The client without the Accept-Encoding httpx sends by default."""
    del client.headers["accept-encoding"]
    return client


def coded(tag: str, coding: str) -> str:
    return f'{tag[:-1]}-{coding}"'


def compressed(stats: Any) -> int:
    return sum(stats.responses.values())


def check_feed(http: httpx.Client) -> None:
    """A 5,000-event feed through `http`, plain and gzip: sizes, bytes, tags, 304s, HEAD."""
    plain, plain_body = raw(http, "GET", "/feeds/all.ics")
    assert plain.status_code == 200
    assert "content-encoding" not in plain.headers
    assert plain_body.count(b"BEGIN:VEVENT") == 5_000
    assert plain.headers["content-length"] == str(len(plain_body))
    assert "accept-encoding" in plain.headers["vary"].lower()
    tag = plain.headers["etag"]

    zipped, zipped_body = raw(http, "GET", "/feeds/all.ics", headers=GZIP)
    assert zipped.status_code == 200
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["content-length"] == str(len(zipped_body))
    assert "accept-encoding" in zipped.headers["vary"].lower()
    assert gzip.decompress(zipped_body) == plain_body
    ratio = len(zipped_body) / len(plain_body)
    assert ratio < 0.15, f"{len(zipped_body)} of {len(plain_body)} bytes"
    assert zipped.headers["etag"] == coded(tag, "gzip")
    assert zipped.headers["last-modified"] == plain.headers["last-modified"]

    # Either representation's tag revalidates either way; the 304 names the one sent.
    for accept, sent in [
        ("gzip", coded(tag, "gzip")),
        ("gzip", tag),
        ("identity", coded(tag, "gzip")),
        ("identity", tag),
        ("gzip", f'"stale", W/{coded(tag, "gzip")}'),
    ]:
        headers = {"Accept-Encoding": accept, "If-None-Match": sent}
        again, body = raw(http, "GET", "/feeds/all.ics", headers=headers)
        assert again.status_code == 304, (accept, sent)
        assert body == b""
        assert "content-encoding" not in again.headers
        assert again.headers["etag"] == sent.split(", ")[-1].removeprefix("W/")
        assert "accept-encoding" in again.headers["vary"].lower()
    stale = {**GZIP, "If-None-Match": coded('"0000"', "gzip")}
    assert http.get("/feeds/all.ics", headers=stale).status_code == 200
    since = {**GZIP, "If-Modified-Since": plain.headers["last-modified"]}
    revalidated = http.get("/feeds/all.ics", headers=since)
    assert revalidated.status_code == 304
    assert revalidated.headers["etag"] == coded(tag, "gzip")

    head, head_body = raw(http, "HEAD", "/feeds/all.ics", headers=GZIP)
    assert head.status_code == 200
    assert head_body == b""
    assert head.headers["content-encoding"] == "gzip"
    assert head.headers["content-length"] == str(len(zipped_body))
    assert head.headers["etag"] == zipped.headers["etag"]


def test_a_5000_event_feed_travels_at_a_tenth_of_its_size(
    client: TestClient, five_thousand: None
) -> None:
    check_feed(plain_client(client))


def test_a_5000_event_feed_through_a_real_server(settings: Settings, five_thousand: None) -> None:
    with serving(create_app(settings)) as base, httpx.Client(base_url=base, timeout=60) as http:
        check_feed(plain_client(http))


def test_json_lists_are_compressed_and_tiny_answers_are_not(
    client: TestClient, engine: Engine, clean_db: None
) -> None:
    fill(engine, 60)
    client = plain_client(client)
    plain, plain_body = raw(client, "GET", f"{API}/activities?limit=50")
    assert "content-encoding" not in plain.headers
    assert len(plain_body) > 10_000
    zipped, zipped_body = raw(client, "GET", f"{API}/activities?limit=50", headers=GZIP)
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["content-type"] == "application/json"
    assert zipped.headers["content-length"] == str(len(zipped_body))
    assert gzip.decompress(zipped_body) == plain_body
    assert len(zipped_body) < len(plain_body) / 4

    tiny, tiny_body = raw(client, "GET", "/healthz", headers=GZIP)
    assert tiny_body == b'{"status":"ok"}'
    assert "content-encoding" not in tiny.headers
    assert "accept-encoding" in tiny.headers["vary"].lower()


@pytest.mark.parametrize(
    ("accept", "sent"),
    [
        ("gzip;q=0", None),
        ("gzip;q=0, deflate", None),
        ("GZIP;Q=0.5", "gzip"),
        ("identity, gzip;q=0.5", None),  # identity preferred, at q=1
        ("gzip, identity;q=0.5", "gzip"),
        ("identity;q=1, gzip;q=0.5", None),
        ("*", "gzip"),
        ("*;q=0", None),
        ("x-gzip", "gzip"),
        ("gzip;q=nonsense", None),
        ("", None),
    ],
)
def test_accept_encoding_and_its_q_values_are_honoured(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, accept: str, sent: str | None
) -> None:
    monkeypatch.setattr(compression, "OFFERED", ("gzip",))  # as without brotli installed
    for path in ("/openapi.json", "/metrics"):
        answer, body = raw(client, "GET", path, headers={"Accept-Encoding": accept})
        assert answer.status_code == 200
        assert answer.headers.get("content-encoding") == sent, (path, accept)
        assert len(gzip.decompress(body) if sent else body) > 1024


def test_brotli_is_offered_first_when_installed() -> None:
    assert negotiate(b"gzip, deflate, br", ("br", "gzip")) == "br"
    assert negotiate(b"gzip, br;q=0.9", ("br", "gzip")) == "gzip"
    assert negotiate(b"gzip, deflate, br", ("gzip",)) == "gzip"
    assert negotiate(b"br", ("gzip",)) is None
    assert negotiate(None, ("br", "gzip")) is None


def test_brotli_answers_decode_to_the_plain_body(client: TestClient, engine: Engine) -> None:
    brotli = pytest.importorskip("brotli", reason="brotli is an optional extra")
    fill(engine, 60)
    client = plain_client(client)
    plain = client.get(f"{API}/activities?limit=50")
    answer, body = raw(client, "GET", f"{API}/activities?limit=50", headers=BROTLI)
    assert answer.headers["content-encoding"] == "br"
    assert brotli.decompress(body) == plain.content
    assert len(body) < len(plain.content) / 4


def test_csv_exports_are_compressed_and_xlsx_is_not(
    client: TestClient, engine: Engine, make_key: KeyMaker
) -> None:
    fill(engine, 60)
    client = plain_client(client)
    plain, plain_body = raw(client, "GET", f"{API}/exports/activities.csv")
    assert plain.headers["content-type"].startswith("text/csv")
    zipped, zipped_body = raw(client, "GET", f"{API}/exports/activities.csv", headers=GZIP)
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["content-disposition"] == plain.headers["content-disposition"]
    assert gzip.decompress(zipped_body) == plain_body
    assert len(zipped_body) < len(plain_body) / 4

    coverage = f"{API}/reports/coverage?format=csv&region=419"
    key = make_key("OAS", "coordinator")
    report, report_body = raw(client, "GET", coverage, headers={**GZIP, **auth(key)})
    assert report.status_code == 200
    assert report.headers["content-encoding"] == "gzip"
    assert gzip.decompress(report_body) == client.get(coverage, headers=auth(key)).content

    sheet, sheet_body = raw(client, "GET", f"{API}/exports/activities.xlsx", headers=GZIP)
    assert sheet.status_code == 200
    assert len(sheet_body) > 1024
    assert "content-encoding" not in sheet.headers
    assert sheet_body.startswith(b"PK")  # the zip it is already


def test_if_match_takes_the_tag_of_a_compressed_answer(
    client: TestClient, make_key: KeyMaker
) -> None:
    key = make_key()
    long = " ".join(SENTENCES) * 4  # an activity over a kilobyte: sent compressed
    activity = submit(client, key, description=long)
    url = f"{API}/activities/{activity['id']}"
    client = plain_client(client)
    read = client.get(url, headers={**GZIP, **auth(key)})
    assert read.headers["content-encoding"] == "gzip"
    assert read.headers["etag"] == '"1-gzip"'
    assert client.get(url, headers=auth(key)).headers["etag"] == '"1"'
    for accept in ("gzip", "identity"):
        headers = {"Accept-Encoding": accept, "If-None-Match": '"1-gzip"', **auth(key)}
        not_modified = client.get(url, headers=headers)
        assert not_modified.status_code == 304
        assert not_modified.headers["etag"] == '"1-gzip"'

    changed = client.patch(
        url, json={"status": "confirmed"}, headers={**auth(key), "If-Match": read.headers["etag"]}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["revision"] == 2
    for stale in ('"1-gzip"', '"1"', '"1-br"'):
        refused = client.patch(
            url, json={"status": "planned"}, headers={**auth(key), "If-Match": stale}
        )
        assert refused.status_code == 412, stale
    again = client.patch(url, json={"status": "planned"}, headers={**auth(key), "If-Match": '"2"'})
    assert again.status_code == 200
    assert client.get(url, headers={**auth(key), "If-None-Match": '"2-gzip"'}).status_code == 200


@pytest.fixture
def cached_client(settings: Settings, clean_db: None) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"key_touch_seconds": 60}))) as client:
        yield plain_client(client)


def test_the_read_cache_keeps_each_coding_apart_and_compresses_once(
    cached_client: TestClient, engine: Engine, seconds_over: None
) -> None:
    client = cached_client
    fill(engine, 60)
    store: Store = client.app.state.read_cache  # type: ignore[attr-defined]
    stats = client.app.state.compression  # type: ignore[attr-defined]
    for path in (f"{API}/activities?limit=50", "/feeds/all.ics"):
        first, first_body = raw(client, "GET", path, headers=GZIP)
        assert first.headers["content-encoding"] == "gzip"
        done, hits = compressed(stats), store.hits
        again, again_body = raw(client, "GET", path, headers={"Accept-Encoding": "gzip, deflate"})
        assert store.hits == hits + 1  # from the cache ...
        assert compressed(stats) == done  # ... as it was compressed the first time
        assert again_body == first_body
        assert again.headers["content-encoding"] == "gzip"
        assert again.headers.get("etag") == first.headers.get("etag")

        plain, plain_body = raw(client, "GET", path)  # not the gzip answer kept
        assert "content-encoding" not in plain.headers
        assert plain_body == gzip.decompress(first_body)
        assert raw(client, "GET", path)[1] == plain_body
        assert store.hits == hits + 2
        assert compressed(stats) == done

    metrics = client.get("/metrics").text
    assert 'assistcal_compressed_responses_total{coding="gzip"} 2.0' in metrics
