"""Events' texts are kept in the database: a new process assembles a feed from them, and a
text is rendered again only when what it depends on changed."""

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.core import i18n
from app.db.engine import IMMEDIATE
from app.feeds import render
from app.feeds.models import FeedEventText
from app.main import create_app
from tests.conftest import KeyMaker
from tests.helpers import activity_body, auth

API = "/api/v1"
WINDOW = {"from": "2027-01-01", "to": "2027-12-31"}


@pytest.fixture
def provider(make_key: KeyMaker) -> str:
    return make_key("UNLIREC", "provider")


def post(client: TestClient, key: str, **fields: Any) -> dict[str, Any]:
    body = activity_body(start_date="2027-03-01", end_date="2027-03-03", **fields)
    response = client.post(f"{API}/activities", json=body, headers=auth(key))
    assert response.status_code == 201, response.text
    return response.json()["activity"]  # type: ignore[no-any-return]


@contextmanager
def new_process(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, list[str]]]:
    """A second app on the same database (empty caches, as after a restart), and the ids of
    the events it renders."""
    rendered: list[str] = []
    real = render.event

    def counted(data: render.EventData) -> bytes:
        rendered.append(data.id)
        return real(data)

    with monkeypatch.context() as patch:
        patch.setattr(render, "event", counted)
        with TestClient(create_app(settings)) as other:
            yield other, rendered


def stored(engine: Engine, language: str = "en") -> dict[str, str | None]:
    text = FeedEventText.__table__.c  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(text.activity_id, text.text).where(text.language == language))
        return {str(activity_id): text for activity_id, text in rows}


