"""The pages of assistance requests and organizations' profiles without a browser: the list
and its filters, recording a request (errors beside the fields, values kept), moving it with a
note (who, when), linking and unlinking an activity picked from a list, the ranked providers
with their reasons, what a provider sees, and who may edit a profile."""

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.config import Settings
from app.db.engine import open_session
from app.main import create_app
from tests.conftest import KeyMaker
from tests.helpers import auth, make_member, newest_link, submit

API = "/api/v1"


@pytest.fixture
def web(settings: Settings, clean_db: None) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        yield client


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def browser(web: TestClient) -> TestClient:
    """A second reader on the same app, with cookies of its own."""
    return TestClient(web.app, base_url="https://testserver")


def sign_in(page: TestClient, key: str) -> TestClient:
    form = page.get("/sign-in").text
    answer = page.post("/sign-in", data={"key": key, "csrf": csrf_of(form)}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return page


def text(page: str) -> str:
    """The page's words, tags and spacing aside."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def record(page: TestClient, **fields: Any) -> Any:
    form = page.get("/requests/new")
    assert form.status_code == 200, form.text
    data: dict[str, Any] = {
        "country": "TT",
        "themes": ["export_control"],
        "help_sought": "workshop",
        "language": "en",
        "priority": "normal",
        "csrf": csrf_of(form.text),
        **fields,
    }
    return page.post("/requests/new", data=data, follow_redirects=False)


def request_id(answer: Any) -> str:
    assert answer.status_code == 303, answer.text
    found = re.match(r"/requests/([0-9a-f-]{36})\?done=recorded$", answer.headers["location"])
    assert found, answer.headers["location"]
    return found.group(1)


def move(page: TestClient, rid: str, status: str, note: str = "") -> Any:
    csrf = csrf_of(page.get(f"/requests/{rid}").text)
    return page.post(
        f"/requests/{rid}/status",
        data={"status": status, "note": note, "csrf": csrf},
        follow_redirects=False,
    )


def test_a_coordinator_records_a_request_and_mistakes_are_shown_beside_their_fields(
    web: TestClient, make_key: KeyMaker
) -> None:
    sign_in(web, make_key("OAS-CICTE", "coordinator"))
    wrong = record(web, themes=[], language="klingon", description="Border posts")
    assert wrong.status_code == 422
    assert "<title>Error:" in wrong.text
    assert "There is a problem" in wrong.text
    assert 'href="#themes"' in wrong.text
    assert 'href="#language"' in wrong.text
    assert "Choose at least one theme" in wrong.text
    assert "Enter a language code, like es or fr." in wrong.text
    assert 'value="klingon"' in wrong.text  # what was typed is kept
    assert ">Border posts</textarea>" in wrong.text
    assert 'value="TT" selected' in wrong.text
    rid = request_id(record(web, description="Help to draft export control rules", priority="high"))
    shown = text(web.get(f"/requests/{rid}?done=recorded").text)
    assert "Request from Trinidad and Tobago" in shown
    assert "The request is recorded. Its status is Received." in shown
    assert "Help to draft export control rules" in shown
    assert re.search(r"Received · by OAS-CICTE \(ac_[\w-]+\)", shown), shown
    # Forms need their token.
    refused = web.post("/requests/new", data={"country": "TT", "csrf": "forged"})
    assert refused.status_code == 403


def test_the_list_filters_by_state_status_and_theme_without_javascript(
    web: TestClient, make_key: KeyMaker
) -> None:
    sign_in(web, make_key("OAS-CICTE", "coordinator"))
    tt = request_id(record(web, themes=["export_control"]))
    jm = request_id(record(web, country="JM", themes=["border_control", "reporting"]))
    mx = request_id(record(web, country="MX", themes=["reporting"]))
    assert move(web, mx, "circulated").status_code == 303

    def listed(query: str) -> set[str]:
        page = web.get(f"/requests?{query}")
        assert page.status_code == 200, page.text
        return set(re.findall(r'href="/requests/([0-9a-f-]{36})"', page.text))

    assert listed("") == {tt, jm, mx}
    assert listed("country=JM") == {jm}
    assert listed("theme=reporting") == {jm, mx}
    assert listed("status=circulated") == {mx}
    assert listed("theme=reporting&status=received") == {jm}
    assert listed("country=TT&theme=reporting") == set()
    page = web.get("/requests?country=JM").text
    assert '<option value="JM" selected>Jamaica</option>' in page
    assert "Jamaica" in text(page)
    spanish = web.get("/requests?country=MX", headers={"Accept-Language": "es"}).text
    assert '<option value="MX" selected>México</option>' in spanish
    assert "Solicitudes de asistencia" in spanish
    assert web.get("/requests?status=lost").status_code == 422


def test_a_request_moves_forward_with_a_note_and_never_back(
    web: TestClient, make_key: KeyMaker, engine: Engine
) -> None:
    coordinator = browser(web)
    sign_in(coordinator, make_key("OAS-CICTE", "coordinator"))
    rid = request_id(record(coordinator))
    # A person moves it: the history names her and her organization.
    make_member(engine, "OAS-CICTE", "ana.perez@oas.org", role="coordinator", name="Ana Pérez")
    with open_session(engine, write=True) as session:
        from app.auth import people

        people.request_sign_in(session, "ana.perez@oas.org", base_url="https://testserver")
        session.commit()
        token = newest_link(session, "ana.perez@oas.org")
    landing = web.get(f"/auth/link/{token}")
    web.post(f"/auth/link/{token}", data={"csrf": csrf_of(landing.text)})
    stale = csrf_of(coordinator.get(f"/requests/{rid}").text)
    moved = move(web, rid, "circulated", note="Sent to the providers of the region")
    assert moved.status_code == 303
    assert moved.headers["location"] == f"/requests/{rid}?done=moved#status"
    page = text(web.get(f"/requests/{rid}?done=moved").text)
    assert "The request moved to Circulated." in page
    assert "Circulated · by Ana Pérez (OAS-CICTE): “Sent to the providers of the region”" in page
    # The other coordinator's form is out of date: going back is refused beside the field.
    back = coordinator.post(
        f"/requests/{rid}/status",
        data={"status": "acknowledged", "note": "late", "csrf": stale},
        follow_redirects=False,
    )
    assert back.status_code == 409
    assert "a status never goes back" in back.text
    assert 'aria-describedby="status-error"' in back.text
    assert ">late</textarea>" in back.text
    # The form offers only what lies ahead.
    ahead = re.findall(r'<option value="(\w+)"', web.get(f"/requests/{rid}").text)
    assert "acknowledged" not in ahead
    assert "matched" in ahead
    history = web.get(f"{API}/assistance-requests/{rid}", headers={}).status_code
    assert history == 401  # the API still wants a key: the pages did not open it


def test_an_activity_is_linked_from_a_list_then_unlinked_and_providers_are_ranked(
    web: TestClient, make_key: KeyMaker
) -> None:
    coordinator_key = make_key("OAS-CICTE", "coordinator")
    unlirec = make_key("UNLIREC", "provider")
    opcw = make_key("OPCW", "provider")
    answering = submit(
        web, unlirec, title="Export control workshop", countries=["TT"],
        themes=["export_control"], start_date="2099-03-10", end_date="2099-03-12",
    )  # fmt: skip
    submit(
        web, unlirec, title="Legislation seminar", countries=["TT"], themes=["legislation"],
        start_date="2099-04-10", end_date="2099-04-11",
    )  # fmt: skip
    other = submit(
        web, opcw, title="Chemical export control course", countries=["TT"],
        themes=["export_control"], start_date="2099-05-10", end_date="2099-05-12",
    )  # fmt: skip
    profile = {
        "themes": ["export_control"],
        "activity_types": ["workshop"],
        "languages": ["en"],
        "regions": ["029"],
    }
    assert (
        web.put(f"{API}/organizations/OPCW/profile", json=profile, headers=auth(opcw)).status_code
        == 200
    )
    sign_in(web, coordinator_key)
    rid = request_id(record(web))
    page = web.get(f"/requests/{rid}").text
    choices = re.search(r'<select id="activity_id".*?</select>', page, re.S)
    assert choices is not None
    assert "Export control workshop" in choices.group(0)
    assert "Chemical export control course" in choices.group(0)
    assert "Legislation seminar" not in choices.group(0)  # not on a theme asked for
    # Providers, best first, with their reasons in words.
    providers = text(page.split('id="providers"')[1])
    assert providers.index("OPCW") < providers.index("UNLIREC")
    assert "Offers export control (1 of 1 themes asked)" in providers
    assert "Delivers workshop" in providers
    assert "Works in English" in providers
    assert "Works in Caribbean, where Trinidad and Tobago is" in providers
    assert "2 activities with Trinidad and Tobago" in providers
    csrf = csrf_of(page)
    linked = web.post(
        f"/requests/{rid}/activities",
        data={"activity_id": answering["id"], "csrf": csrf},
        follow_redirects=False,
    )
    assert linked.headers["location"] == f"/requests/{rid}?done=linked#activities"
    page = web.get(f"/requests/{rid}").text
    answers = page.split('id="activities"')[1].split("<form")[0]
    assert "Export control workshop" in answers
    assert "answered" in text(page.split("Status history")[0])
    assert web.get(f"{API}/assistance-requests/{rid}", headers=auth(coordinator_key)).json()[
        "activity_ids"
    ] == [answering["id"]]
    # An activity for another State is refused beside the list, by the service's rule.
    elsewhere = submit(web, unlirec, title="Jamaica workshop", countries=["JM"])
    refused = web.post(
        f"/requests/{rid}/activities", data={"activity_id": elsewhere["id"], "csrf": csrf}
    )
    assert refused.status_code == 422
    assert "This activity cannot answer this request." in refused.text
    assert 'aria-describedby="activity-hint activity-error"' in refused.text
    unlinked = web.post(
        f"/requests/{rid}/activities/{answering['id']}/remove",
        data={"csrf": csrf},
        follow_redirects=False,
    )
    assert unlinked.status_code == 303
    assert "No activity answers it yet." in web.get(f"/requests/{rid}").text
    assert other["id"] in web.get(f"/requests/{rid}").text


def test_a_provider_sees_only_circulated_requests_and_links_only_its_own(
    web: TestClient, make_key: KeyMaker
) -> None:
    coordinator = browser(web)
    sign_in(coordinator, make_key("OAS-CICTE", "coordinator"))
    unlirec = make_key("UNLIREC", "provider")
    opcw = make_key("OPCW", "provider")
    own = submit(web, unlirec, title="Own workshop", countries=["TT"], themes=["export_control"],
                 start_date="2099-03-10", end_date="2099-03-12")  # fmt: skip
    theirs = submit(web, opcw, title="Their course", countries=["TT"], themes=["export_control"],
                    start_date="2099-03-10", end_date="2099-03-12")  # fmt: skip
    hidden = request_id(record(coordinator))
    shown = request_id(record(coordinator, country="TT"))
    assert move(coordinator, shown, "circulated").status_code == 303
    sign_in(web, unlirec)
    listed = web.get("/requests").text
    assert shown in listed
    assert hidden not in listed
    assert "Record a request" not in listed
    assert web.get(f"/requests/{hidden}").status_code == 404
    assert web.get("/requests/new").status_code == 403
    page = web.get(f"/requests/{shown}").text
    assert "Move the request" not in page
    choices = re.search(r'<select id="activity_id".*?</select>', page, re.S)
    assert choices is not None
    assert own["id"] in choices.group(0)
    assert theirs["id"] not in choices.group(0)
    csrf = csrf_of(page)
    forbidden = web.post(
        f"/requests/{shown}/activities", data={"activity_id": theirs["id"], "csrf": csrf}
    )
    assert forbidden.status_code == 403
    assert "You may link only your organization&#39;s activities." in forbidden.text
    assert (
        web.post(f"/requests/{shown}/status", data={"status": "matched", "csrf": csrf}).status_code
        == 403
    )
    mine = web.post(
        f"/requests/{shown}/activities",
        data={"activity_id": own["id"], "csrf": csrf},
        follow_redirects=False,
    )
    assert mine.status_code == 303
    assert "Own workshop" in web.get(f"/requests/{shown}").text
    # Anonymous readers are sent to sign in.
    assert browser(web).get("/requests", follow_redirects=False).status_code == 303


def test_profiles_are_read_by_everyone_signed_in_and_edited_by_the_organization(
    web: TestClient, make_key: KeyMaker
) -> None:
    unlirec = make_key("UNLIREC", "provider")
    opcw = make_key("OPCW", "provider")
    admin = make_key("ASSISTCAL", "admin")
    assert browser(web).get("/organizations/UNLIREC", follow_redirects=False).status_code == 303
    sign_in(web, opcw)
    listing = web.get("/organizations").text
    assert 'href="/organizations/UNLIREC"' in listing
    other = web.get("/organizations/UNLIREC").text
    assert "has not said what it offers yet" in other
    assert "Edit the profile" not in other
    assert web.get("/organizations/UNLIREC/profile").status_code == 403
    refused = web.post(
        "/organizations/UNLIREC/profile", data={"themes": ["reporting"], "csrf": csrf_of(other)}
    )
    assert refused.status_code == 403
    own = browser(web)
    sign_in(own, unlirec)
    form = own.get("/organizations/UNLIREC/profile")
    assert form.status_code == 200
    wrong = own.post(
        "/organizations/UNLIREC/profile",
        data={
            "themes": ["export_control", "legislation"],
            "languages": "es, english",
            "regions": ["419"],
            "contact_email": "not an address",
            "csrf": csrf_of(form.text),
        },
    )
    assert wrong.status_code == 422
    assert 'href="#languages"' in wrong.text
    assert 'href="#contact_email"' in wrong.text
    assert 'value="es, english"' in wrong.text
    assert 'value="legislation" checked' in wrong.text
    saved = own.post(
        "/organizations/UNLIREC/profile",
        data={
            "themes": ["export_control", "legislation"],
            "activity_types": ["workshop"],
            "languages": "es, EN",
            "regions": ["419"],
            "contact_email": "assist@example.org",
            "csrf": csrf_of(form.text),
        },
        follow_redirects=False,
    )
    assert saved.headers["location"] == "/organizations/UNLIREC?saved=1"
    shown = text(web.get("/organizations/UNLIREC").text)
    assert "Export control" in shown
    assert "Legislation" in shown
    assert "es, en" in shown
    assert "Latin America and the Caribbean" in shown
    assert "assist@example.org" in shown
    stored = web.get(f"{API}/organizations/UNLIREC/profile", headers=auth(opcw)).json()
    assert stored["languages"] == ["es", "en"]
    sign_in(web, admin)
    assert "Edit the profile" in web.get("/organizations/UNLIREC").text
    assert web.get("/organizations/UNLIREC/profile").status_code == 200
