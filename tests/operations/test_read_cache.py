"""The read cache (app/http/read_cache.py): repeated reads are answered from memory, and never
with what a write acknowledged by any process has made stale."""

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.auth import service as keys_service
from app.auth.models import ApiKey
from app.config import Settings
from app.core import keys as key_hashing
from app.db.engine import open_session
from app.db.generation import PostgresGeneration, SqliteGeneration, generation_for
from app.http.read_cache import Answer, ReadCache, Store
from app.main import create_app
from app.organizations.models import Organization
from tests.conftest import KeyMaker
from tests.helpers import auth, submit

API = "/api/v1"
SOON = {"start_date": "2027-03-10", "end_date": "2027-03-12"}  # inside the feeds' window


@pytest.fixture
def cached(settings: Settings) -> Settings:
    """The test settings with API keys' last use recorded once a minute, as in production
    (the other tests record every use, which keeps requests with a key out of the cache)."""
    return settings.model_copy(update={"key_touch_seconds": 60})


@pytest.fixture
def two(cached: Settings, clean_db: None) -> Iterator[tuple[TestClient, TestClient]]:
    """Two apps on one database, as two processes behind a load balancer."""
    with TestClient(create_app(cached)) as first, TestClient(create_app(cached)) as second:
        yield first, second


def hits(client: TestClient) -> int:
    store: Store = client.app.state.read_cache  # type: ignore[attr-defined]
    return store.hits


def test_a_repeated_read_is_answered_from_the_cache(
    two: tuple[TestClient, TestClient], make_key: KeyMaker
) -> None:
    client, _ = two
    key = make_key()
    activity = submit(client, key, title="Seminar on border controls", countries=["JM"])
    path = f"{API}/activities/{activity['id']}"
    first = client.get(path)
    again = client.get(path)
    assert first.status_code == again.status_code == 200
    assert hits(client) == 1
    assert again.content == first.content
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["x-request-id"] != first.headers["x-request-id"]  # still its own
    assert again.headers["x-content-type-options"] == "nosniff"
    listed = [client.get(f"{API}/activities?country=JM", headers=auth(key)) for _ in range(2)]
    assert listed[0].json() == listed[1].json()
    assert [a["id"] for a in listed[1].json()["items"]] == [activity["id"]]
    assert hits(client) == 2


def test_a_write_through_another_process_is_seen_at_once(
    two: tuple[TestClient, TestClient], make_key: KeyMaker, seconds_over: None
) -> None:
    reader, writer = two
    key = make_key()
    activity = submit(writer, key, title="Seminar on border controls", countries=["JM"], **SOON)
    path = f"{API}/activities/{activity['id']}"
    feed = "/feeds/countries/JM.ics"
    listing = f"{API}/activities?country=JM"
    for _ in range(2):  # the second round comes from the cache
        assert reader.get(path).json()["revision"] == 1
        assert "Seminar on border controls" in reader.get(feed).text
        assert len(reader.get(listing, headers=auth(key)).json()["items"]) == 1
    assert hits(reader) == 3

    edited = writer.patch(
        path,
        json={"title": "Seminar on maritime border controls"},
        headers={**auth(key), "If-Match": "1"},
    )
    assert edited.status_code == 200
    assert reader.get(path).json()["revision"] == 2
    assert "Seminar on maritime border controls" in reader.get(feed).text
    submit(writer, key, title="Legislative drafting session", countries=["JM"], **SOON)
    assert len(reader.get(listing, headers=auth(key)).json()["items"]) == 2
    assert hits(reader) == 3  # every read after the writes went to its route


def test_a_revoked_key_is_refused_at_once(
    two: tuple[TestClient, TestClient], make_key: KeyMaker, engine: Engine
) -> None:
    reader, _ = two
    key = make_key()
    listing = f"{API}/activities"
    assert reader.get(listing, headers=auth(key)).status_code == 200
    assert reader.get(listing, headers=auth(key)).status_code == 200
    assert hits(reader) == 1
    with open_session(engine, write=True) as session:  # another process revokes it
        key_id = session.execute(
            sa.select(ApiKey.id).where(ApiKey.key_hash == key_hashing.hash_key(key))  # type: ignore[arg-type]
        ).scalar_one()
        keys_service.revoke(session, key_id, actor=None)
        session.commit()
    refused = reader.get(listing, headers=auth(key))
    assert refused.status_code == 401
    assert "revoked" in refused.json()["error"]["message"]


