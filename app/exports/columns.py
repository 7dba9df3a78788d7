"""The columns of an activity export, in order: one place for their names, their HXL tags
and how each is written, for the CSV and XLSX exports (and for reading them back)."""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from app.activities.models import ActivityPublic
from app.core import i18n

LIST_SEPARATOR = "; "
# A cell starting with one of these is a formula to Excel and LibreOffice (OWASP "CSV
# injection"): such text is written with a leading apostrophe, which both show as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    name: str
    value: Callable[..., Any]  # of the activity; a readable-name column's, and the language
    hxl: str = ""
    named: bool = False  # a readable-name column: in the reader's language


def _joined(values: list[str]) -> str:
    return LIST_SEPARATOR.join(values)


def _country_names(activity: ActivityPublic, language: str) -> str:
    return _joined([i18n.country(c, language) for c in activity.countries])


def _region_names(activity: ActivityPublic, language: str) -> str:
    return _joined([i18n.region(r, language) for r in activity.regions])


def _theme_names(activity: ActivityPublic, language: str) -> str:
    return _joined([i18n.label(t, language) for t in activity.themes])


def _venue(field: str) -> Callable[[ActivityPublic], Any]:
    return lambda a: getattr(a.venue, field) if a.venue else None


COLUMNS: tuple[Column, ...] = (
    Column("title", lambda a: a.title, "#activity+name"),
    Column("provider", lambda a: a.provider, "#org+impl"),
    Column("partners", lambda a: _joined(a.partners), "#org+partner"),
    Column("external_ref", lambda a: a.external_ref, "#activity+code"),
    Column("description", lambda a: a.description, "#description"),
    Column("language", lambda a: a.language, "#meta+lang"),
    Column("activity_type", lambda a: a.activity_type, "#activity+type"),
    Column("themes", lambda a: _joined(a.themes), "#sector+code"),
    Column("theme_names", _theme_names, "#sector", named=True),
    Column("domains", lambda a: _joined(a.domains), "#sector+domain"),
    Column("audiences", lambda a: _joined(a.audiences), "#group+audience"),
    Column("start_date", lambda a: a.start_date, "#date+start"),
    Column("end_date", lambda a: a.end_date, "#date+end"),
    Column("start_time", lambda a: a.start_time),
    Column("end_time", lambda a: a.end_time),
    Column("timezone", lambda a: a.timezone),
    Column("countries", lambda a: _joined(a.countries), "#country+code"),
    Column("country_names", _country_names, "#country+name", named=True),
    Column("regions", lambda a: _joined(a.regions), "#region+code"),
    Column("region_names", _region_names, "#region+name", named=True),
    Column("venue_city", _venue("city"), "#loc+city"),
    Column("venue_country", _venue("country"), "#loc+country+code"),
    Column("modality", _venue("modality")),
    Column("delivery_languages", lambda a: _joined(a.delivery_languages)),
    Column("status", lambda a: a.status, "#status"),
    Column("visibility", lambda a: a.visibility),
    Column("contact_email", lambda a: a.contact_email, "#contact+email"),
    Column("url", lambda a: a.url, "#meta+url"),
    Column("id", lambda a: str(a.id), "#activity+id"),
    Column("revision", lambda a: a.revision),
    Column("updated_at", lambda a: a.updated_at.isoformat()),
    Column("withdrawn_at", lambda a: a.withdrawn_at.isoformat() if a.withdrawn_at else None),
    Column("duplicate_of", lambda a: str(a.duplicate_of) if a.duplicate_of else None),
)


def hashtag_key(tag: str) -> str:
    """An HXL hashtag as compared: lower case, without spaces, its attributes in order
    (HXL holds "#org +impl" and "#Org+impl" the same)."""
    name, *attributes = tag.replace(" ", "").lower().split("+")
    return "+".join([name, *sorted(a for a in attributes if a)])


def column_of_hashtag(tag: str) -> str | None:
    """The name of the export's column with this HXL hashtag, if one has it."""
    return _by_hashtag().get(hashtag_key(tag)) if tag else None


@cache
def _by_hashtag() -> dict[str, str]:
    return {hashtag_key(column.hxl): column.name for column in COLUMNS if column.hxl}


def neutralised(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula, made plain text."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def row(activity: ActivityPublic, language: str = "en") -> list[Any]:
    """The activity's cells; the readable names in `language`."""
    return [
        neutralised(column.value(activity, language) if column.named else column.value(activity))
        for column in COLUMNS
    ]
