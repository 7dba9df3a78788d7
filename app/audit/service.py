from collections.abc import Sequence
from typing import Any, Required, TypedDict, Unpack

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.audit.models import AuditEntry
from app.core.principal import Principal
from app.core.timeutil import utcnow


class Entry(TypedDict, total=False):
    """What one audit entry says, besides who did it."""

    action: Required[str]
    entity_type: Required[str]
    entity_id: Required[object]
    revision: int | None
    changes: dict[str, Any] | None


def record(session: Session, *, actor: Principal | None, **entry: Unpack[Entry]) -> AuditEntry:
    written = AuditEntry(**_values(actor, entry))
    session.add(written)
    return written


def _values(actor: Principal | None, entry: Entry) -> dict[str, Any]:
    return {
        "action": entry["action"],
        "entity_type": entry["entity_type"],
        "entity_id": str(entry["entity_id"]),
        "revision": entry.get("revision"),
        "actor_organization": actor.organization if actor else None,
        "actor_role": actor.role if actor else None,
        "actor_key_prefix": actor.key_prefix if actor else None,
        "actor_person_id": actor.person_id if actor else None,
        "actor_name": actor.person_name if actor else None,
        "actor_email": actor.person_email if actor else None,
        "changes": entry.get("changes") or {},
    }


def record_many(session: Session, *, actor: Principal | None, entries: Sequence[Entry]) -> None:
    """Many entries by one actor at once, as plain rows in one statement rather than an
    object each."""
    if entries:
        now = utcnow()
        rows = [{"at": now, **_values(actor, entry)} for entry in entries]
        session.execute(sa.insert(AuditEntry), rows)


def entries(
    session: Session, *, entity_type: str, entity_id: object, after_id: int, limit: int
) -> list[AuditEntry]:
    statement = (
        select(AuditEntry)
        .where(AuditEntry.entity_type == entity_type, AuditEntry.entity_id == str(entity_id))
        .where(col(AuditEntry.id) > after_id)
        .order_by(col(AuditEntry.id))
        .limit(limit)
    )
    return list(session.exec(statement))
