"""The calendar on paper and as a download, in a real browser: the download buttons at 390 and
1280 px, the PDF they give, and the print stylesheet (no navigation, filters or buttons; a
month per page in the list)."""

import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.browser import expect, labelled, needs_browser, shot
from tests.e2e.live import Server, start, stop

pytestmark = needs_browser
LIST = "/calendar?view=list&start=2024-01&span=quarter"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("print")
    process, server = start(folder)
    loaded = subprocess.run(
        [sys.executable, "-m", "app", "demo", "load", "--year", "2024"],
        cwd=server.folder,
        env=server.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    yield server
    stop(process)


@pytest.mark.parametrize("width", [390, 1280])
def test_the_download_buttons_give_the_calendar_as_shown(
    browser: Any, server: Server, width: int
) -> None:
    context = browser.new_context(
        locale="en-GB", viewport={"width": width, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    page.goto(f"{server.url}{LIST}&region=419")
    labelled(page)
    shot(page, f"calendar-downloads-{width}")
    for kind in ("CSV", "XLSX", "PDF"):
        expect(page.get_by_role("link", name=kind, exact=True)).to_be_visible()
    with page.expect_download() as started:
        page.get_by_role("link", name="PDF", exact=True).click()
    download = started.value
    assert download.suggested_filename == "calendar-2024-01-01-2024-03-31.pdf"
    with open(download.path(), "rb") as body:
        assert body.read(5) == b"%PDF-"
    context.close()


def test_printing_the_list_leaves_out_the_navigation_and_puts_a_month_per_page(
    browser: Any, server: Server
) -> None:
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{server.url}{LIST}")
    expect(page.locator("form.filters")).to_be_visible()
    page.emulate_media(media="print")
    for hidden in (".top nav", "form.filters", ".downloads", ".period a[rel=next]", "footer"):
        expect(page.locator(hidden)).to_be_hidden()
    expect(page.locator("h1")).to_be_visible()
    expect(page.locator("table.list a").first).to_be_visible()
    shot(page, "calendar-list-print")

    if shutil.which("pdftotext") is None:
        context.close()
        pytest.skip("pdftotext is missing (apt-get install poppler-utils): page breaks unchecked")
    printed = page.pdf(format="A4")
    context.close()
    done = subprocess.run(["pdftotext", "-", "-"], input=printed, capture_output=True, check=True)
    pages = [" ".join(p.split()) for p in done.stdout.decode().split("\f") if p.strip()]
    # A page per month (the period's heading names January and March on the first);
    # the rows' dates name months short ("30 Jan 2024").
    assert len(pages) == 3, pages
    months = [{m for m in ("January", "February", "March") if m in text} for text in pages]
    assert months == [{"January", "March"}, {"February"}, {"March"}], months
    assert "Download these activities" not in " ".join(pages)
