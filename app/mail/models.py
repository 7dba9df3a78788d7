"""The mail outbox: each message is written in the transaction of the change it tells
about (a rolled-back change sends nothing), then sent by the mail worker."""

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

import app.db.types  # noqa: F401  (the metadata's naming convention, before the tables)
from app.core.timeutil import utcnow
from app.db.types import JSONValue


class OutboxMail(SQLModel, table=True):
    __tablename__ = "mail_outbox"
    __table_args__ = (sa.Index("ix_mail_outbox_due", "status", "next_attempt_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    to_address: str = Field(max_length=254)
    subject: str = Field(max_length=300)
    text_body: str = Field(sa_type=sa.Text)
    html_body: str | None = Field(default=None, sa_type=sa.Text)
    language: str = Field(default="en", max_length=5)
    message_id: str = Field(max_length=200)
    status: str = Field(default="pending", max_length=20)  # pending, sent, failed, cancelled
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    last_error: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    # Headers beside the usual ones: threading, Reply-To, List-Unsubscribe (app.notices).
    headers: dict[str, str] | None = Field(default=None, sa_type=JSONValue)
    # The person it is for, when it is for one: not sent once they are removed.
    person_id: uuid.UUID | None = None
    # The organization it tells of, when one: not sent once the person has left it.
    organization_id: int | None = None


class Notice(SQLModel, table=True):
    """An event to tell the members of one organization: written in the transaction of the
    change (a rolled-back change tells nothing), composed into e-mails once due, together
    with whatever else is waiting for the same people (app.notices.batch).  Recorded by
    app.mail.notices."""

    __tablename__ = "notice"
    __table_args__ = (sa.Index("ix_notice_due", "status", "due_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    organization_id: int = Field(foreign_key="organization.id", index=True)
    kind: str = Field(max_length=20)  # findings, decisions, requests, changes
    event: str = Field(max_length=40)  # finding.created, finding.decided, activity.updated, ...
    topic: str = Field(max_length=80)  # what it is about, for threading: "finding:<id>"
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONValue)
    actor_person_id: uuid.UUID | None = None  # who made the change: not told of it
    status: str = Field(default="pending", max_length=10)  # pending, told
    created_at: datetime = Field(default_factory=utcnow)
    due_at: datetime
