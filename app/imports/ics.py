"""iCalendar files in: each VEVENT (each occurrence of a recurring one within the range)
becomes a row of the import table."""

import hashlib
import warnings
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events  # type: ignore[import-untyped]

from app.core import vocab
from app.errors import AppError, PayloadTooLarge, ValidationFailed
from app.imports.readers import Table

HEADERS = [
    "external_ref",
    "title",
    "description",
    "start_date",
    "end_date",
    "start_time",
    "end_time",
    "timezone",
    "venue_city",
    "url",
    "status",
    "themes",
]
STATUS = {"CANCELLED": "cancelled", "CONFIRMED": "confirmed", "TENTATIVE": "planned"}


def read(data: bytes, first: date, last: date) -> Table:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # icalendar guessing vendor TZIDs, and the like
            calendars = icalendar.Calendar.from_ical(data, multiple=True)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ValidationFailed.on("file", f"not a readable iCalendar file: {exc}") from exc
    rows: list[tuple[int, list[Any]]] = []
    number = 1
    for calendar in calendars:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _check_rules(calendar, last)
                events = _occurrences(calendar, first, last)
        except AppError:
            raise
        except Exception as exc:  # the library raises many kinds on broken input
            raise ValidationFailed.on("file", f"its events cannot be read: {exc}") from exc
        recurring = {
            str(e.get("uid", ""))
            for e in calendar.walk("VEVENT")
            if e.get("rrule") or e.get("rdate")
        }
        # recurring_ical_events turns an event that ends before it starts around: catch it
        backwards = {str(e.get("uid", "")) for e in calendar.walk("VEVENT") if _backwards(e)}
        for event in events:
            number += 1
            uid = str(event.get("uid", ""))
            row = _row(event, uid in recurring)
            if uid in backwards:
                row[HEADERS.index("end_date")] = "(DTEND before DTSTART)"
            rows.append((number, row))
    if not rows:
        raise ValidationFailed.on(
            "file", f"no events (VEVENT) in the file between {first} and {last}"
        )
    return Table(list(HEADERS), rows, kind="ics")


MAX_OCCURRENCES = 20_000
# Instants a recurrence rule may make its expansion walk through, from its DTSTART to the end
# of the import's range: the library (dateutil) walks every one of them and keeps every
# occurrence it makes, whatever the range asked for.  Half a million is about a second and a
# hundred megabytes.
MAX_RULE_STEPS = 500_000
SECONDS_PER = {
    "SECONDLY": 1,
    "MINUTELY": 60,
    "HOURLY": 3_600,
    "DAILY": 86_400,
    "WEEKLY": 7 * 86_400,
    "MONTHLY": 28 * 86_400,
    "YEARLY": 365 * 86_400,
}
# What one step of each frequency expands to before its BY parts filter it: dateutil builds a
# set of the days of each period, then the times of each day from the finer BY lists.
DAYS_PER = {"WEEKLY": 7, "MONTHLY": 31, "YEARLY": 366}
FINER = {
    "YEARLY": ("BYHOUR", "BYMINUTE", "BYSECOND"),
    "MONTHLY": ("BYHOUR", "BYMINUTE", "BYSECOND"),
    "WEEKLY": ("BYHOUR", "BYMINUTE", "BYSECOND"),
    "DAILY": ("BYHOUR", "BYMINUTE", "BYSECOND"),
    "HOURLY": ("BYMINUTE", "BYSECOND"),
    "MINUTELY": ("BYSECOND",),
    "SECONDLY": (),
}


def _check_rules(calendar: icalendar.Calendar, last: date) -> None:
    """Refuse, before expanding anything, recurrence rules whose expansion up to `last` would
    walk through more than MAX_RULE_STEPS instants in all (every second since 1990, say)."""
    spent = 0
    event: Any
    for event in calendar.walk("VEVENT"):
        rules = event.get("rrule")
        if not rules:
            continue
        try:
            start = event.start
        except (KeyError, ValueError, TypeError, AttributeError):
            continue  # the event is reported as a row without a readable DTSTART
        for rule in rules if isinstance(rules, list) else [rules]:
            spent += _steps(rule, start, last)
            if spent > MAX_RULE_STEPS:
                raise _repeats_too_often(event, rule)


