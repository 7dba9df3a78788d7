"""Findings: reading them (as the API and the pages show them) and deciding them.

Detection, which stores them, is app.findings.detection; stored findings as the API shows
them, app.findings.stored."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.activities import service as activities
from app.activities.models import Activity, ActivityCountry
from app.activities.queries import providers_of
from app.audit import service as audit
from app.core.principal import Principal
from app.core.timeutil import utcnow
from app.db.pagination import newest_first
from app.db.sql import chunks
from app.errors import NotFound, ValidationFailed
from app.findings import candidates, detection
from app.findings.models import DECIDED, STATUS_OF_DECISION, DecisionIn, Finding, FindingPublic
from app.findings.stored import KIND_ORDER, public
from app.mail import notices
from app.organizations import service as organizations
from app.organizations.models import Organization
from app.webhooks import events as webhook_events


@dataclass
class Filters:
    statuses: Sequence[str] = ()
    kinds: Sequence[str] = ()
    countries: Sequence[str] = ()
    providers: Sequence[str] = ()
    activity_id: uuid.UUID | None = None


def _involves_provider(organization_ids: Sequence[int]) -> sa.ColumnElement[bool]:
    owned = sa.select(col(Activity.id)).where(col(Activity.provider_id).in_(organization_ids))
    return sa.or_(col(Finding.first_id).in_(owned), col(Finding.second_id).in_(owned))


def review_queue(
    session: Session,
    *,
    viewer: Principal,
    kind: str | None,
    status: str = "open",
    limit: int = 50,
) -> list[FindingPublic]:
    """The review queue's findings: `status` "open" (most serious first: duplicates, overlaps,
    clashes, each by score), "decided" (the latest decision first) or "all" (the open ones,
    then the decided)."""
    order = sa.case(KIND_ORDER, value=col(Finding.kind), else_=9)
    statement = select(Finding)
    if status == "open":
        statement = statement.where(col(Finding.status) == "open")
    elif status == "decided":
        statement = statement.where(col(Finding.status).in_(DECIDED))
    if not viewer.reads_all:
        statement = statement.where(_involves_provider([viewer.organization_id]))
    if kind:
        statement = statement.where(col(Finding.kind) == kind)
    statement = statement.order_by(
        col(Finding.status) != "open",
        col(Finding.decided_at).desc(),
        order,
        col(Finding.score).desc(),
        col(Finding.id),
    ).limit(limit)
    return [public(row) for row in session.exec(statement)]


def open_findings(session: Session) -> dict[str, int]:
    """How many findings wait for a decision, by kind."""
    statement = (
        sa.select(col(Finding.kind), sa.func.count())
        .where(col(Finding.status) == "open")
        .group_by(col(Finding.kind))
    )
    return {str(row[0]): int(row[1]) for row in session.execute(statement)}


def get(session: Session, finding_id: uuid.UUID, *, viewer: Principal) -> Finding:
    row = session.get(Finding, finding_id)
    if row is not None and not viewer.reads_all:
        visible = session.exec(
            select(Finding.id).where(
                Finding.id == finding_id, _involves_provider([viewer.organization_id])
            )
        ).first()
        row = row if visible else None
    if row is None:
        raise NotFound(f"no finding with id {finding_id}")
    return row


def list_page(
    session: Session,
    filters: Filters,
    *,
    viewer: Principal,
    limit: int,
    after: Sequence[str | int] | None = None,
) -> tuple[list[FindingPublic], str | None]:
    """Newest first; providers see the findings that involve their own activities."""
    statement = select(Finding)
    if not viewer.reads_all:
        statement = statement.where(_involves_provider([viewer.organization_id]))
    if filters.statuses:
        statement = statement.where(col(Finding.status).in_(filters.statuses))
    if filters.kinds:
        statement = statement.where(col(Finding.kind).in_(filters.kinds))
    if filters.activity_id is not None:
        statement = statement.where(
            sa.or_(
                col(Finding.first_id) == filters.activity_id,
                col(Finding.second_id) == filters.activity_id,
            )
        )
    if filters.countries:
        in_country = sa.select(col(ActivityCountry.activity_id)).where(
            col(ActivityCountry.country).in_(filters.countries)
        )
        statement = statement.where(
            sa.or_(col(Finding.first_id).in_(in_country), col(Finding.second_id).in_(in_country))
        )
    if filters.providers:
        ids = organizations.ids_of(session, filters.providers, field="provider")
        statement = statement.where(_involves_provider(ids))
    rows, next_cursor = newest_first(
        session,
        statement,
        created=col(Finding.created_at),
        ident=col(Finding.id),
        limit=limit,
        after=after,
    )
    return [public(row) for row in rows], next_cursor


def decide(session: Session, row: Finding, data: DecisionIn, *, actor: Principal) -> Finding:
    """Record a coordinator's decision; confirming a duplicate marks the other activity as
    a duplicate of the one that stays.  "reopen" takes a decision back: the finding is open
    again (a confirmed duplicate returns to the calendar), and the audit log keeps who
    reopened it, when and their note."""
    if data.decision == "reopen":
        return _reopen(session, row, data, actor=actor)
    pair = {row.first_id, row.second_id}
    if data.decision == "confirm":
        if row.kind != "duplicate":
            raise ValidationFailed.on(
                "decision", f"only a duplicate can be confirmed, not {row.kind}"
            )
        if data.canonical_id is None or data.canonical_id not in pair:
            raise ValidationFailed.on(
                "canonical_id", "name the activity that stays: one of the finding's two activities"
            )
    previous = row.status
    for activity_id in pair:
        activity = session.get(Activity, activity_id)
        assert activity is not None
        keep = data.decision == "confirm" and activity_id != data.canonical_id
        target = data.canonical_id if keep else None
        if keep or (previous == "confirmed" and activity.duplicate_of in pair):
            activities.mark_duplicate(session, activity, target, actor=actor)
    row.status = STATUS_OF_DECISION[data.decision]
    row.basis = detection.basis(*candidates.facts(session, [row.first_id, row.second_id]))
    row.note = data.note
    row.decided_by = actor.label
    row.decided_at = utcnow()
    row.updated_at = row.decided_at
    session.add(row)
    notices.decided(
        session,
        row,
        providers_of(session, pair).values(),
        decision=data.decision,
        note=data.note,
        canonical_id=data.canonical_id,
        actor=actor,
    )
    if webhook_events.listening(session, "finding.decided"):
        owners = _owners(session, pair)
        webhook_events.emit(session, [webhook_events.finding_event("decided", row, owners)])
    audit.record(
        session,
        actor=actor,
        action=f"finding.{data.decision}",
        entity_type="finding",
        entity_id=row.id,
        changes={
            "status": [previous, row.status],
            "note": data.note,
            "canonical_id": str(data.canonical_id) if data.canonical_id else None,
        },
    )
    session.flush()
    if data.decision == "confirm" or previous == "confirmed":
        # The duplicate left (or came back to) the calendar: its other findings follow.
        for activity_id in sorted(pair, key=str):
            activity = session.get(Activity, activity_id)
            assert activity is not None
            detection.refresh(session, activity, actor=actor)
        session.refresh(row)
    return row


def _owners(session: Session, pair: set[uuid.UUID]) -> set[str]:
    """The providers (acronyms) of a finding's two activities."""
    return {
        organization.acronym
        for organization in session.exec(
            select(Organization)
            .join(Activity, col(Activity.provider_id) == col(Organization.id))
            .where(col(Activity.id).in_(pair))
        )
    }


