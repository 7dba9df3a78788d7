"""Events for webhooks, written to the outbox (webhook_delivery) in the transaction that
made them: they are sent only if it commits.

Visibility: a webhook made by a coordinator or admin key of its organization sees every
event; any other sees activity and request events, and the findings that involve its own
organization's activities."""

import json
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.core.timeutil import utcnow
from app.db import outbox
from app.webhooks.models import Webhook, WebhookDelivery

_SUBSCRIBERS = "assistcal.webhooks"
TOPIC = "webhooks"  # the outbox worker that sends webhook_delivery


@dataclass(frozen=True)
class Event:
    type: str
    data: dict[str, Any]
    owners: Collection[str] | None = None  # acronyms it concerns; None: everyone may see it


def _subscribers(session: Session) -> list[tuple[uuid.UUID, str, frozenset[str], bool]]:
    """The live webhooks (id, organization, events, sees_all), read once per transaction."""
    cached = session.info.get(_SUBSCRIBERS)
    if cached is None:
        rows = session.exec(
            select(Webhook.id, Webhook.organization, Webhook.events, Webhook.sees_all).where(
                col(Webhook.disabled_at).is_(None)
            )
        )
        cached = [(i, org, frozenset(events), sees_all) for i, org, events, sees_all in rows]
        session.info[_SUBSCRIBERS] = cached
    return cached


def listening(session: Session, event_type: str) -> bool:
    """Whether any live webhook wants this type of event (to skip building what none reads)."""
    return any(event_type in types for _, _, types, _ in _subscribers(session))


def forget_subscribers(session: Session) -> None:
    """After a webhook is made or disabled in this transaction."""
    session.info.pop(_SUBSCRIBERS, None)


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def body(event_id: uuid.UUID, event: Event, created_at: datetime) -> str:
    """What is delivered, signed as it is."""
    payload = {
        "id": str(event_id),
        "type": event.type,
        "created_at": created_at.isoformat().replace("+00:00", "Z"),
        "data": event.data,
    }
    return json.dumps(payload, default=_plain, ensure_ascii=False, separators=(",", ":"))


def emit(session: Session, events: Iterable[Event]) -> None:
    """Queue these events for every webhook that subscribed to their type and may see them;
    one statement for all, nothing when no webhook listens."""
    subscribers = _subscribers(session)
    if not subscribers:
        return
    now = utcnow()
    rows = []
    for event in events:
        event_id = uuid.uuid4()
        text = None
        for webhook_id, organization, types, sees_all in subscribers:
            if event.type not in types:
                continue
            if not sees_all and event.owners is not None and organization not in event.owners:
                continue
            text = text or body(event_id, event, now)
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "webhook_id": webhook_id,
                    "event_id": event_id,
                    "event_type": event.type,
                    "body": text,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
    if rows:
        session.execute(sa.insert(WebhookDelivery), rows)
        outbox.queued(session, TOPIC)


def activity_event(kind: str, activity: Any, provider: str) -> Event:
    """activity.created, .updated or .withdrawn, with what a receiver needs to decide whether
    to fetch the activity (GET /api/v1/activities/{id})."""
    return Event(
        f"activity.{kind}",
        {
            "id": activity.id,
            "provider": provider,
            "title": activity.title,
            "revision": activity.revision,
            "status": activity.status,
            "visibility": activity.visibility,
            "start_date": activity.start_date,
            "end_date": activity.end_date,
        },
    )


def finding_event(kind: str, finding: Any, owners: Collection[str], **extra: Any) -> Event:
    """finding.created, .decided, .reopened or .changed; `owners`: the providers of its two
    activities; `extra`: what the event adds (`previous_kind`, `reason`)."""
    return Event(
        f"finding.{kind}",
        {
            "id": finding.id,
            "kind": finding.kind,
            "score": finding.score,
            "status": finding.status,
            "activity_ids": [finding.first_id, finding.second_id],
            **extra,
        },
        owners=owners,
    )
