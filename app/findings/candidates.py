"""Candidates for detection, read from the database as plain facts: the activities sharing a
beneficiary State with a new one within a date window, through the covering index of
activity_country, and the facts of given activities.  Scoring is app.core.matching."""

import dataclasses
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from app.activities.models import LONG_RUNNING_DAYS, Activity, ActivityCountry
from app.core import activity_rules, differences, matching
from app.db.types import json_set, json_text
from app.findings import vectors
from app.organizations.models import Organization

# Plain columns only: rows become facts by the hundred on the hottest path of a submission.
_FACT_COLUMNS = (
    col(Activity.id),
    col(Organization.acronym),
    json_text(col(Organization.aliases)),
    col(Activity.title),
    col(Activity.activity_type),
    json_text(col(Activity.themes)),
    col(Activity.start_date),
    col(Activity.end_date),
    json_text(col(Activity.partners)),
    col(Activity.external_ref),
    col(Activity.venue_city),
    col(Activity.language),
    json_text(col(Activity.domains)),
    json_text(col(Activity.audiences)),
)


def _fact(fields: Sequence[Any], states: Collection[str]) -> matching.Facts:
    """Facts from the values of _FACT_COLUMNS, in their order (unpacked by position: named
    access to a row's columns costs more than the rest of the work)."""
    (
        activity_id,
        provider,
        aliases,
        title,
        kind,
        themes,
        start,
        end,
        partners,
        ref,
        city,
        language,
        domains,
        audiences,
    ) = fields
    return matching.Facts(
        id=str(activity_id),
        provider=provider,
        provider_names=json_set(aliases),
        title=title,
        activity_type=kind,
        themes=json_set(themes),
        states=frozenset(states),
        start=start,
        end=end,
        partners=json_set(partners),
        external_ref=ref,
        city=city,
        language=language,
        domains=json_set(domains),
        audiences=json_set(audiences),
    )


@cache
def _states_statement() -> Any:
    return sa.select(col(ActivityCountry.activity_id), col(ActivityCountry.country)).where(
        col(ActivityCountry.activity_id).in_(sa.bindparam("ids", expanding=True))
    )


def _states(session: Session, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
    states: dict[uuid.UUID, set[str]] = defaultdict(set)
    if ids:
        for activity_id, country in session.connection().execute(
            _states_statement(), {"ids": list(ids)}
        ):
            states[activity_id].add(country)
    return states


@cache
def _facts_statement() -> sa.Select[Any]:
    """One row per activity and beneficiary State (a single row with no State for an
    activity whose regions hold no independent State)."""
    return (
        sa.select(col(ActivityCountry.country), *_FACT_COLUMNS)
        .select_from(Activity)
        .outerjoin(ActivityCountry, col(ActivityCountry.activity_id) == Activity.id)
        .join(Organization, col(Organization.id) == Activity.provider_id)
        .where(col(Activity.id).in_(sa.bindparam("ids", expanding=True)))
    )


def facts(session: Session, ids: Iterable[uuid.UUID]) -> list[matching.Facts]:
    """Plain facts of these activities, in one query and without ORM objects."""
    ids = list(ids)
    if not ids:
        return []
    return _gathered(session.connection().execute(_facts_statement(), {"ids": ids}).all())


def _gathered(rows: Iterable[Sequence[Any]]) -> list[matching.Facts]:
    """Facts from rows of (country, *_FACT_COLUMNS), one row per activity and State."""
    states: dict[uuid.UUID, set[str]] = defaultdict(set)
    first: dict[uuid.UUID, Sequence[Any]] = {}
    for country, *fields in rows:
        first.setdefault(fields[0], fields)
        if country is not None:
            states[fields[0]].add(country)
    return [_fact(fields, states[key]) for key, fields in first.items()]


@cache
def _candidate_statement() -> sa.Select[Any]:
    """The candidate query, built once: constructing a statement of this size costs more
    than running it.  Parameters: states, low, high, short_from, long_from, me."""

    def starting_after(earliest: str, long_running: bool) -> Any:
        return sa.select(col(ActivityCountry.activity_id), col(ActivityCountry.country)).where(
            col(ActivityCountry.country).in_(sa.bindparam("states", expanding=True)),
            col(ActivityCountry.long_running).is_(long_running),
            col(ActivityCountry.start_date) >= sa.bindparam(earliest),
            col(ActivityCountry.start_date) <= sa.bindparam("high"),
            col(ActivityCountry.end_date) >= sa.bindparam("low"),
        )

    # A start_date range bounded on both sides keeps each index scan short: nothing short
    # started more than LONG_RUNNING_DAYS before the window, nothing at all more than the
    # longest duration allowed.
    near = sa.union_all(
        starting_after("short_from", False), starting_after("long_from", True)
    ).subquery()
    return (
        sa.select(near.c.country, *_FACT_COLUMNS)
        .join(Activity, col(Activity.id) == near.c.activity_id)
        .join(Organization, col(Organization.id) == Activity.provider_id)
        .where(
            col(Activity.id) != sa.bindparam("me"),
            col(Activity.withdrawn_at).is_(None),
            col(Activity.duplicate_of).is_(None),
            col(Activity.status) != "cancelled",
        )
    )


def find(
    session: Session,
    new: matching.Facts,
    rules: matching.Rules,
    known: Mapping[str, matching.Facts] | None = None,
) -> list[matching.Facts]:
    """Live activities sharing a beneficiary State with `new` whose dates come within the
    window, with the States they share, in one query on the window index.  The few that
    could be duplicates get their full set of States (matching.could_be_duplicate): from
    `known` (complete facts at hand, by id) or else from the database."""
    low = new.start - timedelta(days=rules.window_days)
    parameters = {
        "states": sorted(new.states),
        "low": low,
        "high": new.end + timedelta(days=rules.window_days),
        "short_from": low - timedelta(days=LONG_RUNNING_DAYS - 1),
        "long_from": low - timedelta(days=activity_rules.MAX_DURATION_DAYS - 1),
        "me": uuid.UUID(new.id),
    }
    rows = session.connection().execute(_candidate_statement(), parameters).all()
    # Only the States shared with `new` so far: enough for overlaps and clashes.
    light = {fact.id: fact for fact in _gathered(rows)}
    closer = [key for key, fact in light.items() if matching.could_be_duplicate(new, fact, rules)]
    known = known or {}
    for key in closer:
        if key in known:
            light[key] = known[key]
    unknown = [uuid.UUID(key) for key in closer if key not in known]
    for activity_id, states in _states(session, unknown).items():
        light[str(activity_id)] = dataclasses.replace(
            light[str(activity_id)], states=frozenset(states)
        )
    # only those that could be duplicates, with no contradiction, weigh their titles' meaning
    if closer and vectors.available():
        meant = [light[key] for key in closer if differences.decisive(new, light[key]) is None]
        if meant:
            vectors.attach(session, [new, *meant])
    return list(light.values())
