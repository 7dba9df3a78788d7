"""iCalendar text of feeds, with the icalendar library.

A feed is assembled, not rendered whole: each event is rendered once per revision and kept
(`EventCache`), each time zone once per span of years, and a feed is the header, its time
zones and its events joined.  Rendering 5,000 events with icalendar takes over a second;
joining cached ones takes milliseconds (see docs/performance.md)."""

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import icalendar

PRODID = "-//assistcal//UNSCR 1540 assistance calendar//EN"
REFRESH = timedelta(hours=1)
UID_DOMAIN = "assistcal"

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
    """What decides whether an event's cached text is current, and what the feed needs of it
    besides its text (its dates and time zone, for the VTIMEZONEs)."""

    id: str
    revision: int
    withdrawn: bool
    provider: str
    provider_name: str
    start_date: date
    end_date: date
    zone: str | None  # the IANA zone of a timed activity

    @property
    def key(self) -> tuple[object, ...]:
        return (self.id, self.revision, self.withdrawn, self.provider, self.provider_name)


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
    partners: tuple[str, ...]
    states: tuple[str, ...]  # names, for the description
    regions: tuple[str, ...]  # names
    themes: tuple[str, ...]
    activity_type: str
    audiences: tuple[str, ...]
    location: str | None
    contact_email: str | None
    url: str | None

    @property
    def key(self) -> tuple[object, ...]:
        """What the rendered text depends on beyond the revision."""
        return (self.id, self.revision, self.withdrawn, self.provider, self.provider_name)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _label(code: str) -> str:
    return code.replace("_", " ")


def _description(data: EventData) -> str:
    lines = []
    if data.description:
        lines += [data.description, ""]
    lines.append(f"Provider: {data.provider_name} ({data.provider})")
    if data.partners:
        lines.append("Partners: " + ", ".join(data.partners))
    if data.states:
        lines.append("Beneficiary States: " + ", ".join(data.states))
    if data.regions:
        lines.append("Regions: " + ", ".join(data.regions))
    lines.append("Themes: " + ", ".join(_label(t) for t in data.themes))
    lines.append("Type: " + _label(data.activity_type))
    if data.audiences:
        lines.append("Audiences: " + ", ".join(_label(a) for a in data.audiences))
    if data.contact_email:
        lines.append(f"Contact: {data.contact_email}")
    if data.url:
        lines.append(f"More: {data.url}")
    if data.withdrawn:
        lines.append("Withdrawn by its provider.")
    return "\n".join(lines)


def _when(data: EventData) -> tuple[date | datetime, date | datetime]:
    """All-day: dates with an exclusive end.  Timed: wall-clock times in the IANA zone."""
    if data.start_time and data.end_time and data.timezone:
        zone = ZoneInfo(data.timezone)
        start = datetime.combine(data.start_date, time.fromisoformat(data.start_time), zone)
        end = datetime.combine(data.end_date, time.fromisoformat(data.end_time), zone)
        return start, end
    return data.start_date, data.end_date + timedelta(days=1)


def event(data: EventData) -> bytes:
    """One VEVENT's text.  Everything comes from the activity's revision, so unchanged data
    gives the same bytes: DTSTAMP and LAST-MODIFIED are its updated_at."""
    return component(data).to_ical()


def component(data: EventData) -> icalendar.Event:
    """One VEVENT."""
    start, end = _when(data)
    cancelled = data.withdrawn or data.status == "cancelled"
    vevent = icalendar.Event()
    vevent.add("uid", f"{data.id}@{UID_DOMAIN}")
    vevent.add("dtstamp", _utc(data.updated_at))
    vevent.add("created", _utc(data.created_at))
    vevent.add("last-modified", _utc(data.updated_at))
    vevent.add("sequence", data.revision)
    vevent.add("dtstart", start)
    vevent.add("dtend", end)
    vevent.add("summary", data.title)
    vevent.add("description", _description(data))
    if data.location:
        vevent.add("location", data.location)
    vevent.add("categories", [*(_label(t) for t in data.themes), data.provider])
    vevent.add("status", "CANCELLED" if cancelled else STATUS[data.status])
    vevent.add("transp", "TRANSPARENT")
    if data.url:
        vevent.add("url", data.url)
    return vevent


class EventCache:
    """Rendered events by EventRef.key, least recently used dropped beyond `size`."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._items: OrderedDict[tuple[object, ...], bytes] = OrderedDict()

    def texts(
        self, refs: Sequence[EventRef], load: Callable[[list[EventRef]], list[EventData]]
    ) -> list[bytes]:
        """The text of each event, rendering (after `load`ing their data) only those not
        cached at their current revision."""
        missing = {ref.id: ref for ref in refs if ref.key not in self._items}
        for data in load(list(missing.values())) if missing else []:
            # Kept under the key it was asked for: on PostgreSQL the data may be a moment
            # newer than the ref read just before; the next feed renders it again.
            self._items[missing[data.id].key] = event(data)
        texts = []
        for ref in refs:
            text = self._items.get(ref.key)
            if text is not None:  # None: the activity went away between the two reads
                self._items.move_to_end(ref.key)
                texts.append(text)
        while len(self._items) > max(self.size, len(refs)):
            self._items.popitem(last=False)
        return texts


@lru_cache(maxsize=256)
def timezone(tzid: str, first_year: int, last_year: int) -> bytes:
    """A VTIMEZONE for `tzid` valid from the start of `first_year` to the end of
    `last_year`."""
    component = icalendar.Timezone.from_tzid(
        tzid, first_date=date(first_year, 1, 1), last_date=date(last_year + 1, 1, 1)
    )
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


def assemble(
    name: str,
    description: str,
    refs: Sequence[EventRef],
    cache: EventCache,
    load: Callable[[list[EventRef]], list[EventData]],
) -> bytes:
    """The whole feed: header, a VTIMEZONE for every zone used, the events."""
    zones = sorted({ref.zone for ref in refs if ref.zone})
    parts = [header(name, description)]
    if zones:
        first = min(ref.start_date for ref in refs).year
        last = max(ref.end_date for ref in refs).year
        parts += [timezone(tzid, first, last) for tzid in zones]
    parts += cache.texts(refs, load)
    parts.append(b"END:VCALENDAR\r\n")
    return b"".join(parts)


def names(codes: Iterable[str], lookup: dict[str, str]) -> tuple[str, ...]:
    return tuple(lookup.get(code, code) for code in codes)
