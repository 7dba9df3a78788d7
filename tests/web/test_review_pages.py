"""The review queue's follow-through without a browser: the open, decided and all tabs, a
decided card (who, when, the note), reopening from the page and from the API (one service,
audited), both activities linked with their providers and contacts, and the reasons written
as sentences in the page's language."""

import re
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.audit.models import AuditEntry
from app.config import Settings
from app.core import i18n
from app.main import create_app
from tests.conftest import KeyMaker
from tests.helpers import auth, submit
from tests.web.test_pages import csrf_of, sign_in

API = "/api/v1"


@pytest.fixture
def web(settings: Settings, clean_db: None) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        yield client


def _duplicate(web: TestClient, key: str) -> tuple[dict[str, object], dict[str, object], str]:
    first = submit(
        web,
        key,
        title="National workshop on export control",
        countries=["JM"],
        contact_email="desk@unlirec.example",
    )
    second = submit(
        web,
        key,
        title="Taller nacional sobre control de exportaciones",
        countries=["JM"],
        language="es",
    )
    [finding] = [f for f in second["findings"] if f["kind"] == "duplicate"]
    return first, second, str(finding["id"])


def _card(page: str, finding_id: str) -> str:
    return page.split(f'id="finding-{finding_id}"')[1].split("</section>")[0]


def test_a_decided_finding_is_in_the_decided_tab_and_reopened_from_there(
    web: TestClient, make_key: KeyMaker, engine: Engine
) -> None:
    provider = make_key("UNLIREC", "provider")
    coordinator = make_key("OAS-CICTE", "coordinator")
    first, second, finding_id = _duplicate(web, provider)
    sign_in(web, coordinator)
    queue = web.get("/review").text
    assert '<a href="/review" aria-current="page" class="current">Open</a>' in queue
    card = _card(queue, finding_id)
    # Both activities linked, with their providers and the contact (the activity's own).
    title = "<bdi>National workshop on export control</bdi>"
    assert f'<a href="/activity/{first["id"]}">{title}</a>' in card
    assert f'<a href="/activity/{second["id"]}"><bdi>Taller nacional' in card
    assert card.count("· UNLIREC") == 2
    assert '<a href="mailto:desk@unlirec.example">' in card

    decided = web.post(
        f"/review/{finding_id}",
        data={"decision": "dismiss", "note": "Two sessions of one plan", "csrf": csrf_of(queue)},
        follow_redirects=False,
    )
    assert decided.status_code == 303
    assert finding_id not in web.get("/review").text  # gone from the open tab

    tab = web.get("/review?status=decided").text
    assert '<a href="/review?status=decided" aria-current="page" class="current">Decided' in tab
    card = _card(tab, finding_id)
    assert "<dd>Dismissed</dd>" in card
    assert "OAS-CICTE (" in card  # decided_by: the key's organization and prefix
    assert "Two sessions of one plan" in card
    day = re.search(r"<dt>Decided on</dt><dd>([^<]+)</dd>", card)
    assert day is not None
    assert re.search(r"\d{4}", day[1])
    assert finding_id in web.get("/review?status=all").text

    reopened = web.post(
        f"/review/{finding_id}",
        data={
            "decision": "reopen",
            "status": "decided",
            "note": "The dates moved",
            "csrf": csrf_of(tab),
        },
        follow_redirects=False,
    )
    assert reopened.status_code == 303
    assert reopened.headers["location"].startswith("/review?status=decided&decided=")
    landed = web.get(reopened.headers["location"]).text
    assert "Finding reopened: it waits for a decision again." in landed
    assert finding_id not in web.get("/review?status=decided").text
    assert finding_id in web.get("/review").text
    stored = web.get(f"{API}/findings/{finding_id}", headers=auth(coordinator)).json()
    assert (stored["status"], stored["note"], stored["decided_by"]) == ("open", None, None)
    with engine.connect() as connection:
        entry = connection.execute(
            sa.select(AuditEntry.__table__).where(  # type: ignore[attr-defined]
                sa.column("entity_id") == finding_id, sa.column("action") == "finding.reopen"
            )
        ).one()
    assert entry.actor_organization == "OAS-CICTE"
    assert entry.changes["note"] == "The dates moved"
    assert entry.changes["status"] == ["dismissed", "open"]
    assert entry.changes["decision"]["note"] == "Two sessions of one plan"


def test_the_api_reopens_with_the_same_rules(web: TestClient, make_key: KeyMaker) -> None:
    provider = make_key("UNLIREC", "provider")
    coordinator = make_key("OAS-CICTE", "coordinator")
    first, second, finding_id = _duplicate(web, provider)
    decision = f"{API}/findings/{finding_id}/decision"
    still_open = web.post(decision, json={"decision": "reopen"}, headers=auth(coordinator))
    assert still_open.status_code == 422
    assert "decision" in still_open.text
    confirmed = web.post(
        decision,
        json={"decision": "confirm", "canonical_id": first["id"]},
        headers=auth(coordinator),
    )
    assert confirmed.status_code == 200
    marked = web.get(f"{API}/activities/{second['id']}", headers=auth(coordinator)).json()
    assert marked["duplicate_of"] == first["id"]
    refused = web.post(decision, json={"decision": "reopen", "note": "no"}, headers=auth(provider))
    assert refused.status_code == 403
    reopened = web.post(
        decision, json={"decision": "reopen", "note": "not the same"}, headers=auth(coordinator)
    )
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["status"] == "open"
    back = web.get(f"{API}/activities/{second['id']}", headers=auth(coordinator)).json()
    assert back["duplicate_of"] is None  # back on the calendar


