import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.core.timeutil import utcnow
from app.db.types import JSONValue


class AuditEntry(SQLModel, table=True):
    """Who did what, when: one row per change to an organization, key or activity."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_entity", "entity_type", "entity_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    action: str = Field(max_length=40)
    entity_type: str = Field(max_length=20)
    entity_id: str = Field(max_length=36)
    revision: int | None = None
    actor_organization: str | None = Field(default=None, max_length=30)
    actor_role: str | None = Field(default=None, max_length=20)
    actor_key_prefix: str | None = Field(default=None, max_length=16)
    # The person who acted (kept as written then: a person renamed or removed later does
    # not rewrite history).
    actor_person_id: uuid.UUID | None = None
    actor_name: str | None = Field(default=None, max_length=200)
    actor_email: str | None = Field(default=None, max_length=254)
    changes: dict[str, Any] = Field(default_factory=dict, sa_type=JSONValue)
