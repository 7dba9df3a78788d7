"""An activity's record as clients send it: normalised, checked against the rules, compared
with a patch, and turned into the activity's columns and its rows of States and regions.
Shared by the writes of one activity (service.py) and of many at once (bulk.py)."""

import uuid
from collections.abc import Iterable
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from app.activities.models import (
    LONG_RUNNING_DAYS,
    NULLABLE_FIELDS,
    Activity,
    ActivityCountry,
    ActivityCreate,
    ActivityRegion,
    ActivityUpdate,
    Venue,
)
from app.audit import service as audit
from app.core import activity_rules, vocab
from app.errors import FieldError, ValidationFailed, reject_nulls

# The fields of the record as clients send it (ActivityCreate without `provider`).
RECORD_FIELDS = tuple(name for name in ActivityCreate.model_fields if name != "provider")
# Fields stored as plain columns of the same name.
COLUMN_FIELDS = tuple(
    name for name in RECORD_FIELDS if name not in ("countries", "regions", "venue")
)


def record_of(
    activity: Activity, countries: Iterable[str], regions: Iterable[str]
) -> dict[str, Any]:
    """The activity as a client would send it, for rule checks and change diffs."""
    record: dict[str, Any] = {name: getattr(activity, name) for name in COLUMN_FIELDS}
    record["countries"] = sorted(countries)
    record["regions"] = sorted(regions)
    record["venue"] = (
        None
        if activity.modality is None
        else {
            "city": activity.venue_city,
            "country": activity.venue_country,
            "modality": activity.modality,
        }
    )
    return record


def _dedupe(values: Iterable[Any]) -> list[Any]:
    return [*dict.fromkeys(values)]


def _normalised(record: dict[str, Any]) -> dict[str, Any]:
    for name in ("themes", "domains", "audiences", "partners", "delivery_languages"):
        record[name] = _dedupe(record[name])
    record["countries"] = sorted(set(record["countries"]))
    record["regions"] = sorted(set(record["regions"]))
    return record


def _check(record: dict[str, Any]) -> None:
    problems = activity_rules.problems(record)
    if problems:
        raise ValidationFailed.of([FieldError(name, message) for name, message in problems])


def prepared(data: ActivityCreate) -> dict[str, Any]:
    """The record of a new activity, normalised and checked against the rules (a 422 naming
    the field otherwise); `provider` is left to the caller."""
    record = _normalised(data.model_dump(exclude={"provider"}))
    _check(record)
    return record


def patched(
    before: dict[str, Any], data: ActivityUpdate, patch: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The record after a patch (checked against the rules) and its changes by field."""
    if patch.get("venue") is not None:
        # A venue patch is partial too: {"venue": {"city": "Chaguanas"}} keeps the modality.
        sent = data.venue.model_dump(exclude_unset=True) if data.venue else {}
        patch["venue"] = Venue.model_validate({**(before["venue"] or {}), **sent}).model_dump()
    after = _normalised({**before, **patch})
    _check(after)
    return after, {n: [before[n], after[n]] for n in RECORD_FIELDS if before[n] != after[n]}


def changes(before: dict[str, Any], data: ActivityUpdate) -> dict[str, list[Any]]:
    """What service.update() would change in an activity's record (`before`, as record_of
    gives it), by field ([before, after]; a 422 if the result breaks a rule); the provider
    is not compared.  For imports, which load many activities at once."""
    patch = data.model_dump(exclude_unset=True, exclude={"provider"})
    reject_nulls(patch, nullable=NULLABLE_FIELDS)
    return patched(before, data, patch)[1]


def columns(record: dict[str, Any]) -> dict[str, Any]:
    """The activity table's values for a record (the venue in three columns)."""
    venue = record["venue"]
    return {
        **{name: record[name] for name in COLUMN_FIELDS},
        "venue_city": venue["city"] if venue else None,
        "venue_country": venue["country"] if venue else None,
        "modality": venue["modality"] if venue else None,
    }


def link_rows(
    activity_id: uuid.UUID, record: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows of an activity's beneficiary States (named or implied by a region) and of its
    regions, with its dates: plain rows, since a regional activity has one per member State."""
    dates = {"start_date": record["start_date"], "end_date": record["end_date"]}
    long_running = (record["end_date"] - record["start_date"]).days + 1 > LONG_RUNNING_DAYS
    states = vocab.beneficiary_states(record["countries"], record["regions"])
    countries = [
        {
            "activity_id": activity_id,
            "country": code,
            "named": named,
            "long_running": long_running,
            **dates,
        }
        for code, named in states.items()
    ]
    regions = [{"activity_id": activity_id, "region": code, **dates} for code in record["regions"]]
    return countries, regions


def insert_links(session: Session, rows: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    countries, regions = rows
    if countries:
        session.execute(sa.insert(ActivityCountry), countries)
    if regions:
        session.execute(sa.insert(ActivityRegion), regions)


def write_links(
    session: Session, activity: Activity, record: dict[str, Any], *, replace: bool = True
) -> None:
    """The activity's rows of beneficiary States and regions; `replace=False` for a new
    activity, which has none to delete."""
    if replace:
        delete_countries = sa.delete(ActivityCountry)
        session.exec(delete_countries.where(col(ActivityCountry.activity_id) == activity.id))
        session.exec(
            sa.delete(ActivityRegion).where(col(ActivityRegion.activity_id) == activity.id)
        )
    insert_links(session, link_rows(activity.id, record))


def plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def created_entry(activity_id: uuid.UUID, provider: str, record: dict[str, Any]) -> audit.Entry:
    """The audit entry of a new activity: its whole record."""
    return {
        "action": "activity.create",
        "entity_type": "activity",
        "entity_id": activity_id,
        "revision": 1,
        "changes": {"provider": provider, **{k: plain(v) for k, v in record.items()}},
    }