def with_open_findings(
    session: Session, activity_ids: Sequence[uuid.UUID], *, viewer: Principal | None
) -> set[uuid.UUID]:
    """Which of these activities have an open finding the viewer may see (none for an
    anonymous reader: findings are not public)."""
    if viewer is None or not activity_ids:
        return set()
    found: set[uuid.UUID] = set()
    for chunk in chunks(list(activity_ids), 500):
        statement = sa.select(col(Finding.first_id), col(Finding.second_id)).where(
            col(Finding.status) == "open",
            sa.or_(col(Finding.first_id).in_(chunk), col(Finding.second_id).in_(chunk)),
        )
        if not viewer.reads_all:
            statement = statement.where(_involves_provider([viewer.organization_id]))
        for first, second in session.execute(statement):
            found |= {first, second}
    return found & set(activity_ids)


def _reopen(session: Session, row: Finding, data: DecisionIn, *, actor: Principal) -> Finding:
    if row.status == "open":
        raise ValidationFailed.on("decision", "the finding is open: there is no decision to undo")
    if data.canonical_id is not None:
        raise ValidationFailed.on("canonical_id", "only with confirm")
    previous = row.status
    pair = {row.first_id, row.second_id}
    if previous == "confirmed":
        for activity_id in sorted(pair, key=str):
            activity = session.get(Activity, activity_id)
            assert activity is not None
            if activity.duplicate_of in pair:
                activities.mark_duplicate(session, activity, None, actor=actor)
    audit.record(
        session,
        actor=actor,
        action="finding.reopen",
        entity_type="finding",
        entity_id=row.id,
        changes={
            "status": [previous, "open"],
            "note": data.note,
            "decision": {"note": row.note, "decided_by": row.decided_by},
        },
    )
    row.status = "open"
    row.note = row.decided_by = row.decided_at = row.basis = None
    row.updated_at = utcnow()
    session.add(row)
    notices.decided(
        session,
        row,
        providers_of(session, pair).values(),
        decision="reopen",
        note=data.note,
        canonical_id=None,
        actor=actor,
    )
    if webhook_events.listening(session, "finding.reopened"):
        event = webhook_events.finding_event(
            "reopened", row, _owners(session, pair), reason="decision"
        )
        webhook_events.emit(session, [event])
    session.flush()
    if previous == "confirmed":
        # The duplicate came back to the calendar: its other findings follow.
        for activity_id in sorted(pair, key=str):
            activity = session.get(Activity, activity_id)
            assert activity is not None
            detection.refresh(session, activity, actor=actor)
        session.refresh(row)
    return row
