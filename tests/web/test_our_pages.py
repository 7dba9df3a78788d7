"""A provider's own view (its activities, the warnings about them and the decisions), the 403
page that says what one may do instead, and the calendar's month picker, "Today" link and
warning marks."""

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.conftest import KeyMaker
from tests.helpers import auth, submit

TITLE = "National workshop on export control"


@pytest.fixture
def web(settings: Settings, clean_db: None) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        yield client


def sign_in(web: TestClient, key: str) -> str:
    form = web.get("/sign-in").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    web.post("/sign-in", data={"key": key, "csrf": csrf.group(1)})
    return web.get("/").text


@pytest.fixture
def world(web: TestClient, make_key: KeyMaker) -> dict[str, str]:
    """UNLIREC's workshop, OPCW's same workshop in Spanish (a duplicate warning between
    them), a cancelled UNLIREC visit and an OPCW seminar elsewhere."""
    keys = {
        "unlirec": make_key("UNLIREC", "provider"),
        "opcw": make_key("OPCW", "provider"),
        "coord": make_key("OAS-CICTE", "coordinator"),
    }
    ours = submit(web, keys["unlirec"], title=TITLE, countries=["JM"], start_date="2025-03-10")
    submit(
        web,
        keys["opcw"],
        title="Taller nacional sobre control de exportaciones",
        countries=["JM"],
        language="es",
        start_date="2025-03-10",
    )
    visit = submit(web, keys["unlirec"], title="Country visit", countries=["TT"])
    web.delete(f"/api/v1/activities/{visit['id']}", headers=auth(keys["unlirec"]))
    submit(web, keys["opcw"], title="Seminar in Peru", countries=["PE"], themes=["reporting"])
    return {**keys, "ours": str(ours["id"])}


def test_our_activities_are_every_one_of_ours_with_their_warnings(
    web: TestClient, world: dict[str, str]
) -> None:
    assert web.get("/our/activities", follow_redirects=False).status_code == 303
    sign_in(web, world["unlirec"])
    page = web.get("/our/activities").text
    assert TITLE in page
    assert "Country visit" in page  # withdrawn, still ours to see
    assert "Seminar in Peru" not in page
    row = page.split(TITLE)[1].split("</tr>")[0]
    assert "Open warning" in row
    cancelled = web.get("/our/activities?status=cancelled").text
    assert "Country visit" in cancelled
    assert TITLE not in cancelled
    assert web.get("/our/activities?status=nonsense").status_code == 422
    assert web.get("/our/activities?from=2025-04-01&to=2025-03-01").status_code == 422


def test_warnings_about_our_activities_show_the_coordinators_decisions(
    web: TestClient, world: dict[str, str], make_key: KeyMaker
) -> None:
    finding = web.get(
        "/api/v1/findings", params={"status": "open"}, headers=auth(world["coord"])
    ).json()["items"][0]
    decided = web.post(
        f"/api/v1/findings/{finding['id']}/decision",
        json={"decision": "coordinate", "note": "UNLIREC leads, OPCW joins"},
        headers=auth(world["coord"]),
    )
    assert decided.status_code == 200, decided.text
    sign_in(web, world["unlirec"])
    assert "No warnings here." in web.get("/our/warnings").text  # the open tab, by default
    every = web.get("/our/warnings?status=").text
    assert "Taller nacional sobre control de exportaciones" in every  # the other activity
    assert "decided by OAS-CICTE" in every
    assert "UNLIREC leads, OPCW joins" in every
    assert web.get("/our/warnings?status=coordinated").text.count('class="card"') == 1
    assert web.get("/our/warnings?status=maybe").status_code == 422
    # Another provider sees no warning of ours.
    other = TestClient(web.app, base_url="https://testserver")
    sign_in(other, make_key("UNODA", "provider"))
    assert "No warnings here." in other.get("/our/warnings?status=").text


def test_a_forbidden_page_says_what_one_may_do_and_offers_no_sign_in(
    web: TestClient, world: dict[str, str]
) -> None:
    sign_in(web, world["unlirec"])
    refused = web.get("/review")
    assert refused.status_code == 403
    assert "This page is not for you" in refused.text
    assert "You are signed in for UNLIREC as Provider." in refused.text
    assert 'href="/our/warnings"' in refused.text
    assert ">Sign in<" not in refused.text
    assert "Sign out" in refused.text
    spanish = web.get("/review", headers={"Accept-Language": "es"})
    assert "Esta página no es para usted" in spanish.text
    anonymous = TestClient(web.app, base_url="https://testserver")
    missing = anonymous.get(f"/activity/{'0' * 8}-0000-0000-0000-{'0' * 12}")
    assert missing.status_code == 404
    assert "Not found" in missing.text


def test_the_calendar_has_a_month_picker_a_way_back_to_today_and_marks_warnings(
    web: TestClient, world: dict[str, str]
) -> None:
    march = web.get("/calendar?start=2025-03&span=month").text
    assert 'type="month"' in march
    assert re.search(r'<label for="f-start">', march)
    assert ">Today</a>" in march
    assert "Open warning" not in march  # findings are not for anonymous readers
    assert TITLE in march.split('"in-period"')[1]  # titles in full, not only on hover
    sign_in(web, world["coord"])
    flagged = web.get("/calendar?start=2025-03&span=month").text
    assert flagged.count('class="flag-mark"') >= 2  # both activities of the warning
    listed = web.get("/calendar?start=2025-03&span=month&view=list").text
    assert "Open warning" in listed.split(TITLE)[1].split("</tr>")[0]
    assert web.get("/static/fold.js").status_code == 200


def test_warnings_come_a_page_at_a_time(
    web: TestClient, world: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    submit(
        web,
        world["opcw"],
        title="National workshop on export control in Jamaica",
        countries=["JM"],
        start_date="2025-03-11",
    )
    monkeypatch.setattr("app.web.ours.WARNINGS_SHOWN", 1)
    sign_in(web, world["unlirec"])
    first = web.get("/our/warnings").text
    assert first.count('class="card"') == 1
    older = re.search(r'href="/our/warnings\?([^"]+)" rel="next"', first)
    assert older is not None
    second = web.get("/our/warnings?" + older.group(1).replace("&amp;", "&")).text
    assert second.count('class="card"') == 1
    assert second.split('class="card"')[1] != first.split('class="card"')[1]
    assert web.get("/our/warnings?after=nonsense").status_code == 422
