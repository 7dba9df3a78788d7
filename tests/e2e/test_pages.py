"""The pages in a real browser: headless Chromium (Playwright) against `assistcal serve` with
the demo calendar.  Sign in, filter the calendar, open a finding, confirm a duplicate and see
it leave the queue and the feed, import a file, subscribe, switch to Spanish, on a narrow
screen too.  Screenshots of each page go to test-output/screenshots (ASSISTCAL_SCREENSHOTS)."""

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.browser import SHOTS, expect, labelled, needs_browser, shot
from tests.e2e.browser import sign_in_with_key as sign_in
from tests.e2e.live import Server, start, stop

CLICK_DOWNLOAD = """url => {
  const link = Object.assign(document.createElement('a'), {href: url, download: 'feed.ics'});
  document.body.append(link);
  link.click();
}"""

pytestmark = needs_browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """The demo dated in 2024, as written, so these tests can name its months."""
    folder = tmp_path_factory.mktemp("pages")
    process, server = start(folder)
    admin = next(line.strip() for line in server.output if line.strip().startswith("ac_"))
    load_demo(server, "--year", "2024")
    yield server, admin
    stop(process)


def load_demo(server: Server, *options: str) -> str:
    loaded = subprocess.run(
        [sys.executable, "-m", "app", "demo", "load", *options],
        cwd=server.folder,
        env=server.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    return loaded.stdout


def test_a_coordinator_goes_through_every_page(browser: Any, site: tuple[Server, str]) -> None:
    server, admin = site
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = context.new_page()

    # Home: every page is reachable from it.
    page.goto(f"{server.url}/")
    for path in ("/calendar", "/review", "/coverage", "/import", "/subscribe", "/sign-in"):
        expect(page.locator(f"main a[href='{path}']")).to_be_visible()
    labelled(page)
    shot(page, "home")

    # Anonymous visitors see public activities only, and no review queue.
    page.goto(f"{server.url}/review")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2Freview"))
    sign_in(page, server.url, admin)

    # Calendar: filter by region and theme.
    page.goto(f"{server.url}/calendar?start=2024-07&span=quarter")
    page.get_by_label("Region").select_option("029")
    page.get_by_label("Theme").select_option("export_control")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"region=029.*theme=export_control"))
    bars = page.locator(".timeline a.bar")
    expect(bars.first).to_be_visible()
    assert all(
        "theme-export_control" in (c or "") or "theme-" in (c or "")
        for c in [bars.first.get_attribute("class")]
    )
    labelled(page)
    shot(page, "calendar")
    page.get_by_role("link", name="List").click()
    expect(page.locator("table.list tbody tr").first).to_be_visible()
    shot(page, "calendar-list")

    # An activity's page: all its fields, its findings and its history.
    page.locator("table.list tbody tr a").first.click()
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    shot(page, "activity")

    # Review queue: confirm the first duplicate, keeping the first record.
    page.goto(f"{server.url}/review?kind=duplicate")
    labelled(page)
    shot(page, "review")
    # A duplicate of two public activities, so that the public feed shows both.
    feed = f"{server.url}/feeds/all.ics?from=2024-01-01&to=2024-12-31"
    public = httpx.get(feed).text
    cards = page.locator("section.card")
    for index in range(cards.count()):
        card = cards.nth(index)
        keep, other = (
            card.locator("input[name=keep]").nth(n).get_attribute("value") for n in (0, 1)
        )
        if f"UID:{keep}@" in public and f"UID:{other}@" in public:
            break
    else:
        raise AssertionError("no duplicate of two public activities in the demo calendar")
    finding_id = (card.get_attribute("id") or "").removeprefix("finding-")
    expect(card.locator("tr.differs").first).to_be_visible()  # differing fields are marked
    card.get_by_label("Note").fill("Same workshop, entered by the compiler too.")
    card.get_by_role("button", name="Confirm duplicate").click()
    expect(page.get_by_role("status")).to_contain_text("Decision recorded: Confirmed.")
    expect(page.locator(f"#finding-{finding_id}")).to_have_count(0)
    assert f"UID:{other}@" not in httpx.get(feed).text  # the duplicate left the feed
    assert f"UID:{keep}@" in httpx.get(feed).text

    # Coverage map: gaps marked, cells link to their activities.
    page.goto(f"{server.url}/coverage?region=419&year=2024")
    expect(page.locator("td.gap").first).to_be_attached()
    expect(page.locator("tr.nothing").first).to_be_visible()
    labelled(page)
    shot(page, "coverage")
    page.locator("td.h1 a, td.h2 a, td.h3 a, td.h4 a").first.click()
    expect(page.locator("table.list tbody tr").first).to_be_visible()

    # Import: the dry run first, then confirm.
    csv_file = SHOTS.parent / "plan.csv"
    csv_file.parent.mkdir(parents=True, exist_ok=True)
    csv_file.write_text(
        "Título;Organización;Fecha de inicio;País beneficiario;Tema\n"
        "Taller sobre control de exportaciones;UNLIREC;15/05/2027;Trinidad y Tobago;"
        "export_control\n",
        encoding="utf-8",
    )
    page.goto(f"{server.url}/import")
    page.get_by_label("File", exact=True).set_input_files(str(csv_file))
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_role("heading", name=re.compile("What the import would do"))).to_be_visible()
    shot(page, "import")
    page.get_by_role("button", name="Confirm the import").click()
    expect(page.get_by_role("heading", name=re.compile("Imported"))).to_be_visible()

    # Subscribe: the links, and the feed behind them downloads.
    page.goto(f"{server.url}/subscribe")
    page.get_by_label("State").select_option("TT")
    page.get_by_role("button", name="Make the links").click()
    # The service is plain http here, and so is the link: it works as it is.
    https_link = page.locator("#https-link")
    href = f"{server.url}/feeds/calendar.ics?country=TT"
    expect(https_link).to_have_attribute("href", href)
    expect(page.locator("#webcal-link")).to_have_attribute(
        "href", "webcal://" + href.removeprefix("http://")
    )
    labelled(page)
    shot(page, "subscribe")
    with page.expect_download() as download:
        page.evaluate(CLICK_DOWNLOAD, href)
    saved = download.value.path()
    assert saved is not None
    assert Path(saved).read_text().startswith("BEGIN:VCALENDAR")

    # Spanish, remembered from page to page; dates in the reader's format.
    page.goto(f"{server.url}/calendar?start=2024-03&view=list")
    page.get_by_role("link", name="Español").click()
    expect(page.get_by_role("heading", name="Calendario")).to_be_visible()
    page.goto(f"{server.url}/review")
    expect(page.get_by_role("heading", name="Revisión")).to_be_visible()
    shot(page, "review-es")
    context.close()


