"""Hostile files: a few hundred bytes that would make a reader spend without end are refused
quickly with a 413 naming the limit, and other writes go on beside them."""

import io
import time
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import anyio
import httpx
import openpyxl
import pytest

from app.config import Settings
from app.errors import Unavailable, ValidationFailed
from app.imports import readers
from app.imports.sandbox import Reader
from app.main import create_app
from tests.conftest import KeyMaker, serving
from tests.helpers import activity_body, auth, unique
from tests.web.test_pages import csrf_of

SECONDLY_ICS = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//hostile//EN\r\nBEGIN:VEVENT\r\n"
    b"UID:tick@hostile\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:19900101T000000Z\r\n"
    b"DTEND:19900101T000001Z\r\nRRULE:FREQ=SECONDLY\r\nSUMMARY:Tick\r\nEND:VEVENT\r\n"
    b"END:VCALENDAR\r\n"
)


# Within every count limit, but slow to expand: the library re-walks a rule's occurrences for
# every window it looks at.
SLOW_ICS = SECONDLY_ICS.replace(b"19900101T0000", b"20270101T0000").replace(
    b"FREQ=SECONDLY", b"FREQ=HOURLY;COUNT=15000"
)


def _wide_xlsx(rows: int = 5000) -> bytes:
    """An ordinary workbook whose sheet declares the widest dimension there is."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["title", "start_date", "themes"])  # no States: every row is an error
    for n in range(rows):
        sheet.append([f"Workshop {n}", "2027-03-10", "reporting"])
    plain = io.BytesIO()
    workbook.save(plain)
    hostile = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(plain.getvalue())) as source,
        zipfile.ZipFile(hostile, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                start = data.index(b"<dimension ref=")
                end = data.index(b"/>", start)
                data = data[:start] + f'<dimension ref="A1:XFD{rows}"'.encode() + data[end:]
            target.writestr(item, data)
    return hostile.getvalue()


# What each is answered: the dimension a sheet declares is not believed, so that workbook is
# read as the three columns it has (and refused for its rows' errors, all of them reported).
HOSTILE = {
    "secondly.ics": (SECONDLY_ICS, 413),
    "wide.xlsx": (_wide_xlsx(), 422),
    "columns.csv": (b"title" + b";x" * 1_000_000 + b"\nWorkshop;2027-03-10\n", 413),
}


@pytest.fixture
def slow_reader_server(db_url: str, clean_db: None) -> Iterator[str]:
    """A server whose file reader may take 3 s."""
    settings = Settings(database_url=db_url, key_touch_seconds=0, webhook_worker=False)
    with serving(create_app(settings.model_copy(update={"import_read_seconds": 3}))) as base:
        yield base


def _beside_a_write(
    base: str, writer: str, send: Callable[[], httpx.Response], *, after: float = 0.1
) -> Any:
    """`send()` (an upload) and, `after` seconds later while it is being read, an activity by
    another provider: the upload's answer, its seconds, the write's answer and its seconds."""
    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        pending = pool.submit(send)
        time.sleep(after)
        write_started = time.monotonic()
        write = httpx.post(
            f"{base}/api/v1/activities",
            json=activity_body(title=unique("Beside ")),
            headers=auth(writer),
            timeout=120,
        )
        write_seconds = time.monotonic() - write_started
        answer = pending.result()
        upload_seconds = time.monotonic() - started
    return answer, upload_seconds, write, write_seconds


def _import_beside_a_write(base: str, make_key: KeyMaker, name: str, data: bytes) -> Any:
    importer, writer = make_key("UNLIREC", "provider"), make_key("OPCW", "provider")
    return _beside_a_write(
        base,
        writer,
        lambda: httpx.post(
            f"{base}/api/v1/imports",
            files={"file": (name, data)},
            headers=auth(importer),
            timeout=120,
        ),
    )


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_file_is_refused_at_once_and_writes_go_on(
    live_server: str, make_key: KeyMaker, name: str
) -> None:
    data, status = HOSTILE[name]
    answer, import_seconds, write, write_seconds = _import_beside_a_write(
        live_server, make_key, name, data
    )
    assert answer.status_code == status, answer.text[:300]
    if status == 413:
        error = answer.json()["error"]
        assert error["details"][0]["field"] == "file"
        assert "limit" in error["message"] or "the most" in error["message"]
    else:
        report = answer.json()
        assert len(report["errors"]) == 5000
        assert report["mapping"] == {
            "title": "title",
            "start_date": "start_date",
            "themes": "themes",
        }
    assert import_seconds < 10
    assert write.status_code == 201, write.text[:300]
    assert write_seconds < 2


def test_a_file_that_takes_too_long_to_read_is_stopped_and_holds_no_lock(
    slow_reader_server: str, make_key: KeyMaker
) -> None:
    """A rule within every count limit whose expansion is slow (the library re-walks its
    occurrences for every window it looks at): the reader is stopped at its time limit, and
    a write sent meanwhile does not wait for it."""
    answer, import_seconds, write, write_seconds = _import_beside_a_write(
        slow_reader_server, make_key, "slow.ics", SLOW_ICS
    )
    assert answer.status_code == 413, answer.text[:300]
    assert "longer than 3 s" in answer.json()["error"]["message"]
    assert 3 <= import_seconds < 15
    assert write.status_code == 201, write.text[:300]
    assert write_seconds < 2


def test_the_reader_is_stopped_at_its_memory_limit() -> None:
    lines = b"".join(b"Workshop %d on reporting,2027-03-10\n" % n for n in range(600_000))
    with pytest.raises(Exception, match="more than 64 MB") as refused:
        Reader(seconds=60, memory_mb=64, at_once=1, wait=1).read(
            "big.csv", b"title,start\n" + lines
        )
    assert getattr(refused.value, "status_code", None) == 413


def test_an_ordinary_file_reads_the_same_in_the_reader_process() -> None:
    data = b"title;start_date;countries\nWorkshop;2027-03-10;TT\n"
    table = Reader(seconds=30, memory_mb=256, at_once=1, wait=1).read("plan.csv", data)
    assert table == readers.read("plan.csv", data)


def test_limits_name_the_row_or_line_past_them() -> None:
    header = ";".join(f"c{n}" for n in range(readers.MAX_COLUMNS))
    assert len(readers.read("ok.csv", f"{header}\n".encode() + b"x\n").headers) == 200
    with pytest.raises(Exception, match="line 2 has more than 200 columns"):
        readers.read("wide.csv", f"{header}\nx{';y' * readers.MAX_COLUMNS}\n".encode())
    rows = b"title\n" + b"x\n" * (readers.MAX_ROWS + 1)
    with pytest.raises(Exception, match="more than 100,000 rows"):
        readers.read("long.csv", rows)


def test_a_sheet_with_formatted_cells_far_away_still_reads() -> None:
    """Formatting on far columns and rows (cells without values) is common in real
    workbooks: it is neither read cell by cell nor refused."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["title", "start_date"])
    sheet.append(["Workshop", "2027-03-10"])
    sheet.cell(row=2, column=16_000).number_format = "0.00"
    sheet.cell(row=1_000_000, column=1).number_format = "0.00"
    data = io.BytesIO()
    workbook.save(data)
    started = time.monotonic()
    table = readers.read("formatted.xlsx", data.getvalue())
    assert table.headers == ["title", "start_date"]
    assert table.rows == [(2, ["Workshop", "2027-03-10"])]
    # About a second on a quiet machine; reading every formatted cell would take minutes.
    # 30 s leaves room for a loaded one (the suite runs in two processes on two cores).
    assert time.monotonic() - started < 30
    sheet.cell(row=2, column=readers.MAX_COLUMNS + 1, value="far")
    data = io.BytesIO()
    workbook.save(data)
    with pytest.raises(Exception, match="row 2 has more than 200 columns"):
        readers.read("far.xlsx", data.getvalue())


