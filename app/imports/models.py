"""What an import answers (the API's body, the CLI's summary)."""

import uuid
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field


class ImportRowError(BaseModel):
    row: int = Field(description="row number in the file; the header is row 1")
    column: str
    value: str
    message: str


class MatchCandidate(BaseModel):
    """A stored activity that a row of the file may be."""

    id: uuid.UUID
    title: str
    start_date: date
    end_date: date
    changes: dict[str, list[Any]] = Field(
        description="what the row would change: field -> [stored, in the file]"
    )


class ImportMatch(BaseModel):
    """A row without `id` or `external_ref` that is (or may be) a stored activity of its
    provider, edited: it updates that activity instead of creating another."""

    row: int
    certain: bool = Field(
        description="the same activity with at most two kinds of correction (dates, States, "
        "a typo in the title, other details), the only one that fits, claimed by no other row"
    )
    action: Literal["update", "create"] = Field(
        description="what the import does with the row: an uncertain row creates a new "
        "activity unless `choices` names one of its candidates"
    )
    chosen: bool = Field(description="decided by `choices`")
    activity_id: uuid.UUID | None = Field(description="the activity updated (update only)")
    title: str | None = Field(description="its title as stored")
    note: str = Field(description="why the match is uncertain, or what was chosen")
    candidates: list[MatchCandidate]


class ImportNote(BaseModel):
    """Something of a row that the import could not take, though the row itself is good: a
    transaction of an IATI activity, a State it does not know."""

    row: int = Field(description="row number in the file (an IATI file: its activity's, from 2)")
    activity: str = Field(description="the activity's reference in the file (iati-identifier)")
    message: str


class ImportReport(BaseModel):
    dry_run: bool
    source: str = Field(
        default="csv",
        description="what the file was read as: csv, xlsx, ics or iati; csv+hxl or xlsx+hxl "
        "when a row of HXL hashtags under the header named its columns",
    )
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[ImportRowError] = Field(default_factory=list)
    findings: list[dict[str, Any]] = Field(default_factory=list)
    mapping: dict[str, str] = Field(default_factory=dict, description="field -> column header")
    unused_columns: list[str] = Field(default_factory=list)
    notes: list[ImportNote] = Field(
        default_factory=list,
        description="per row, what the import could not take (an IATI activity's budgets, "
        "sectors that are no 1540 theme, ...)",
    )
    matched: list[ImportMatch] = Field(
        default_factory=list,
        description="rows without id or external_ref found to be (or perhaps be) a stored "
        "activity, with what they change",
    )
