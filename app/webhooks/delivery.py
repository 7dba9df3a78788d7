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
import threading
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
from app.db.engine import open_session
from app.webhooks.destination import DestinationRefused, http_client
from app.webhooks.events import PENDING
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


def backoff(attempts: int) -> timedelta:
    """The wait after the n-th failed attempt: 30 s, 2 min, 8 min, 32 min, then 2 h, 6 h."""
    return timedelta(seconds=min(30 * 4 ** (attempts - 1), 6 * 3600))


def _claim(engine: Engine, now: datetime, limit: int, lease: timedelta) -> list[tuple[Any, ...]]:
    """Due deliveries of live webhooks, leased to this process for `lease` (longer than
    sending them all can take): (delivery id, url, secret, event type, body)."""
    due = (
        sa.select(
            col(WebhookDelivery.id),
            col(Webhook.url),
            col(Webhook.secret),
            col(WebhookDelivery.event_type),
            col(WebhookDelivery.body),
        )
        .join(Webhook, col(Webhook.id) == col(WebhookDelivery.webhook_id))
        .where(
            col(WebhookDelivery.status) == "pending",
            col(WebhookDelivery.next_attempt_at) <= now,
            col(Webhook.disabled_at).is_(None),
        )
        .order_by(col(WebhookDelivery.next_attempt_at))
        .limit(limit)
    )
    with open_session(engine, write=False) as session:
        if session.execute(due).first() is None:
            return []  # nothing due: no write transaction (on SQLite, no write lock)
    with open_session(engine, write=True) as session:
        if engine.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True, of=WebhookDelivery)
        rows = [tuple(row) for row in session.execute(due)]
        if rows:
            session.execute(
                sa.update(WebhookDelivery)
                .where(col(WebhookDelivery.id).in_([row[0] for row in rows]))
                .values(next_attempt_at=now + lease)
            )
        session.commit()
    return rows


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
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = "failed"
    else:
        delivery.next_attempt_at = now + backoff(delivery.attempts)
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
        claimed = _claim(engine, now(), limit, lease)
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


# Waking the worker as soon as a transaction that queued deliveries commits.

_wakers: list[Callable[[], None]] = []


@sa.event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(PENDING, False):
        for wake in list(_wakers):
            wake()


@sa.event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(PENDING, None)


class Worker:
    """A thread that sends the outbox: woken by commits that queued deliveries, and every
    `poll_seconds` for retries and for deliveries queued by other processes."""

    def __init__(
        self,
        engine: Engine,
        *,
        poll_seconds: float,
        timeout_seconds: float,
        allow_private: bool = False,
    ) -> None:
        self.engine = engine
        self.allow_private = allow_private
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)

    def start(self) -> None:
        _wakers.append(self._wake.set)
        self._thread.start()

    def stop(self) -> None:
        if self._wake.set in _wakers:
            _wakers.remove(self._wake.set)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=self.timeout_seconds + 5)

    def _run(self) -> None:
        client = http_client(timeout=self.timeout_seconds, allow_private=self.allow_private)
        with client:
            while not self._stop.is_set():
                self._wake.clear()
                try:
                    deliver_due(self.engine, client=client)
                except Exception:  # a database hiccup must not end the thread
                    log.exception("webhook delivery pass failed")
                self._wake.wait(self.poll_seconds)


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
