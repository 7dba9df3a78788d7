"""Rules that tie several fields of an activity together.

They run on the whole record after any create or partial update, so a PATCH that moves only
`start_date` past `end_date` is caught like a bad POST.  Each problem names its field.
"""

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
    elif given:
        found += _timed_problems(record)

    if not record.get("countries") and not record.get("regions"):
        found.append(("countries", "name at least one beneficiary country or region"))
    return found


def _timed_problems(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A timed activity's local times must exist in its zone (not in a spring-forward gap)
    and its end must come after its start in real time."""
    try:
        zone = ZoneInfo(record["timezone"])
        start = datetime.combine(record["start_date"], time.fromisoformat(record["start_time"]))
        end = datetime.combine(record["end_date"], time.fromisoformat(record["end_time"]))
    except (ValueError, KeyError, ZoneInfoNotFoundError):
        return []  # the fields' own validation reports these
    found = []
    for field, local in (("start_time", start), ("end_time", end)):
        if _wall_clock(local.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)) != local:
            found.append(
                (field, f"{local:%Y-%m-%d %H:%M} does not exist in {zone.key} (clocks go forward)")
            )
    if not found and end.replace(tzinfo=zone) <= start.replace(tzinfo=zone):
        found.append(("end_time", "must be after the start (in real time)"))
    return found


def _wall_clock(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)
