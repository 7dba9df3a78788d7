"""Rules that tie several fields of an activity together.

They run on the whole record after any create or partial update, so a PATCH that moves only
`start_date` past `end_date` is caught like a bad POST.  Each problem names its field.
"""

from collections.abc import Mapping
from datetime import date
from typing import Any

MAX_DURATION_DAYS = 366
EARLIEST = date(1990, 1, 1)
LATEST = date(2100, 12, 31)
TIME_FIELDS = ("start_time", "end_time", "timezone")


def problems(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    start: date = record["start_date"]
    end: date = record["end_date"]
    for field, value in (("start_date", start), ("end_date", end)):
        if not EARLIEST <= value <= LATEST:
            found.append((field, f"must lie between {EARLIEST} and {LATEST}"))
    if end < start:
        found.append(("end_date", "must be on or after start_date"))
    elif (end - start).days + 1 > MAX_DURATION_DAYS:
        found.append(("end_date", f"an activity lasts at most {MAX_DURATION_DAYS} days"))

    given = [field for field in TIME_FIELDS if record.get(field)]
    if given and len(given) < len(TIME_FIELDS):
        for field in TIME_FIELDS:
            if field not in given:
                found.append(
                    (field, "start_time, end_time and timezone are given together or not at all")
                )
    elif given and start == end and record["end_time"] <= record["start_time"]:
        found.append(("end_time", "must be after start_time on a one-day activity"))

    if not record.get("countries") and not record.get("regions"):
        found.append(("countries", "name at least one beneficiary country or region"))
    return found
