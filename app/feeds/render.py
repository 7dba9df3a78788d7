"""iCalendar text of feeds, with the icalendar library.

A feed is assembled, not rendered whole: each event is rendered once (`event`) for what its
text depends on (`EventRef.key`), kept in the database (app.feeds.event_texts) and in memory
(`EventCache`); each time zone once per span of years; a feed is the header, its time zones
and its events joined.  Rendering 5,000 events with icalendar takes over a second; joining
stored ones takes milliseconds (see docs/performance.md).

Local times: a timed event is written in its IANA zone (`TZID`).  A local time that occurs
twice (clocks going back) is read as the first occurrence, as RFC 5545 and zoneinfo do, and
written in UTC: ical.js and libical read such a TZID time as the second one.  A local time
that does not exist is refused when the activity is written (app.core.activity_rules); one
already stored is read with the offset before the gap, as RFC 5545 says, and written in UTC
too."""

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo

import icalendar

from app.core import i18n

PRODID = "-//assistcal//UNSCR 1540 assistance calendar//EN"
REFRESH = timedelta(hours=1)
UID_DOMAIN = "assistcal"

# The version of what `event` writes: raise it when this module changes the text of an event
# for the same data, so that the texts kept in the database are rendered again.  A change of
# the words (a catalog, Babel's or hdx-python-country's names) does the same by itself:
# `EventRef.key` holds i18n.texts_version.
FORMAT = 3

# DOMAIN.md: planned and postponed are TENTATIVE, confirmed and completed CONFIRMED.
STATUS = {
    "planned": "TENTATIVE",
    "postponed": "TENTATIVE",
    "confirmed": "CONFIRMED",
    "completed": "CONFIRMED",
    "cancelled": "CANCELLED",
}


