"""Webhooks: subscriptions, the outbox of deliveries and the log of their attempts."""

import uuid
from datetime import datetime
from typing import Annotated, Literal, get_args

import sqlalchemy as sa
from pydantic import BaseModel, StringConstraints
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from app.core.timeutil import UtcDatetime, utcnow
from app.core.types import Url
from app.db.types import JSONValue

EventType = Literal[
    "finding.created",
    "finding.decided",
    "finding.reopened",
    "finding.changed",
    "activity.created",
    "activity.updated",
    "activity.withdrawn",
    "request.matched",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
Secret = Annotated[str, StringConstraints(min_length=16, max_length=200)]


class Webhook(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    organization: str = Field(max_length=30, index=True, description="the owner's acronym")
    url: str = Field(max_length=2000)
    events: list[str] = Field(sa_type=JSONValue)
    secret: str = Field(max_length=200)
    sees_all: bool = Field(description="made by a coordinator or admin key of its organization")
    created_by: str = Field(max_length=260)
    created_at: datetime = Field(default_factory=utcnow)
    disabled_at: datetime | None = None


class WebhookDelivery(SQLModel, table=True):
    """One event for one webhook: written in the transaction that made the event, sent by
    the delivery worker after it committed (a transaction that rolls back leaves none)."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (sa.Index("ix_webhook_delivery_due", "status", "next_attempt_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    webhook_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("webhook.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    event_id: uuid.UUID
    event_type: str = Field(max_length=40)
    body: str = Field(sa_type=sa.Text)
    status: str = Field(default="pending", max_length=20)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None


class WebhookAttempt(SQLModel, table=True):
    __tablename__ = "webhook_attempt"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid,
            sa.ForeignKey("webhook_delivery.id", ondelete="CASCADE"),
            index=True,
            nullable=False,
        )
    )
    at: datetime = Field(default_factory=utcnow)
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=500)
    duration_ms: int = 0


class WebhookIn(BaseModel):
    model_config = {"extra": "forbid"}
    url: Url
    events: list[EventType] = PydanticField(min_length=1, max_length=len(EVENT_TYPES))
    secret: Secret = PydanticField(
        description="16 to 200 characters; signs every delivery (HMAC-SHA256), never shown again"
    )
    organization: str | None = PydanticField(
        default=None, max_length=30, description="admins: the organization it is for"
    )


class WebhookPublic(BaseModel):
    id: uuid.UUID
    organization: str
    url: str
    events: list[str]
    sees_all: bool
    created_by: str
    created_at: UtcDatetime
    disabled_at: UtcDatetime | None


class WebhookList(BaseModel):
    items: list[WebhookPublic]


class AttemptPublic(BaseModel):
    at: UtcDatetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryPublic(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: UtcDatetime | None
    created_at: UtcDatetime
    delivered_at: UtcDatetime | None
    log: list[AttemptPublic]


class DeliveryPage(BaseModel):
    items: list[DeliveryPublic]
    next_cursor: str | None
