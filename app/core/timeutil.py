"""Time helpers: every stored timestamp is UTC."""

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import PlainSerializer


def utcnow() -> datetime:
    return datetime.now(UTC)


def today() -> date:
    """Today's date in UTC: what feeds' windows and the read cache's keys move with."""
    return utcnow().date()


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso_utc(value: datetime) -> str:
    return as_utc(value).isoformat().replace("+00:00", "Z")


UtcDatetime = Annotated[datetime, PlainSerializer(_iso_utc, return_type=str)]
