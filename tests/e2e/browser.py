"""What the browser tests share: headless Chromium driven by Playwright (skipped with a reason
when either is missing, unless ASSISTCAL_REQUIRE_BROWSER=1), screenshots to
test-output/screenshots (ASSISTCAL_SCREENSHOTS), and the checks every page gets."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = os.environ.get("ASSISTCAL_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(os.environ.get("ASSISTCAL_SCREENSHOTS", "test-output/screenshots"))
REQUIRED = os.environ.get("ASSISTCAL_REQUIRE_BROWSER") == "1"

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - the test extras install it
    sync_playwright = expect = None  # type: ignore[assignment]

missing = None
if sync_playwright is None:
    missing = "playwright is not installed (pip install -e '.[test]')"
elif not Path(CHROMIUM).exists():
    missing = f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)"
if missing and REQUIRED:
    raise RuntimeError(missing)
needs_browser = pytest.mark.skipif(missing is not None, reason=missing or "")


def chromium() -> Iterator[Any]:
    """A headless Chromium for a module's tests (the `browser` fixture of conftest.py)."""
    assert sync_playwright is not None
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


def shot(page: "Page", name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def labelled(page: "Page") -> None:
    """Every field has a label, and nothing is wider than the screen."""
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
              .filter(e => e.labels.length === 0).map(e => e.name)"""
    )
    assert unlabelled == [], unlabelled
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{overflow}px wider than the window"


def sign_in_with_key(page: "Page", url: str, key: str) -> None:
    """A program's owner signs in with an API key, under "Sign in with an API key"."""
    page.goto(f"{url}/")
    page.get_by_role("link", name="Sign in").first.click()
    page.get_by_text("Sign in with an API key").click()
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in with the key").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
