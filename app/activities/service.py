"""Activities: create, list, get, update, withdraw and their history."""

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.activities.models import (
    NULLABLE_FIELDS,
    Activity,
    ActivityCountry,
    ActivityCreate,
    ActivityPublic,
    ActivityRegion,
    ActivityUpdate,
    HistoryEntry,
    IdempotencyRecord,
    Venue,
)
from app.audit import service as audit
from app.auth.principal import Principal
from app.core import activity_rules, vocab
from app.core import cursor as cursors
from app.core.timeutil import as_utc, utcnow
from app.db import json_contains
from app.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)
from app.organizations import service as organizations
from app.organizations.models import Organization

# The fields of the record as clients send it (ActivityCreate without `provider`).
RECORD_FIELDS = tuple(name for name in ActivityCreate.model_fields if name != "provider")
# Fields stored as plain columns of the same name.
COLUMN_FIELDS = tuple(
    name for name in RECORD_FIELDS if name not in ("countries", "regions", "venue")
)


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


# Reading -------------------------------------------------------------------------------


def _links(
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


def _public(
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
    provider = session.get(Organization, activity.provider_id)
    assert provider is not None
    countries, regions = _links(session, [activity.id])
    return _public(activity, provider.acronym, countries[activity.id], regions[activity.id])


def get(session: Session, activity_id: uuid.UUID, *, viewer: Principal | None) -> Activity:
    activity = session.get(Activity, activity_id)
    if activity is None or (viewer is None and activity.visibility != "public"):
        raise NotFound(f"no activity with id {activity_id}")
    return activity


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(
    session: Session, filters: Filters, viewer: Principal | None
) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    if viewer is None:
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
        ids = []
        for acronym in filters.providers:
            provider = organizations.find(session, acronym)
            if provider is None:
                raise ValidationFailed.on("provider", f"no organization with acronym {acronym!r}")
            ids.append(provider.id)
        where.append(col(Activity.provider_id).in_(ids))
    if filters.date_from is not None:
        where.append(col(Activity.end_date) >= filters.date_from)
    if filters.date_to is not None:
        where.append(col(Activity.start_date) <= filters.date_to)
    if filters.q:
        pattern = _like(filters.q)
        where.append(
            sa.or_(
                col(Activity.title).ilike(pattern, escape="\\"),
                col(Activity.description).ilike(pattern, escape="\\"),
                col(Activity.external_ref).ilike(pattern, escape="\\"),
            )
        )
    if filters.updated_since is not None:
        where.append(col(Activity.updated_at) >= as_utc(filters.updated_since))
    return where


def list_page(
    session: Session,
    filters: Filters,
    *,
    viewer: Principal | None,
    limit: int,
    after: Sequence[str | int] | None = None,
) -> tuple[Sequence[ActivityPublic], str | None]:
    """A page of activities in (start_date, id) order; the cursor continues after the last."""
    statement = (
        select(Activity, Organization.acronym)
        .join(Organization, col(Organization.id) == Activity.provider_id)
        .where(*_conditions(session, filters, viewer))
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
    rows = session.exec(statement).all()
    more = len(rows) > limit
    rows = rows[:limit]
    countries, regions = _links(session, [activity.id for activity, _ in rows])
    items = [
        _public(activity, acronym, countries[activity.id], regions[activity.id])
        for activity, acronym in rows
    ]
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


# Writing -------------------------------------------------------------------------------


def _record(activity: Activity, countries: Iterable[str], regions: Iterable[str]) -> dict[str, Any]:
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
        details = [FieldError(name, message) for name, message in problems]
        raise ValidationFailed(
            "; ".join(f"{d.field}: {d.message}" for d in details), details=details
        )


def _apply(activity: Activity, record: dict[str, Any]) -> None:
    for name in COLUMN_FIELDS:
        setattr(activity, name, record[name])
    venue = record["venue"]
    activity.venue_city = venue["city"] if venue else None
    activity.venue_country = venue["country"] if venue else None
    activity.modality = venue["modality"] if venue else None


def _write_links(session: Session, activity: Activity, record: dict[str, Any]) -> None:
    session.exec(sa.delete(ActivityCountry).where(col(ActivityCountry.activity_id) == activity.id))
    session.exec(sa.delete(ActivityRegion).where(col(ActivityRegion.activity_id) == activity.id))
    dates = {"start_date": activity.start_date, "end_date": activity.end_date}
    states = vocab.beneficiary_states(record["countries"], record["regions"])
    session.add_all(
        ActivityCountry(activity_id=activity.id, country=code, named=named, **dates)
        for code, named in states.items()
    )
    session.add_all(
        ActivityRegion(activity_id=activity.id, region=code, **dates) for code in record["regions"]
    )


def _ensure_ref_free(
    session: Session, provider_id: int, ref: str | None, own: uuid.UUID | None
) -> None:
    if ref is None:
        return
    clash = session.exec(
        select(Activity.id).where(Activity.provider_id == provider_id, Activity.external_ref == ref)
    ).first()
    if clash is not None and clash != own:
        raise Conflict(
            f"this provider already has an activity with external_ref {ref!r} (id {clash})",
            details=[FieldError("external_ref", f"already used by activity {clash}")],
        )


def _flush_unique_ref(session: Session, ref: str | None) -> None:
    """Flush, turning a lost race for an external_ref into the same 409 as the check."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"this provider already has an activity with external_ref {ref!r}",
            details=[FieldError("external_ref", "already used by another activity")],
        ) from exc


def _provider_for(session: Session, requested: str | None, actor: Principal) -> Organization:
    if requested is None or requested.strip().upper() == actor.organization:
        provider = session.get(Organization, actor.organization_id)
        assert provider is not None
        return provider
    if not actor.reads_all:
        raise Forbidden(
            f"a provider key writes only its own organization's activities ({actor.organization})"
        )
    provider = organizations.find(session, requested)
    if provider is None:
        raise ValidationFailed.on("provider", f"no organization with acronym {requested!r}")
    return provider


def _request_hash(data: ActivityCreate) -> str:
    canonical = json.dumps(data.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _claim_idempotency_key(
    session: Session, *, organization_id: int, key: str, request_hash: str, ttl_hours: int
) -> IdempotencyRecord:
    """The record of this key: claimed now, or the earlier one.  A concurrent request with
    the same key waits on the row lock (PostgreSQL) or the write lock (SQLite) until the
    first commits, then sees its record."""
    session.exec(
        sa.delete(IdempotencyRecord).where(
            col(IdempotencyRecord.created_at) < utcnow() - timedelta(hours=ttl_hours)
        )
    )

    def existing() -> IdempotencyRecord | None:
        return session.exec(
            select(IdempotencyRecord)
            .where(
                IdempotencyRecord.organization_id == organization_id,
                IdempotencyRecord.key == key,
            )
            .execution_options(populate_existing=True)
        ).first()

    found = existing()
    if found is None:
        claim = IdempotencyRecord(
            organization_id=organization_id, key=key, request_hash=request_hash
        )
        try:
            with session.begin_nested():
                session.add(claim)
            return claim
        except IntegrityError:
            found = existing()
            assert found is not None
    if found.request_hash != request_hash:
        raise Conflict(
            "this Idempotency-Key was used with a different request body",
            details=[FieldError("Idempotency-Key", "reused with another body")],
        )
    return found


def create(
    session: Session,
    data: ActivityCreate,
    *,
    actor: Principal,
    idempotency_key: str | None = None,
    idempotency_ttl_hours: int = 48,
) -> tuple[Activity, bool]:
    """Store a new activity; the bool is True when this replays an earlier request with the
    same Idempotency-Key."""
    provider = _provider_for(session, data.provider, actor)
    assert provider.id is not None
    record = _normalised(data.model_dump(exclude={"provider"}))
    _check(record)

    claim = None
    if idempotency_key is not None:
        claim = _claim_idempotency_key(
            session,
            organization_id=actor.organization_id,
            key=idempotency_key,
            request_hash=_request_hash(data),
            ttl_hours=idempotency_ttl_hours,
        )
        if claim.activity_id is not None:
            replayed = session.get(Activity, claim.activity_id)
            assert replayed is not None
            return replayed, True

    _ensure_ref_free(session, provider.id, record["external_ref"], None)
    now = utcnow()
    activity = Activity(
        provider_id=provider.id,
        created_at=now,
        updated_at=now,
        **{n: record[n] for n in COLUMN_FIELDS},
    )
    _apply(activity, record)
    session.add(activity)
    _flush_unique_ref(session, record["external_ref"])
    _write_links(session, activity, record)
    if claim is not None:
        claim.activity_id = activity.id
        session.add(claim)
    audit.record(
        session,
        actor=actor,
        action="activity.create",
        entity_type="activity",
        entity_id=activity.id,
        revision=activity.revision,
        changes={"provider": provider.acronym, **_jsonable(record)},
    )
    session.flush()
    return activity, False


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in record.items()}


def check_revision(activity: Activity, if_match: int | None) -> None:
    if if_match is not None and if_match != activity.revision:
        raise PreconditionFailed(
            f"the activity is at revision {activity.revision}, not {if_match}: "
            "read it again and re-apply your change",
            details=[FieldError("If-Match", f"current revision is {activity.revision}")],
        )


def _lock(session: Session, activity: Activity) -> Activity:
    """Re-read the activity under a row lock, so concurrent writers queue up."""
    locked = session.exec(
        select(Activity)
        .where(Activity.id == activity.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return locked


def _writable(
    session: Session, activity: Activity, actor: Principal, if_match: int | None
) -> Activity:
    if not actor.may_write_for(activity.provider_id):
        raise Forbidden("a provider key changes only its own organization's activities")
    activity = _lock(session, activity)
    check_revision(activity, if_match)
    return activity


def update(
    session: Session,
    activity: Activity,
    data: ActivityUpdate,
    *,
    actor: Principal,
    if_match: int | None = None,
) -> Activity:
    activity = _writable(session, activity, actor, if_match)
    if activity.withdrawn_at is not None:
        raise Conflict("this activity was withdrawn and can no longer be changed")
    patch = data.model_dump(exclude_unset=True)
    nulls = [n for n, v in patch.items() if v is None and n not in NULLABLE_FIELDS]
    if nulls:
        details = [FieldError(n, "may not be null") for n in nulls]
        raise ValidationFailed("; ".join(f"{n}: may not be null" for n in nulls), details=details)

    provider_id = activity.provider_id
    requested = patch.pop("provider", None)
    if requested is not None:
        provider = _provider_for(session, requested, actor)
        assert provider.id is not None
        provider_id = provider.id

    countries, regions = _links(session, [activity.id])
    before = _record(activity, countries[activity.id], regions[activity.id])
    if patch.get("venue") is not None:
        # A venue patch is partial too: {"venue": {"city": "Chaguanas"}} keeps the modality.
        sent = data.venue.model_dump(exclude_unset=True) if data.venue else {}
        patch["venue"] = Venue.model_validate({**(before["venue"] or {}), **sent}).model_dump()
    after = _normalised({**before, **patch})
    _check(after)
    changes = {n: [before[n], after[n]] for n in RECORD_FIELDS if before[n] != after[n]}
    if provider_id != activity.provider_id:
        old = session.get(Organization, activity.provider_id)
        new = session.get(Organization, provider_id)
        assert old is not None
        assert new is not None
        changes["provider"] = [old.acronym, new.acronym]
    if not changes:
        return activity

    _ensure_ref_free(session, provider_id, after["external_ref"], activity.id)
    activity.provider_id = provider_id
    _apply(activity, after)
    activity.revision += 1
    activity.updated_at = utcnow()
    session.add(activity)
    _flush_unique_ref(session, after["external_ref"])
    if {"countries", "regions", "start_date", "end_date"} & changes.keys():
        _write_links(session, activity, after)
    audit.record(
        session,
        actor=actor,
        action="activity.update",
        entity_type="activity",
        entity_id=activity.id,
        revision=activity.revision,
        changes={n: [_jsonable({"v": v})["v"] for v in pair] for n, pair in changes.items()},
    )
    session.flush()
    return activity


def withdraw(
    session: Session, activity: Activity, *, actor: Principal, if_match: int | None = None
) -> Activity:
    """Withdraw an activity: it stays, cancelled, so feeds and history still show it."""
    activity = _writable(session, activity, actor, if_match)
    if activity.withdrawn_at is not None:
        return activity
    old_status = activity.status
    activity.status = "cancelled"
    activity.withdrawn_at = utcnow()
    activity.updated_at = activity.withdrawn_at
    activity.revision += 1
    session.add(activity)
    audit.record(
        session,
        actor=actor,
        action="activity.withdraw",
        entity_type="activity",
        entity_id=activity.id,
        revision=activity.revision,
        changes={"status": [old_status, "cancelled"]},
    )
    session.flush()
    return activity