def test_an_edited_row_is_chosen_as_the_activity_it_corrects(
    browser: Any, site: tuple[Server, str]
) -> None:
    """A row without reference, perhaps a stored activity edited: the reader picks "Update
    this activity" beside it, and the choice travels with the confirmation."""
    server, admin = site
    page = browser.new_context(locale="en-GB").new_page()
    sign_in(page, server.url, admin)
    header = "title,provider,start,end,countries,themes\n"
    plan = SHOTS.parent / "clinic.csv"
    plan.parent.mkdir(parents=True, exist_ok=True)
    for title, dates in (
        ("Licensing officers clinic", "2027-09-06,2027-09-07"),
        ("Regional licensing officers clinic", "2027-09-07,2027-09-08"),
    ):
        plan.write_text(f"{header}{title},UNLIREC,{dates},JM,export_control\n")
        page.goto(f"{server.url}/import")
        page.get_by_label("File", exact=True).set_input_files(str(plan))
        page.get_by_role("button", name="Check the file").click()
        expect(
            page.get_by_role("heading", name=re.compile("What the import would do"))
        ).to_be_visible()
        if title.startswith("Regional"):
            expect(page.get_by_role("group", name="Is row 2 this activity?")).to_be_visible()
            page.get_by_label("Update this activity").check()
            shot(page, "import-choice")
            # on a phone the comparison scrolls within its box; the page does not
            page.set_viewport_size({"width": 390, "height": 844})
            labelled(page)
            shot(page, "import-choice-390")
            page.set_viewport_size({"width": 1280, "height": 720})
        page.get_by_role("button", name="Confirm the import").click()
        expect(page.get_by_role("heading", name=re.compile("Imported"))).to_be_visible()
    expect(page.get_by_text("As you chose.")).to_be_visible()
    expect(page.locator(".summary li").nth(1)).to_have_text("1 updated")


