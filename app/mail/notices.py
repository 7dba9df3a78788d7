"""Recording what the members of an organization should hear, in the transaction of the
change itself: a rolled-back change tells nothing.  One row per organization concerned
(app.mail.models.Notice); who in it gets an e-mail is decided when the notices are
composed (app.notices.batch), so a person removed or who turned the kind off meanwhile gets
nothing, and a burst of changes costs the request a few inserted rows."""

import uuid
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from app.config import Settings
from app.core.principal import Principal
from app.core.timeutil import utcnow
from app.db import outbox
from app.mail.models import Notice

TOPIC = "notices"  # the outbox worker that composes them (app.notices.batch)


_configured: list[timedelta] = []


def configure(*, wait_seconds: float) -> None:
    """How long notices wait for others to the same people (the service's settings, at
    start); without it, the process's environment is read at the first notice."""
    _configured[:] = [timedelta(seconds=wait_seconds)]


def _wait() -> timedelta:
    if not _configured:
        configure(wait_seconds=Settings().notice_wait_seconds)
    return _configured[0]


def _add(
    organizations: Iterable[int],
    *,
    kind: str,
    event: str,
    topic: str,
    data: Mapping[str, Any],
    actor: Principal | None,
) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {
            "id": uuid.uuid4(),
            "organization_id": organization_id,
            "kind": kind,
            "event": event,
            "topic": topic,
            "data": dict(data),
            "actor_person_id": actor.person_id if actor else None,
            "status": "pending",
            "created_at": now,
            "due_at": now + _wait(),
        }
        for organization_id in sorted(set(organizations))
    ]


def _write(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(sa.insert(Notice), rows)
        outbox.queued(session, TOPIC)


def _tell(session: Session, organizations: Iterable[int], **notice: Any) -> None:
    """One event, for these organizations (`notice`: what `_add` takes)."""
    _write(session, _add(organizations, **notice))


def findings_found(
    session: Session,
    rows: Iterable[Mapping[str, Any]],
    providers: Mapping[uuid.UUID, int],
    *,
    actor: Principal | None,
) -> None:
    """New findings (rows as stored: id, kind, first_id, second_id): the providers of both
    activities (`providers`: organization id by activity id) hear of each."""
    notices: list[dict[str, Any]] = []
    for row in rows:
        pair = (row["first_id"], row["second_id"])
        notices += _add(
            (providers[a] for a in pair if a in providers),
            kind="findings",
            event="finding.created",
            topic=f"finding.{row['id']}",
            data={"finding_id": str(row["id"]), "finding_kind": row["kind"]},
            actor=actor,
        )
    _write(session, notices)


def decided(
    session: Session,
    finding: Any,
    providers: Iterable[int],
    *,
    decision: str,
    note: str | None,
    canonical_id: uuid.UUID | None,
    actor: Principal,
) -> None:
    """A coordinator's decision on a finding (or its reopening): both providers (organization
    ids) hear it."""
    data = {
        "finding_id": str(finding.id),
        "finding_kind": finding.kind,
        "decision": decision,
        "note": note,
        "canonical_id": str(canonical_id) if canonical_id else None,
        "by": actor.label,
    }
    _tell(
        session,
        providers,
        kind="decisions",
        event="finding.decided",
        topic=f"finding.{finding.id}",
        data=data,
        actor=actor,
    )


def activity_changed(
    session: Session,
    activity: Any,
    providers: Iterable[int],
    *,
    event: str,
    changes: Mapping[str, Any],
    actor: Principal,
) -> None:
    """An activity changed (activity.updated) or withdrawn (activity.withdrawn) by someone
    outside its provider (a coordinator correcting it): its provider hears of it, with the
    fields changed and the reason given (`changes` as the audit log has them); `providers`:
    the one it has and, when it moved, the one it had."""
    told = [p for p in providers if p != actor.organization_id]
    if not told:
        return
    data = {
        "activity_id": str(activity.id),
        "fields": sorted(name for name in changes if name != "reason"),
        "reason": changes.get("reason"),
        "by": actor.label,
    }
    _tell(
        session,
        told,
        kind="changes",
        event=event,
        topic=f"activity.{activity.id}",
        data=data,
        actor=actor,
    )


def request_told(
    session: Session,
    request_id: uuid.UUID,
    providers: Mapping[uuid.UUID, int],
    *,
    event: str,
    actor: Principal,
) -> None:
    """A request matched (request.matched: the providers of the activities answering it) or
    one of an organization's activities linked to a request (request.linked): the providers
    (`providers`: organization id by activity id) hear of it, except the one that did it."""
    data = {
        "request_id": str(request_id),
        "activity_ids": sorted(str(a) for a in providers),
        "by": actor.label,
    }
    _tell(
        session,
        (p for p in providers.values() if p != actor.organization_id),
        kind="requests",
        event=event,
        topic=f"request.{request_id}",
        data=data,
        actor=actor,
    )
