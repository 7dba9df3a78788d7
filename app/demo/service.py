"""The illustrative Latin America and Caribbean calendar (invented, not real plans).

Its activities are written dated 2024.  By default they are loaded around today: moved by
whole weeks (so each keeps its weekday and the calendar its spacing, and so its duplicates,
overlaps and clashes) until the day after the last completed activity falls in the current
week, so what the story says is done lies in the past and the rest in the coming months.
`year` moves them to that year instead, day for day."""

import json
from calendar import isleap
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from typing import Any

from sqlmodel import Session

from app.activities import queries
from app.activities import service as activities
from app.activities.models import Activity, ActivityCreate, ActivityUpdate
from app.core import timeutil
from app.core.principal import Principal
from app.findings import detection as findings
from app.organizations import service as organizations
from app.organizations.models import OrganizationCreate

WRITTEN_YEAR = 2024


@dataclass(frozen=True)
class LoadResult:
    organizations_created: int
    activities_created: int
    activities_moved: int  # already there at other dates, now at the new ones
    activities_unchanged: int  # already there at these dates
    activities_withdrawn: int  # already there but withdrawn: left at their dates
    first_day: date
    last_day: date
    year: int | None  # None: around today
    notice: str


def dataset() -> dict[str, Any]:
    text = resources.files("app.demo").joinpath("lac_2024.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def story_today(data: dict[str, Any]) -> date:
    """The day the calendar is told from: the Monday after its last completed activity."""
    ended = max(
        date.fromisoformat(raw["end_date"])
        for raw in data["activities"]
        if raw.get("status") == "completed"
    )
    return ended + timedelta(days=7 - ended.weekday())


def weeks_to(today: date, data: dict[str, Any]) -> timedelta:
    """The whole weeks that bring the story's day into the week of `today`."""
    return timedelta(weeks=(today - story_today(data)).days // 7)


def in_year(day: date, year: int) -> date:
    """`day` (of the 2024 calendar) moved to `year`; 29 February becomes the 28th outside
    leap years."""
    shifted = year + (day.year - WRITTEN_YEAR)
    if (day.month, day.day) == (2, 29) and not isleap(shifted):
        return date(shifted, 2, 28)
    return day.replace(year=shifted)


def placed(
    data: dict[str, Any], *, today: date, year: int | None = None
) -> dict[str, tuple[date, date]]:
    """The (start, end) of every demo activity by external_ref, around `today` or in `year`."""
    shift = weeks_to(today, data)
    found = {}
    for raw in data["activities"]:
        start, end = date.fromisoformat(raw["start_date"]), date.fromisoformat(raw["end_date"])
        if year is None:
            found[raw["external_ref"]] = (start + shift, end + shift)
        else:
            found[raw["external_ref"]] = (in_year(start, year), in_year(end, year))
    return found


def load(
    session: Session, *, actor: Principal, year: int | None = None, today: date | None = None
) -> LoadResult:
    """Create the demo organizations and activities, dated around `today` (default: the
    current date) or in `year`.  Activities are known by (provider, external_ref): loading
    again creates nothing and moves those already there to the new dates (withdrawn ones
    stay as they are)."""
    data = dataset()
    dates = placed(data, today=today or timeutil.today(), year=year)
    created_orgs = 0
    for org in data["organizations"]:
        if organizations.find(session, org["acronym"]) is None:
            organizations.create(session, OrganizationCreate.model_validate(org), actor=actor)
            created_orgs += 1
    created = unchanged = withdrawn = 0
    moved: list[Activity] = []
    for raw in data["activities"]:
        provider = organizations.get(session, raw["provider"])
        assert provider.id is not None
        start, end = dates[raw["external_ref"]]
        existing = queries.find_by_ref(session, provider.id, raw["external_ref"])
        if existing is None:
            record = {**raw, "start_date": start, "end_date": end}
            activity, _ = activities.create(
                session, ActivityCreate.model_validate(record), actor=actor
            )
            findings.refresh(session, activity, created=True)
            created += 1
            continue
        activity = session.get_one(Activity, existing)
        if (activity.start_date, activity.end_date) == (start, end):
            unchanged += 1
        elif activity.withdrawn_at is not None:
            withdrawn += 1
        else:
            change = ActivityUpdate(start_date=start, end_date=end)
            activity, _ = activities.update(session, activity, change, actor=actor)
            moved.append(activity)
    # Findings once every activity is at its new dates, so pairs are judged together.
    for activity in moved:
        findings.refresh(session, activity, actor=actor)
    return LoadResult(
        organizations_created=created_orgs,
        activities_created=created,
        activities_moved=len(moved),
        activities_unchanged=unchanged,
        activities_withdrawn=withdrawn,
        first_day=min(start for start, _ in dates.values()),
        last_day=max(end for _, end in dates.values()),
        year=year,
        notice=data["notice"],
    )