def test_a_rule_with_an_end_or_a_count_is_expanded() -> None:
    bounded = SECONDLY_ICS.replace(b"FREQ=SECONDLY", b"FREQ=SECONDLY;COUNT=5")
    table = readers.read("ticks.ics", bounded, first=date(1989, 12, 31), last=date(1990, 1, 2))
    assert len(table.rows) == 5
    monthly = SECONDLY_ICS.replace(b"FREQ=SECONDLY", b"FREQ=MONTHLY").replace(b"1990", b"2026")
    table = readers.read("monthly.ics", monthly, first=date(2026, 1, 1), last=date(2026, 12, 31))
    assert len(table.rows) == 12


def test_a_file_waiting_for_a_reader_waits_in_the_event_loop_and_gives_up_with_503() -> None:
    """Readings beyond `at_once` wait for a turn without a worker thread each, and are
    answered 503 with Retry-After when none comes in time."""
    reader = Reader(seconds=3, memory_mb=256, at_once=1, wait=0.5)
    outcomes: list[object] = []

    async def one(name: str) -> None:
        try:
            outcomes.append(await reader.read_in_turn(name, SLOW_ICS))
        except Exception as exc:
            outcomes.append(exc)

    async def both() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(one, "first.ics")
            await anyio.sleep(0.1)
            group.start_soon(one, "second.ics")

    anyio.run(both)
    waited, read = outcomes
    assert isinstance(waited, Unavailable)
    assert waited.retry_after == 60
    assert getattr(read, "status_code", None) == 413  # the first ran out of its 3 s


def test_a_broken_rule_is_a_clear_422_not_a_dead_reader() -> None:
    broken = SECONDLY_ICS.replace(b"FREQ=SECONDLY", b"FREQ=DAILY;INTERVAL=abc")
    with pytest.raises(ValidationFailed, match="its events cannot be read"):
        Reader(seconds=30, memory_mb=256, at_once=1, wait=1).read("broken.ics", broken)


def _cookies(response: httpx.Response) -> str:
    return "; ".join(cookie.split(";", 1)[0] for cookie in response.headers.get_list("set-cookie"))


def test_the_import_page_reads_the_file_before_its_transaction(
    slow_reader_server: str, make_key: KeyMaker
) -> None:
    """The page's import, like the API's: a write sent while the page's file is being read
    does not wait for it."""
    key = make_key("UNLIREC", "provider")
    writer = make_key("OPCW", "provider")
    with httpx.Client(base_url=slow_reader_server, timeout=60) as browser:
        # The cookies are Secure; a browser sends them to 127.0.0.1, httpx's jar does not.
        form = browser.get("/sign-in")
        browser.headers["Cookie"] = _cookies(form)
        signed_in = browser.post(
            "/sign-in", data={"key": key, "csrf": csrf_of(form.text), "next": "/import"}
        )
        browser.headers["Cookie"] = _cookies(signed_in)
        csrf = csrf_of(browser.get("/import").text)
        page, page_seconds, write, write_seconds = _beside_a_write(
            slow_reader_server,
            writer,
            lambda: browser.post(
                "/import", data={"csrf": csrf}, files={"file": ("slow.ics", SLOW_ICS)}
            ),
            after=0.5,
        )
    assert page.status_code == 413, page.text[:300]
    assert page_seconds >= 3
    assert write.status_code == 201
    assert write_seconds < 2
