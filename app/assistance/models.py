"""States' requests for assistance, their status history and the activities answering them."""

import uuid
from datetime import date, datetime
from typing import Literal, get_args

import sqlalchemy as sa
from pydantic import BaseModel
from pydantic import Field as PydanticField
from sqlmodel import AutoString, Field, SQLModel

from app.core.timeutil import UtcDatetime, utcnow
from app.core.types import CountryCode, Description, LanguageCode
from app.core.vocab import ActivityType, Domain, Theme
from app.db.types import JSONValue

RequestStatus = Literal[
    "received", "acknowledged", "circulated", "matched", "in_progress", "delivered", "closed"
]
STATUSES: tuple[str, ...] = get_args(RequestStatus)
Priority = Literal["low", "normal", "high"]


class RequestBase(SQLModel):
    country: CountryCode = Field(max_length=2, index=True, description="the requesting State")
    themes: list[Theme] = Field(sa_type=JSONValue, min_length=1, max_length=10)
    domains: list[Domain] = Field(default_factory=list, sa_type=JSONValue, max_length=4)
    help_sought: ActivityType = Field(sa_type=AutoString, description="the kind of help sought")
    language: LanguageCode = Field(max_length=8, description="preferred language")
    description: Description | None = Field(default=None, sa_type=sa.Text)
    priority: Priority = Field(default="normal", sa_type=AutoString)


class AssistanceRequest(RequestBase, table=True):
    __tablename__ = "assistance_request"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    status: str = Field(default="received", max_length=20, index=True)
    recorded_by: str = Field(max_length=30, description="the organization that recorded it")
    revision: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class RequestStatusChange(SQLModel, table=True):
    """Who moved a request to which status, and when."""

    __tablename__ = "request_status_change"

    id: int | None = Field(default=None, primary_key=True)
    request_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid,
            sa.ForeignKey("assistance_request.id", ondelete="CASCADE"),
            index=True,
            nullable=False,
        )
    )
    status: str = Field(max_length=20)
    by: str = Field(
        max_length=260, description="the person (organization), or organization (key prefix)"
    )
    at: datetime = Field(default_factory=utcnow)
    note: str | None = Field(default=None, max_length=2000)


class RequestActivity(SQLModel, table=True):
    """A planned activity that answers a request."""

    __tablename__ = "request_activity"

    request_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid,
            sa.ForeignKey("assistance_request.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    activity_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("activity.id", ondelete="CASCADE"), primary_key=True, index=True
        )
    )
    linked_by: str = Field(max_length=260)
    linked_at: datetime = Field(default_factory=utcnow)


class RequestCreate(RequestBase):
    model_config = {"extra": "forbid"}


class RequestUpdate(SQLModel):
    model_config = {"extra": "forbid"}
    status: RequestStatus | None = None
    note: str | None = PydanticField(
        default=None, max_length=2000, description="why the status moved (kept in its history)"
    )
    themes: list[Theme] | None = PydanticField(default=None, min_length=1, max_length=10)
    domains: list[Domain] | None = PydanticField(default=None, max_length=4)
    help_sought: ActivityType | None = None
    language: LanguageCode | None = None
    description: Description | None = None
    priority: Priority | None = None


class StatusChangePublic(BaseModel):
    status: str
    by: str
    at: UtcDatetime
    note: str | None


class RequestPublic(RequestBase):
    id: uuid.UUID
    status: RequestStatus
    recorded_by: str
    revision: int
    created_at: UtcDatetime
    updated_at: UtcDatetime
    history: list[StatusChangePublic]
    activity_ids: list[uuid.UUID] = PydanticField(description="planned activities answering it")
    answered: bool = PydanticField(description="an activity answers it")


class RequestPage(BaseModel):
    items: list[RequestPublic]
    next_cursor: str | None


class LinkIn(BaseModel):
    model_config = {"extra": "forbid"}
    activity_id: uuid.UUID


class Reason(BaseModel):
    code: str
    message: str
    contribution: float


class ProviderMatch(BaseModel):
    provider: str
    name: str
    score: float
    reasons: list[Reason]
    contact_email: str | None


class ActivityMatch(BaseModel):
    id: uuid.UUID
    title: str
    provider: str
    start_date: date
    end_date: date
    themes: list[str]
    answers: bool = PydanticField(description="linked to the request as answering it")


class Matches(BaseModel):
    request_id: uuid.UUID
    answered: bool
    providers: list[ProviderMatch] = PydanticField(description="best first")
    activities: list[ActivityMatch] = PydanticField(
        description="planned activities for the State on a requested theme, answering ones first"
    )
