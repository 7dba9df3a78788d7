"""Assistance requests in a real browser: headless Chromium against `assistcal serve` with the
demo calendar (dated around today, so some of its activities lie ahead).  A coordinator records
a request (a mistake first, shown beside its field), moves it forward with a note, links a
planned activity picked from a list and reads the providers that fit, with their reasons; the
list filters by State; on a 390 px screen the pages and the organization's profile form fit.
Screenshots go to test-output/screenshots."""

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.browser import expect, labelled, needs_browser, shot, sign_in_with_key
from tests.e2e.live import Server, start, stop
from tests.e2e.test_pages import load_demo

pytestmark = needs_browser
ORG = "OAS-CICTE"  # a coordinating organization of the demo calendar


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    folder = tmp_path_factory.mktemp("requests")
    process, server = start(folder)
    admin = next(line.strip() for line in server.output if line.strip().startswith("ac_"))
    load_demo(server)
    made = httpx.post(
        f"{server.url}/api/v1/organizations/{ORG}/api-keys",
        json={"role": "coordinator", "name": "desk"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert made.status_code == 201, made.text
    yield server, str(made.json()["key"])
    stop(process)


def test_a_coordinator_records_a_request_moves_it_links_an_activity_and_reads_the_matches(
    browser: Any, site: tuple[Server, str]
) -> None:
    server, coordinator = site
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in_with_key(page, server.url, coordinator)

    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Requests").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Assistance requests")
    page.get_by_role("link", name="Record a request").click()

    # A mistake first: no theme.  It is named at the top and beside the field; values stay.
    page.get_by_label("Requesting State").select_option(label="Trinidad and Tobago")
    page.get_by_label("Kind of help sought").select_option("workshop")
    page.get_by_label("What the State asks for (optional)").fill("Outreach to industry")
    page.get_by_role("button", name="Record the request").click()
    expect(page).to_have_title(re.compile("^Error:"))
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Choose at least one theme")
    expect(page.locator("#themes .error")).to_be_visible()
    expect(page.get_by_label("Requesting State")).to_have_value("TT")
    expect(page.get_by_label("What the State asks for (optional)")).to_have_value(
        "Outreach to industry"
    )
    labelled(page)
    shot(page, "request-new-error")
    summary.get_by_role("link").first.click()
    page.get_by_label("Outreach").check()
    page.get_by_role("button", name="Record the request").click()
    expect(page.get_by_role("status")).to_have_text(
        "The request is recorded. Its status is Received."
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Request from Trinidad and Tobago")

    # Moved forward with a note: the history says who, when and why.
    page.get_by_label("Move it to").select_option("circulated")
    page.get_by_label("Note (optional)").fill("Sent to the providers of the Caribbean")
    page.get_by_role("button", name="Move the request").click()
    expect(page.get_by_role("status")).to_have_text("The request moved to Circulated.")
    moved = page.locator(".history li").last
    expect(moved).to_contain_text("Circulated")
    expect(moved).to_contain_text(f"by {ORG} (ac_")
    expect(moved).to_contain_text("Sent to the providers of the Caribbean")

    # An activity picked from the list of planned ones for the State on a theme asked for.
    choice = page.get_by_label("Link an activity that answers it")
    first = choice.locator("option").first
    title = (first.text_content() or "").split(" · ")[0]
    assert title, "the demo calendar has a planned outreach activity for Trinidad and Tobago"
    choice.select_option(index=0)
    page.get_by_role("button", name="Link the activity").click()
    expect(page.get_by_role("status")).to_have_text(
        "The activity is linked: it answers this request."
    )
    expect(page.locator(".linked")).to_contain_text(title)
    expect(page.locator(".fields")).to_contain_text("answered")

    # The providers that fit, best first, each with its reasons in words.
    providers = page.locator(".providers > li")
    expect(providers.first).to_be_visible()
    expect(providers.first.locator(".reasons li").first).to_be_visible()
    expect(providers.first).to_contain_text("with Trinidad and Tobago")
    scores = [
        int(re.search(r"fit (\d+)%", text).group(1))  # type: ignore[union-attr]
        for text in providers.all_text_contents()
    ]
    assert scores == sorted(scores, reverse=True), scores
    labelled(page)
    shot(page, "request")

    # The list filters by State, and takes the filter back to the page.
    page.goto(f"{server.url}/requests")
    page.get_by_label("State").select_option(label="Jamaica")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"country=JM"))
    expect(page.get_by_text("No assistance requests with these filters.")).to_be_visible()
    page.get_by_label("State").select_option(label="Trinidad and Tobago")
    page.get_by_role("button", name="Show").click()
    expect(page.locator(".request-card")).to_have_count(1)
    expect(page.locator(".request-card")).to_contain_text("Circulated")
    shot(page, "requests")
    context.close()


def test_the_pages_fit_a_phone_and_the_organization_edits_its_profile(
    browser: Any, site: tuple[Server, str]
) -> None:
    server, coordinator = site
    context = browser.new_context(locale="en-GB", viewport={"width": 390, "height": 844})
    page = context.new_page()
    sign_in_with_key(page, server.url, coordinator)
    for path in ("/requests", "/requests/new", "/organizations"):
        page.goto(f"{server.url}{path}")
        labelled(page)
    page.goto(f"{server.url}/requests")
    page.locator(".request-card a").first.click()
    page.wait_for_url(re.compile(r"/requests/[^/]+$"))  # the request's own page, loaded
    labelled(page)
    shot(page, "request-390")

    page.goto(f"{server.url}/organizations")
    page.get_by_role("link", name=ORG).click()
    page.get_by_role("link", name="Edit the profile").click()
    page.get_by_label("Coordination", exact=True).check()
    page.get_by_label("Languages").fill("es, en")
    page.get_by_label("Contact e-mail address (optional)").fill("not an address")
    page.get_by_role("button", name="Save the profile").click()
    expect(page).to_have_title(re.compile("^Error:"))
    expect(page.locator("#contact_email-error")).to_be_visible()
    expect(page.get_by_label("Coordination", exact=True)).to_be_checked()
    labelled(page)
    shot(page, "profile-edit-390")
    page.get_by_label("Contact e-mail address (optional)").fill("assistance@example.org")
    page.get_by_role("button", name="Save the profile").click()
    expect(page.get_by_role("status")).to_have_text("The profile is saved.")
    expect(page.locator(".fields")).to_contain_text("Coordination")
    expect(page.locator(".fields")).to_contain_text("assistance@example.org")
    labelled(page)
    context.close()