def test_a_new_process_assembles_a_feed_from_the_stored_texts(
    client: TestClient,
    provider: str,
    settings: Any,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = [
        post(client, provider, title="One")["id"],
        post(
            client,
            provider,
            title="Two",
            start_time="09:00",
            end_time="17:00",
            timezone="Europe/Paris",
        )["id"],
        post(client, provider, title="Three")["id"],
    ]
    assert stored(engine) == {}  # written when first shown, not with the activity
    first = client.get("/feeds/all.ics", params=WINDOW)
    kept = stored(engine)
    assert set(kept) == set(ids)
    for text in kept.values():
        assert text is not None
        assert text.encode() in first.content

    with new_process(settings, monkeypatch) as (other, rendered):
        again = other.get("/feeds/all.ics", params=WINDOW)
        assert again.content == first.content
        assert again.headers["etag"] == first.headers["etag"]
        assert rendered == []  # every text came from the database
        provider_feed = other.get("/feeds/providers/UNLIREC.ics", params=WINDOW)
        assert provider_feed.content.count(b"BEGIN:VEVENT") == 3
        assert rendered == []

        edited = client.patch(
            f"{API}/activities/{ids[1]}", json={"title": "Two, moved"}, headers=auth(provider)
        )
        assert edited.status_code == 200
        after = other.get("/feeds/all.ics", params=WINDOW)
        assert rendered == [ids[1]]  # only the edited one
        assert b"SUMMARY:Two\\, moved" in after.content
    assert b"SUMMARY:Two\\, moved" in stored(engine)[ids[1]].encode()  # type: ignore[union-attr]


def test_a_stored_text_is_rendered_again_when_what_it_shows_changes(
    client: TestClient,
    provider: str,
    make_key: KeyMaker,
    settings: Any,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one = post(client, provider, title="One")["id"]
    two = post(client, provider, title="Two")["id"]
    client.get("/feeds/all.ics", params=WINDOW)
    admin = make_key("ASSISTCAL", "admin")

    # withdrawn: that event only
    assert client.delete(f"{API}/activities/{one}", headers=auth(provider)).status_code in (
        200,
        204,
    )
    with new_process(settings, monkeypatch) as (other, rendered):
        text = other.get("/feeds/all.ics", params=WINDOW).content
        assert rendered == [one]
        assert b"Withdrawn by its provider." in text.replace(b"\r\n ", b"")

    # the provider renamed: all of its events
    renamed = client.patch(
        f"{API}/organizations/UNLIREC", json={"name": "Renamed centre"}, headers=auth(admin)
    )
    assert renamed.status_code == 200
    with new_process(settings, monkeypatch) as (other, rendered):
        text = other.get("/feeds/all.ics", params=WINDOW).content
        assert sorted(rendered) == sorted([one, two])
        assert text.replace(b"\r\n ", b"").count(b"Provider: Renamed centre (UNLIREC)") == 2

    # a new version of the renderer: all of them
    monkeypatch.setattr(render, "FORMAT", render.FORMAT + 1)
    with new_process(settings, monkeypatch) as (other, rendered):
        other.get("/feeds/all.ics", params=WINDOW)
        assert sorted(rendered) == sorted([one, two])
    with new_process(settings, monkeypatch) as (other, rendered):
        other.get("/feeds/all.ics", params=WINDOW)
        assert rendered == []  # and kept again


def test_a_feed_is_served_when_its_texts_cannot_be_kept(
    client: TestClient, provider: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    post(client, provider, title="One")

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise sa.exc.OperationalError("INSERT", {}, Exception("disk full"))

    monkeypatch.setattr("app.feeds.event_texts._write", broken)
    response = client.get("/feeds/all.ics", params=WINDOW)
    assert response.status_code == 200
    assert response.content.count(b"BEGIN:VEVENT") == 1
    assert stored(engine) == {}


def test_a_feed_does_not_queue_for_sqlites_write_lock_to_keep_its_texts(
    client: TestClient, provider: str, engine: Engine
) -> None:
    """While a writer holds SQLite's write lock (a long import, say), a feed is served at
    once and its texts are kept by a later one, instead of waiting up to 30 s for the lock."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's write lock")
    post(client, provider, title="One")
    with engine.connect().execution_options(**{IMMEDIATE: True}) as writer:
        writer.execute(sa.text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock is held
        started = time.monotonic()
        response = client.get("/feeds/all.ics", params=WINDOW)
        seconds = time.monotonic() - started
        writer.rollback()
    assert response.status_code == 200
    assert response.content.count(b"BEGIN:VEVENT") == 1
    assert seconds < 2
    assert stored(engine) == {}


def test_each_language_keeps_its_own_texts(
    client: TestClient,
    provider: str,
    settings: Any,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one = post(client, provider, title="One")["id"]
    english = client.get("/feeds/all.ics", params=WINDOW).content
    spanish = client.get("/feeds/all.ics", params={**WINDOW, "lang": "es"}).content
    assert english != spanish
    assert "Proveedor: " in stored(engine, "es")[one]  # type: ignore[operator]
    assert "Provider: " in stored(engine, "en")[one]  # type: ignore[operator]

    with new_process(settings, monkeypatch) as (other, rendered):
        assert other.get("/feeds/all.ics", params={**WINDOW, "lang": "es"}).content == spanish
        assert other.get("/feeds/all.ics", params=WINDOW).content == english
        assert rendered == []  # both from the database
        assert other.get("/feeds/all.ics", params={**WINDOW, "lang": "zh"}).status_code == 200
        assert rendered == [one]  # a language not read before: rendered once, then kept
    assert "提供方：" in stored(engine, "zh")[one]  # type: ignore[operator]  # noqa: RUF001


def test_a_changed_translation_renders_the_texts_again(
    client: TestClient,
    provider: str,
    settings: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A translator's fix reaches every event of a feed, not only its name: the texts kept in
    the database are keyed by what their words came from."""
    one = post(client, provider, title="One")["id"]
    spanish = {**WINDOW, "lang": "es"}
    before = client.get("/feeds/all.ics", params=spanish).content.replace(b"\r\n ", b"")
    assert b"Proveedor: " in before

    corrected = tmp_path / "locale"
    shutil.copytree(i18n.LOCALE_DIR, corrected)
    po = corrected / "es.po"
    po.write_text(
        po.read_text(encoding="utf-8").replace(
            'msgstr "Proveedor: %(name)s"', 'msgstr "Entidad proveedora: %(name)s"'
        ),
        encoding="utf-8",
    )
    caches = (i18n._catalog, i18n._translations, i18n.texts_version)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(i18n, "LOCALE_DIR", corrected)
            for cached in caches:
                cached.cache_clear()
            with new_process(settings, monkeypatch) as (other, rendered):
                after = other.get("/feeds/all.ics", params=spanish).content
                assert rendered == [one]
        after = after.replace(b"\r\n ", b"")
        assert b"Entidad proveedora: " in after
        assert b"Proveedor: " not in after
    finally:
        for cached in caches:
            cached.cache_clear()
