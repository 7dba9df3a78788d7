"""What notices keep: each person's choices and the digests sent (the events waiting to be
told are app.mail.models.Notice)."""

import uuid
from datetime import datetime
from typing import Literal, get_args

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

import app.db.types  # noqa: F401  (the metadata's naming convention, before the tables)
from app.core.timeutil import utcnow
from app.db.types import owned_by

# What a person may turn off, each with its own unsubscribe link.
NoticeKind = Literal["findings", "decisions", "requests", "changes", "digest"]
NOTICE_KINDS: tuple[str, ...] = get_args(NoticeKind)
DigestFrequency = Literal["off", "daily", "weekly"]
DIGEST_FREQUENCIES: tuple[str, ...] = get_args(DigestFrequency)


class NoticeChoice(SQLModel, table=True):
    """A person's choices of e-mail; a person without a row gets every notice and, as a
    coordinator or admin, the weekly digest.  `secret` keys the person's unsubscribe links
    (app.notices.choices): random, never shown, so no link can be made for another person."""

    __tablename__ = "notice_choice"

    person_id: uuid.UUID = Field(sa_column=owned_by("person.id", nullable=False, index=False))
    findings: bool = True
    decisions: bool = True
    requests: bool = True
    changes: bool = True
    digest: str = Field(default="weekly", max_length=10)
    secret: str = Field(max_length=64)
    updated_at: datetime = Field(default_factory=utcnow)

    __table_args__ = (sa.PrimaryKeyConstraint("person_id"),)


class DigestSent(SQLModel, table=True):
    """One digest per person and period ("2027-03-08" daily, "2027-W10" weekly): its key
    makes a second process's attempt at the same digest fail, so each is sent once."""

    __tablename__ = "digest_sent"

    person_id: uuid.UUID = Field(sa_column=owned_by("person.id", nullable=False, index=False))
    period: str = Field(max_length=12)
    mail_id: uuid.UUID | None = None
    sent_at: datetime = Field(default_factory=utcnow)

    __table_args__ = (sa.PrimaryKeyConstraint("person_id", "period"),)
