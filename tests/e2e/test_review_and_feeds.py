"""The review queue's follow-through and private feeds, in a real browser (headless Chromium)
against a real `assistcal serve`: a coordinator dismisses a possible duplicate, finds it in the
Decided tab with their note and reopens it; a provider makes a private feed on the subscribe
page, copies its address with the Copy button, reads the feed, and revokes it.  Screenshots at
390 px and 1280 px go to test-output/screenshots."""

from collections.abc import Iterator
from datetime import date, timedelta

import httpx
import pytest

from tests.e2e.browser import expect, labelled, needs_browser, shot, sign_in_with_key
from tests.e2e.live import Server, start, stop
from tests.helpers import activity_body

pytestmark = needs_browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    process, server = start(tmp_path_factory.mktemp("review"))
    admin = next(line.strip() for line in server.output if line.strip().startswith("ac_"))
    keys: dict[str, str] = {}
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin}"}) as http:
        for acronym, role in (("UNLIREC", "provider"), ("OAS-CICTE", "coordinator")):
            http.post("/api/v1/organizations", json={"acronym": acronym, "name": acronym})
            made = http.post(f"/api/v1/organizations/{acronym}/api-keys", json={"role": role})
            assert made.status_code == 201, made.text
            keys[role] = made.json()["key"]
    soon = (date.today() + timedelta(days=40)).isoformat()
    provider = {"Authorization": f"Bearer {keys['provider']}"}
    for title, language in (
        ("National workshop on export control", "en"),
        ("Taller nacional sobre control de exportaciones", "es"),
    ):
        body = activity_body(
            title=title, language=language, countries=["JM"], start_date=soon, end_date=soon,
            visibility="restricted",
        )  # fmt: skip
        answer = httpx.post(f"{server.url}/api/v1/activities", json=body, headers=provider)
        assert answer.status_code == 201, answer.text
    yield server, keys
    stop(process)


def test_a_decided_finding_is_found_in_the_decided_tab_and_reopened(
    browser: object, site: tuple[Server, dict[str, str]]
) -> None:
    server, keys = site
    context = browser.new_context(viewport={"width": 390, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    sign_in_with_key(page, server.url, keys["coordinator"])
    page.goto(f"{server.url}/review")
    card = page.locator("section.card").first
    expect(card.get_by_role("link", name="National workshop on export control")).to_be_visible()
    card.get_by_label("Note").fill("One plan, two languages")
    card.get_by_role("button", name="Dismiss").click()
    expect(page.get_by_role("status")).to_contain_text("Decision recorded: Dismissed.")

    page.get_by_role("link", name="Decided").click()
    expect(page.get_by_role("link", name="Decided")).to_have_attribute("aria-current", "page")
    decided = page.locator("section.card").first
    expect(decided).to_contain_text("One plan, two languages")
    expect(decided).to_contain_text("OAS-CICTE (")
    labelled(page)
    shot(page, "review-decided-390")
    decided.get_by_label("Why reopen it? (optional)").fill("The dates moved")
    decided.get_by_role("button", name="Reopen").click()
    expect(page.get_by_role("status")).to_contain_text("Finding reopened")
    expect(page.locator("section.card")).to_have_count(0)  # none decided any more

    page.get_by_role("link", name="Open", exact=True).click()
    expect(page.locator("section.card")).to_have_count(1)
    page.set_viewport_size({"width": 1280, "height": 900})
    labelled(page)
    shot(page, "review-open-1280")
    context.close()


def test_a_private_feed_is_made_copied_and_revoked(
    browser: object, site: tuple[Server, dict[str, str]]
) -> None:
    server, keys = site
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 390, "height": 900}, permissions=["clipboard-read", "clipboard-write"]
    )
    page = context.new_page()
    sign_in_with_key(page, server.url, keys["provider"])
    page.goto(f"{server.url}/subscribe?country=JM")
    expect(page.get_by_text("You have no private feeds.")).to_be_visible()
    page.get_by_label("Name of the feed").fill("Jamaica desk")
    page.get_by_role("button", name="Make the private feed").click()
    expect(page.get_by_role("status")).to_contain_text("Private feed made: Jamaica desk.")
    address = page.locator("#made-url").inner_text()
    assert "/feeds/private/ft_" in address
    page.get_by_role("button", name="Copy").first.click()
    expect(page.get_by_text("Copied.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == address
    labelled(page)
    shot(page, "subscribe-private-made-390")
    feed = httpx.get(address)
    assert feed.status_code == 200
    assert "National workshop on export control" in feed.text  # restricted, in a private feed

    page.goto(f"{server.url}/subscribe")
    expect(page.locator(".feeds-list strong")).to_have_text("Jamaica desk")
    page.set_viewport_size({"width": 1280, "height": 900})
    labelled(page)
    shot(page, "subscribe-private-list-1280")
    page.get_by_role("button", name="Revoke Jamaica desk").click()
    expect(page.get_by_role("status")).to_contain_text("Private feed revoked: Jamaica desk.")
    expect(page.get_by_text("You have no private feeds.")).to_be_visible()
    assert httpx.get(address).status_code == 404
    context.close()
