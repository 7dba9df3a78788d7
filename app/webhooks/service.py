"""Webhooks: made by an admin or by the organization itself, listed, disabled, and their
delivery log read."""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from app.audit import service as audit
from app.core.principal import Principal
from app.core.timeutil import utcnow
from app.db.pagination import newest_first
from app.errors import Forbidden, NotFound, ValidationFailed
from app.organizations import service as organizations
from app.webhooks import delivery, destination, events
from app.webhooks.models import Webhook, WebhookDelivery, WebhookIn


def create(
    session: Session, data: WebhookIn, *, actor: Principal, allow_private: bool = False
) -> Webhook:
    """A webhook for the caller's organization (an admin may name another).  It sees what
    the key that made it sees: every event for a coordinator or admin key of the
    organization, else activity and request events and the findings involving the
    organization's own activities."""
    if not allow_private:
        refused = destination.destination_refused(data.url)
        if refused is not None:
            raise ValidationFailed.on("url", refused + " (ASSISTCAL_WEBHOOK_ALLOW_PRIVATE)")
    owner = actor.organization
    if data.organization is not None and data.organization.strip().upper() != owner:
        if not actor.is_admin:
            raise Forbidden("a webhook is for the caller's own organization")
        found = organizations.find(session, data.organization)
        if found is None:
            raise ValidationFailed.on(
                "organization", f"no organization with acronym {data.organization!r}"
            )
        owner = found.acronym
    webhook = Webhook(
        organization=owner,
        url=data.url,
        events=[*dict.fromkeys(data.events)],
        secret=data.secret,
        sees_all=actor.reads_all and owner == actor.organization,
        created_by=actor.label,
    )
    session.add(webhook)
    session.flush()
    events.forget_subscribers(session)
    audit.record(
        session,
        actor=actor,
        action="webhook.create",
        entity_type="webhook",
        entity_id=webhook.id,
        changes={"organization": owner, "url": data.url, "events": webhook.events},
    )
    return webhook


def _visible(webhook: Webhook, viewer: Principal) -> bool:
    return viewer.is_admin or webhook.organization == viewer.organization


def listed(session: Session, *, viewer: Principal) -> list[Webhook]:
    statement = select(Webhook).order_by(col(Webhook.created_at), col(Webhook.id))
    if not viewer.is_admin:
        statement = statement.where(Webhook.organization == viewer.organization)
    return list(session.exec(statement))


def get(session: Session, webhook_id: uuid.UUID, *, viewer: Principal) -> Webhook:
    webhook = session.get(Webhook, webhook_id)
    if webhook is None or not _visible(webhook, viewer):
        raise NotFound(f"no webhook with id {webhook_id}")
    return webhook


def disable(session: Session, webhook: Webhook, *, actor: Principal) -> None:
    """No more events, nothing more sent; the webhook and its log stay readable."""
    if webhook.disabled_at is not None:
        return
    webhook.disabled_at = utcnow()
    session.add(webhook)
    events.forget_subscribers(session)
    audit.record(
        session, actor=actor, action="webhook.disable", entity_type="webhook", entity_id=webhook.id
    )
    session.flush()


def deliveries(
    session: Session, webhook: Webhook, *, limit: int, after: Sequence[str | int] | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The webhook's deliveries, newest first, each with the log of its attempts."""
    statement = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id)
    rows, next_cursor = newest_first(
        session,
        statement,
        created=col(WebhookDelivery.created_at),
        ident=col(WebhookDelivery.id),
        limit=limit,
        after=after,
    )
    return [delivery.describe(session, row) for row in rows], next_cursor
