import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, EmailStr
from pydantic import Field as PydanticField
from sqlmodel import AutoString, Field, SQLModel

from app.core.timeutil import UtcDatetime, utcnow
from app.core.types import (
    CountryCode,
    Description,
    ExternalRef,
    LanguageCode,
    RegionCode,
    ShortText,
    TimeOfDay,
    TimeZoneName,
    Title,
    Url,
)
from app.core.vocab import ActivityType, Audience, Domain, Modality, Status, Theme, Visibility
from app.db import stamp
from app.db.types import JSONValue


class Venue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    city: ShortText | None = None
    country: CountryCode | None = None
    modality: Modality = "in_person"


class ActivityBase(SQLModel):
    """The fields an activity stores as given, shared by the table and the API models."""

    title: Title = Field(max_length=300)
    description: Description | None = Field(default=None, sa_type=sa.Text)
    language: LanguageCode = Field(max_length=8)
    activity_type: ActivityType = Field(sa_type=AutoString)
    themes: list[Theme] = Field(sa_type=JSONValue, min_length=1, max_length=10)
    domains: list[Domain] = Field(default_factory=list, sa_type=JSONValue, max_length=4)
    audiences: list[Audience] = Field(default_factory=list, sa_type=JSONValue, max_length=12)
    partners: list[ShortText] = Field(default_factory=list, sa_type=JSONValue, max_length=50)
    external_ref: ExternalRef | None = Field(default=None, max_length=100)
    start_date: date = Field(index=True)
    end_date: date
    start_time: TimeOfDay | None = Field(default=None, max_length=5)
    end_time: TimeOfDay | None = Field(default=None, max_length=5)
    timezone: TimeZoneName | None = Field(default=None, max_length=64)
    delivery_languages: list[LanguageCode] = Field(
        default_factory=list, sa_type=JSONValue, max_length=20
    )
    status: Status = Field(default="planned", sa_type=AutoString)
    visibility: Visibility = Field(default="public", sa_type=AutoString)
    contact_email: EmailStr | None = Field(default=None, sa_type=AutoString, max_length=254)
    url: Url | None = Field(default=None, max_length=2000)


class Activity(ActivityBase, table=True):
    __table_args__ = (
        sa.UniqueConstraint("provider_id", "external_ref", name="uq_activity_provider_ref"),
        # The few activities marked as duplicates, by the one they duplicate: without it,
        # each activity deleted (a purge, a test's cleanup) scans the table for references.
        sa.Index(
            "ix_activity_duplicate_of",
            "duplicate_of",
            sqlite_where=sa.text("duplicate_of IS NOT NULL"),
            postgresql_where=sa.text("duplicate_of IS NOT NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    provider_id: int = Field(foreign_key="organization.id", index=True)
    venue_city: str | None = Field(default=None, max_length=200)
    venue_country: str | None = Field(default=None, max_length=2)
    modality: str | None = Field(default=None, max_length=20)
    revision: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)
    withdrawn_at: datetime | None = None
    duplicate_of: uuid.UUID | None = Field(default=None, foreign_key="activity.id")


LONG_RUNNING_DAYS = 31


class ActivityCountry(SQLModel, table=True):
    """Every beneficiary State of an activity, named or implied by a region, with the
    activity's dates: the index behind lookups by country and date."""

    __tablename__ = "activity_country"
    __table_args__ = (
        # Candidate search for detection: a bounded start_date range per country, short
        # activities apart from the few long ones (see findings.candidates._candidate_statement).
        sa.Index(
            "ix_activity_country_window",
            "country",
            "long_running",
            "start_date",
            "end_date",
            "activity_id",
        ),
    )

    activity_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("activity.id", ondelete="CASCADE"), primary_key=True
        )
    )
    country: str = Field(primary_key=True, max_length=2)
    named: bool = Field(description="named by the record, not implied by one of its regions")
    start_date: date
    end_date: date
    long_running: bool = Field(
        default=False, description=f"lasts more than {LONG_RUNNING_DAYS} days"
    )


