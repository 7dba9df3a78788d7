"""Deliveries as a Standard Webhooks receiver sees them: the specification's own library
verifies what a real HTTP server received, with the secret as docs/api.md says to pass it."""

import base64
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from app.core.timeutil import utcnow
from app.webhooks.delivery import standard_key
from tests.conftest import KeyMaker
from tests.helpers import auth
from tests.webhooks.test_webhooks import API, SECRET, Receiver, post_activity, send, subscribe


def retried(
    client: TestClient, make_key: KeyMaker, engine: Engine, receiver: Receiver, secret: str
) -> str:
    """One delivery to a webhook with `secret`, refused, then retried 31 s later: `receiver`
    holds both attempts.  Returns the delivery's id, as the deliveries log shows it."""
    key = make_key("UNLIREC", "provider")
    receiver.statuses = [503]
    made = subscribe(client, key, receiver.url, "activity.created", secret=secret)
    assert made.status_code == 201, made.text
    post_activity(client, key)
    start = utcnow() + timedelta(seconds=1)
    assert [send(engine, start), send(engine, start + timedelta(seconds=31))] == [1, 1]
    log = client.get(f"{API}/webhooks/{made.json()['id']}/deliveries", headers=auth(key))
    delivery_id: str = log.json()["items"][0]["id"]
    return delivery_id


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def test_a_delivery_and_its_retry_verify_with_the_standard_webhooks_library(
    client: TestClient, make_key: KeyMaker, engine: Engine, receiver: Receiver
) -> None:
    delivery_id = retried(client, make_key, engine, receiver, SECRET)

    # A secret that is not of the whsec_ form: receivers pass "whsec_" + base64 of its bytes.
    verifier = Webhook("whsec_" + base64.b64encode(SECRET.encode()).decode())
    for headers, body in receiver.received:
        assert verifier.verify(body.encode(), headers)["type"] == "activity.created"
    (first, _), (retry, body) = [(lower(headers), body) for headers, body in receiver.received]
    # One delivery, one id on every attempt (the delivery's); each attempt its own time.
    assert first["webhook-id"] == retry["webhook-id"] == delivery_id
    assert retry["webhook-id"] == retry["x-assistcal-delivery"]
    assert int(retry["webhook-timestamp"]) - int(first["webhook-timestamp"]) == 31
    assert retry["webhook-timestamp"] == retry["x-assistcal-timestamp"]
    assert retry["webhook-signature"].startswith("v1,")

    tampered = body.replace('"activity.created"', '"activity.updated"')
    assert tampered != body
    with pytest.raises(WebhookVerificationError):
        verifier.verify(tampered.encode(), retry)
    with pytest.raises(WebhookVerificationError):  # another secret
        Webhook(base64.b64encode(b"another-shared-secret").decode()).verify(body, retry)
    with pytest.raises(WebhookVerificationError):  # the signature of another delivery
        verifier.verify(body, {**retry, "webhook-id": "msg_another"})


def test_a_whsec_secret_is_passed_to_the_library_as_it_is(
    client: TestClient, make_key: KeyMaker, engine: Engine, receiver: Receiver
) -> None:
    secret = "whsec_" + base64.b64encode(bytes(range(24))).decode()
    retried(client, make_key, engine, receiver, secret)

    for headers, body in receiver.received:
        assert Webhook(secret).verify(body, headers)["type"] == "activity.created"
    assert standard_key(secret) == bytes(range(24))
    # Unpadded, as the library also takes it; and a whsec_ that is not base64 is text.
    assert standard_key(secret.rstrip("=")) == bytes(range(24))
    assert standard_key("whsec_not-base-64!") == b"whsec_not-base-64!"
