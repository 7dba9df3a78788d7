"""The feed lint: it must catch what breaks clients, on made-up text and on real files."""

from pathlib import Path

import pytest

from app.feeds.lint import problems

REAL = Path(__file__).resolve().parents[3] / "shared" / "external" / "icalendar-calendars"

GOOD = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n"
    "BEGIN:VEVENT\r\nUID:a\r\nDTSTAMP:20270101T000000Z\r\n"
    "DTSTART;VALUE=DATE:20270301\r\nDTEND;VALUE=DATE:20270304\r\n"
    "SUMMARY:Taller de control de exportaciones en la región\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)


def test_a_good_calendar_passes() -> None:
    assert problems(GOOD.encode()) == []


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        (GOOD.replace("\r\n", "\n"), "does not end with CRLF"),
        (GOOD.replace("SUMMARY:Taller", "SUMMARY:" + "x" * 80), "more than 75"),
        (GOOD.replace("DTEND;VALUE=DATE:20270304", "DTEND;VALUE=DATE:20270301"), "DTEND is not"),
        (
            GOOD.replace(
                "END:VEVENT\r\n",
                "END:VEVENT\r\n" + GOOD[GOOD.index("BEGIN:VEVENT") : GOOD.index("END:VCALENDAR")],
            ),
            "UIDs",
        ),
        (
            GOOD.replace(
                "DTSTART;VALUE=DATE:20270301", "DTSTART;TZID=America/Lima:20270301T090000"
            ).replace("DTEND;VALUE=DATE:20270304", "DTEND;TZID=America/Lima:20270301T100000"),
            "TZID America/Lima has no VTIMEZONE",
        ),
    ],
)
def test_each_problem_is_caught(broken: str, expected: str) -> None:
    assert any(expected in problem for problem in problems(broken.encode()))


def test_a_fold_that_splits_a_utf8_character_is_caught() -> None:
    line = "SUMMARY:" + "é" * 40  # 88 octets
    encoded = line.encode()
    split = encoded[:75] + b"\r\n " + encoded[75:]  # octet 75 falls inside an "é"
    text = GOOD.encode().replace(
        b"SUMMARY:Taller de control de exportaciones en la regi\xc3\xb3n", split
    )
    assert any("split a UTF-8 character" in p for p in problems(text))


@pytest.mark.skipif(not REAL.is_dir(), reason=f"the shared .ics files are not at {REAL}")
@pytest.mark.filterwarnings("ignore::Warning")  # icalendar guessing vendor TZIDs in them
def test_real_files_from_other_software() -> None:
    """Real and broken calendars: the lint reads every one without failing, flags the broken
    ones and passes a clean one."""
    found = {path.name: problems(path.read_bytes()) for path in sorted(REAL.glob("*.ics"))}
    assert len(found) > 100
    assert found["calendar_with_unicode.ics"] == []
    assert any("has no VTIMEZONE" in p for p in found["issue_722_missing_timezones.ics"])
    assert any("does not parse" in p for p in found["fuzz_testcase_vtimezone_lone_cr.ics"])
    assert any("not a date" in p for p in found["issue_1081_invalid_start_and_end.ics"])
