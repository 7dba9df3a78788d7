"""Feed tables (events' texts, private feed tokens) and the feed API's
models."""

import uuid
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from app.core.i18n import Language
from app.core.timeutil import UtcDatetime, utcnow
from app.core.types import CountryCode, RegionCode
from app.core.vocab import ActivityType, Domain, Status, Theme
from app.db import stamp
from app.db.types import JSONValue, owned_by


class FeedEvent(SQLModel, table=True):
    """How often an activity's provider was renamed since it had this one: no cache, each
    rename adds one to the event's SEQUENCE and moves its LAST-MODIFIED (its texts, in each
    language, are `FeedEventText`)."""

    __tablename__ = "feed_event"

    activity_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("activity.id", ondelete="CASCADE"), primary_key=True
        )
    )
    renamed: int = Field(default=0)
    renamed_at: datetime | None = None


class FeedEventText(SQLModel, table=True):
    """An activity's event as feeds in one language show it, kept so that a new process
    assembles a feed without rendering it again.

    `text` is app.feeds.render.event's output for the key whose digest is `text_key`
    (render.EventRef.key: the activity's revision, its provider's name, the renames, the
    language, the format); a text whose key is no longer the event's is rendered again, and
    so replaced, when a feed next shows it."""

    __tablename__ = "feed_event_text"

    activity_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("activity.id", ondelete="CASCADE"), primary_key=True
        )
    )
    language: str = Field(primary_key=True, max_length=5)
    text_key: str = Field(max_length=32)
    text: str = Field(sa_type=sa.Text)


class FeedToken(SQLModel, table=True):
    """A private feed: named filters behind a secret URL.  Only a digest of the secret is
    stored."""

    __tablename__ = "feed_token"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    label: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    organization_id: int = Field(foreign_key="organization.id", index=True)
    # The key or the membership that made it: a private feed lives no longer than that.
    api_key_id: uuid.UUID | None = Field(default=None, foreign_key="api_key.id", index=True)
    membership_id: uuid.UUID | None = Field(default=None, sa_column=owned_by("membership.id"))
    created_by: str = Field(max_length=260)
    filters: dict[str, Any] = Field(default_factory=dict, sa_type=JSONValue)
    # The feed's language; None: its owner's (the person's, as it is when the feed is read),
    # else English.
    language: str | None = Field(default=None, max_length=5)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


def _listed(value: Any) -> Any:
    """One value or a list of them."""
    return [value] if isinstance(value, str) else value


_OneOrMany = BeforeValidator(_listed)
_AtMost = PydanticField(max_length=50)
Acronym = Annotated[str, PydanticField(min_length=1, max_length=40)]


class FeedFilters(BaseModel):
    """The list API's filters that a feed may keep; each takes one value or a list."""

    model_config = ConfigDict(extra="forbid")

    country: Annotated[list[CountryCode], _OneOrMany, _AtMost] = []
    region: Annotated[list[RegionCode], _OneOrMany, _AtMost] = []
    theme: Annotated[list[Theme], _OneOrMany, _AtMost] = []
    domain: Annotated[list[Domain], _OneOrMany, _AtMost] = []
    type: Annotated[list[ActivityType], _OneOrMany, _AtMost] = []
    provider: Annotated[list[Acronym], _OneOrMany, _AtMost] = []
    status: Annotated[list[Status], _OneOrMany, _AtMost] = []
    q: str | None = PydanticField(default=None, min_length=1, max_length=200)
    updated_since: datetime | None = None


class FeedTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = PydanticField(
        min_length=1,
        max_length=100,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="The feed's name in calendars; one line, no control characters.",
    )
    filters: FeedFilters = PydanticField(default_factory=FeedFilters)
    language: Language | None = PydanticField(
        default=None,
        description="The language of the feed's name and event descriptions; default: that "
        "of the person who made it, as it is when the feed is read (English for a program's "
        "key).",
    )


class FeedLinks(BaseModel):
    url: str = PydanticField(description="http:// or https:// address of the feed")
    webcal_url: str = PydanticField(description="webcal:// address: opens the calendar app")
    google_url: str = PydanticField(description="adds the feed to Google Calendar by URL")


class FeedTokenCreated(FeedLinks):
    id: uuid.UUID
    token: str = PydanticField(description="The secret; shown once, stored only hashed.")


class FeedTokenPublic(BaseModel):
    id: uuid.UUID
    label: str
    filters: FeedFilters
    created_by: str
    created_at: UtcDatetime
    revoked_at: UtcDatetime | None
    language: str | None


# A revoked token's cached feed must end (app.db.stamp).
stamp.watch(FeedToken)
