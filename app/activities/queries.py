"""Reading activities: one, by external_ref, a filtered page, and an activity's history."""

import functools
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.activities.models import (
    Activity,
    ActivityCountry,
    ActivityPublic,
    ActivityRegion,
    HistoryEntry,
    Venue,
)
from app.audit import service as audit
from app.core import cursor as cursors
from app.core import vocab
from app.core.principal import Principal
from app.core.timeutil import as_utc
from app.db.sql import json_contains
from app.errors import NotFound, ValidationFailed
from app.organizations import service as organizations
from app.organizations.models import Organization


@dataclass
class Filters:
    countries: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    themes: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    date_from: date | None = None
    date_to: date | None = None
    q: str | None = None
    updated_since: datetime | None = None


def links(
    session: Session, ids: Sequence[uuid.UUID]
) -> tuple[dict[uuid.UUID, list[str]], dict[uuid.UUID, list[str]]]:
    countries: dict[uuid.UUID, list[str]] = defaultdict(list)
    regions: dict[uuid.UUID, list[str]] = defaultdict(list)
    if not ids:
        return countries, regions
    for activity_id, country in session.exec(
        select(ActivityCountry.activity_id, ActivityCountry.country)
        .where(col(ActivityCountry.activity_id).in_(ids), col(ActivityCountry.named))
        .order_by(col(ActivityCountry.country))
    ):
        countries[activity_id].append(country)
    for activity_id, region in session.exec(
        select(ActivityRegion.activity_id, ActivityRegion.region)
        .where(col(ActivityRegion.activity_id).in_(ids))
        .order_by(col(ActivityRegion.region))
    ):
        regions[activity_id].append(region)
    return countries, regions


def public(
    activity: Activity, provider: str, countries: list[str], regions: list[str]
) -> ActivityPublic:
    venue = None
    if activity.modality is not None:
        venue = Venue.model_validate(
            {
                "city": activity.venue_city,
                "country": activity.venue_country,
                "modality": activity.modality,
            }
        )
    return ActivityPublic.model_validate(
        {
            **activity.model_dump(
                exclude={"provider_id", "venue_city", "venue_country", "modality"}
            ),
            "provider": provider,
            "countries": countries,
            "regions": regions,
            "venue": venue,
        }
    )


def to_public(session: Session, activity: Activity) -> ActivityPublic:
    """An activity just written, as the API shows it (its pending changes flushed first)."""
    return _public_row(session.execute(_one(), {"activity_id": activity.id}).one())


def _shown() -> Any:
    """Activities as the API shows them, in one statement: each with its provider's acronym
    and its named countries and regions (space-separated, in no order)."""
    named = (
        sa.select(sa.func.aggregate_strings(col(ActivityCountry.country), " "))
        .where(col(ActivityCountry.activity_id) == Activity.id, col(ActivityCountry.named))
        .scalar_subquery()
    )
    regions = (
        sa.select(sa.func.aggregate_strings(col(ActivityRegion.region), " "))
        .where(col(ActivityRegion.activity_id) == Activity.id)
        .scalar_subquery()
    )
    return sa.select(Activity, col(Organization.acronym), named, regions).join(
        Organization, col(Organization.id) == Activity.provider_id
    )


@functools.cache
def _one() -> Any:
    """_shown() for one activity id, built once: building a statement and its cache key costs
    more than running it (about 170 against 100 microseconds on SQLite)."""
    return _shown().where(col(Activity.id) == sa.bindparam("activity_id"))


def _public_row(row: Any) -> ActivityPublic:
    activity, acronym, countries, regions = row
    return public(
        activity, acronym, sorted((countries or "").split()), sorted((regions or "").split())
    )


def publics(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ActivityPublic]:
    """Many activities as the API shows them, in one statement (for readers who may see
    them all: check visibility before)."""
    rows = session.execute(_shown().where(col(Activity.id).in_(ids))).all()
    return {row[0].id: _public_row(row) for row in rows}


