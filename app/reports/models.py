"""What the coverage report answers."""

import uuid
from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

CoverageBy = Literal["theme", "domain", "type"]


class Period(BaseModel):
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")


class CoverageCell(BaseModel):
    country: str
    key: str
    count: int
    activity_ids: list[uuid.UUID]


class CoverageGap(BaseModel):
    country: str
    key: str | None = Field(description="null: the State has no activity at all in the period")


class CoverageReport(BaseModel):
    period: Period
    region: str | None = Field(description="M49 code; null for every State")
    region_name: str | None
    by: CoverageBy
    countries: list[str] = Field(description="every member State, with or without activities")
    country_names: dict[str, str]
    keys: list[str]
    totals: dict[str, int] = Field(description="activities per State, each counted once")
    cells: list[CoverageCell] = Field(description="one per State and key, zeros included")
    gaps: list[CoverageGap]
