from typing import Any

from sqlmodel import Session, col, select

from app.audit.models import AuditEntry
from app.auth.principal import Principal


def record(
    session: Session,
    *,
    actor: Principal | None,
    action: str,
    entity_type: str,
    entity_id: object,
    revision: int | None = None,
    changes: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        revision=revision,
        actor_organization=actor.organization if actor else None,
        actor_role=actor.role if actor else None,
        actor_key_prefix=actor.key_prefix if actor else None,
        changes=changes or {},
    )
    session.add(entry)
    return entry


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