def test_reasons_read_as_sentences_with_plurals_in_both_languages(
    web: TestClient, make_key: KeyMaker
) -> None:
    provider = make_key("UNLIREC", "provider")
    coordinator = make_key("OAS-CICTE", "coordinator")
    common = {"countries": ["TT"], "themes": ["export_control"]}
    submit(web, provider, title="Seminar on licensing", start_date="2025-03-10",
           end_date="2025-03-10", **common)  # fmt: skip
    submit(web, provider, title="Customs officers course", start_date="2025-03-11",
           end_date="2025-03-11", activity_type="training", **common)  # fmt: skip
    submit(web, provider, title="Port security drill", start_date="2025-03-14",
           end_date="2025-03-14", themes=["border_control"], countries=["TT"])  # fmt: skip
    sign_in(web, coordinator)
    english = web.get("/review?kind=overlap").text
    assert "1 day apart" in english
    assert "Both for Trinidad and Tobago" in english
    assert "Theme shared: Export control" in english
    assert "1 days" not in english
    assert "same_country" not in english
    spanish = web.get("/review?kind=overlap", headers={"accept-language": "es"}).text
    assert "Separadas por 1 día " in spanish
    assert "Ambas para Trinidad y Tabago" in spanish
    assert "Tema en común: Control de exportaciones" in spanish
    assert "Superposiciones" in spanish  # the kinds' plural heading


@pytest.mark.parametrize(
    ("code", "params", "english", "spanish"),
    [
        ("dates_close", {"gap": 1}, "1 day apart", "Separadas por 1 día"),
        ("dates_close", {"gap": 3}, "3 days apart", "Separadas por 3 días"),
        ("dates_close", {"start_apart": 0}, "Same start date", "Misma fecha de inicio"),
        (
            "dates_close",
            {"start_apart": 1},
            "Start dates 1 day apart",
            "Fechas de inicio separadas por 1 día",
        ),
        (
            "dates_overlap",
            {"days": 1},
            "1 day at the same time, on different themes",
            "1 día a la vez, sobre temas distintos",
        ),
        ("dates_overlap", {"days": None}, "Dates overlap", "Fechas superpuestas"),
        (
            "same_country",
            {"shared": 1, "of": 1},
            "1 of 1 beneficiary State shared",
            "1 de 1 Estado beneficiario en común",
        ),
        (
            "same_country",
            {"shared": 2, "of": 3},
            "2 of 3 beneficiary States shared",
            "2 de 3 Estados beneficiarios en común",
        ),
        ("title_similar", {"alike": 0.87}, "Titles 87% alike", "Títulos parecidos en un 87\xa0%"),
        ("same_theme", {"themes": []}, "No shared theme", "Ningún tema en común"),
        (
            "same_type",
            {"types": ["workshop", "training"]},
            "Different types: Workshop and Training",
            "Tipos distintos: Taller y Capacitación",
        ),
        ("same_venue", {"cities": ["Lima", "Lima"], "same": True}, "Both in Lima", "Ambas en Lima"),
        (
            "title_similar",
            {"alike": 0.91, "meaning": True},
            "Titles 91% alike in meaning",
            "Títulos parecidos en su significado en un 91\xa0%",
        ),
        (
            "not_duplicate",
            {"difference": "other_domain", "first": ["biological"], "second": ["chemical"]},
            "Not a duplicate: different weapons (Biological / Chemical)",
            "No es un duplicado: armas distintas (Biológico / Químico)",
        ),
        (
            "not_duplicate",
            {"difference": "other_instrument", "first": ["BWC"], "second": ["CWC"]},
            "Not a duplicate: different instruments (BWC / CWC)",
            "No es un duplicado: instrumentos distintos (BWC / CWC)",
        ),
        (
            "not_duplicate",
            {"difference": "other_audience", "first": ["customs"], "second": ["industry"]},
            "Not a duplicate: different audiences (Customs / Industry)",
            "No es un duplicado: destinatarios distintos (Aduanas / Industria)",
        ),
        (
            "not_duplicate",
            {"difference": "other_city", "first": "Lima", "second": "Cusco"},
            "Not a duplicate: different cities (Lima / Cusco)",
            "No es un duplicado: ciudades distintas (Lima / Cusco)",
        ),
        (
            "not_duplicate",
            {"difference": "other_edition", "first": ["2"], "second": ["3"]},
            "Not a duplicate: different editions (2 / 3)",
            "No es un duplicado: ediciones distintas (2 / 3)",
        ),
    ],
)
def test_each_reason_in_words(
    code: str, params: dict[str, object], english: str, spanish: str
) -> None:
    assert i18n.reason(code, "stored words", params, "en") == english
    assert i18n.reason(code, "stored words", params, "es") == spanish


def test_a_reason_stored_without_params_shows_words_never_its_code() -> None:
    assert i18n.reason("dates_close", "3 days apart", {}, "en") == "3 days apart"
    assert i18n.reason("dates_close", "3 days apart", None, "es") == "Fechas cercanas"
    assert i18n.reason("title_similar", "x", {"alike": "bad"}, "es") == "Títulos parecidos"


def test_the_review_tabs_need_a_coordinator(web: TestClient, make_key: KeyMaker) -> None:
    provider = make_key("UNLIREC", "provider")
    _duplicate(web, provider)
    sign_in(web, provider)
    assert web.get("/review?status=decided").status_code == 403
    assert (
        web.post(
            f"/review/{uuid.uuid4()}",
            data={"decision": "reopen", "csrf": csrf_of(web.get("/").text)},
        ).status_code
        == 403
    )
