"""A small lint for the iCalendar text this service sends: what clients trip over.

    python -m app.feeds.lint feed.ics

Checks CRLF line ends, lines folded at 75 octets without splitting a UTF-8 character,
unique UIDs, a VTIMEZONE for every TZID used, and DTEND after DTSTART."""

import re
import sys
from datetime import date, datetime

import icalendar

_TZID = re.compile(rb";TZID=([^:;]+)")


def problems(text: bytes) -> list[str]:
    found: list[str] = []
    if not text.endswith(b"\r\n"):
        found.append("the text does not end with CRLF")
    lines = text.split(b"\r\n")
    for number, line in enumerate(lines[:-1], start=1):
        if b"\n" in line or b"\r" in line:
            found.append(f"line {number}: a bare LF or CR inside a line")
        if len(line) > 75:
            found.append(f"line {number}: {len(line)} octets, more than 75")
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            found.append(f"line {number}: folding split a UTF-8 character")
        if number > 1 and line[:1] not in (b" ", b"\t") and b":" not in line:
            found.append(f"line {number}: neither a property nor a continuation")
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        return [*found, f"does not parse: {exc}"]
    uids = [str(e.get("uid")) for e in calendar.walk("VEVENT")]
    if len(uids) != len(set(uids)):
        found.append("UIDs are not unique")
    defined = {str(tz.get("tzid")) for tz in calendar.walk("VTIMEZONE")}
    unfolded = text.replace(b"\r\n ", b"").replace(b"\r\n\t", b"")
    for tzid in sorted({m.decode() for m in _TZID.findall(unfolded)} - defined):
        found.append(f"TZID {tzid} has no VTIMEZONE")
    for event in calendar.walk("VEVENT"):
        try:
            start, end = event.decoded("dtstart"), event.decoded("dtend", None)
        except (KeyError, ValueError):
            found.append(f"event {event.get('uid')}: no readable DTSTART")
            continue
        if not isinstance(start, date) or not isinstance(end, date | None):
            found.append(f"event {event.get('uid')}: DTSTART or DTEND is not a date")
        elif end is not None and _moment(end) <= _moment(start):
            found.append(f"event {event.get('uid')}: DTEND is not after DTSTART")
    return found


def _moment(value: date | datetime) -> float:
    """Seconds, comparable between a date, a floating time and a zoned time."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return value.timestamp()


def main() -> None:
    failed = False
    for path in sys.argv[1:]:
        with open(path, "rb") as handle:
            for problem in problems(handle.read()):
                print(f"{path}: {problem}")
                failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
