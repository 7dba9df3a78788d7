"""What a feed shows: its spec (filters, window, whether cancelled and restricted activities
are in), the name and description made from its filters, and its addresses."""

import hashlib
import json
from calendar import monthrange
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote, urlencode

from app.core import i18n, timeutil
from app.feeds.models import FeedFilters, FeedLinks

CANCELLED_STAY = timedelta(days=60)
MONTHS_BACK = 3
MONTHS_AHEAD = 24


def months_from(day: date, months: int) -> date:
    """The same day `months` later (earlier if negative), or that month's last day."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(year, month + 1, min(day.day, monthrange(year, month + 1)[1]))


@dataclass(frozen=True)
class FeedSpec:
    """Everything a feed's bytes depend on, besides the data."""

    filters: FeedFilters
    name: str
    description: str
    today: date
    date_from: date | None = None  # None: MONTHS_BACK before today
    date_to: date | None = None  # None: MONTHS_AHEAD after today
    hide_cancelled: bool = False
    include_restricted: bool = False
    language: str = "en"  # of its name, description and events' descriptions

    @property
    def window(self) -> tuple[date, date]:
        return (
            self.date_from or months_from(self.today, -MONTHS_BACK),
            self.date_to or months_from(self.today, MONTHS_AHEAD),
        )

    @property
    def key(self) -> str:
        facts = [
            self.filters.model_dump(mode="json"),
            self.name,
            self.description,
            self.today.isoformat(),
            [d.isoformat() for d in self.window],
            self.hide_cancelled,
            self.include_restricted,
            self.language,
        ]
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def start_of(day: date) -> datetime:
    """Midnight UTC at the start of `day`."""
    return datetime.combine(day, datetime.min.time(), UTC)


def describe(filters: FeedFilters, language: str = "en") -> tuple[str, str]:
    """A feed's readable name and description from its filters, in `language`, e.g.
    "Trinidad and Tobago - 1540 assistance activities".  Pure: it runs on every request,
    cached feed or not."""
    _ = i18n.translator(language)
    parts: list[str] = [i18n.country(c, language) for c in filters.country]
    parts += [i18n.region(r, language) for r in filters.region]
    parts += [acronym.strip().upper() for acronym in filters.provider]  # acronyms are upper case
    for codes in (filters.theme, filters.domain, filters.type, filters.status):
        parts += [i18n.label(code, language) for code in codes]
    chosen = i18n.listed(parts, language)
    if parts:
        name = _("%(chosen)s - 1540 assistance activities") % {"chosen": chosen}
    else:
        name = _("All 1540 assistance activities")
    description = _(
        "Planned activities of assistance for the implementation of UN Security Council "
        "resolution 1540 (2004): %(chosen)s. Shared by the providers in assistcal."
    ) % {"chosen": chosen or _("all States and themes")}
    return name, description


def spec_for(
    filters: FeedFilters,
    *,
    date_from: date | None,
    date_to: date | None,
    hide_cancelled: bool,
    include_restricted: bool = False,
    name: str | None = None,
    language: str = "en",
) -> FeedSpec:
    """What a feed shows, named in `language`; `name` replaces the name made from the
    filters (private feeds are named by their label)."""
    feed_name, description = describe(filters, language)
    if name is not None:
        feed_name = i18n.translator(language)("%(chosen)s - 1540 assistance activities") % {
            "chosen": name
        }
    return FeedSpec(
        filters=filters,
        name=feed_name,
        description=description,
        today=timeutil.today(),
        date_from=date_from,
        date_to=date_to,
        hide_cancelled=hide_cancelled,
        include_restricted=include_restricted,
        language=language,
    )


def filter_query(filters: FeedFilters) -> dict[str, list[str]]:
    """The filters as query parameters of /feeds/calendar.ics."""
    query: dict[str, list[str]] = {}
    for name, value in filters.model_dump(mode="json").items():
        if value:
            query[name] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return query


def feed_query(filters: FeedFilters, language: str | None) -> dict[str, list[str]]:
    """The query of a public feed: its filters, and its language unless English (the
    default)."""
    query = filter_query(filters)
    if language and language != "en":
        query["lang"] = [language]
    return query


def public_path(query: dict[str, list[str]]) -> str:
    """The public feed for this query: all.ics when it chooses nothing (a language aside)."""
    return "/feeds/calendar.ics" if set(query) - {"lang"} else "/feeds/all.ics"


def links(base_url: str, path: str, query: dict[str, list[str]] | None = None) -> FeedLinks:
    """The address of a feed under `base_url` (kept http or https, so a link to a plain-http
    local server works when pasted), its webcal:// form and Google Calendar's subscribe link."""
    url = base_url.rstrip("/") + path
    if query:
        url += "?" + urlencode([(k, v) for k, values in query.items() for v in values])
    webcal = "webcal://" + url.split("://", 1)[1]
    google = "https://calendar.google.com/calendar/render?cid=" + quote(url, safe="")
    return FeedLinks(url=url, webcal_url=webcal, google_url=google)
