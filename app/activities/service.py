"""Activities: create, update and withdraw (reads are in queries.py)."""

import uuid
from collections.abc import Iterable, Sequence
from datetime import date
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.activities import idempotency, queries
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
from app.core.principal import Principal
from app.core.timeutil import utcnow
from app.errors import (
    Conflict,
    FieldError,
    Forbidden,
    PreconditionFailed,
    ValidationFailed,
    reject_nulls,
)
from app.organizations import service as organizations
from app.organizations.models import Organization
from app.webhooks import events as webhook_events

# The fields of the record as clients send it (ActivityCreate without `provider`).
RECORD_FIELDS = tuple(name for name in ActivityCreate.model_fields if name != "provider")
# Fields stored as plain columns of the same name.
COLUMN_FIELDS = tuple(
    name for name in RECORD_FIELDS if name not in ("countries", "regions", "venue")
)


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
        raise ValidationFailed.of([FieldError(name, message) for name, message in problems])


def _columns(record: dict[str, Any]) -> dict[str, Any]:
    """The activity table's values for a record (the venue in three columns)."""
    venue = record["venue"]
    return {
        **{name: record[name] for name in COLUMN_FIELDS},
        "venue_city": venue["city"] if venue else None,
        "venue_country": venue["country"] if venue else None,
        "modality": venue["modality"] if venue else None,
    }


def _apply(activity: Activity, record: dict[str, Any]) -> None:
    for name, value in _columns(record).items():
        setattr(activity, name, value)


