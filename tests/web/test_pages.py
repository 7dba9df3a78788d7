"""The pages without a browser: sign-in and its cookie, CSRF, who sees what, the two
languages, the review form and the import form."""

import html
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import icalendar
import pytest
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.config import Settings
from app.core import i18n, vocab
from app.core.principal import Principal
from app.db.engine import open_session
from app.demo import service as demo
from app.main import create_app
from app.organizations import service as organizations
from app.web import people as web_people
from app.web import render as web_render
from tests.conftest import KeyMaker
from tests.helpers import auth, submit

API = "/api/v1"
TEMPLATES = Path(web_render.__file__).parent / "templates"


@pytest.fixture
def web(settings: Settings, clean_db: None) -> Iterator[TestClient]:
    # Secure cookies travel over https only, as in a browser.
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        yield client


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def sign_in(web: TestClient, key: str) -> None:
    form = web.get("/sign-in")
    answer = web.post(
        "/sign-in",
        data={"key": key, "csrf": csrf_of(form.text), "next": "/calendar"},
        follow_redirects=False,
    )
    assert (answer.status_code, answer.headers["location"]) == (303, "/calendar")
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    assert "SameSite=lax" in cookie
    assert key not in cookie


def test_every_message_and_label_has_its_spanish(web: TestClient) -> None:
    with (Path(i18n.LOCALE_DIR) / "es.po").open("rb") as po:
        spanish = {m.id for m in read_po(po) if m.id and m.string}
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= {m.group(2) for m in re.finditer(r"""_\((["'])(.+?)\1""", template.read_text())}
    codes = [*vocab.THEMES, *vocab.DOMAINS, *vocab.ACTIVITY_TYPES, "duplicate", "overlap", "clash"]
    used |= {code.replace("_", " ").capitalize() for code in codes}
    used |= {vocab.geography().region_names[r] for r in ("419", "029", "013", "005", "019")}
    used |= {message for _, message in web_people.REFUSALS.values()}  # the sign-in refusals
    assert sorted(used - spanish) == []


def test_sign_in_sign_out_and_a_revoked_key(
    web: TestClient, make_key: KeyMaker, client: TestClient
) -> None:
    admin = make_key("ASSISTCAL", "admin")
    coordinator = make_key("OAS-CICTE", "coordinator")
    assert (
        web.get("/review", follow_redirects=False).headers["location"] == "/sign-in?next=%2Freview"
    )
    wrong = web.post("/sign-in", data={"key": "ac_nope", "csrf": csrf_of(web.get("/sign-in").text)})
    assert wrong.status_code == 401
    assert "That key was not accepted" in wrong.text
    sign_in(web, coordinator)
    assert web.get("/review").status_code == 200
    page = web.get("/calendar").text
    assert "OAS-CICTE" in page
    # Revoking the key ends its sessions at once.
    key_id = next(
        k["id"]
        for k in client.get(f"{API}/organizations/OAS-CICTE/api-keys", headers=auth(admin)).json()[
            "items"
        ]
    )
    assert client.delete(f"{API}/api-keys/{key_id}", headers=auth(admin)).status_code in (200, 204)
    assert web.get("/review", follow_redirects=False).status_code == 303
    # Signing out needs the form's token.
    sign_in(web, admin)
    assert web.post("/sign-out", data={"csrf": "forged"}).status_code == 403
    out = web.post("/sign-out", data={"csrf": csrf_of(web.get("/").text)}, follow_redirects=False)
    assert out.status_code == 303
    assert web.get("/review", follow_redirects=False).status_code == 303


