# ruff: noqa: RUF001  (Cyrillic and Chinese letters in the feeds are meant)
"""Feeds in the reader's language: `lang=` names the calendar and describes its events in it
(State, region and vocabulary names too); a private feed speaks its own language, else its
owner's as it is now; each language's event texts are kept apart."""

from typing import Any
from urllib.parse import parse_qs, urlsplit

import icalendar
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.auth import people
from app.auth.models import Person
from app.core import i18n
from app.db.engine import open_session
from app.feeds.lint import problems
from tests.conftest import KeyMaker
from tests.feeds.helpers import icaljs_module, parse_with_icaljs
from tests.helpers import activity_body, auth, make_member

API = "/api/v1"
WINDOW = {"from": "2027-01-01", "to": "2027-12-31"}
# Every label of an event's description, as English writes it.
ENGLISH_LABELS = (
    "Provider:",
    "Partners:",
    "Beneficiary States:",
    "Regions:",
    "Themes:",
    "Type:",
    "Audiences:",
    "Contact:",
    "More:",
    "1540 assistance activities",
)


def post(client: TestClient, key: str, **fields: Any) -> dict[str, Any]:
    body = activity_body(
        **{
            "start_date": "2027-03-01",
            "end_date": "2027-03-03",
            "title": "Taller sobre controles de exportación",
            "countries": ["TT"],
            "regions": ["029"],
            "themes": ["export_control"],
            "audiences": ["customs"],
            "partners": ["OAS"],
            "contact_email": "desk@unlirec.org",
            "url": "https://unlirec.org/w1",
            "venue": {"city": "Port of Spain", "country": "TT", "modality": "hybrid"},
            **fields,
        }
    )
    response = client.post(f"{API}/activities", json=body, headers=auth(key))
    assert response.status_code == 201, response.text
    activity: dict[str, Any] = response.json()["activity"]
    return activity


def read(client: TestClient, path: str, **params: Any) -> tuple[bytes, icalendar.Calendar]:
    response = client.get(path, params={**WINDOW, **params})
    assert response.status_code == 200, response.text
    assert problems(response.content) == []
    return response.content, icalendar.Calendar.from_ical(response.content)


@pytest.fixture
def provider(make_key: KeyMaker) -> str:
    return make_key("UNLIREC", "provider")


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_a_feed_speaks_the_language_asked_for(
    client: TestClient, provider: str, language: str
) -> None:
    post(client, provider)
    text, calendar = read(client, "/feeds/countries/TT.ics", lang=language)
    _ = i18n.translator(language)
    state, region = i18n.country("TT", language), i18n.region("029", language)
    theme, audience = i18n.label("export_control", language), i18n.label("customs", language)

    name = _("%(chosen)s - 1540 assistance activities") % {"chosen": state}
    assert str(calendar["x-wr-calname"]) == name
    assert str(calendar["name"]) == name
    assert state in str(calendar["x-wr-caldesc"])
    [event] = calendar.events
    assert str(event["summary"]) == "Taller sobre controles de exportación"  # as its provider wrote
    description = str(event["description"])
    for label, value in (
        ("Beneficiary States: %(names)s", {"names": state}),
        ("Regions: %(names)s", {"names": region}),
        ("Themes: %(names)s", {"names": theme}),
        ("Audiences: %(names)s", {"names": audience}),
        ("Contact: %(address)s", {"address": "desk@unlirec.org"}),
    ):
        assert _(label) % value in description
    assert str(event["location"]) == _("%(place)s and online") % {
        "place": f"Port of Spain, {state}"
    }
    assert theme in [str(c) for c in event.categories]
    if language != "en":
        assert not [label for label in ENGLISH_LABELS if label in text.decode()]
    if icaljs_module() is not None:  # and a calendar app's parser reads it the same
        parsed = parse_with_icaljs(text)
        assert parsed["name"] == name
        assert (
            _("Beneficiary States: %(names)s") % {"names": state}
            in (parsed["events"][0]["description"])
        )


def test_the_languages_with_their_own_names_and_scripts(client: TestClient, provider: str) -> None:
    post(client, provider)
    names = {
        "es": "Trinidad y Tabago",
        "fr": "Trinité-et-Tobago",
        "pt": "Trinidad e Tobago",
        "ru": "Тринидад и Тобаго",
        "ar": "ترينيداد وتوباغو",
        "zh": "特立尼达和多巴哥",
    }
    feeds = {}
    for language, state in names.items():
        text, calendar = read(client, "/feeds/countries/TT.ics", lang=language)
        assert str(calendar["x-wr-calname"]).startswith(state)
        feeds[language] = text
    english, _ = read(client, "/feeds/countries/TT.ics")
    assert read(client, "/feeds/countries/TT.ics", lang="en")[0] == english  # the default
    assert len({english, *feeds.values()}) == 1 + len(names)
    assert "Estados beneficiarios: Trinidad y Tabago" in str(
        icalendar.Calendar.from_ical(feeds["es"]).events[0]["description"]
    )


