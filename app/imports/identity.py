"""Which stored activity each row of a file is: the one its `id` names (the export's own
column), else the one with its provider and external_ref (given, or derived from provider,
title and dates), else, for a row without an external_ref, the one it is likely to be
(app.imports.matching).  Activities are loaded a thousand at a time, not one per row, and a
stored activity is the activity of one row of a file at most."""

import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from app.activities import queries
from app.activities.models import Activity
from app.db.sql import chunks
from app.imports import parsing
from app.imports.parsing import RowInvalid

if TYPE_CHECKING:
    from app.imports.planning import Batch

Stored = tuple[Activity, list[str], list[str]]  # an activity, its named States, its regions


@dataclass
class Row:
    """A row parsed and checked, and the stored activity it is (when it is one)."""

    number: int
    acronym: str  # its provider
    record: dict[str, Any]  # the fields the row gives; its external_ref only when given
    given_id: uuid.UUID | None  # the `id` column, when it holds an id
    ref: str = ""  # the external_ref given, or derived from provider, title and dates
    stored: Stored | None = None
    how: str = ""  # how it was found: "id", "external_ref", "likeness" or "choice"

    @property
    def given_ref(self) -> bool:
        return "external_ref" in self.record


def given_id(value: object) -> uuid.UUID | None:
    """The `id` cell as an activity's id; anything else (a file's own row numbers, say) is
    no id, and the row is found as if it had none."""
    try:
        return uuid.UUID(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def find(batch: "Batch", rows: list[Row]) -> tuple[list[Row], dict[uuid.UUID, int]]:
    """The rows whose identity holds, each with its stored activity when its id or its
    reference names one, and those activities (id -> row).  A row naming another provider's
    activity, or the activity of an earlier row, is reported."""
    rows = _by_id(batch, rows)
    rows = _by_ref(batch, rows)
    claimed: dict[uuid.UUID, int] = {}
    kept = []
    for row in rows:
        if row.stored is not None:
            activity = row.stored[0]
            if activity.id in claimed:
                column = "id" if row.how == "id" else "external_ref"
                batch.failed(row.number, _twice(batch.column(column), row, claimed[activity.id]))
                continue
            claimed[activity.id] = row.number
        kept.append(row)
    return kept, claimed


def _twice(column: str, row: Row, first: int) -> RowInvalid:
    value = str(row.given_id) if column == "id" and row.given_id else row.ref
    return RowInvalid(column, value, f"the same activity as row {first} of this file")


def _by_id(batch: "Batch", rows: list[Row]) -> list[Row]:
    """Rows with an `id` that names a stored activity of their provider: that activity.  An
    id of another provider's activity is an error; an id that names none is ignored."""
    wanted = [row.given_id for row in rows if row.given_id is not None]
    found: dict[uuid.UUID, Activity] = {}
    for part in chunks(wanted, 1000):
        statement = select(Activity).where(col(Activity.id).in_(part))
        found.update((activity.id, activity) for activity in batch.session.exec(statement))
    stored = links(batch.session, list(found.values()))
    kept = []
    for row in rows:
        activity = found.get(row.given_id) if row.given_id else None
        if activity is not None:
            provider = batch.orgs.get(row.acronym)
            if provider is None or activity.provider_id != provider.id:
                batch.failed(
                    row.number,
                    RowInvalid(
                        batch.column("id"),
                        str(row.given_id),
                        f"not an activity of {row.acronym}: an id names one activity of "
                        "one provider (empty the cell to import the row as new)",
                    ),
                )
                continue
            row.stored, row.how = stored[activity.id], "id"
        kept.append(row)
    return kept


def _by_ref(batch: "Batch", rows: list[Row]) -> list[Row]:
    """Rows not found by id: the activity of their provider with their external_ref; the
    same reference twice in a file is an error on the second row."""
    seen: dict[tuple[str, str], int] = {}
    kept = []
    for row in rows:
        if row.stored is None:
            row.ref = row.record.get("external_ref") or parsing.derived_ref(row.acronym, row.record)
            if (row.acronym, row.ref) in seen:
                first = seen[row.acronym, row.ref]
                batch.failed(row.number, _twice(batch.column("external_ref"), row, first))
                continue
            seen[row.acronym, row.ref] = row.number
        kept.append(row)
    refs: dict[str, list[str]] = defaultdict(list)
    for acronym, ref in seen:
        if acronym in batch.orgs:
            refs[acronym].append(ref)
    found: dict[tuple[str, str], Activity] = {}
    for acronym, wanted in refs.items():
        provider_id = batch.orgs[acronym].id
        assert provider_id is not None
        for part in chunks(wanted, 1000):
            for activity in queries.by_refs(batch.session, provider_id, part):
                found[acronym, str(activity.external_ref)] = activity
    stored = links(batch.session, list(found.values()))
    for row in kept:
        named = found.get((row.acronym, row.ref)) if row.stored is None else None
        if named is not None:
            row.stored, row.how = stored[named.id], "external_ref"
    return kept


def links(session: Session, activities: list[Activity]) -> dict[uuid.UUID, Stored]:
    """The activities with their named States and regions, a thousand at a time."""
    countries: dict[uuid.UUID, list[str]] = {}
    regions: dict[uuid.UUID, list[str]] = {}
    for ids in chunks([activity.id for activity in activities], 1000):
        named, grouped = queries.links(session, ids)
        countries.update(named)
        regions.update(grouped)
    return {
        activity.id: (activity, countries.get(activity.id, []), regions.get(activity.id, []))
        for activity in activities
    }