def headings(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """What a list of findings names of their activities (id, title, provider, start_date,
    end_date), for readers who may see them all: a fraction of the cost of publics() for the
    hundreds of activities of a provider's warnings."""
    statement: Any = (
        sa.select(
            col(Activity.id),
            col(Activity.title),
            col(Organization.acronym).label("provider"),
            col(Activity.start_date),
            col(Activity.end_date),
        )
        .join(Organization, col(Organization.id) == Activity.provider_id)
        .where(col(Activity.id).in_(ids))
    )
    return {row.id: row for row in session.execute(statement)}


def get_public(
    session: Session, activity_id: uuid.UUID, *, viewer: Principal | None
) -> ActivityPublic:
    """One activity as the API shows it, in one statement (the most frequent read)."""
    row = session.execute(_one(), {"activity_id": activity_id}).one_or_none()
    if row is None or (viewer is None and row[0].visibility != "public"):
        raise NotFound(f"no activity with id {activity_id}")
    return _public_row(row)


def get(session: Session, activity_id: uuid.UUID, *, viewer: Principal | None) -> Activity:
    activity = session.get(Activity, activity_id)
    if activity is None or (viewer is None and activity.visibility != "public"):
        raise NotFound(f"no activity with id {activity_id}")
    return activity


def find_by_ref(session: Session, provider_id: int, ref: str) -> uuid.UUID | None:
    """The id of the provider's activity with this external_ref, if any."""
    return session.exec(
        select(Activity.id).where(Activity.provider_id == provider_id, Activity.external_ref == ref)
    ).first()


def by_refs(session: Session, provider_id: int, refs: Sequence[str]) -> list[Activity]:
    """The provider's activities with these external_refs (keep the list to a thousand)."""
    statement = select(Activity).where(
        Activity.provider_id == provider_id, col(Activity.external_ref).in_(refs)
    )
    return list(session.exec(statement))


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def conditions(
    session: Session, filters: Filters, *, public_only: bool
) -> list[sa.ColumnElement[bool]]:
    """The list API's filters as SQL conditions on Activity (shared with the feeds)."""
    where: list[sa.ColumnElement[bool]] = []
    if public_only:
        where.append(col(Activity.visibility) == "public")
    if filters.countries:
        where.append(
            sa.exists().where(
                col(ActivityCountry.activity_id) == Activity.id,
                col(ActivityCountry.country).in_(filters.countries),
            )
        )
    if filters.regions:
        states = sorted({c for r in filters.regions for c in vocab.region_states(r)})
        where.append(
            sa.or_(
                sa.exists().where(
                    col(ActivityCountry.activity_id) == Activity.id,
                    col(ActivityCountry.country).in_(states),
                ),
                sa.exists().where(
                    col(ActivityRegion.activity_id) == Activity.id,
                    col(ActivityRegion.region).in_(filters.regions),
                ),
            )
        )
    if filters.themes:
        where.append(sa.or_(*(json_contains(session, Activity.themes, t) for t in filters.themes)))
    if filters.domains:
        where.append(
            sa.or_(*(json_contains(session, Activity.domains, d) for d in filters.domains))
        )
    if filters.types:
        where.append(col(Activity.activity_type).in_(filters.types))
    if filters.statuses:
        where.append(col(Activity.status).in_(filters.statuses))
    if filters.providers:
        ids = organizations.ids_of(session, filters.providers, field="provider")
        where.append(col(Activity.provider_id).in_(ids))
    if filters.date_from is not None:
        where.append(col(Activity.end_date) >= filters.date_from)
    if filters.date_to is not None:
        where.append(col(Activity.start_date) <= filters.date_to)
    if filters.q:
        pattern = _like(filters.q)
        matches = [
            col(Activity.title).ilike(pattern, escape="\\"),
            col(Activity.description).ilike(pattern, escape="\\"),
            col(Activity.external_ref).ilike(pattern, escape="\\"),
        ]
        # A State's name in any of the languages, accents optional: "Trinidad y Tobago",
        # "trinite-et-tobago" find the activities for Trinidad and Tobago.
        named = vocab.countries_named(filters.q)
        if named:
            matches.append(
                col(Activity.id).in_(
                    sa.select(col(ActivityCountry.activity_id)).where(
                        col(ActivityCountry.country).in_(sorted(named))
                    )
                )
            )
        where.append(sa.or_(*matches))
    if filters.updated_since is not None:
        try:
            since = as_utc(filters.updated_since)
        except OverflowError as exc:
            raise ValidationFailed.on("updated_since", "out of range once moved to UTC") from exc
        where.append(col(Activity.updated_at) >= since)
    return where


def first(
    session: Session, filters: Filters, *, viewer: Principal | None, most: int
) -> list[ActivityPublic]:
    """The first `most` activities of the list (in `page` order), read page after page: what
    a calendar page or a provider's own list shows."""
    found: list[ActivityPublic] = []
    after = None
    while len(found) < most:
        items, cursor = page(session, filters, viewer=viewer, limit=500, after=after)
        found += items
        if cursor is None:
            break
        after = cursors.decode(cursor, 2)
    return found[:most]


def page(
    session: Session,
    filters: Filters,
    *,
    viewer: Principal | None,
    limit: int,
    after: Sequence[str | int] | None = None,
) -> tuple[Sequence[ActivityPublic], str | None]:
    """A page of activities in (start_date, id) order; the cursor continues after the last."""
    statement = (
        _shown()
        .where(*conditions(session, filters, public_only=viewer is None))
        .order_by(col(Activity.start_date), col(Activity.id))
        .limit(limit + 1)
    )
    if after is not None:
        try:
            after_date = date.fromisoformat(str(after[0]))
            after_id = uuid.UUID(str(after[1]))
        except ValueError as exc:
            raise ValidationFailed.on("cursor", "not a cursor this service gave out") from exc
        statement = statement.where(
            sa.or_(
                col(Activity.start_date) > after_date,
                sa.and_(col(Activity.start_date) == after_date, col(Activity.id) > after_id),
            )
        )
    rows = session.execute(statement).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [_public_row(row) for row in rows]
    next_cursor = None
    if more:
        last = rows[-1][0]
        next_cursor = cursors.encode(last.start_date.isoformat(), str(last.id))
    return items, next_cursor


def history(
    session: Session, activity: Activity, *, limit: int, after: Sequence[str | int] | None = None
) -> tuple[Sequence[HistoryEntry], str | None]:
    after_id = 0
    if after is not None:
        if not isinstance(after[0], int) or not 0 <= after[0] < 2**62:
            raise ValidationFailed.on("cursor", "not a cursor this service gave out")
        after_id = after[0]
    entries = audit.entries(
        session, entity_type="activity", entity_id=activity.id, after_id=after_id, limit=limit + 1
    )
    more = len(entries) > limit
    entries = entries[:limit]
    items = [HistoryEntry.model_validate(entry, from_attributes=True) for entry in entries]
    last_id = entries[-1].id if entries else None
    return items, cursors.encode(last_id) if more and last_id is not None else None


def providers_of(session: Session, activity_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The provider (organization id) of each of these activities that exists."""
    ids = list(set(activity_ids))
    if not ids:
        return {}
    statement = sa.select(col(Activity.id), col(Activity.provider_id)).where(
        col(Activity.id).in_(ids)
    )
    return {row[0]: row[1] for row in session.execute(statement)}