def test_an_unknown_language_is_a_422_naming_lang(client: TestClient) -> None:
    for path in ("/feeds/all.ics", "/feeds/countries/TT.ics", "/api/v1/feeds/links"):
        response = client.get(path, params={"lang": "xx"})
        assert response.status_code == 422, (path, response.text)
        assert "lang" in response.text


def test_a_private_feed_speaks_its_owners_language_or_its_own(
    client: TestClient, engine: Engine, provider: str
) -> None:
    post(client, provider, visibility="restricted")
    ana = make_member(engine, "UNLIREC", "ana@unlirec.org", name="Ana", key_role="provider")
    assert ana.key is not None
    made = client.post(f"{API}/feed-tokens", json={"label": "Mi escritorio"}, headers=auth(ana.key))
    assert made.status_code == 201, made.text
    path = urlsplit(made.json()["url"]).path
    _, calendar = read(client, path)
    assert str(calendar["x-wr-calname"]) == "Mi escritorio - 1540 assistance activities"

    with open_session(engine, write=True) as session:
        person = session.get(Person, ana.person_id)
        assert person is not None
        people.update_profile(session, person, name="Ana", language="fr")
        session.commit()
    _, calendar = read(client, path)  # the owner's language, as it is now
    assert str(calendar["x-wr-calname"]) == "Mi escritorio - Activités d'assistance 1540"
    assert "États bénéficiaires\u00a0: Trinité-et-Tobago" in str(calendar.events[0]["description"])
    _, calendar = read(client, path, lang="pt")  # asked for
    assert "Estados beneficiários: Trinidad e Tobago" in str(calendar.events[0]["description"])

    # Its own language, whoever owns it; and a program's key's feed is in English.
    own = client.post(
        f"{API}/feed-tokens",
        json={"label": "Rabochiy", "language": "ru"},
        headers=auth(ana.key),
    )
    assert own.status_code == 201, own.text
    _, calendar = read(client, urlsplit(own.json()["url"]).path)
    assert "Государства-получатели: Тринидад и Тобаго" in str(calendar.events[0]["description"])
    listed = client.get(f"{API}/feed-tokens", headers=auth(ana.key)).json()
    assert sorted(str(t["language"]) for t in listed) == ["None", "ru"]
    programs = client.post(f"{API}/feed-tokens", json={"label": "Desk"}, headers=auth(provider))
    _, calendar = read(client, urlsplit(programs.json()["url"]).path)
    assert "Beneficiary States: Trinidad and Tobago" in str(calendar.events[0]["description"])
    refused = client.post(
        f"{API}/feed-tokens", json={"label": "X", "language": "xx"}, headers=auth(provider)
    )
    assert refused.status_code == 422
    assert "language" in refused.text


def test_links_and_the_subscribe_page_give_the_readers_language(client: TestClient) -> None:
    links = client.get(f"{API}/feeds/links", params={"country": "TT", "lang": "fr"}).json()
    assert parse_qs(urlsplit(links["url"]).query) == {"country": ["TT"], "lang": ["fr"]}
    everything = client.get(f"{API}/feeds/links", params={"lang": "ar"}).json()
    assert urlsplit(everything["url"]).path == "/feeds/all.ics"
    assert "lang=ar" in everything["url"]
    english = client.get(f"{API}/feeds/links").json()
    assert english["url"].endswith("/feeds/all.ics")

    page = client.get(
        "/subscribe", params={"country": "TT"}, headers={"Accept-Language": "es-MX,es;q=0.9"}
    )
    assert page.status_code == 200
    assert "Trinidad y Tabago - Actividades de asistencia 1540" in page.text
    assert "/feeds/calendar.ics?country=TT&amp;lang=es" in page.text


def test_lists_are_written_each_languages_way(client: TestClient, provider: str) -> None:
    post(client, provider, countries=["HT", "TT"], regions=[], partners=["OAS", "CARICOM"])
    expected = {
        "en": "Beneficiary States: Haiti, Trinidad and Tobago",
        "fr": "États bénéficiaires\u00a0: Haïti, Trinité-et-Tobago",
        "ar": "الدول المستفيدة: هايتي، ترينيداد وتوباغو",  # Arabic's comma: "و" is "and"
        "zh": "受益国：海地、特立尼达和多巴哥",
    }
    for language, line in expected.items():
        _, calendar = read(client, "/feeds/all.ics", lang=language)
        assert line in str(calendar.events[0]["description"]).splitlines()
    _, calendar = read(client, "/feeds/calendar.ics", country=["HT", "TT"], lang="zh")
    assert str(calendar["x-wr-calname"]) == "海地、特立尼达和多巴哥 - 1540援助活动"
    assert i18n.listed([], "ar") == ""
    assert i18n.listed(["OAS"], "zh") == "OAS"