def test_a_renamed_provider_shows_at_once(
    two: tuple[TestClient, TestClient], make_key: KeyMaker, seconds_over: None
) -> None:
    reader, writer = two
    key = make_key("UNLIREC", "provider")
    admin = make_key("ASSISTCAL", "admin")
    submit(writer, key, countries=["JM"], **SOON)
    feed = "/feeds/countries/JM.ics"
    for _ in range(2):
        assert "UNLIREC (test)" in reader.get(feed).text.replace("\r\n ", "")
    assert hits(reader) == 1
    renamed = writer.patch(
        f"{API}/organizations/UNLIREC",
        json={"name": "Regional Centre for Peace and Disarmament"},
        headers=auth(admin),
    )
    assert renamed.status_code == 200
    assert "Regional Centre for Peace" in reader.get(feed).text.replace("\r\n ", "")


class RowFailed(Exception):
    pass


def fail_in_savepoint(session: Any) -> None:
    with session.begin_nested():
        session.execute(sa.text("SELECT 1"))
        raise RowFailed


def test_a_savepoint_rolled_back_keeps_the_change_of_its_transaction(
    engine: Engine, clean_db: None
) -> None:
    """An import rolls back the savepoint of a failed row; what the transaction changed
    before still commits, and must still move the stamp."""
    from app.db import stamp

    def generation() -> int:
        with open_session(engine, write=False) as session:
            return stamp.current(session).generation

    def write(session: Any) -> None:  # a write to a watched table
        session.execute(sa.update(Organization).values(name=Organization.name))

    before = generation()
    with open_session(engine, write=True) as session:
        write(session)
        with pytest.raises(RowFailed):
            fail_in_savepoint(session)
        session.commit()
    assert generation() == before + 1
    with open_session(engine, write=True) as session:  # a whole rollback forgets the change
        write(session)
        session.rollback()
        session.execute(sa.text("SELECT 1"))
        session.commit()
    assert generation() == before + 1