def _steps(rule: Any, start: date, last: date) -> int:
    """How many instants expanding `rule` from `start` to `last` (or its UNTIL) walks through,
    at most: the steps of its frequency, each expanded by the finer BY lists."""
    frequency = str((rule.get("FREQ") or ["YEARLY"])[0]).upper()
    if frequency not in SECONDS_PER:
        return 0  # not a rule the library expands; it says so itself
    try:
        interval = max(1, int((rule.get("INTERVAL") or [1])[0]))
    except (TypeError, ValueError):
        interval = 1
    begin = start if isinstance(start, datetime) else datetime.combine(start, datetime.min.time())
    end = datetime.combine(last, datetime.max.time())
    until = (rule.get("UNTIL") or [None])[0]
    if isinstance(until, date):
        until_at = until if isinstance(until, datetime) else datetime.combine(until, end.time())
        end = min(end, until_at.replace(tzinfo=None))
    seconds = max(0.0, (end - begin.replace(tzinfo=None)).total_seconds())
    steps = int(seconds // (SECONDS_PER[frequency] * interval)) + 1
    steps *= DAYS_PER.get(frequency, 1)
    for part in FINER[frequency]:
        steps *= max(1, len(rule.get(part) or []))
    count = (rule.get("COUNT") or [None])[0]
    if isinstance(count, int) and not any(name.startswith("BY") for name in rule):
        steps = min(steps, count)  # a plain rule makes an occurrence at every step
    return steps


def _repeats_too_often(event: Any, rule: Any) -> PayloadTooLarge:
    name = str(event.get("summary", "")).strip()[:80] or str(event.get("uid", "")).strip()[:80]
    message = (
        f"the event {name!r} repeats too often ({rule.to_ical().decode(errors='replace')[:120]}): "
        f"expanding it up to the end of the import's range would go through more than "
        f"{MAX_RULE_STEPS:,} repetitions, the limit; give its RRULE an UNTIL or a COUNT"
    )
    return PayloadTooLarge.on("file", message)


def _occurrences(calendar: icalendar.Calendar, first: date, last: date) -> list[Any]:
    """The events between `first` and `last`, in order, at most MAX_OCCURRENCES."""
    found = []
    for event in recurring_ical_events.of(calendar).after(first):
        start = event.start
        day = start.date() if isinstance(start, datetime) else start
        if day > last:
            break
        found.append(event)
        if len(found) > MAX_OCCURRENCES:
            raise ValidationFailed.on(
                "file", f"over {MAX_OCCURRENCES} events between {first} and {last}: narrow from/to"
            )
    return found


def _row(event: icalendar.Event, recurring: bool) -> list[Any]:
    """A row, or a row with the problem in its cells (the import reports it per row)."""
    start: date | None
    end: date | None
    try:
        start, end = event.start, event.end
    except (KeyError, ValueError, TypeError, AttributeError):
        start = end = None
    values: dict[str, Any] = {
        "external_ref": _ref(event, start, recurring),
        "title": str(event.get("summary", "")).strip() or None,
        "description": str(event.get("description", "")).strip() or None,
        "venue_city": str(event.get("location", "")).strip()[:200] or None,
        "url": str(event.get("url", "")).strip() or None,
        "status": STATUS.get(str(event.get("status", "")).upper()),
        "themes": _themes(event),
    }
    if start is not None and end is not None and _before(end, start):
        values.update(start_date=start, end_date="(DTEND before DTSTART)")
    elif isinstance(start, datetime) and isinstance(end, datetime) and end > start and _zone(start):
        zone = _zone(start)
        local_end = end.astimezone(ZoneInfo(zone)) if zone else end
        values.update(
            start_date=start.date(),
            end_date=local_end.date(),
            start_time=start.strftime("%H:%M"),
            end_time=local_end.strftime("%H:%M"),
            timezone=zone,
        )
    elif isinstance(start, date):
        start_day = start.date() if isinstance(start, datetime) else start
        if isinstance(end, datetime):
            end_day = end.date()
        elif isinstance(end, date):
            end_day = max(start_day, end - timedelta(days=1))  # DTEND is exclusive
        else:
            end_day = start_day
        values.update(start_date=start_day, end_date=end_day)
    else:
        values["start_date"] = "(no readable DTSTART)"
    return [values.get(name) for name in HEADERS]


def _backwards(event: Any) -> bool:
    try:
        start, end = event.start, event.end
    except (KeyError, ValueError, TypeError, AttributeError):
        return False
    return start is not None and end is not None and _before(end, start)


def _before(end: date, start: date) -> bool:
    """DTEND before DTSTART (comparing dates when either is one)."""
    if isinstance(end, datetime) and isinstance(start, datetime):
        try:
            return end < start
        except TypeError:  # one floating, one zoned
            return end.replace(tzinfo=None) < start.replace(tzinfo=None)
    end_day = end.date() if isinstance(end, datetime) else end
    start_day = start.date() if isinstance(start, datetime) else start
    return end_day < start_day


def _zone(moment: datetime) -> str | None:
    """The IANA name of a time's zone, or None for a floating time (kept as a date only)."""
    if moment.tzinfo is None:
        return None
    key = getattr(moment.tzinfo, "key", None) or getattr(moment.tzinfo, "zone", None)
    if key and key in vocab.time_zones():
        return str(key)
    return "UTC" if moment.utcoffset() == timedelta(0) else None


def _ref(event: icalendar.Event, start: object, recurring: bool) -> str | None:
    """The event's UID; an occurrence of a recurring event adds its start."""
    uid = str(event.get("uid", "")).strip()
    if not uid:
        return None
    if recurring:
        uid += f"/{start.isoformat() if isinstance(start, date) else start}"
    return uid if len(uid) <= 100 else "ics-" + hashlib.sha256(uid.encode()).hexdigest()[:40]


def _themes(event: icalendar.Event) -> str | None:
    try:
        categories = [str(c) for c in event.categories]
    except (KeyError, ValueError, TypeError, AttributeError):
        return None
    known = [c for c in categories if c.replace(" ", "_").lower() in vocab.THEMES]
    return "; ".join(known) or None
