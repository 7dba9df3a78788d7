import uuid
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import EmailStr, StringConstraints
from sqlmodel import AutoString, Field, SQLModel

import app.db.types  # noqa: F401  (the metadata's naming convention, before the tables)
from app.core.timeutil import UtcDatetime, utcnow
from app.core.vocab import Role
from app.db import stamp
from app.db.types import JSONValue, owned_by


class Person(SQLModel, table=True):
    """Someone who signs in: found by e-mail (stored lower-cased, so compared without case).
    Kept when removed (`removed_at`), so that histories still name them."""

    __tablename__ = "person"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(unique=True, max_length=254)
    name: str = Field(max_length=200)
    language: str = Field(default="en", max_length=5)
    created_at: datetime = Field(default_factory=utcnow)
    joined_at: datetime | None = None  # first signed in
    removed_at: datetime | None = None


class Membership(SQLModel, table=True):
    """A person's place in an organization: a role there, and whether they manage its
    members and keys.  `invited` until the person first signs in."""

    __tablename__ = "membership"
    __table_args__ = (sa.UniqueConstraint("person_id", "organization_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    person_id: uuid.UUID = Field(sa_column=owned_by("person.id", nullable=False))
    organization_id: int = Field(foreign_key="organization.id", index=True)
    role: str = Field(max_length=20)
    manages: bool = False
    status: str = Field(default="invited", max_length=20)
    invited_by: str | None = Field(default=None, max_length=260)
    created_at: datetime = Field(default_factory=utcnow)


class AuthLink(SQLModel, table=True):
    """A single-use secret in flight: an invitation's or a sign-in e-mail's link, or the
    state of a single sign-on.  Only the secret's SHA-256 is kept."""

    __tablename__ = "auth_link"

    token_hash: str = Field(primary_key=True, max_length=64)
    purpose: str = Field(max_length=20)  # invitation, sign_in, oidc
    person_id: uuid.UUID | None = Field(default=None, sa_column=owned_by("person.id"))
    membership_id: uuid.UUID | None = Field(
        default=None, sa_column=owned_by("membership.id", index=False)
    )
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONValue)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)
    used_at: datetime | None = None


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    key_hash: str = Field(unique=True, max_length=64)
    prefix: str = Field(max_length=16)
    role: str = Field(max_length=20)
    name: str | None = Field(default=None, max_length=200)
    organization_id: int = Field(foreign_key="organization.id", index=True)
    # A person's own key acts as that person, through their membership of the organization.
    person_id: uuid.UUID | None = Field(default=None, foreign_key="person.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class ApiKeyCreate(SQLModel):
    model_config = {"extra": "forbid"}
    role: Role = Field(sa_type=AutoString)
    name: str | None = Field(default=None, max_length=200)


class ApiKeyPublic(SQLModel):
    id: uuid.UUID
    prefix: str
    role: str
    name: str | None
    organization: str
    owner: str | None = None  # the person whose key it is; none for an organization key
    created_at: UtcDatetime
    last_used_at: UtcDatetime | None
    revoked_at: UtcDatetime | None


class ApiKeyCreated(SQLModel):
    """The answer to a key creation: the only time the full key is shown."""

    id: uuid.UUID
    key: str
    prefix: str
    role: str
    organization: str


# A revoked key's cached reads must end; its last use is shown by no cached read.
stamp.watch(ApiKey, ignore=["last_used_at"])


# A person's name, as histories show it: on one line, without control characters.
OneLine = Annotated[str, StringConstraints(min_length=1, pattern=r"^[^\x00-\x1f\x7f]+$")]


class MemberIn(SQLModel):
    """An invitation: who, and with what role."""

    model_config = {"extra": "forbid"}
    email: EmailStr = Field(sa_type=AutoString, max_length=254)
    name: OneLine | None = Field(default=None, max_length=200)
    role: Role = Field(sa_type=AutoString)
    manages: bool = False
    language: str | None = Field(default=None, max_length=5)


class MemberUpdate(SQLModel):
    model_config = {"extra": "forbid"}
    role: Role | None = Field(default=None, sa_type=AutoString)
    manages: bool | None = None


class MemberPublic(SQLModel):
    id: uuid.UUID
    email: str
    name: str
    role: str
    manages: bool
    status: str
    organization: str
    created_at: UtcDatetime


class MembershipPublic(SQLModel):
    id: uuid.UUID
    organization: str
    role: str
    manages: bool
    status: str


class PersonPublic(SQLModel):
    id: uuid.UUID
    email: str
    name: str
    language: str
    memberships: list[MembershipPublic]


stamp.watch(Membership)
stamp.watch(Person)