def test_a_feed_dated_in_its_running_second_is_not_kept(
    two: tuple[TestClient, TestClient], make_key: KeyMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the second of the latest change runs, a feed's Last-Modified is sent as the
    second before (app/api/feeds.py); kept, it would stay so after that second."""
    from app.core.timeutil import as_utc
    from app.db import stamp

    client, _ = two
    submit(client, make_key(), countries=["JM"], **SOON)
    with open_session(client.app.state.engine, write=False) as session:  # type: ignore[attr-defined]
        changed_at = as_utc(stamp.current(session).changed_at)
    feed = "/feeds/countries/JM.ics"
    monkeypatch.setattr("app.api.feeds.utcnow", lambda: changed_at)  # that second runs
    for _ in range(2):
        assert client.get(feed).status_code == 200
    assert hits(client) == 0
    later = changed_at + timedelta(seconds=10)
    monkeypatch.setattr("app.api.feeds.utcnow", lambda: later)
    shown = [client.get(feed).headers["last-modified"] for _ in range(2)]
    assert shown == [format_datetime(changed_at.replace(microsecond=0), usegmt=True)] * 2
    assert hits(client) == 1


def test_answers_are_kept_apart_by_caller_and_condition(
    two: tuple[TestClient, TestClient], make_key: KeyMaker, seconds_over: None
) -> None:
    client, _ = two
    key = make_key()
    other = make_key("UNODA", "provider")
    restricted = submit(client, key, visibility="restricted", countries=["JM"])
    path = f"{API}/activities/{restricted['id']}"
    for _ in range(2):
        assert client.get(path, headers=auth(key)).status_code == 200
        assert client.get(path).status_code == 404  # never the answer given to a key
        bad = client.get(path, headers=auth("ac_" + "x" * 40))
        assert bad.status_code == 401
        # The route reads the first of repeated headers: a key made of the last one would
        # file this answer where a caller with an empty header, or none, looks.
        doubled = [("Authorization", f"Bearer {key}"), ("Authorization", "")]
        assert client.get(path, headers=doubled).status_code == 200
        assert client.get(path, headers={"Authorization": ""}).status_code in (401, 403)
        assert client.get(path).status_code == 404
    listing = f"{API}/activities?country=JM"
    mine = client.get(listing, headers=auth(key)).json()["items"]
    theirs = client.get(listing, headers=auth(other)).json()["items"]
    anonymous = client.get(listing).json()["items"]
    assert client.get(listing).json()["items"] == anonymous
    assert [len(mine), len(anonymous)] == [1, 0]
    assert len(theirs) == 1  # any key reads restricted activities (DOMAIN.md)
    tag = client.get(path, headers=auth(key)).headers["etag"]
    for _ in range(2):
        assert client.get(path, headers={**auth(key), "If-None-Match": tag}).status_code == 304
        assert client.get(path, headers={**auth(key), "If-None-Match": '"1-x"'}).status_code == 200
    before = hits(client)
    for _ in range(2):
        assert client.head("/feeds/all.ics").status_code == 200
    assert hits(client) == before + 1
    # GET is not HEAD: the HEAD answer (kept without a body) never answers a GET.
    assert client.get("/feeds/all.ics").content.startswith(b"BEGIN:VCALENDAR")
    assert hits(client) == before + 1


def test_key_use_is_still_recorded(
    settings: Settings, clean_db: None, make_key: KeyMaker, engine: Engine
) -> None:
    """A key's reads come from the cache only for `key_touch_seconds` after the route last
    took the key: then one goes to the route again, which records the key's use."""
    key = make_key()

    def last_used() -> Any:
        with engine.connect() as conn:
            return conn.execute(
                sa.select(ApiKey.last_used_at).where(  # type: ignore[arg-type]
                    ApiKey.key_hash == key_hashing.hash_key(key)  # type: ignore[arg-type]
                )
            ).scalar_one()

    with TestClient(create_app(settings.model_copy(update={"key_touch_seconds": 1}))) as client:
        listing = f"{API}/activities"
        assert client.get(listing, headers=auth(key)).status_code == 200
        first = last_used()
        assert first is not None
        assert client.get(listing, headers=auth(key)).status_code == 200
        assert hits(client) == 1
        time.sleep(1.2)
        assert client.get(listing, headers=auth(key)).status_code == 200
        assert hits(client) == 1  # went to the route
        deadline = time.monotonic() + 5  # the use is recorded after the answer
        while last_used() == first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert last_used() > first


def test_no_read_cache_when_switched_off(
    settings: Settings, clean_db: None, make_key: KeyMaker
) -> None:
    with TestClient(create_app(settings.model_copy(update={"read_cache_mb": 0}))) as client:
        for _ in range(3):
            assert client.get("/feeds/all.ics").status_code == 200
        assert hits(client) == 0
        assert 'assistcal_read_cache_total{result="hit"} 0.0' in client.get("/metrics").text


# The parts --------------------------------------------------------------------------------


def test_store_keeps_one_generation_within_its_size() -> None:
    store = Store(max_bytes=4000)
    small = Answer(200, [], b"x" * 500)
    assert store.get(("a",), 1) is None
    store.put(("a",), 1, small)
    store.put(("b",), 1, small)
    store.put(("c",), 0, small)  # made under an older generation: not kept
    assert store.get(("a",), 1) is small
    assert store.get(("c",), 1) is None
    store.put(("big",), 1, Answer(200, [], b"x" * 2000))  # over a quarter of the store
    assert store.get(("big",), 1) is None
    for n in range(10):  # the least recently used go first
        store.put((n,), 1, small)
    assert store.bytes <= 4000
    assert store.get((9,), 1) is small
    assert store.get(("b",), 1) is None
    assert store.get((9,), 0) is None  # read by an overtaken query: a miss...
    assert store.get((9,), 1) is small  # ...that forgets nothing
    assert store.get((9,), 2) is None  # a new generation: everything is stale
    assert store.bytes == 0


def test_store_counts_its_keys() -> None:
    """A long query string is kept in the key: it counts against the store's size."""
    store = Store(max_bytes=100_000)
    store.get(("x",), 1)
    tiny = Answer(200, [], b"{}")
    for n in range(200):
        store.put(("GET", "/feeds/all.ics", f"x={n}{'y' * 2000}".encode()), 1, tiny)
    assert store.bytes <= 100_000
    assert len(store.answers) < 50


class Unreadable:
    async def current(self) -> int | None:
        return None

    async def close(self) -> None:
        return None


def test_requests_go_to_the_route_when_the_generation_cannot_be_read() -> None:
    calls = []

    async def route(scope: Any, receive: Any, send: Any) -> None:
        calls.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    cache = ReadCache(
        route, generation=Unreadable(), store=Store(2**20), touch_seconds=60, prefixes=("/a",)
    )

    async def get() -> None:
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/a",
            "scheme": "http",
            "query_string": b"",
            "headers": [],
        }
        sent: list[Any] = []

        async def send(message: Any) -> None:
            sent.append(message)

        async def receive() -> Any:
            return {"type": "http.request", "body": b""}

        await cache(scope, receive, send)
        assert sent[0]["status"] == 200

    asyncio.run(get())
    asyncio.run(get())
    assert calls == ["/a", "/a"]
    assert cache.store.hits == cache.store.misses == 0


