"""The activity form without a browser: its labels, its errors beside the fields, the check
for duplicates that stores nothing, saving once per form, entering for another provider,
a stale edit caught, withdrawal with its reason, and a copy for the next edition."""

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.config import Settings
from app.main import create_app
from tests.conftest import KeyMaker
from tests.helpers import activity_form, auth, submit, table_counts

API = "/api/v1"
LABELS = (
    "Title", "Description", "Language", "Activity type", "Start date", "End date", "City",
    "Venue country", "Modality", "Partners", "Status", "Visibility", "Contact e-mail", "Web page",
)  # fmt: skip
LEGENDS = ("Themes", "Domains", "Audiences", "Beneficiary States", "Regions")


@pytest.fixture
def web(settings: Settings, clean_db: None) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        yield client


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, name
    return found.group(1)


def sign_in(web: TestClient, key: str) -> None:
    answer = web.post(
        "/sign-in", data={"key": key, "csrf": csrf_of(web.get("/sign-in").text)},
        follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 303


def post_new(web: TestClient, action: str = "save", **fields: Any) -> Any:
    """Open the form, then send it with these fields."""
    form = web.get("/activities/new").text
    data = {
        "csrf": csrf_of(form),
        "idempotency_key": hidden(form, "idempotency_key"),
        "action": action,
        **activity_form(**fields),
    }
    return web.post("/activities/new", data=data, follow_redirects=False)


def saved_id(answer: Any) -> str:
    assert answer.status_code == 303, answer.text[:2000]
    found = re.fullmatch(r"/activity/([0-9a-f-]{36})\?saved=1", answer.headers["location"])
    assert found, answer.headers["location"]
    return found.group(1)


def test_every_field_has_its_label_and_the_states_are_named(
    web: TestClient, make_key: KeyMaker
) -> None:
    sign_in(web, make_key("UNLIREC", "provider"))
    page = web.get("/activities/new").text
    for name in LABELS:
        assert re.search(rf"<label for=\"\w+\">{re.escape(html.escape(name))}</label>", page), name
    for name in LEGENDS:
        assert f"<legend>{name}</legend>" in page, name
    # Each field's id has a label, and each checkbox sits in one.
    ids = re.findall(r'<(?:input|select|textarea) id="(\w+)"', page)
    assert ids
    assert all(f'for="{i}"' in page for i in ids)
    assert page.count('type="checkbox"') == len(re.findall(r'<label class="check"><input', page))
    assert "Trinidad and Tobago" in page
    assert '<select id="provider"' not in page  # a provider's own organization is fixed
    assert "UNLIREC" in page
    # Spanish: the labels and the States in Spanish.
    web.get("/language?to=es")
    spanish = web.get("/activities/new").text
    assert "Estados beneficiarios" in spanish
    assert "Trinidad y Tabago" in spanish


def test_errors_stand_beside_their_fields_and_the_values_stay(
    web: TestClient, make_key: KeyMaker, engine: Engine
) -> None:
    sign_in(web, make_key("UNLIREC", "provider"))
    before = table_counts(engine)
    answer = post_new(
        web, title="Regional seminar on border control", activity_type="", contact_email="nope",
    )  # fmt: skip
    assert answer.status_code == 422
    page = answer.text
    assert "<title>Error:" in page
    assert "There is a problem" in page
    assert re.search(r'id="activity_type-error">.*Fill in this field', page)
    assert 'id="contact_email-error"' in page
    assert 'aria-describedby=" contact_email-error"' in page
    assert 'value="Regional seminar on border control"' in page
    assert 'value="nope"' in page
    # The record's rules, as the API checks them.
    answer = post_new(web, start_date="2025-03-12", end_date="2025-03-10", countries=[])
    assert answer.status_code == 422
    assert re.search(r'id="end_date-error">.*must be on or after start_date', answer.text)
    assert re.search(r'id="countries-error">.*at least one beneficiary', answer.text)
    assert 'value="2025-03-12"' in answer.text
    assert table_counts(engine) == before


def test_the_check_shows_what_saving_would_raise_and_stores_nothing(
    web: TestClient, make_key: KeyMaker, client: TestClient, engine: Engine
) -> None:
    other = submit(
        client, make_key("OPCW", "provider"), title="National workshop on export control"
    )
    sign_in(web, make_key("UNLIREC", "provider"))
    before = table_counts(engine)
    answer = post_new(web, action="check", title="National workshop on export control")
    assert answer.status_code == 200
    page = answer.text
    assert "Saving would raise these findings" in page
    assert f'<a href="/activity/{other["id"]}">National workshop on export control</a>' in page
    assert "OPCW" in page
    assert "Mar 10, 2025" in page or "10 Mar 2025" in page
    assert 'class="reasons"><li>' in page
    assert table_counts(engine) == before  # nothing stored, not even the idempotency key
    # Then saved: the activity's page says so and links to the other one.
    made = saved_id(web.post("/activities/new", data=_resend(page), follow_redirects=False))
    landed = web.get(f"/activity/{made}?saved=1")
    assert "Activity saved." in landed.text
    assert f'href="/activity/{other["id"]}"' in landed.text


def _resend(page: str) -> dict[str, Any]:
    """The form on `page` sent again, as it stands, with Save."""
    return {
        "csrf": csrf_of(page), "idempotency_key": hidden(page, "idempotency_key"),
        "action": "save", **activity_form(title="National workshop on export control"),
    }  # fmt: skip


def test_saving_the_same_form_twice_makes_one_activity(
    web: TestClient, make_key: KeyMaker, client: TestClient
) -> None:
    key = make_key("UNLIREC", "provider")
    sign_in(web, key)
    form = web.get("/activities/new").text
    data = {
        "csrf": csrf_of(form), "idempotency_key": hidden(form, "idempotency_key"),
        "action": "save", **activity_form(),
    }  # fmt: skip
    first = saved_id(web.post("/activities/new", data=data, follow_redirects=False))
    second = saved_id(web.post("/activities/new", data=data, follow_redirects=False))
    assert first == second
    assert len(client.get(f"{API}/activities", headers=auth(key)).json()["items"]) == 1
    # A new form has a new key: a second activity.
    third = saved_id(post_new(web, title="Another workshop"))
    assert third != first


def test_a_coordinator_enters_for_a_provider_who_cannot_enter_for_another(
    web: TestClient, make_key: KeyMaker, client: TestClient, engine: Engine
) -> None:
    make_key("UNLIREC", "provider")
    coordinator = make_key("OAS-CICTE", "coordinator")
    sign_in(web, coordinator)
    assert '<select id="provider"' in web.get("/activities/new").text
    made = saved_id(post_new(web, provider="UNLIREC"))
    assert client.get(f"{API}/activities/{made}").json()["provider"] == "UNLIREC"

    provider = TestClient(web.app, base_url="https://testserver")
    sign_in(provider, make_key("OPCW", "provider"))
    before = table_counts(engine)
    assert post_new(provider, provider="UNLIREC").status_code == 403
    assert table_counts(engine) == before


def test_a_stale_edit_shows_both_versions_and_saves_nothing(
    web: TestClient, make_key: KeyMaker, client: TestClient
) -> None:
    key = make_key("UNLIREC", "provider")
    made = submit(client, key, title="Workshop on licensing")
    sign_in(web, key)
    form = web.get(f"/activity/{made['id']}/edit").text
    assert 'value="Workshop on licensing"' in form
    assert hidden(form, "revision") == "1"
    # Someone else changes the title meanwhile.
    changed = client.patch(
        f"{API}/activities/{made['id']}", json={"title": "Workshop on licensing (Port of Spain)"},
        headers={**auth(key), "If-Match": '"1"'},
    )  # fmt: skip
    assert changed.status_code == 200
    dates = {"start_date": "2025-04-01", "end_date": "2025-04-02"}
    mine = {
        "csrf": csrf_of(form), "revision": "1", "action": "save",
        **activity_form(title="Workshop on licensing", **dates),
    }  # fmt: skip
    answer = web.post(f"/activity/{made['id']}/edit", data=mine, follow_redirects=False)
    assert answer.status_code == 409
    assert "Someone changed this activity while you were editing it" in answer.text
    assert "Workshop on licensing (Port of Spain)" in answer.text  # theirs
    assert re.search(r"<td>2025-03-10</td><td>2025-04-01</td>", answer.text)
    stored = client.get(f"{API}/activities/{made['id']}").json()
    assert (stored["revision"], stored["start_date"]) == (2, "2025-03-10")
    # Saving again, having seen theirs, stores mine.
    assert hidden(answer.text, "revision") == "2"
    again = {**mine, "revision": "2"}
    assert (
        web.post(f"/activity/{made['id']}/edit", data=again, follow_redirects=False).status_code
        == 303
    )
    stored = client.get(f"{API}/activities/{made['id']}").json()
    assert (stored["revision"], stored["start_date"], stored["title"]) == (
        3, "2025-04-01", "Workshop on licensing",
    )  # fmt: skip


def test_withdrawing_asks_for_a_reason_kept_in_the_history(
    web: TestClient, make_key: KeyMaker, client: TestClient
) -> None:
    key = make_key("UNLIREC", "provider")
    made = submit(client, key)
    sign_in(web, key)
    page = web.get(f"/activity/{made['id']}").text
    assert f'href="/activity/{made["id"]}/withdraw"' in page
    assert f'href="/activity/{made["id"]}/edit"' in page
    form = web.get(f"/activity/{made['id']}/withdraw").text
    data = {"csrf": csrf_of(form), "revision": hidden(form, "revision"), "reason": "  "}
    refused = web.post(f"/activity/{made['id']}/withdraw", data=data)
    assert refused.status_code == 422
    assert re.search(r'id="reason-error">.*Say why it is withdrawn', refused.text)
    assert client.get(f"{API}/activities/{made['id']}").json()["withdrawn_at"] is None
    data["reason"] = "The host asked to postpone to next year"
    done = web.post(f"/activity/{made['id']}/withdraw", data=data, follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (
        303, f"/activity/{made['id']}?withdrawn=1",
    )  # fmt: skip
    stored = client.get(f"{API}/activities/{made['id']}").json()
    assert stored["status"] == "cancelled"
    history = client.get(f"{API}/activities/{made['id']}/history", headers=auth(key)).json()
    assert history["items"][-1]["changes"]["reason"] == "The host asked to postpone to next year"
    shown = web.get(f"/activity/{made['id']}?withdrawn=1").text
    assert "Activity withdrawn." in shown
    assert "The host asked to postpone to next year" in shown
    assert f'href="/activity/{made["id"]}/edit"' not in shown
    # Another provider sees no buttons and may not withdraw it.
    other = TestClient(web.app, base_url="https://testserver")
    sign_in(other, make_key("OPCW", "provider"))
    assert "/withdraw" not in other.get(f"/activity/{made['id']}").text
    assert other.get(f"/activity/{made['id']}/withdraw").status_code == 403


def test_duplicate_this_activity_fills_the_form_for_the_next_edition(
    web: TestClient, make_key: KeyMaker, client: TestClient
) -> None:
    key = make_key("UNLIREC", "provider")
    made = submit(
        client, key, title="Annual border control course", external_ref="BC-2025",
        themes=["border_control"], countries=["TT", "JM"], partners=["WCO"],
    )  # fmt: skip
    sign_in(web, key)
    assert f'href="/activities/new?from={made["id"]}"' in web.get(f"/activity/{made['id']}").text
    form = web.get(f"/activities/new?from={made['id']}").text
    assert 'value="Annual border control course"' in form
    assert 'name="themes" value="border_control" checked' in form
    assert 'name="countries" value="JM" checked' in form
    assert ">WCO</textarea>" in form
    assert 'id="start_date" name="start_date" type="date" value=""' in form
    assert 'id="external_ref" name="external_ref" type="text" value=""' in form
    next_edition = saved_id(
        web.post(
            "/activities/new",
            data={
                "csrf": csrf_of(form),
                "idempotency_key": hidden(form, "idempotency_key"),
                "action": "save",
                **activity_form(
                    title="Annual border control course",
                    themes=["border_control"],
                    countries=["TT", "JM"],
                    start_date="2026-03-09",
                    end_date="2026-03-11",
                ),
            },
            follow_redirects=False,
        )
    )
    stored = client.get(f"{API}/activities/{next_edition}").json()
    assert next_edition != made["id"]
    assert (stored["start_date"], stored["external_ref"]) == ("2026-03-09", None)
