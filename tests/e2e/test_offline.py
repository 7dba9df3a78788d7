"""Nothing is loaded from another host.  Every page of the site (listed from the app's routes,
so that a new page is covered without touching this test), signed out and signed in, and the
API documentation, opened in Chromium against `assistcal serve` with the demo calendar: any
request to another host fails the test (and is aborted, so the pages are shown to work without
one), and so does any console error (a missing file, a script the CSP refused) or uncaught
script error.

The browser reaches the server by a name that is not localhost, mapped to 127.0.0.1 by
Chromium itself, so that nothing is spared for being on localhost (Swagger UI's validator
badge, in the layouts that show it, is left out for a definition served from localhost)."""

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.browser import CHROMIUM, missing, shot
from tests.e2e.live import Server, stop
from tests.e2e.site import demo_site, fill, is_page, page_values, site_paths

try:
    from playwright.sync_api import Page, Route, expect, sync_playwright
except ImportError:  # pragma: no cover - the test extras install it
    sync_playwright = None  # type: ignore[assignment]

pytestmark = pytest.mark.skipif(missing is not None, reason=missing or "")

HOST = "assistcal.test"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    process, server, links = demo_site(tmp_path_factory.mktemp("offline"))
    yield server, links
    stop(process)


@pytest.fixture(scope="module")
def origin(site: tuple[Server, dict[str, str]]) -> str:
    """The server's address as the browser knows it."""
    return f"http://{HOST}:{urlsplit(site[0].url).port}"


@pytest.fixture(scope="module")
def browser(origin: str) -> Iterator[Any]:
    assert sync_playwright is not None
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                f"--host-resolver-rules=MAP {HOST} 127.0.0.1",
                # Plain http by another name than localhost: the session cookie is Secure.
                f"--unsafely-treat-insecure-origin-as-secure={origin}",
            ],
        )
        yield chromium
        chromium.close()


class Watch:
    """What a page asked of other hosts, and what went wrong in it."""

    def __init__(self, page: "Page", origin: str) -> None:
        self.origin = origin
        self.elsewhere: list[str] = []
        self.errors: list[str] = []
        self.where = ""
        page.on("request", self._request)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"{self.where}: {error}"))
        page.route("**/*", self._route)

    def _off_host(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme not in ("data", "blob") and f"{parts.scheme}://{parts.netloc}" != (
            self.origin
        )

    def _request(self, request: Any) -> None:
        if self._off_host(request.url):
            self.elsewhere.append(f"{self.where}: {request.url}")

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"{self.where}: {message.text} ({message.location})")

    def _route(self, route: "Route") -> None:
        if self._off_host(route.request.url):
            route.abort("blockedbyclient")
        else:
            route.continue_()

    def open(self, page: "Page", path: str) -> None:
        """Open `path` and let it settle.  It names its icon: a browser that finds none asks
        for /favicon.ico, which Playwright neither shows nor lets through."""
        self.where = path
        page.goto(self.origin + path, wait_until="networkidle")
        expect(page.locator("link[rel~=icon]"), f"{path} names no icon").to_have_count(1)

    def check(self) -> None:
        assert self.elsewhere == [], "requests to other hosts:\n" + "\n".join(self.elsewhere)
        assert self.errors == [], "console or script errors:\n" + "\n".join(self.errors)


def sign_in(page: "Page", watch: Watch, token: str) -> None:
    """An admin signs in as people do: with the link of their invitation."""
    watch.open(page, f"/auth/link/{token}")
    page.get_by_role("button", name="Accept the invitation and sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_every_page_and_the_api_documentation_load_nothing_from_elsewhere(
    browser: Any, site: tuple[Server, dict[str, str]], origin: str
) -> None:
    server, links = site
    values = page_values(server, links)
    paths = [fill(path, values) for path in site_paths()]
    assert {"/", "/calendar", "/docs", "/favicon.ico"} <= set(paths)

    for signed_in in (False, True):
        context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
        page = context.new_page()
        watch = Watch(page, origin)
        if signed_in:
            sign_in(page, watch, links["admin"])
            assert any(c["name"] == "assistcal_session" for c in context.cookies())
        cookies = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies())
        for path in paths:
            if is_page(server, path, cookies):
                watch.open(page, path)
        watch.check()
        # The documentation works: Swagger UI lists the operations, and tries one out.
        watch.open(page, "/docs")
        expect(page.locator(".opblock").first).to_be_visible()
        assert page.locator(".opblock").count() > 30
        healthz = page.locator("#operations-operations-healthz")
        healthz.locator(".opblock-summary").click()
        healthz.get_by_role("button", name="Try it out").click()
        healthz.get_by_role("button", name="Execute").click()
        expect(healthz.locator(".live-responses-table tbody .response-col_status")).to_have_text(
            "200"
        )
        shot(page, f"docs-{'signed-in' if signed_in else 'anonymous'}")
        context.close()
        watch.check()
