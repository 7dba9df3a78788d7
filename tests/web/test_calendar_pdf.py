"""The calendar as a PDF for meetings, and its CSV and XLSX downloads: the page's filters and
reader, the text a PDF reader extracts (poppler's pdftotext), the two languages, the limit,
and no fetch beyond the service's own files."""

import html
import io
import os
import re
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.engine import Engine

from app.config import Settings
from app.core import vocab
from app.core.principal import Principal
from app.db.engine import open_session
from app.demo import service as demo
from app.main import create_app
from app.organizations import service as organizations
from app.web import calendar as web_calendar
from app.web import printing
from tests.conftest import KeyMaker
from tests.web.test_pages import sign_in

YEAR = "from=2024-01-01&to=2024-12-31"
REQUIRED = "1" in (
    os.environ.get("ASSISTCAL_REQUIRE_PDFTOTEXT"),
    os.environ.get("ASSISTCAL_REQUIRE_BROWSER"),
)


def pdf_text(body: bytes) -> list[str]:
    """The text of each page, its white space made single spaces."""
    if shutil.which("pdftotext") is None:
        if REQUIRED:
            pytest.fail("pdftotext is missing (apt-get install poppler-utils)")
        pytest.skip("pdftotext is missing (apt-get install poppler-utils)")
    done = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-", "-"], input=body, capture_output=True, check=True
    )
    pages = done.stdout.decode().split("\f")
    return [" ".join(page.split()) for page in pages if page.strip()]


@pytest.fixture
def web(settings: Settings, clean_db: None) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        yield client


@pytest.fixture
def activities(engine: Engine, make_key: KeyMaker) -> list[dict[str, Any]]:
    """The demo calendar, in 2024 (41 public activities, 6 restricted)."""
    make_key("ASSISTCAL", "admin")
    with open_session(engine, write=True) as session:
        operators = organizations.get(session, "ASSISTCAL")
        assert operators.id is not None
        actor = Principal(uuid.uuid4(), "test", operators.id, "ASSISTCAL", "admin")
        demo.load(session, actor=actor, year=2024)
        session.commit()
    return list(demo.dataset()["activities"])


def states(activity: dict[str, Any]) -> set[str]:
    """Its beneficiary States: those named and those of the regions named."""
    named = set(activity.get("countries", []))
    return named.union(*(vocab.region_states(r) for r in activity.get("regions", [])))


def titles(items: list[dict[str, Any]], **where: Any) -> set[str]:
    return {a["title"] for a in items if all(a.get(k) == v for k, v in where.items())}


def test_the_pdf_holds_every_activity_by_month_with_page_numbers(
    web: TestClient, activities: list[dict[str, Any]], make_key: KeyMaker
) -> None:
    sign_in(web, make_key("OAS-CICTE", "coordinator"))
    answer = web.get(f"/calendar.pdf?{YEAR}")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == (
        'attachment; filename="calendar-2024-01-01-2024-12-31.pdf"'
    )
    assert answer.content.startswith(b"%PDF-")
    pages = pdf_text(answer.content)
    text = " ".join(pages)
    missing = [t for t in titles(activities) if " ".join(t.split()) not in text]
    assert missing == []  # restricted ones too, for a signed-in reader
    assert "Restricted" in text
    assert f"Activities: {len(activities)}" in text
    assert "Filters: none: every activity in the period" in text
    assert "January 1, 2024 \u2013 December 31, 2024" in text
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page
    assert len(pages) >= 2
    assert re.search(r"Generated on: \w+ \d+, \d{4}, \d\d:\d\d UTC", text)
    # grouped by month, in order: January's heading before February's, and so on
    months = [text.index(f"{name} 2024 (") for name in ("January", "February", "March", "June")]
    assert months == sorted(months)


def test_the_pdf_keeps_the_filters_and_shows_them(
    web: TestClient, activities: list[dict[str, Any]]
) -> None:
    caribbean = set(vocab.region_states("029"))
    answer = web.get(f"/calendar.pdf?region=029&theme=export_control&{YEAR}")
    assert answer.status_code == 200
    text = " ".join(pdf_text(answer.content))
    assert "Filters: Region: Caribbean; Theme: Export control" in text
    wanted = {
        a["title"]
        for a in activities
        if a["visibility"] == "public" and "export_control" in a["themes"] and states(a) & caribbean
    }
    others = titles(activities) - wanted
    assert wanted
    assert all(" ".join(t.split()) in text for t in wanted)
    assert not [t for t in others if " ".join(t.split()) in text]


def test_anonymous_readers_get_public_activities_only(
    web: TestClient, activities: list[dict[str, Any]]
) -> None:
    text = " ".join(pdf_text(web.get(f"/calendar.pdf?{YEAR}").content))
    public = titles(activities, visibility="public")
    restricted = titles(activities, visibility="restricted")
    assert restricted
    assert all(" ".join(t.split()) in text for t in public)
    assert not [t for t in restricted if " ".join(t.split()) in text]
    assert "public activities only" in text
    assert f"Activities: {len(public)}" in text


