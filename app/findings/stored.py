"""Stored findings as the API shows them, and an activity's read back."""

import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from app.findings.models import Finding, FindingPublic

KIND_ORDER = {"duplicate": 0, "overlap": 1, "clash": 2}


def public(row: Any) -> FindingPublic:
    """A finding as the API shows it, from a Finding or a plain row of its table."""
    return FindingPublic.model_validate(
        {
            "id": row.id,
            "kind": row.kind,
            "score": row.score,
            "reasons": row.reasons,
            "status": row.status,
            "activity_ids": [row.first_id, row.second_id],
            "note": row.note,
            "decided_by": row.decided_by,
            "decided_at": row.decided_at,
            "created_at": row.created_at,
        }
    )


def rows(session: Session, activity_id: uuid.UUID) -> list[Any]:
    """The findings of an activity as plain rows, read afresh (not from the ORM's cache)."""
    table = Finding.__table__  # type: ignore[attr-defined]
    statement = table.select().where(
        sa.or_(table.c.first_id == activity_id, table.c.second_id == activity_id)
    )
    return list(session.connection().execute(statement))


def strongest_first(found: list[Any]) -> list[FindingPublic]:
    """Findings (Findings or plain rows) as the API shows them: duplicates, overlaps, clashes,
    each by score."""
    found.sort(key=lambda r: (KIND_ORDER.get(r.kind, 9), -r.score, str(r.id)))
    return [public(row) for row in found]