class ActivityRegion(SQLModel, table=True):
    __tablename__ = "activity_region"
    __table_args__ = (sa.Index("ix_activity_region_lookup", "region", "start_date", "end_date"),)

    activity_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("activity.id", ondelete="CASCADE"), primary_key=True
        )
    )
    region: str = Field(primary_key=True, max_length=3)
    start_date: date
    end_date: date


class IdempotencyRecord(SQLModel, table=True):
    """A POST /activities seen with an Idempotency-Key, per organization."""

    __tablename__ = "idempotency_record"

    organization_id: int = Field(foreign_key="organization.id", primary_key=True)
    key: str = Field(primary_key=True, max_length=255)
    request_hash: str = Field(max_length=64)
    activity_id: uuid.UUID | None = Field(default=None, foreign_key="activity.id")
    created_at: datetime = Field(default_factory=utcnow, index=True)


class ActivityCreate(ActivityBase):
    model_config = {"extra": "forbid"}

    provider: str | None = PydanticField(
        default=None,
        max_length=30,
        description="Owning organization; coordinators and admins may name another one.",
    )
    countries: list[CountryCode] = Field(default_factory=list, max_length=250)
    regions: list[RegionCode] = Field(default_factory=list, max_length=30)
    venue: Venue | None = None


class ActivityUpdate(SQLModel):
    """A partial update: only the fields sent change; null clears an optional field."""

    model_config = {"extra": "forbid"}

    provider: str | None = PydanticField(default=None, max_length=30)
    title: Title | None = None
    description: Description | None = None
    language: LanguageCode | None = None
    activity_type: ActivityType | None = None
    themes: list[Theme] | None = PydanticField(default=None, min_length=1, max_length=10)
    domains: list[Domain] | None = PydanticField(default=None, max_length=4)
    audiences: list[Audience] | None = PydanticField(default=None, max_length=12)
    partners: list[ShortText] | None = PydanticField(default=None, max_length=50)
    external_ref: ExternalRef | None = None
    start_date: date | None = None
    end_date: date | None = None
    start_time: TimeOfDay | None = None
    end_time: TimeOfDay | None = None
    timezone: TimeZoneName | None = None
    countries: list[CountryCode] | None = PydanticField(default=None, max_length=250)
    regions: list[RegionCode] | None = PydanticField(default=None, max_length=30)
    venue: Venue | None = None
    delivery_languages: list[LanguageCode] | None = PydanticField(default=None, max_length=20)
    status: Status | None = None
    visibility: Visibility | None = None
    contact_email: EmailStr | None = PydanticField(default=None, max_length=254)
    url: Url | None = None


NULLABLE_FIELDS = frozenset(
    {
        "description",
        "external_ref",
        "start_time",
        "end_time",
        "timezone",
        "venue",
        "contact_email",
        "url",
    }
)


class ActivityPublic(BaseModel):
    id: uuid.UUID
    provider: str
    partners: list[str]
    external_ref: str | None
    title: str
    description: str | None
    language: str
    activity_type: str
    themes: list[str]
    domains: list[str]
    audiences: list[str]
    start_date: date
    end_date: date
    start_time: str | None
    end_time: str | None
    timezone: str | None
    countries: list[str]
    regions: list[str]
    venue: Venue | None
    delivery_languages: list[str]
    status: str
    visibility: str
    contact_email: str | None
    url: str | None
    revision: int
    created_at: UtcDatetime
    updated_at: UtcDatetime
    withdrawn_at: UtcDatetime | None
    duplicate_of: uuid.UUID | None


class ActivityPage(BaseModel):
    items: list[ActivityPublic]
    next_cursor: str | None


class HistoryEntry(BaseModel):
    at: UtcDatetime
    action: str
    revision: int | None
    actor_organization: str | None
    actor_role: str | None
    actor_key_prefix: str | None
    actor_name: str | None = None  # the person who acted (DOMAIN.md, "People")
    actor_email: str | None = None
    changes: dict[str, Any]


class HistoryPage(BaseModel):
    items: list[HistoryEntry]
    next_cursor: str | None


# Activities and their links are what feeds and cached reads show (app.db.stamp).
stamp.watch(Activity, ActivityCountry, ActivityRegion)
