"""Sending the outbox: each pending delivery is POSTed to its webhook, signed, and retried
with growing delays until it succeeds or runs out of attempts.

Each delivery carries two signatures of the same body: X-Assistcal-Signature, and the
Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature) that the
specification's libraries verify.

A delivery is claimed before it is sent (its next attempt pushed a lease ahead, in a short
transaction, with SKIP LOCKED on PostgreSQL), so several processes can run the worker and
none sends what another is sending.  A process that dies between sending and recording sends
it again after the lease: receivers should ignore an `id` they have seen."""

import base64
import binascii
import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app.core.timeutil import utcnow
from app.db import outbox
from app.db.engine import open_session
from app.webhooks.destination import DestinationRefused, http_client
from app.webhooks.events import TOPIC
from app.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery

log = logging.getLogger("assistcal.webhooks")

MAX_ATTEMPTS = 8
LEASE_MARGIN = timedelta(seconds=60)


STANDARD_PREFIX = "whsec_"


def _mac(key: bytes, *parts: str) -> bytes:
    """HMAC-SHA256 of the parts joined by dots."""
    return hmac.new(key, ".".join(parts).encode(), hashlib.sha256).digest()


def signature(secret: str, timestamp: str, body: str) -> str:
    """The X-Assistcal-Signature header: HMAC-SHA256 of "<timestamp>.<body>"."""
    return "sha256=" + _mac(secret.encode(), timestamp, body).hex()


def standard_key(secret: str) -> bytes:
    """The key of the Standard Webhooks signature.  A secret in that specification's form,
    `whsec_<base64>`, stands for the bytes it encodes, as the specification's libraries read
    it: a receiver passes it to them as it is.  Any other secret is its UTF-8 bytes, which a
    receiver passes as `whsec_` + base64 of them (docs/api.md, Webhooks)."""
    if secret.startswith(STANDARD_PREFIX):
        encoded = secret.removeprefix(STANDARD_PREFIX)
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except binascii.Error:
            key = b""
        if key:
            return key
    return secret.encode()


def standard_signature(secret: str, message_id: str, timestamp: str, body: str) -> str:
    """The webhook-signature header of Standard Webhooks: "v1," and the base64 HMAC-SHA256 of
    "<webhook-id>.<webhook-timestamp>.<body>"."""
    digest = _mac(standard_key(secret), message_id, timestamp, body)
    return "v1," + base64.b64encode(digest).decode()


FIRST_RETRY = timedelta(seconds=30)  # then 2 min, 8 min, 32 min, 2 h, 6 h, 6 h
LONGEST_WAIT = timedelta(hours=6)


# What a delivery is sent with: (delivery id, url, secret, event type, body), of live webhooks.
_SENT_WITH = (
    sa.select(
        col(WebhookDelivery.id),
        col(Webhook.url),
        col(Webhook.secret),
        col(WebhookDelivery.event_type),
        col(WebhookDelivery.body),
    )
    .join(Webhook, col(Webhook.id) == col(WebhookDelivery.webhook_id))
    .where(col(Webhook.disabled_at).is_(None))
)


def _send(
    client: httpx.Client, delivery: tuple[Any, ...], now: datetime
) -> tuple[int | None, str | None]:
    delivery_id, url, secret, event_type, body = delivery
    timestamp = str(int(now.timestamp()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "assistcal-webhooks",
        "X-Assistcal-Event": event_type,
        "X-Assistcal-Delivery": str(delivery_id),
        "X-Assistcal-Timestamp": timestamp,
        "X-Assistcal-Signature": signature(secret, timestamp, body),
        # The same, as Standard Webhooks (standardwebhooks.com) has them: the id is the
        # delivery's, the same on every retry of it; the timestamp is the attempt's.
        "webhook-id": str(delivery_id),
        "webhook-timestamp": timestamp,
        "webhook-signature": standard_signature(secret, str(delivery_id), timestamp, body),
    }
    try:
        response = client.post(url, content=body.encode(), headers=headers)
    except DestinationRefused:  # checked as the connection opens: the name may have moved
        return None, "destination refused: an address inside a network"
    except httpx.HTTPError as exc:
        # The kind of failure only: its text could tell a key holder about the network.
        return None, type(exc).__name__
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}"


def _record(
    session: Session,
    delivery_id: uuid.UUID,
    result: tuple[int | None, str | None],
    started: float,
    now: datetime,
) -> None:
    status_code, error = result
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.status != "pending":  # deleted, or recorded meanwhile
        return
    session.add(
        WebhookAttempt(
            delivery_id=delivery_id,
            at=now,
            status_code=status_code,
            error=error,
            duration_ms=int((time.perf_counter() - started) * 1000),
        )
    )
    delivery.attempts += 1
    if error is None:
        delivery.status = "delivered"
        delivery.delivered_at = now
    else:
        retry = outbox.retry_at(
            delivery.attempts, now, first=FIRST_RETRY, cap=LONGEST_WAIT, max_attempts=MAX_ATTEMPTS
        )
        if retry is None:
            delivery.status = "failed"
        else:
            delivery.next_attempt_at = retry
    session.add(delivery)


def deliver_due(
    engine: Engine,
    *,
    client: httpx.Client,
    now: Callable[[], datetime] = utcnow,
    limit: int = 20,
) -> int:
    """Send what is due now, once; returns how many attempts were made.  `client` is one
    of destination.http_client: it is what keeps deliveries to public addresses."""
    made = 0
    timeout = client.timeout.read or client.timeout.connect or 10.0
    lease = timedelta(seconds=limit * 2 * timeout) + LEASE_MARGIN  # connect and read, each
    while True:
        claimed = outbox.claim(
            engine, _SENT_WITH, model=WebhookDelivery, now=now(), lease=lease, limit=limit
        )
        if not claimed:
            return made
        results = []
        for delivery in claimed:
            started, at = time.perf_counter(), now()
            sent = _send(client, delivery, at)
            results.append((delivery[0], sent, started, at))
        with open_session(engine, write=True) as session:
            for delivery_id, result, started, at in results:
                _record(session, delivery_id, result, started, at)
            session.commit()
        made += len(claimed)
        if len(claimed) < limit:
            return made


class Worker(outbox.Worker):
    """The webhook deliveries' worker thread (app.db.outbox.Worker), with its HTTP client."""

    topic = TOPIC

    def __init__(
        self,
        engine: Engine,
        *,
        poll_seconds: float,
        timeout_seconds: float,
        allow_private: bool = False,
    ) -> None:
        super().__init__(poll_seconds=poll_seconds, stop_seconds=timeout_seconds + 5, log=log)
        self.engine = engine
        self.allow_private = allow_private
        self.timeout_seconds = timeout_seconds

    def opened(self) -> httpx.Client:
        return http_client(timeout=self.timeout_seconds, allow_private=self.allow_private)

    def send_due(self, opened: httpx.Client) -> None:
        deliver_due(self.engine, client=opened)


def describe(session: Session, delivery: WebhookDelivery) -> dict[str, Any]:
    """A delivery and the log of its attempts, as the API shows it."""
    attempts = session.exec(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery.id)
        .order_by(col(WebhookAttempt.id))
    )
    return {
        **delivery.model_dump(exclude={"body", "webhook_id"}),
        "next_attempt_at": delivery.next_attempt_at if delivery.status == "pending" else None,
        "log": [a.model_dump() for a in attempts],
    }
