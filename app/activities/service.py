"""Writing one activity: create, update, withdraw and mark as a duplicate, each checking who
may write it, its revision and its external_ref (the record's rules are in records.py, many
new activities at once in bulk.py, reads in queries.py)."""

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.activities import idempotency, queries, records
from app.activities.models import NULLABLE_FIELDS, Activity, ActivityCreate, ActivityUpdate
from app.audit import service as audit
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
from app.mail import notices
from app.organizations import service as organizations
from app.organizations.models import Organization
from app.webhooks import events as webhook_events


def _ensure_ref_free(
    session: Session, provider_id: int, ref: str | None, own: uuid.UUID | None
) -> None:
    if ref is None:
        return
    clash = queries.find_by_ref(session, provider_id, ref)
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
    record = records.prepared(data)

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
    activity = Activity(
        provider_id=provider.id, created_at=now, updated_at=now, **records.columns(record)
    )
    session.add(activity)
    _flush_unique_ref(session, record["external_ref"])
    records.write_links(session, activity, record, replace=False)
    if claim is not None:
        claim.activity_id = activity.id
        session.add(claim)
    audit.record(
        session, actor=actor, **records.created_entry(activity.id, provider.acronym, record)
    )
    session.flush()
    webhook_events.emit(
        session, [webhook_events.activity_event("created", activity, provider.acronym)]
    )
    return activity, False


def _new_revision(
    session: Session,
    activity: Activity,
    *,
    actor: Principal | None,
    action: str,
    changes: dict[str, Any],
    previous_provider: int | None = None,
) -> None:
    """Every change to an activity: the next revision, a new updated_at, an audit entry, a
    webhook event, a notice to its provider when someone outside it made the change (to the
    one it had too, when it moved to another); the feeds are rendered again after the
    commit."""
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
    if actor is not None and action in ("activity.update", "activity.withdraw"):
        notices.activity_changed(
            session,
            activity,
            {activity.provider_id, previous_provider or activity.provider_id},
            event=f"activity.{kind}",
            changes=changes,
            actor=actor,
        )
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


def update(
    session: Session,
    activity: Activity,
    data: ActivityUpdate,
    *,
    actor: Principal,
    if_match: int | None = None,
    reason: str | None = None,
) -> tuple[Activity, frozenset[str]]:
    """Apply a partial update; returns the activity and the names of the fields it changed.
    The `reason` given (an import's row, say) is kept in its history."""
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
    before = records.record_of(activity, countries[activity.id], regions[activity.id])
    after, changes = records.patched(before, data, patch)
    if provider_id != activity.provider_id:
        old = session.get(Organization, activity.provider_id)
        new = session.get(Organization, provider_id)
        assert old is not None
        assert new is not None
        changes["provider"] = [old.acronym, new.acronym]
    if not changes:
        return activity, frozenset()

    _ensure_ref_free(session, provider_id, after["external_ref"], activity.id)
    previous_provider = activity.provider_id
    activity.provider_id = provider_id
    for name, value in records.columns(after).items():
        setattr(activity, name, value)
    _new_revision(
        session,
        activity,
        actor=actor,
        action="activity.update",
        changes={
            **{name: [records.plain(v) for v in pair] for name, pair in changes.items()},
            **({"reason": reason} if reason else {}),
        },
        previous_provider=previous_provider,
    )
    _flush_unique_ref(session, after["external_ref"])
    if {"countries", "regions", "start_date", "end_date"} & changes.keys():
        records.write_links(session, activity, after)
    session.flush()
    return activity, frozenset(changes)


def withdraw(
    session: Session,
    activity: Activity,
    *,
    actor: Principal,
    if_match: int | None = None,
    reason: str | None = None,
) -> Activity:
    """Withdraw an activity: it stays, cancelled, so feeds and history still show it; the
    `reason` given is kept in its history."""
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
        changes={"status": [old_status, "cancelled"], **({"reason": reason} if reason else {})},
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