def test_the_pdf_in_spanish(web: TestClient, activities: list[dict[str, Any]]) -> None:
    web.cookies.set("assistcal_lang", "es")
    answer = web.get(
        f"/calendar.pdf?country=TT&{YEAR}", headers={"accept-language": "es-ES,es;q=0.9"}
    )
    pages = pdf_text(answer.content)
    text = " ".join(pages)
    assert f"Página 1 de {len(pages)}" in text
    assert "Estado: Trinidad y Tabago" in text  # the UN's Spanish name
    assert "1 de enero de 2024 \u2013 31 de diciembre de 2024" in text
    assert re.search(r"(Enero|Febrero|Marzo|Abril|Mayo|Junio) 2024 \(\d+\)", text)
    assert "Generado el" in text
    assert "solo las actividades públicas" in text
    assert "Seminario" in text  # the activity type's label


def test_a_selection_beyond_the_limit_is_refused_with_a_reason(
    web: TestClient, activities: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_calendar, "PDF_ROWS", 5)
    answer = web.get(f"/calendar.pdf?{YEAR}")
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")
    assert "more than 5 activities: choose fewer dates or narrower filters" in answer.text
    assert web.get("/calendar.pdf?from=2024-01-01&to=2024-02-10").status_code == 200


def test_an_empty_selection_is_a_document_that_says_so(web: TestClient) -> None:
    answer = web.get(f"/calendar.pdf?{YEAR}")
    assert answer.status_code == 200
    text = " ".join(pdf_text(answer.content))
    assert "Nothing planned in this period with these filters." in text
    assert "Activities: 0" in text


def test_the_pdf_checks_its_filters_as_the_page_does(web: TestClient) -> None:
    assert web.get("/calendar.pdf?country=XX").status_code == 422
    assert web.get("/calendar.pdf?from=2024-05-01&to=2024-01-01").status_code == 422


def test_csv_and_xlsx_downloads_keep_the_reader_and_the_filters(
    web: TestClient, activities: list[dict[str, Any]], make_key: KeyMaker
) -> None:
    restricted = titles(activities, visibility="restricted")
    anonymous = web.get(f"/calendar.csv?{YEAR}")
    assert anonymous.headers["content-disposition"] == 'attachment; filename="calendar.csv"'
    assert not [t for t in restricted if t in anonymous.text]
    sign_in(web, make_key("OAS-CICTE", "coordinator"))
    signed_in = web.get(f"/calendar.csv?{YEAR}").text
    assert all(t in signed_in for t in titles(activities))

    book = load_workbook(io.BytesIO(web.get(f"/calendar.xlsx?country=MX&{YEAR}").content))
    sheet = book["activities"]
    header = [cell.value for cell in next(sheet.iter_rows(max_row=1))]
    shown = {row[header.index("title")] for row in sheet.iter_rows(min_row=2, values_only=True)}
    mexico = {a["title"] for a in activities if "MX" in states(a)}
    assert shown == mexico

    # Names in the page's language.
    spanish = web.get(f"/calendar.csv?country=MX&{YEAR}", headers={"Accept-Language": "es"})
    assert "México" in spanish.content.decode("utf-8-sig")
    assert "Mexico" not in spanish.content.decode("utf-8-sig").replace("Mexico City", "")


def test_the_pages_link_their_downloads_with_their_filters(
    web: TestClient, make_key: KeyMaker
) -> None:
    page = html.unescape(web.get("/calendar?view=list&region=029&start=2024-04&span=month").text)
    query = "region=029&from=2024-04-01&to=2024-04-30"
    for kind in ("csv", "xlsx", "pdf"):
        assert f'href="/calendar.{kind}?{query}"' in page
    sign_in(web, make_key("OAS-CICTE", "coordinator"))
    coverage = html.unescape(web.get("/coverage?region=419&year=2024").text)
    for kind in ("csv", "xlsx", "pdf"):
        assert f'href="/calendar.{kind}?region=419&from=2024-01-01&to=2024-12-31"' in coverage
    assert 'href="/coverage.csv?region=419&year=2024&by=theme"' in coverage


def test_the_list_view_groups_its_rows_by_month(
    web: TestClient, activities: list[dict[str, Any]]
) -> None:
    page = web.get("/calendar?view=list&start=2024-01&span=quarter").text
    months = re.findall(r'<tr class="month-name"><th scope="colgroup" colspan="6">([^<]+)<', page)
    assert months == ["January 2024", "February 2024", "March 2024"]


class Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        Recorder.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"body { color: red }")

    def log_message(self, *args: Any) -> None:
        pass


def test_making_a_pdf_fetches_nothing_but_the_services_static_files() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    elsewhere = f"http://127.0.0.1:{server.server_port}"
    try:
        document = printing.pdf(
            f'<link rel="stylesheet" href="{elsewhere}/a.css">'
            f'<link rel="stylesheet" href="/static/document.css">'
            f'<img src="{elsewhere}/b.png"><img src="file:///etc/hostname">'
            f'<img src="/static/../printing.py"><p>Kept {date(2024, 1, 1)}</p>'
        )
    finally:
        server.shutdown()
    assert Recorder.hits == []
    assert document.startswith(b"%PDF-")
    fetcher = printing.StaticFilesOnly()
    served = fetcher.fetch(printing.BASE_URL + "static/document.css")
    assert b"A4 landscape" in served.read()
    for refused in (
        f"{elsewhere}/a.css",
        "file:///etc/hostname",
        printing.BASE_URL + "static/../printing.py",
        printing.BASE_URL + "calendar",
    ):
        with pytest.raises(ValueError, match="not fetched"):
            fetcher.fetch(refused)
