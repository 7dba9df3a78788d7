"""Many new activities at once (an import): plain multi-row inserts of activities, their link
rows and audit entries, where service.create writes one through the ORM."""

import uuid
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.activities import records
from app.activities.models import Activity
from app.audit import service as audit
from app.core.principal import Principal
from app.core.timeutil import utcnow
from app.errors import Conflict, FieldError
from app.organizations.models import Organization
from app.webhooks import events as webhook_events


def create_many(
    session: Session, new: Sequence[tuple[Organization, dict[str, Any]]], *, actor: Principal
) -> list[uuid.UUID]:
    """Store many new activities: `new` holds (provider, record) pairs, with each record from
    records.prepared() and external_refs the caller checked are free.  A few statements per
    thousand activities instead of several per activity; returns their ids in order.  A
    reference taken meanwhile by another writer is a 409 and nothing is written."""
    if not new:
        return []
    now = utcnow()
    ids = [uuid.uuid4() for _ in new]
    rows, countries, regions = [], [], []
    entries: list[audit.Entry] = []
    for activity_id, (provider, record) in zip(ids, new, strict=True):
        rows.append(
            {
                "id": activity_id,
                "provider_id": provider.id,
                "revision": 1,
                "created_at": now,
                "updated_at": now,
                **records.columns(record),
            }
        )
        named, grouped = records.link_rows(activity_id, record)
        countries += named
        regions += grouped
        entries.append(records.created_entry(activity_id, provider.acronym, record))
    try:
        with session.begin_nested():
            session.execute(sa.insert(Activity), rows)
    except IntegrityError as exc:
        raise Conflict(
            "another writer stored one of these external_refs meanwhile: import again",
            details=[FieldError("external_ref", "already used by another activity")],
        ) from exc
    records.insert_links(session, (countries, regions))
    audit.record_many(session, actor=actor, entries=entries)
    webhook_events.emit(
        session,
        (
            webhook_events.activity_event("created", SimpleNamespace(**row), provider.acronym)
            for row, (provider, _) in zip(rows, new, strict=True)
        ),
    )
    return ids