def test_sqlite_generation_is_none_without_the_table(tmp_path: Any) -> None:
    import sqlite3

    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    generation = SqliteGeneration(str(path))
    assert asyncio.run(generation.current()) is None
    assert asyncio.run(generation_for("sqlite://").current()) is None  # in memory: no cache


def test_postgres_generation_that_cannot_connect_answers_none_quickly() -> None:
    generation = PostgresGeneration("postgresql://nobody@127.0.0.1:9/none?connect_timeout=1")

    async def twice() -> list[int | None]:
        started = time.monotonic()
        answers = [await generation.current(), await generation.current()]
        assert time.monotonic() - started < 3  # the second does not try again at once
        return answers

    assert asyncio.run(twice()) == [None, None]


def test_postgres_generation_shares_queries_sent_after_each_request() -> None:
    """Requests that arrive together share a query; while both connections are busy, those
    that arrive wait together for the next one; each gets an answer read after it arrived."""
    generation = PostgresGeneration("postgresql://unused")
    started: list[float] = []

    async def slow_query() -> int:
        started.append(time.monotonic())
        number = len(started)
        await asyncio.sleep(0.05)
        return number  # the generation "read" by the n-th query

    generation._query = slow_query  # type: ignore[method-assign]

    async def request() -> tuple[int, int | None]:
        queries_before = len(started)
        return queries_before, await generation.current()

    async def waves() -> list[tuple[int, int | None]]:
        first = [asyncio.create_task(request()) for _ in range(10)]
        await asyncio.sleep(0.01)
        second = [asyncio.create_task(request()) for _ in range(10)]
        await asyncio.sleep(0.01)  # both connections are busy now
        third = [asyncio.create_task(request()) for _ in range(10)]
        cancelled = asyncio.create_task(request())
        await asyncio.sleep(0)
        cancelled.cancel()  # leaving does not stop the others' answer
        return await asyncio.gather(*first, *second, *third)

    answers = asyncio.run(waves())
    assert len(started) == 3
    assert [a for _, a in answers] == [1] * 10 + [2] * 10 + [3] * 10
    assert all(answer is not None and answer > before for before, answer in answers)


def test_postgres_generation_sees_every_commit_before_the_call(
    db_url: str, engine: Engine, clean_db: None
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: set ASSISTCAL_TEST_DATABASE_URL")
    generation = generation_for(db_url)
    assert isinstance(generation, PostgresGeneration)
    queries = 0
    query = generation._query

    async def counted() -> int | None:
        nonlocal queries
        queries += 1
        return await query()

    generation._query = counted  # type: ignore[method-assign]

    def bump() -> None:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO feed_state (id, generation, changed_at) VALUES (1, 1, now()) "
                    "ON CONFLICT (id) DO UPDATE SET generation = feed_state.generation + 1"
                )
            )

    async def check() -> None:
        before = await generation.current()
        assert before is not None
        for _ in range(3):
            bump()
            now = await generation.current()
            assert now is not None
            assert now > before
            before = now
        together = await asyncio.gather(*(generation.current() for _ in range(50)))
        assert set(together) == {before}
        await generation.close()

    asyncio.run(check())
    assert queries <= 4 + 2  # the 50 waited for one or two queries, not fifty