def _link_rows(
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


def _insert_links(
    session: Session, rows: tuple[list[dict[str, Any]], list[dict[str, Any]]]
) -> None:
    countries, regions = rows
    if countries:
        session.execute(sa.insert(ActivityCountry), countries)
    if regions:
        session.execute(sa.insert(ActivityRegion), regions)


def _write_links(
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
    _insert_links(session, _link_rows(activity.id, record))


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


def _ensure_ref_free(
    session: Session, provider_id: int, ref: str | None, own: uuid.UUID | None
) -> None:
    if ref is None:
        return
    clash = find_by_ref(session, provider_id, ref)
    if clash is not None and clash != own:
        raise Conflict(
            f"this provider already has an activity with external_ref {ref!r} (id {clash})",
            details=[FieldError("external_ref", f"already used by activity {clash}")],
        )


def _flush_unique_ref(session: Session, ref: str | None) -> None:
    """Flush, turning a lost race for an external_ref into the same 409 as the check.
    Without a ref nothing unique is at stake, so no savepoint (two round trips) is needed."""
    if ref is None:
        session.flush()
        return
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


def prepared(data: ActivityCreate) -> dict[str, Any]:
    """The record of a new activity, normalised and checked against the rules (a 422 naming
    the field otherwise); `provider` is left to the caller."""
    record = _normalised(data.model_dump(exclude={"provider"}))
    _check(record)
    return record


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
    record = prepared(data)

    claim = None
    if idempotency_key is not None:
        claim = idempotency.claim(
            session,
            organization_id=actor.organization_id,
            key=idempotency_key,
            request_hash=idempotency.request_hash(data.model_dump(mode="json")),
            ttl_hours=idempotency_ttl_hours,
        )
        if claim.activity_id is not None:
            replayed = session.get(Activity, claim.activity_id)
            assert replayed is not None
            return replayed, True

    _ensure_ref_free(session, provider.id, record["external_ref"], None)
    now = utcnow()
    activity = Activity(provider_id=provider.id, created_at=now, updated_at=now, **_columns(record))
    session.add(activity)
    _flush_unique_ref(session, record["external_ref"])
    _write_links(session, activity, record, replace=False)
    if claim is not None:
        claim.activity_id = activity.id
        session.add(claim)
    audit.record(session, actor=actor, **_created_entry(activity.id, provider.acronym, record))
    session.flush()
    webhook_events.emit(
        session, [webhook_events.activity_event("created", activity, provider.acronym)]
    )
    return activity, False


def _created_entry(activity_id: uuid.UUID, provider: str, record: dict[str, Any]) -> audit.Entry:
    return {
        "action": "activity.create",
        "entity_type": "activity",
        "entity_id": activity_id,
        "revision": 1,
        "changes": {"provider": provider, **_jsonable(record)},
    }


def create_many(
    session: Session, records: Sequence[tuple[Organization, dict[str, Any]]], *, actor: Principal
) -> list[uuid.UUID]:
    """Store many new activities at once (an import): `records` are (provider, record) with
    each record from prepared() and external_refs the caller checked are free.  A few
    statements per thousand activities instead of several per activity; returns their ids in
    order.  A reference taken meanwhile by another writer is a 409 and nothing is written."""
    if not records:
        return []
    now = utcnow()
    ids = [uuid.uuid4() for _ in records]
    rows, countries, regions = [], [], []
    entries: list[audit.Entry] = []
    for activity_id, (provider, record) in zip(ids, records, strict=True):
        rows.append(
            {
                "id": activity_id,
                "provider_id": provider.id,
                "revision": 1,
                "created_at": now,
                "updated_at": now,
                **_columns(record),
            }
        )
        named, grouped = _link_rows(activity_id, record)
        countries += named
        regions += grouped
        entries.append(_created_entry(activity_id, provider.acronym, record))
    try:
        with session.begin_nested():
            session.execute(sa.insert(Activity), rows)
    except IntegrityError as exc:
        raise Conflict(
            "another writer stored one of these external_refs meanwhile: import again",
            details=[FieldError("external_ref", "already used by another activity")],
        ) from exc
    _insert_links(session, (countries, regions))
    audit.record_many(session, actor=actor, entries=entries)
    webhook_events.emit(
        session,
        (
            webhook_events.activity_event("created", SimpleNamespace(**row), provider.acronym)
            for row, (provider, _) in zip(rows, records, strict=True)
        ),
    )
    return ids


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in record.items()}


def _new_revision(
    session: Session,
    activity: Activity,
    *,
    actor: Principal | None,
    action: str,
    changes: dict[str, Any],
) -> None:
    """Every change to an activity: the next revision, a new updated_at, an audit entry, a
    webhook event; the feeds are rendered again after the commit."""
    activity.revision += 1
    activity.updated_at = utcnow()
    session.add(activity)
    audit.record(
        session,
        actor=actor,
        action=action,
        entity_type="activity",
        entity_id=activity.id,
        revision=activity.revision,
        changes=changes,
    )
    kind = "withdrawn" if action == "activity.withdraw" else "updated"
    if webhook_events.listening(session, f"activity.{kind}"):
        provider = session.get(Organization, activity.provider_id)
        assert provider is not None
        event = webhook_events.activity_event(kind, activity, provider.acronym)
        webhook_events.emit(session, [event])


def check_revision(activity: Activity, if_match: int | None) -> None:
    if if_match is not None and if_match != activity.revision:
        raise PreconditionFailed(
            f"the activity is at revision {activity.revision}, not {if_match}: "
            "read it again and re-apply your change",
            details=[FieldError("If-Match", f"current revision is {activity.revision}")],
        )


def _lock(session: Session, activity: Activity) -> Activity:
    """Re-read the activity under a row lock, so concurrent writers queue up.

    FOR NO KEY UPDATE, not FOR UPDATE: a finding being stored elsewhere checks its foreign
    key to this row with FOR KEY SHARE, which FOR UPDATE would block.  Since this writer then
    waits for the per-State locks held by that other transaction, the two would deadlock."""
    locked = session.exec(
        select(Activity)
        .where(Activity.id == activity.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).one()
    return locked


def _writable(
    session: Session, activity: Activity, actor: Principal, if_match: int | None
) -> Activity:
    # Lock first, then judge: the owner may have changed since the activity was loaded.
    activity = _lock(session, activity)
    if not actor.may_write_for(activity.provider_id):
        raise Forbidden("a provider key changes only its own organization's activities")
    check_revision(activity, if_match)
    return activity


def _patched(
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


def would_change(
    activity: Activity, countries: list[str], regions: list[str], data: ActivityUpdate
) -> bool:
    """Whether update() would change this activity's record (a 422 if the result breaks a
    rule); the provider is not compared.  For imports, which load many activities at once."""
    patch = data.model_dump(exclude_unset=True, exclude={"provider"})
    reject_nulls(patch, nullable=NULLABLE_FIELDS)
    return bool(_patched(_record(activity, countries, regions), data, patch)[1])


def update(
    session: Session,
    activity: Activity,
    data: ActivityUpdate,
    *,
    actor: Principal,
    if_match: int | None = None,
) -> tuple[Activity, frozenset[str]]:
    """Apply a partial update; returns the activity and the names of the fields it changed."""
    activity = _writable(session, activity, actor, if_match)
    if activity.withdrawn_at is not None:
        raise Conflict("this activity was withdrawn and can no longer be changed")
    patch = data.model_dump(exclude_unset=True)
    reject_nulls(patch, nullable=NULLABLE_FIELDS)

    provider_id = activity.provider_id
    requested = patch.pop("provider", None)
    if requested is not None:
        provider = _provider_for(session, requested, actor)
        assert provider.id is not None
        provider_id = provider.id

    countries, regions = queries.links(session, [activity.id])
    before = _record(activity, countries[activity.id], regions[activity.id])
    after, changes = _patched(before, data, patch)
    if provider_id != activity.provider_id:
        old = session.get(Organization, activity.provider_id)
        new = session.get(Organization, provider_id)
        assert old is not None
        assert new is not None
        changes["provider"] = [old.acronym, new.acronym]
    if not changes:
        return activity, frozenset()

    _ensure_ref_free(session, provider_id, after["external_ref"], activity.id)
    activity.provider_id = provider_id
    _apply(activity, after)
    _new_revision(
        session,
        activity,
        actor=actor,
        action="activity.update",
        changes={name: [_plain(v) for v in pair] for name, pair in changes.items()},
    )
    _flush_unique_ref(session, after["external_ref"])
    if {"countries", "regions", "start_date", "end_date"} & changes.keys():
        _write_links(session, activity, after)
    session.flush()
    return activity, frozenset(changes)


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
    _new_revision(
        session,
        activity,
        actor=actor,
        action="activity.withdraw",
        changes={"status": [old_status, "cancelled"]},
    )
    session.flush()
    return activity


def mark_duplicate(
    session: Session,
    activity: Activity,
    canonical_id: uuid.UUID | None,
    *,
    actor: Principal | None,
) -> Activity:
    """Record that `activity` duplicates `canonical_id` (None: that it does not)."""
    if activity.duplicate_of == canonical_id:
        return activity
    old = activity.duplicate_of
    activity.duplicate_of = canonical_id
    _new_revision(
        session,
        activity,
        actor=actor,
        action="activity.mark_duplicate",
        changes={
            "duplicate_of": [str(old) if old else None, str(canonical_id) if canonical_id else None]
        },
    )
    session.flush()
    return activity