@dataclass(frozen=True)
class EventRef:
    """What decides whether an event's kept text is current, and what the feed needs of it
    besides its text (its dates and time zone, for the VTIMEZONEs)."""

    id: str
    revision: int
    withdrawn: bool
    provider: str
    provider_name: str
    renamed: int  # how often its provider was renamed since it had this one (event_texts)
    renamed_at: datetime | None  # when last
    start_date: date
    end_date: date
    zone: str | None  # the IANA zone of a timed activity
    stored: str | None = None  # the `digest` of the text kept in the database, if any
    language: str = "en"  # of the feed, so of the event's description

    @property
    def key(self) -> tuple[object, ...]:
        """Everything an event's text depends on besides the activity's revision: the one
        rule for whether a text kept in memory or in the database is still the event's."""
        return (
            self.id,
            self.revision,
            self.withdrawn,
            self.provider,
            self.provider_name,
            self.renamed,
            self.language,
            i18n.texts_version(self.language),
            FORMAT,
        )

    @cached_property
    def digest(self) -> str:
        """`key`, as stored beside the text in the database."""
        return hashlib.sha256(json.dumps(self.key).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class EventData:
    """What an event shows: plain values, read from the database by the feed service."""

    id: str
    revision: int
    created_at: datetime
    updated_at: datetime
    title: str
    description: str | None
    status: str
    withdrawn: bool
    start_date: date
    end_date: date
    start_time: str | None
    end_time: str | None
    timezone: str | None
    provider: str
    provider_name: str
    renamed: int
    renamed_at: datetime | None
    partners: tuple[str, ...]
    states: tuple[str, ...]  # names, for the description
    regions: tuple[str, ...]  # names
    themes: tuple[str, ...]
    activity_type: str
    audiences: tuple[str, ...]
    location: str | None
    contact_email: str | None
    url: str | None
    language: str = "en"  # of the description and categories (the title is the provider's)

    @property
    def sequence(self) -> int:
        """SEQUENCE: the revision, plus one for each rename of the provider (its name is in
        the text).  Both only grow, also when the activity moves to another provider."""
        return self.revision + self.renamed

    @property
    def modified(self) -> datetime:
        """LAST-MODIFIED and DTSTAMP: the latest change of the activity or of its provider's
        name."""
        changes = [_utc(self.updated_at)]
        if self.renamed_at is not None:
            changes.append(_utc(self.renamed_at))
        return max(changes)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _description(data: EventData) -> str:
    """What the event is, with its provider, States, themes, contact, in the feed's language
    (after the activity's own description, as written)."""
    _ = i18n.translator(data.language)

    def joined(items: Iterable[str]) -> str:
        return i18n.listed(items, data.language)

    def labels(codes: Iterable[str]) -> str:
        return joined(i18n.label(code, data.language) for code in codes)

    lines = []
    if data.description:
        lines += [data.description, ""]
    lines.append(_("Provider: %(name)s") % {"name": f"{data.provider_name} ({data.provider})"})
    if data.partners:
        lines.append(_("Partners: %(names)s") % {"names": joined(data.partners)})
    if data.states:
        lines.append(_("Beneficiary States: %(names)s") % {"names": joined(data.states)})
    if data.regions:
        lines.append(_("Regions: %(names)s") % {"names": joined(data.regions)})
    lines.append(_("Themes: %(names)s") % {"names": labels(data.themes)})
    lines.append(_("Type: %(name)s") % {"name": i18n.label(data.activity_type, data.language)})
    if data.audiences:
        lines.append(_("Audiences: %(names)s") % {"names": labels(data.audiences)})
    if data.contact_email:
        lines.append(_("Contact: %(address)s") % {"address": data.contact_email})
    if data.url:
        lines.append(_("More: %(url)s") % {"url": data.url})
    if data.withdrawn:
        lines.append(_("Withdrawn by its provider."))
    return "\n".join(lines)


def local_time(day: date, hhmm: str, zone: tzinfo) -> datetime:
    """The moment of a local time: the first occurrence of one that occurs twice (fold 0), the
    offset before the gap for one that does not exist (RFC 5545, 3.3.5)."""
    return datetime.combine(day, time.fromisoformat(hhmm), zone)


def _written(moment: datetime) -> datetime:
    """The moment as written: in its zone when the local time names one moment only, else in
    UTC (for a skipped or repeated local time fold 0 and fold 1 give two offsets)."""
    if moment.utcoffset() != moment.replace(fold=1).utcoffset():
        return moment.astimezone(UTC)
    return moment


def _when(data: EventData) -> tuple[date | datetime, date | datetime]:
    """All-day: dates with an exclusive end.  Timed: wall-clock times in the IANA zone."""
    if data.start_time and data.end_time and data.timezone:
        zone = ZoneInfo(data.timezone)
        start = local_time(data.start_date, data.start_time, zone)
        end = local_time(data.end_date, data.end_time, zone)
        return _written(start), _written(end)
    return data.start_date, data.end_date + timedelta(days=1)


def event(data: EventData) -> bytes:
    """One VEVENT's text: the only place where an event's text is made.  Everything comes
    from the data, so unchanged data gives the same bytes: DTSTAMP and LAST-MODIFIED are its
    latest change, not the time of rendering."""
    return component(data).to_ical()


def component(data: EventData) -> icalendar.Event:
    """One VEVENT."""
    start, end = _when(data)
    cancelled = data.withdrawn or data.status == "cancelled"
    vevent = icalendar.Event()
    vevent.add("uid", f"{data.id}@{UID_DOMAIN}")
    vevent.add("dtstamp", data.modified)
    vevent.add("created", _utc(data.created_at))
    vevent.add("last-modified", data.modified)
    vevent.add("sequence", data.sequence)
    vevent.add("dtstart", start)
    vevent.add("dtend", end)
    vevent.add("summary", data.title)
    vevent.add("description", _description(data))
    if data.location:
        vevent.add("location", data.location)
    themes = [i18n.label(theme, data.language) for theme in data.themes]
    vevent.add("categories", [*themes, data.provider])
    vevent.add("status", "CANCELLED" if cancelled else STATUS[data.status])
    vevent.add("transp", "TRANSPARENT")
    if data.url:
        vevent.add("url", data.url)
    return vevent


class EventCache:
    """Event texts of this process by `EventRef.key`, least recently used dropped beyond
    `size` (or beyond the largest feed assembled, which must fit)."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._items: OrderedDict[tuple[object, ...], bytes] = OrderedDict()

    def get(self, ref: EventRef) -> bytes | None:
        text = self._items.get(ref.key)
        if text is not None:
            self._items.move_to_end(ref.key)
        return text

    def put(self, ref: EventRef, text: bytes) -> None:
        self._items[ref.key] = text
        self._items.move_to_end(ref.key)

    def trim(self, keep: int = 0) -> None:
        while len(self._items) > max(self.size, keep):
            self._items.popitem(last=False)


# Offsets are compared a day apart (then the change is looked for to the second): no zone
# changes its offset twice within a day.
_STEP = timedelta(days=1)


def _observance(zone: ZoneInfo, moment: datetime) -> tuple[timedelta, bool, str]:
    local = moment.astimezone(zone)
    offset, dst = local.utcoffset(), local.dst()
    assert offset is not None
    assert dst is not None
    return offset, bool(dst), local.tzname() or ""


def transitions(
    tzid: str, start: datetime, end: datetime
) -> tuple[
    tuple[timedelta, bool, str], list[tuple[datetime, timedelta, tuple[timedelta, bool, str]]]
]:
    """The observance at `start` (UTC), and each change until `end`: its instant (UTC, to the
    second), the offset before it and the observance after it, from zoneinfo's data."""
    zone = ZoneInfo(tzid)
    state = first = _observance(zone, start)
    changes = []
    moment = start
    while moment < end:
        after = moment + _STEP
        if _observance(zone, after) != state:
            low, high = moment, after  # the change lies in (low, high]: to the second
            while high - low > timedelta(seconds=1):
                middle = low + timedelta(seconds=(high - low).total_seconds() // 2)
                low, high = (middle, high) if _observance(zone, middle) == state else (low, middle)
            new = _observance(zone, high)
            changes.append((high, state[0], new))
            state = new
        moment = after
    return first, changes


@lru_cache(maxsize=256)
def timezone(tzid: str, first_year: int, last_year: int) -> bytes:
    """A VTIMEZONE for `tzid` valid from the start of `first_year` to the end of
    `last_year` (a day more on either side, for times near midnight in UTC).

    One STANDARD or DAYLIGHT per change of offset, each with the local time of its onset
    in the offset before it (RFC 5545, 3.6.5), and no RDATE or RRULE: icalendar's
    `Timezone.from_tzid` writes a spring change at the local time after it, and joins the
    later changes in one comma-separated RDATE, which ical.js applies in the wrong years."""
    start = datetime(first_year, 1, 1, tzinfo=UTC) - timedelta(days=1)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC) + timedelta(days=1)
    first, changes = transitions(tzid, start, end)
    component = icalendar.Timezone()
    component.add("tzid", tzid)
    onsets = [(start + first[0], first[0], first)]
    onsets += [(instant + before, before, after) for instant, before, after in changes]
    for onset, before, (offset, dst, name) in onsets:
        part = icalendar.TimezoneDaylight() if dst else icalendar.TimezoneStandard()
        part.add("dtstart", onset.replace(tzinfo=None))  # local time, in the offset before
        part.add("tzoffsetfrom", before)
        part.add("tzoffsetto", offset)
        if name:
            part.add("tzname", name)
        component.add_component(part)
    return component.to_ical()


def header(name: str, description: str) -> bytes:
    """The calendar's own properties, before any component."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("name", name)
    calendar.add("x-wr-calname", name)
    calendar.add("description", description)
    calendar.add("x-wr-caldesc", description)
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")
    text = calendar.to_ical()
    end = b"END:VCALENDAR\r\n"
    assert text.endswith(end)
    return text[: -len(end)]


def assemble(name: str, description: str, refs: Sequence[EventRef], texts: list[bytes]) -> bytes:
    """The whole feed: header, a VTIMEZONE for every zone used, the events' texts."""
    zones = sorted({ref.zone for ref in refs if ref.zone})
    parts = [header(name, description)]
    if zones:
        first = min(ref.start_date for ref in refs).year
        last = max(ref.end_date for ref in refs).year
        parts += [timezone(tzid, first, last) for tzid in zones]
    parts += texts
    parts.append(b"END:VCALENDAR\r\n")
    return b"".join(parts)


def names(codes: Iterable[str], lookup: dict[str, str]) -> tuple[str, ...]:
    return tuple(lookup.get(code, code) for code in codes)
