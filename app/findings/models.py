import uuid
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from app.activities.models import ActivityPublic
from app.core.timeutil import UtcDatetime, utcnow
from app.db.types import JSONValue

FindingKind = Literal["duplicate", "overlap", "clash"]
FindingStatus = Literal["open", "dismissed", "confirmed", "coordinated"]
Decision = Literal["dismiss", "confirm", "coordinate", "reopen"]
STATUS_OF_DECISION: dict[str, str] = {
    "dismiss": "dismissed",
    "confirm": "confirmed",
    "coordinate": "coordinated",
    "reopen": "open",
}
DECIDED = ("dismissed", "confirmed", "coordinated")


def _activity_fk(*, index: bool) -> Any:
    return sa.Column(
        sa.Uuid, sa.ForeignKey("activity.id", ondelete="CASCADE"), nullable=False, index=index
    )


class Finding(SQLModel, table=True):
    """A warning linking two activities.  `first_id` < `second_id`, so a pair has one row."""

    __table_args__ = (
        sa.UniqueConstraint("first_id", "second_id", name="uq_finding_pair"),
        sa.Index("ix_finding_status_created", "status", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: str = Field(max_length=20)
    score: float
    reasons: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONValue)
    status: str = Field(default="open", max_length=20)
    # uq_finding_pair (first_id, second_id) serves lookups by first_id; an index of its own
    # would only slow the writes of a submission's findings.
    first_id: uuid.UUID = Field(sa_column=_activity_fk(index=False))
    second_id: uuid.UUID = Field(sa_column=_activity_fk(index=True))
    note: str | None = Field(default=None, sa_type=sa.Text)
    decided_by: str | None = Field(default=None, max_length=260)
    basis: str | None = Field(
        default=None, max_length=64, description="fingerprint of what the decision was about"
    )
    decided_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ReasonPublic(BaseModel):
    code: str
    message: str
    contribution: float = PydanticField(description="This reason's share of the score.")
    params: dict[str, Any] = PydanticField(
        default_factory=dict,
        description="What the message says, as values (the pages write it in other languages "
        "from them); absent from findings stored before they were kept.",
    )


class FindingPublic(BaseModel):
    id: uuid.UUID
    kind: FindingKind
    score: float
    reasons: list[ReasonPublic]
    status: FindingStatus
    activity_ids: list[uuid.UUID]
    note: str | None
    decided_by: str | None
    decided_at: UtcDatetime | None
    created_at: UtcDatetime


class FindingPage(BaseModel):
    items: list[FindingPublic]
    next_cursor: str | None


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Decision
    note: str | None = PydanticField(default=None, max_length=2000)
    canonical_id: uuid.UUID | None = PydanticField(
        default=None, description="With confirm: the activity that stays."
    )


# An activity with its findings: what the activity routes answer after a change.


class ActivitySubmitted(BaseModel):
    activity: ActivityPublic
    findings: list[FindingPublic] = PydanticField(
        description="Warnings that link this activity to others (duplicate, overlap, clash)."
    )


class ActivityWithFindings(ActivityPublic):
    findings: list[FindingPublic] = PydanticField(
        description="The activity's findings after this change (duplicate, overlap, clash)."
    )


class TextVector(SQLModel, table=True):
    """A text's meaning as the detection model reads it (app.findings.vectors): computed once
    per text and kept, so that no comparison and no rescan embeds a title again.  Keyed by a
    digest of the model's name and the text, so activities with one title share a row and a
    new model computes its own."""

    __tablename__ = "text_vector"

    digest: str = Field(primary_key=True, max_length=64)
    vector: bytes = Field(sa_type=sa.LargeBinary)
