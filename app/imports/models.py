"""What an import answers (the API's body, the CLI's summary)."""

from typing import Any

from pydantic import BaseModel, Field


class ImportRowError(BaseModel):
    row: int = Field(description="row number in the file; the header is row 1")
    column: str
    value: str
    message: str


class ImportReport(BaseModel):
    dry_run: bool
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[ImportRowError] = Field(default_factory=list)
    findings: list[dict[str, Any]] = Field(default_factory=list)
    mapping: dict[str, str] = Field(default_factory=dict, description="field -> column header")
    unused_columns: list[str] = Field(default_factory=list)