def test_pages_on_a_narrow_screen_in_spanish_for_an_anonymous_reader(
    browser: Any, site: tuple[Server, str]
) -> None:
    server, _ = site
    context = browser.new_context(locale="es-ES", viewport={"width": 375, "height": 740})
    page = context.new_page()
    page.goto(f"{server.url}/")
    expect(page.get_by_role("heading", name="Calendario de asistencia 1540")).to_be_visible()
    for path in ("/", "/calendar?start=2024-03&view=list", "/subscribe", "/sign-in"):
        page.goto(f"{server.url}{path}")
        labelled(page)
    page.goto(f"{server.url}/calendar?start=2024-03&view=list")
    expect(page.locator("table.list")).to_contain_text("mar 2024")  # Spanish dates
    # On a phone the filters fold away under "Filtros", and open when asked.
    expect(page.locator("form.filters")).to_be_hidden()
    page.get_by_text("Filtros", exact=True).click()
    expect(page.get_by_label("Estado", exact=True).first).to_be_visible()
    shot(page, "calendar-narrow-es")
    # Keyboard: the skip link is the first stop and leads to the content.
    page.reload()
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    context.close()


def test_the_coverage_map_fits_a_phone(browser: Any, site: tuple[Server, str]) -> None:
    server, admin = site
    context = browser.new_context(locale="en-GB", viewport={"width": 375, "height": 740})
    page = context.new_page()
    sign_in(page, server.url, admin)
    page.goto(f"{server.url}/coverage?region=029&year=2024")
    expect(page.locator("table.heat")).to_be_visible()
    labelled(page)  # nothing wider than the screen: the map scrolls inside the page
    shot(page, "coverage-phone")
    context.close()


def test_the_demo_loaded_by_default_fills_the_pages_as_they_open(
    browser: Any, tmp_path: Path
) -> None:
    """A newcomer's first look: `demo load` with no year, then the calendar and coverage pages
    as the home page links them, with no dates chosen."""
    process, server = start(tmp_path)
    try:
        admin = next(line.strip() for line in server.output if line.strip().startswith("ac_"))
        assert "around today" in load_demo(server)
        context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 1000})
        page = context.new_page()
        sign_in(page, server.url, admin)
        page.goto(f"{server.url}/")
        page.locator("main a[href='/calendar']").click()
        bars = page.locator(".timeline a.bar")
        expect(bars.first).to_be_visible()
        assert bars.count() >= 8
        shot(page, "calendar-demo-today")
        page.get_by_label("Region").select_option("029")
        page.get_by_role("button", name="Show").click()
        expect(bars.first).to_be_visible()
        shot(page, "calendar-demo-today-caribbean")
        page.goto(f"{server.url}/")
        page.locator("main a[href='/coverage']").click()
        expect(page.locator("td.h1 a, td.h2 a, td.h3 a, td.h4 a").first).to_be_visible()
        shot(page, "coverage-demo-today")
        page.goto(f"{server.url}/review?kind=duplicate")
        expect(page.locator("section.card tr.differs").first).to_be_visible()
        shot(page, "review-demo-today")
        context.close()
    finally:
        stop(process)
