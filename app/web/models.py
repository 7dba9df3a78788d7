"""Signed-in browser sessions: the cookie holds a random token; the table holds its hash, the
API key or the person (and membership) it stands for, and the session's CSRF token."""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

import app.db.types  # noqa: F401  (the metadata's naming convention, before the tables)
from app.core.timeutil import utcnow
from app.db.types import owned_by


class WebSession(SQLModel, table=True):
    __tablename__ = "web_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    # Signed in with an API key (a program's owner), or as a person acting through one of
    # their memberships; either, if revoked or removed, ends the session (the cascade).
    api_key_id: uuid.UUID | None = Field(default=None, sa_column=owned_by("api_key.id"))
    person_id: uuid.UUID | None = Field(default=None, sa_column=owned_by("person.id"))
    membership_id: uuid.UUID | None = Field(default=None, sa_column=owned_by("membership.id"))
    csrf: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)


class PendingUpload(SQLModel, table=True):
    """A file checked by a dry run on the import page, kept until it is confirmed (an hour at
    most), so that it need not be chosen again."""

    __tablename__ = "pending_upload"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # The key, or the person's membership, that uploaded it.
    api_key_id: uuid.UUID | None = Field(default=None, sa_column=owned_by("api_key.id"))
    membership_id: uuid.UUID | None = Field(default=None, sa_column=owned_by("membership.id"))
    filename: str = Field(max_length=300)
    data: bytes = Field(sa_type=sa.LargeBinary)
    provider: str | None = Field(default=None, max_length=30)
    skip_invalid: bool = False
    created_at: datetime = Field(default_factory=utcnow, index=True)
