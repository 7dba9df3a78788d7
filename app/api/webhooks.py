"""/webhooks: subscriptions to events, and their delivery logs."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from app.api.caller import CurrentPrincipal
from app.db.pagination import PageDep
from app.db.session import SessionDep
from app.webhooks import service
from app.webhooks.models import (
    DeliveryPage,
    DeliveryPublic,
    Webhook,
    WebhookIn,
    WebhookList,
    WebhookPublic,
)

router = APIRouter(tags=["webhooks"])


def load_webhook(session: SessionDep, webhook_id: uuid.UUID, viewer: CurrentPrincipal) -> Webhook:
    return service.get(session, webhook_id, viewer=viewer)


WebhookDep = Annotated[Webhook, Depends(load_webhook)]


@router.post("/webhooks", status_code=201, response_model=WebhookPublic)
def create_webhook(
    data: WebhookIn, request: Request, session: SessionDep, actor: CurrentPrincipal
) -> Webhook:
    """Subscribe a URL to events: `finding.created`, `finding.decided`, `activity.created`,
    `activity.updated`, `activity.withdrawn`, `request.matched`.  Each delivery is a POST of
    `{"id", "type", "created_at", "data"}` with `X-Assistcal-Timestamp` and
    `X-Assistcal-Signature: sha256=<HMAC-SHA256 of "<timestamp>.<body>" with the secret>`,
    and the Standard Webhooks headers `webhook-id`, `webhook-timestamp` and
    `webhook-signature` (a `whsec_<base64>` secret signs with the bytes it encodes)."""
    allow_private = request.app.state.settings.webhook_allow_private
    return service.create(session, data, actor=actor, allow_private=allow_private)


@router.get("/webhooks", response_model=WebhookList)
def list_webhooks(session: SessionDep, viewer: CurrentPrincipal) -> WebhookList:
    """The caller's organization's webhooks (an admin: all)."""
    items = [
        WebhookPublic.model_validate(w.model_dump()) for w in service.listed(session, viewer=viewer)
    ]
    return WebhookList(items=items)


@router.get("/webhooks/{webhook_id}", response_model=WebhookPublic)
def get_webhook(webhook: WebhookDep) -> Webhook:
    return webhook


@router.delete("/webhooks/{webhook_id}", status_code=204)
def disable_webhook(webhook: WebhookDep, session: SessionDep, actor: CurrentPrincipal) -> Response:
    """Disable it: nothing more is queued or sent; its log stays readable."""
    service.disable(session, webhook, actor=actor)
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveryPage)
def list_webhook_deliveries(
    webhook: WebhookDep, session: SessionDep, page: PageDep
) -> DeliveryPage:
    """Newest first: each event sent (or to send), its status (`pending`, `delivered`,
    `failed`), its attempts and the log of each (time, HTTP status or error, duration)."""
    items, next_cursor = service.deliveries(session, webhook, limit=page.limit, after=page.after(2))
    return DeliveryPage(
        items=[DeliveryPublic.model_validate(item) for item in items], next_cursor=next_cursor
    )
