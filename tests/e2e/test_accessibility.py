"""Every page passes axe-core (Deque's accessibility rules, the npm package, run inside
Chromium) with no violation of "serious" or "critical" impact: in English and Spanish, on a
desktop and on a 375 px screen, signed out and signed in as an admin (who sees every page).
The pages are listed from the app's routes (tests/e2e/site.py), so a new page is checked
without touching this test.

axe-core comes from `npm install --prefix .ci/node axe-core` (tests/e2e/axe.py)."""

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.axe import needs_axe, violations
from tests.e2e.browser import needs_browser, shot
from tests.e2e.live import Server, stop
from tests.e2e.site import demo_site, fill, is_page, page_values, signed_in, site_paths

pytestmark = [needs_browser, needs_axe]
SERIOUS = ("serious", "critical")
# (language, viewport, signed in)
PASSES = [
    ("en", {"width": 1280, "height": 900}, True),
    ("es", {"width": 375, "height": 740}, True),
    ("es", {"width": 1280, "height": 900}, True),
    ("en", {"width": 375, "height": 740}, True),
    ("en", {"width": 1280, "height": 900}, False),
]
# Swagger UI's own markup on /docs (the API's documentation, for programmers), which this
# project does not write: its grey version stamps and its operation rows (a button in a
# button) fail these two rules; everything else on /docs is checked.
THIRD_PARTY = {"/docs": ("color-contrast", "nested-interactive")}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    process, server, links = demo_site(tmp_path_factory.mktemp("axe"))
    yield server, links
    stop(process)


@pytest.fixture(scope="module")
def admin(browser: Any, site: tuple[Server, dict[str, str]]) -> Any:
    """The admin signed in, with their invitation's link (once): the browser state each
    signed-in pass starts from."""
    server, links = site
    return signed_in(browser, server, links["admin"])


@pytest.mark.parametrize(("lang", "viewport", "signed_in"), PASSES)
def test_every_page_has_no_serious_accessibility_violation(
    browser: Any,
    site: tuple[Server, dict[str, str]],
    admin: Any,
    lang: str,
    viewport: dict[str, int],
    signed_in: bool,
) -> None:
    server, links = site
    values = page_values(server, links)
    # Scripts are injected: the pages' Content-Security-Policy would refuse axe.
    context = browser.new_context(
        viewport=viewport,
        locale="es-ES" if lang == "es" else "en-GB",
        extra_http_headers={"Accept-Language": lang},
        bypass_csp=True,
        storage_state=admin if signed_in else None,
    )
    page = context.new_page()
    cookies = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies())
    found: dict[str, list[str]] = {}
    for path in (fill(path, values) for path in site_paths()):
        if path.startswith("/language") or not is_page(server, path, cookies):
            continue
        page.goto(f"{server.url}{path}")
        problems = violations(page, THIRD_PARTY.get(path, ()))
        if problems:
            found[path] = problems
            shot(page, f"axe-{lang}-{viewport['width']}-{path.strip('/').replace('/', '-')}")
    context.close()
    assert found == {}, "\n".join(f"{path}: {'; '.join(p)}" for path, p in found.items())