def test_forms_need_their_csrf_token_and_next_stays_on_the_site(
    web: TestClient, make_key: KeyMaker
) -> None:
    key = make_key("OAS-CICTE", "coordinator")
    refused = web.post("/sign-in", data={"key": key, "csrf": "guess"})
    assert refused.status_code == 403
    assert "text/html" in refused.headers["content-type"]
    form = web.get("/sign-in?next=https://evil.example/")
    assert 'name="next" value="/"' in form.text
    answer = web.post(
        "/sign-in",
        data={"key": key, "csrf": csrf_of(form.text), "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/"
    assert (
        web.get("/language?to=es&next=https://evil.example", follow_redirects=False).headers[
            "location"
        ]
        == "/"
    )


def test_each_reader_sees_only_what_it_may(web: TestClient, make_key: KeyMaker) -> None:
    provider = make_key("UNLIREC", "provider")
    hidden = submit(
        web, provider, title="Restricted visit", visibility="restricted", start_date="2025-03-10"
    )
    shown = submit(web, provider, title="Open seminar", start_date="2025-03-11")
    calendar = web.get("/calendar?start=2025-03&view=list").text
    assert "Open seminar" in calendar
    assert "Restricted visit" not in calendar
    assert web.get(f"/activity/{hidden['id']}").status_code == 404
    assert web.get(f"/activity/{shown['id']}").status_code == 200
    assert (
        "History" not in web.get(f"/activity/{shown['id']}").text
    )  # findings and history: signed in
    sign_in(web, provider)
    assert "Restricted visit" in web.get("/calendar?start=2025-03&view=list").text
    assert web.get("/review").status_code == 403  # the queue is for coordinators
    detail = web.get(f"/activity/{hidden['id']}").text
    assert "History" in detail
    assert "Restricted" in detail


def test_spanish_from_accept_language_then_remembered(web: TestClient) -> None:
    spanish = web.get("/", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}).text
    assert '<html lang="es" dir="ltr">' in spanish
    assert "Calendario de asistencia 1540" in spanish
    assert "Calendar</a>" not in spanish
    english = web.get("/", headers={"Accept-Language": "de-DE, en;q=0.8"}).text
    assert '<html lang="en" dir="ltr">' in english  # no German: the next one asked for
    # Brazil's and Haiti's browsers get Portuguese and French; Arabic reads right to left
    for asked, lang, direction in [
        ("pt-BR,pt;q=0.9", "pt", "ltr"),
        ("fr-HT, fr;q=0.9", "fr", "ltr"),
        ("ar-EG", "ar", "rtl"),
        ("zh-CN,zh;q=0.9", "zh", "ltr"),
        ("ru", "ru", "ltr"),
    ]:
        page = web.get("/", headers={"Accept-Language": asked}).text
        assert f'<html lang="{lang}" dir="{direction}">' in page
        assert "1540 assistance calendar" not in page
    web.get("/language?to=es&next=/subscribe", follow_redirects=False)
    chosen = web.get("/subscribe", headers={"Accept-Language": "en"}).text
    assert "Cómo se suscribe cada aplicación" in chosen


def test_spanish_pages_name_states_as_the_un_does(web: TestClient) -> None:
    spanish = web.get("/subscribe", headers={"Accept-Language": "es"}).text
    for code, name in [
        ("DZ", "Argelia"),
        ("NE", "Níger"),
        ("BO", "Bolivia (Estado Plurinacional de)"),
        ("VE", "Venezuela (República Bolivariana de)"),
        ("TR", "Türkiye"),
        ("TT", "Trinidad y Tabago"),
    ]:
        assert f'<option value="{code}" >{html.escape(name)}</option>' in spanish
    english = web.get("/subscribe", headers={"Accept-Language": "en"}).text
    assert '<option value="DZ" >Algeria</option>' in english
    assert '<option value="TR" >Türkiye</option>' in english


def test_the_review_form_decides_and_returns_to_the_next_finding(
    web: TestClient, make_key: KeyMaker
) -> None:
    provider = make_key("UNLIREC", "provider")
    coordinator = make_key("OAS-CICTE", "coordinator")
    first = submit(web, provider, title="National workshop on export control", countries=["JM"])
    submit(
        web,
        provider,
        title="Taller nacional sobre control de exportaciones",
        countries=["JM"],
        language="es",
    )
    submit(
        web, provider, title="Border control training", countries=["JM"], themes=["border_control"]
    )
    sign_in(web, coordinator)
    queue = web.get("/review").text
    ids = re.findall(r'id="finding-([0-9a-f-]{36})"', queue)
    assert len(ids) >= 2
    assert "kind-duplicate" in queue.split(f'id="finding-{ids[0]}"')[1][:400]  # duplicates first
    decided = web.post(
        f"/review/{ids[0]}",
        data={"decision": "confirm", "keep": first["id"], "note": "same", "csrf": csrf_of(queue)},
        follow_redirects=False,
    )
    assert decided.status_code == 303
    # Confirming took the duplicate's other findings with it: the page opens at the first
    # card left, the confirmation right before it.
    following = re.search(r"at=([0-9a-f-]{36})#decision-done$", decided.headers["location"])
    assert following is not None, decided.headers["location"]
    after = web.get(decided.headers["location"]).text
    assert f'id="finding-{ids[0]}"' not in after
    confirmation, next_card = after.split('id="decision-done"')[1].split("</p>", 1)
    assert "Decision recorded: Confirmed." in confirmation
    assert next_card.lstrip().startswith(f'<section class="card" id="finding-{following[1]}"')
    forged = web.post(f"/review/{following[1]}", data={"decision": "dismiss", "csrf": "x"})
    assert forged.status_code == 403


def test_the_import_page_checks_then_imports(web: TestClient, make_key: KeyMaker) -> None:
    key = make_key("UNLIREC", "provider")
    sign_in(web, key)
    form = web.get("/import").text
    data = b"title,start,countries,themes\nTaller,2025-05-01,TT,reporting\n"
    checked = web.post("/import", data={"csrf": csrf_of(form)}, files={"file": ("plan.csv", data)})
    assert checked.status_code == 200
    assert "What the import would do" in checked.text
    assert web.get(f"{API}/activities", headers=auth(key)).json()["items"] == []
    pending = re.search(r'name="pending" value="([^"]+)"', checked.text)
    assert pending
    done = web.post(
        "/import",
        data={"csrf": csrf_of(checked.text), "pending": pending.group(1), "confirm": "true"},
    )
    assert "Imported" in done.text
    assert len(web.get(f"{API}/activities", headers=auth(key)).json()["items"]) == 1
    again = web.post(
        "/import",
        data={"csrf": csrf_of(done.text), "pending": pending.group(1), "confirm": "true"},
    )
    assert again.status_code == 404  # a kept file is used once
    bad = web.post(
        "/import",
        data={"csrf": csrf_of(form)},
        files={"file": ("plan.csv", b"title,start,countries,themes\nX,2025-02-30,TT,reporting\n")},
    )
    assert "Rows with errors" in bad.text
    assert 'name="pending"' not in bad.text
    # Files have the import API's size limit, not the 1 MiB of other requests.
    big = "title,start,countries,themes,description\n" + "".join(
        f"Seminar {n},2025-06-01,TT,reporting,{'x' * 9000}\n" for n in range(250)
    )
    assert len(big) > 2_000_000
    large = web.post(
        "/import", data={"csrf": csrf_of(form)}, files={"file": ("big.csv", big.encode())}
    )
    assert large.status_code == 200
    assert "250" in large.text


def test_bad_input_on_a_page_is_an_html_error_not_json(web: TestClient) -> None:
    answer = web.get("/calendar?view=sideways")
    assert answer.status_code == 422
    assert "text/html" in answer.headers["content-type"]
    assert "view" in answer.text
    assert web.get("/calendar?start=2025-13").status_code == 422
    unknown = web.get("/calendar?country=XX")
    assert unknown.status_code == 422
    assert "<strong>country</strong>" in unknown.text
    assert web.get("/subscribe?theme=colour").status_code == 422
    assert web.get(f"/activity/{'0' * 8}-0000-0000-0000-{'0' * 12}").status_code == 404


def test_calendar_rows_per_provider_and_nothing_loaded_from_elsewhere(
    web: TestClient, make_key: KeyMaker
) -> None:
    key = make_key("UNLIREC", "provider")
    submit(
        web,
        key,
        title="Regional seminar",
        countries=[],
        regions=["029"],
        start_date="2025-03-10",
        end_date="2025-03-12",
    )
    by_state, listed = web.get("/calendar?start=2025-03&span=month").text.split('"in-period"')
    assert by_state.count("Regional seminar</a>") == len(vocab.region_states("029"))
    assert listed.count("Regional seminar</a>") == 1  # the period's list, its title in full
    by_provider = web.get("/calendar?start=2025-03&span=month&rows=provider").text
    assert by_provider.split('"in-period"')[0].count("Regional seminar</a>") == 1
    assert 'role="rowheader">UNLIREC</span>' in by_provider
    for page in ("/", "/calendar", "/subscribe", "/sign-in"):
        html = web.get(page).text
        assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', html), page
    # JavaScript only as an enhancement: this site's own files, deferred, and no inline code
    # (the pages' Content-Security-Policy allows none).
    scripts = re.findall(r"<script[^>]*>", by_state)
    assert all(re.fullmatch(r'<script src="/static/[\w-]+\.js" defer>', s) for s in scripts)
    assert "<script>" not in by_state
    assert web.get("/static/app.css").status_code == 200


def test_calendar_dates_out_of_range_and_the_coverage_csv(
    web: TestClient, make_key: KeyMaker
) -> None:
    for query in (
        "start=0001-01",
        "start=9999-12",
        "from=9999-12-01&to=9999-12-31",
        "from=2024-01-01&to=2030-01-01",
    ):
        answer = web.get(f"/calendar?{query}")
        assert answer.status_code == 422, query
        assert "text/html" in answer.headers["content-type"]
    assert web.get("/calendar?from=2027-05-01").status_code == 200  # a later period alone
    key = make_key("UNLIREC", "provider")
    submit(
        web,
        key,
        countries=["TT"],
        themes=["reporting"],
        activity_type="workshop",
        start_date="2025-05-01",
        end_date="2025-05-01",
    )
    sign_in(web, key)
    page = web.get("/coverage?region=029&year=2025&by=type").text
    link = re.search(r'href="(/calendar\?view=list&amp;country=TT&amp;type=workshop[^"]*)"', page)
    assert link, page[-3000:]
    listed = web.get(link.group(1).replace("&amp;", "&")).text
    assert listed.count('href="/activity/') == 1
    csv_link = re.search(r'href="(/coverage\.csv[^"]*)"', page)
    assert csv_link
    answer = web.get(csv_link.group(1).replace("&amp;", "&"))
    assert answer.headers["content-type"].startswith("text/csv")
    assert "TT,Trinidad and Tobago" in answer.content.decode("utf-8-sig")


def test_the_demo_shows_at_once_on_the_default_pages(
    web: TestClient, make_key: KeyMaker, engine: Engine
) -> None:
    """`assistcal demo load` without a year: the calendar as it opens (this quarter), the
    coverage page as it opens (this year) and the whole feed show the demo activities."""
    admin = make_key("ASSISTCAL", "admin")
    with open_session(engine, write=True) as session:
        operators = organizations.get(session, "ASSISTCAL")
        assert operators.id is not None
        demo.load(
            session, actor=Principal(uuid.uuid4(), "test", operators.id, "ASSISTCAL", "admin")
        )
        session.commit()
    activities = demo.dataset()["activities"]
    sign_in(web, admin)

    calendar = web.get("/calendar").text
    shown = [a["title"] for a in activities if f">{html.escape(a['title'])}</a>" in calendar]
    assert len(shown) >= 8, calendar

    coverage = re.search(
        r"(\d+) of (\d+) States have activities planned", web.get("/coverage").text
    )
    assert coverage is not None
    assert int(coverage.group(1)) >= 5, coverage.group(0)

    feed = icalendar.Calendar.from_ical(web.get("/feeds/all.ics").content)
    public = {a["title"] for a in activities if a["visibility"] == "public"}
    assert {str(event["summary"]) for event in feed.events} == public


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_an_address_that_names_nothing_is_a_page_in_the_readers_language(
    web: TestClient, language: str
) -> None:
    """A mistyped or stale link, or a form's address opened by hand, gets a page saying so in
    the reader's language; the API and the feeds keep answering JSON."""
    _ = i18n.translator(language)
    headers = {"Accept-Language": language, "Accept": "text/html"}
    missing = web.get("/no-such-page/at/all", headers=headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert f'<html lang="{language}" dir="{i18n.direction(language)}"' in missing.text
    message = "There is no page at this address: the link may be mistyped or out of date."
    assert _(message) in html.unescape(missing.text)
    assert _("Back to the home page") in html.unescape(missing.text)

    form = web.get("/subscribe/feeds", headers=headers)  # the address a form sends to
    assert form.status_code == 405
    assert form.headers["content-type"].startswith("text/html")
    assert form.headers["allow"] == "POST"
    message = "This address receives a form; open the page the form is on and send it from there."
    assert _(message) in html.unescape(form.text)
    page = web.post("/calendar", headers=headers)  # a page, sent a form
    assert page.status_code == 405
    assert page.headers["allow"] == "GET"
    message = "This address is a page to open, not one to send a form to."
    assert _(message) in html.unescape(page.text)

    for path in ("/api/v1/no-such-thing", "/feeds/no-such-feed.ics"):
        answer = web.get(path, headers=headers)
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "not_found"
