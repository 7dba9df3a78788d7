import uuid
from datetime import datetime

from sqlmodel import AutoString, Field, SQLModel

import app.db.types  # noqa: F401  (the metadata's naming convention, before the tables)
from app.core.timeutil import UtcDatetime, utcnow
from app.core.vocab import Role
from app.db import stamp


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    key_hash: str = Field(unique=True, max_length=64)
    prefix: str = Field(max_length=16)
    role: str = Field(max_length=20)
    name: str | None = Field(default=None, max_length=200)
    organization_id: int = Field(foreign_key="organization.id", index=True)
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
