"""Idempotency-Key for POST /activities: a retried request returns the first one's result.

Keys are scoped per organization and remembered `ttl_hours` (48 by default, never under 24).
"""

import hashlib
import json
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.activities.models import IdempotencyRecord
from app.core.timeutil import utcnow
from app.errors import Conflict, FieldError


def request_hash(body: dict[str, Any]) -> str:
    """A fingerprint of a request body: equal for bodies that mean the same."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim(
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
