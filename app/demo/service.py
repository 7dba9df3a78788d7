"""The illustrative Latin America and Caribbean 2024 calendar (invented, not real plans)."""

import json
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Any

from sqlmodel import Session

from app.activities import service as activities
from app.activities.models import ActivityCreate
from app.auth.principal import Principal
from app.findings import service as findings
from app.organizations import service as organizations
from app.organizations.models import OrganizationCreate


@dataclass(frozen=True)
class LoadResult:
    organizations_created: int
    activities_created: int
    activities_skipped: int
    notice: str


def dataset() -> dict[str, Any]:
    text = resources.files("app.demo").joinpath("lac_2024.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _moved(day: str, year: int | None) -> str:
    if year is None:
        return day
    parsed = date.fromisoformat(day)
    shifted = year + (parsed.year - 2024)
    if parsed.month == 2 and parsed.day == 29:
        return date(shifted, 2, 28).isoformat()
    return parsed.replace(year=shifted).isoformat()


def load(session: Session, *, actor: Principal, year: int | None = None) -> LoadResult:
    """Create the demo organizations and activities that are not there yet.  Loading twice
    adds nothing: activities are known by (provider, external_ref)."""
    data = dataset()
    created_orgs = 0
    for org in data["organizations"]:
        if organizations.find(session, org["acronym"]) is None:
            organizations.create(session, OrganizationCreate.model_validate(org), actor=actor)
            created_orgs += 1
    created = skipped = 0
    for raw in data["activities"]:
        provider = organizations.get(session, raw["provider"])
        assert provider.id is not None
        if activities.find_by_ref(session, provider.id, raw["external_ref"]) is not None:
            skipped += 1
            continue
        record = {
            **raw,
            "start_date": _moved(raw["start_date"], year),
            "end_date": _moved(raw["end_date"], year),
        }
        activity, _ = activities.create(session, ActivityCreate.model_validate(record), actor=actor)
        findings.refresh(session, activity, created=True)
        created += 1
    return LoadResult(created_orgs, created, skipped, data["notice"])
