"""The activity form in a real browser against `assistcal serve`: a provider enters an
activity, sees the possible duplicate before saving, saves, edits its dates, withdraws
another; an edit made meanwhile through the API is caught, not overwritten."""

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.browser import expect, labelled, needs_browser, shot, sign_in_with_key
from tests.e2e.live import Server, start, stop
from tests.helpers import activity_body, auth

pytestmark = needs_browser
API = "/api/v1"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    """Two providers, each with a key, and an activity of each."""
    process, server = start(tmp_path_factory.mktemp("form"))
    admin = next(line.strip() for line in server.output if line.strip().startswith("ac_"))
    keys = {}
    for acronym in ("UNLIREC", "OPCW"):
        made = httpx.post(
            f"{server.url}{API}/organizations", json={"acronym": acronym, "name": acronym},
            headers=auth(admin),
        )  # fmt: skip
        assert made.status_code == 201, made.text
        key = httpx.post(
            f"{server.url}{API}/organizations/{acronym}/api-keys", json={"role": "provider"},
            headers=auth(admin),
        )  # fmt: skip
        keys[acronym] = key.json()["key"]
    for acronym, title in (
        ("OPCW", "National workshop on export control"),
        ("UNLIREC", "Seminar on border control"),
    ):
        body = activity_body(title=title, themes=["export_control"], countries=["TT"])
        answer = httpx.post(f"{server.url}{API}/activities", json=body, headers=auth(keys[acronym]))
        assert answer.status_code == 201, answer.text
        keys[title] = answer.json()["activity"]["id"]
    yield server, keys
    stop(process)


def test_a_provider_enters_checks_saves_edits_and_withdraws(
    browser: Any, site: tuple[Server, dict[str, str]]
) -> None:
    server, made = site
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in_with_key(page, server.url, made["UNLIREC"])

    # The form, filled in; "Trini" narrows the States to Trinidad and Tobago.
    page.get_by_role("link", name="New activity").click()
    expect(page.get_by_role("heading", name="New activity")).to_be_visible()
    labelled(page)
    page.get_by_label("Title").fill("National workshop on export control")
    page.get_by_label("Activity type").select_option("workshop")
    page.get_by_role("checkbox", name="Export control").check()
    page.get_by_label("Start date").fill("2025-03-10")
    page.get_by_label("End date").fill("2025-03-12")
    states = page.locator("fieldset#countries")
    states.get_by_label("Type to narrow the list").fill("Trini")
    expect(states.get_by_role("checkbox", name="Jamaica")).to_be_hidden()
    states.get_by_role("checkbox", name="Trinidad and Tobago").check()
    shot(page, "activity-form")

    # The check before saving: the other provider's workshop, with its provider and reasons.
    page.get_by_role("button", name="Check for duplicates").click()
    found = page.locator(".check-result")
    expect(found.get_by_role("link", name="National workshop on export control")).to_have_attribute(
        "href", f"/activity/{made['National workshop on export control']}"
    )
    expect(found).to_contain_text("OPCW")
    expect(found).to_contain_text("Nothing has been saved yet.")
    expect(page.get_by_role("checkbox", name="Trinidad and Tobago")).to_be_checked()
    shot(page, "activity-form-check")

    # Saved: the banner, then the dates edited.
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Activity saved.")
    expect(page.get_by_role("status")).to_contain_text("Possible duplicates: 1")
    activity_url = page.url.split("?")[0]
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Start date").fill("2025-05-05")
    page.get_by_label("End date").fill("2025-05-06")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("dl.fields")).to_contain_text("Monday, 5 May 2025")

    # A concurrent edit: the API changes the title while the form is open.
    page.get_by_role("link", name="Edit").click()
    activity_id = activity_url.rsplit("/", 1)[1]
    patched = httpx.patch(
        f"{server.url}{API}/activities/{activity_id}",
        json={"title": "Export control workshop, Port of Spain"},
        headers={**auth(made["UNLIREC"]), "If-Match": '"2"'},
    )
    assert patched.status_code == 200, patched.text
    page.get_by_label("End date").fill("2025-05-07")
    page.get_by_role("button", name="Save").click()
    conflict = page.locator("section.conflict")
    expect(conflict).to_contain_text("Someone changed this activity while you were editing it")
    expect(conflict).to_contain_text("Export control workshop, Port of Spain")
    expect(conflict).to_contain_text("2025-05-07")
    shot(page, "activity-form-conflict")
    stored = httpx.get(f"{server.url}{API}/activities/{activity_id}").json()
    assert (stored["title"], stored["end_date"]) == (
        "Export control workshop, Port of Spain", "2025-05-06",
    )  # fmt: skip

    # Withdraw another, with a reason that the history keeps.
    page.goto(f"{server.url}/activity/{made['Seminar on border control']}")
    page.get_by_role("link", name="Withdraw").click()
    page.get_by_role("button", name="Withdraw").click()
    expect(page.locator("#reason-error")).to_contain_text("Say why it is withdrawn.")
    page.get_by_label("Reason").fill("The host postponed it to next year")
    page.get_by_role("button", name="Withdraw").click()
    expect(page.get_by_role("status")).to_contain_text("Activity withdrawn.")
    expect(page.locator("ol.history")).to_contain_text("The host postponed it to next year")
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    context.close()


def test_the_form_fits_a_phone(browser: Any, site: tuple[Server, dict[str, str]]) -> None:
    server, made = site
    context = browser.new_context(locale="en-GB", viewport={"width": 390, "height": 844})
    page = context.new_page()
    sign_in_with_key(page, server.url, made["OPCW"])
    page.goto(f"{server.url}/activities/new?from={made['National workshop on export control']}")
    expect(page.get_by_label("Title")).to_have_value("National workshop on export control")
    expect(page.get_by_role("checkbox", name="Trinidad and Tobago")).to_be_checked()
    labelled(page)
    shot(page, "activity-form-phone")
    page.goto(f"{server.url}/activity/{made['Seminar on border control']}")
    expect(page.get_by_role("link", name="Duplicate this activity")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("^Withdraw$"))).to_have_count(0)
    context.close()
