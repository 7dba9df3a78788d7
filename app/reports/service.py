"""Coverage: which States have activities planned in a period, per theme, domain or type, and
where nothing is planned."""

import csv
import io
import uuid
from collections import defaultdict
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from app.activities.models import Activity, ActivityCountry
from app.core import vocab
from app.db.sql import chunks
from app.db.types import json_set, json_text
from app.errors import ValidationFailed
from app.reports.models import CoverageBy, CoverageCell, CoverageGap, CoverageReport, Period

KEYS: dict[str, tuple[str, ...]] = {
    "theme": vocab.THEMES,
    "domain": vocab.DOMAINS,
    "type": vocab.ACTIVITY_TYPES,
}


def _keys_of(by: CoverageBy, themes: str | None, domains: str | None, kind: str) -> frozenset[str]:
    """The keys an activity counts for; one without domains is cross-cutting and counts for
    every domain."""
    if by == "theme":
        return json_set(themes)
    if by == "domain":
        return json_set(domains) or frozenset(vocab.DOMAINS)
    return frozenset([kind])


def coverage(
    session: Session, *, start: date, end: date, region: str | None, by: CoverageBy
) -> CoverageReport:
    """Every member State of `region` (every State when None) and what is planned for it
    between `start` and `end`: regional activities count for each State they cover;
    withdrawn, cancelled and confirmed-duplicate activities do not count."""
    if end < start:
        raise ValidationFailed.on("to", "must not be before from")
    geography = vocab.geography()
    if region is None:
        states = sorted(
            code for code, country in geography.countries.items() if country.independent
        )
    else:
        states = sorted(vocab.region_states(region))
    keys = KEYS[by]
    found: dict[tuple[str, str], list[uuid.UUID]] = defaultdict(list)
    totals: dict[str, set[uuid.UUID]] = defaultdict(set)
    for part in chunks(states, 500):
        for country, activity_id, themes, domains, kind in session.execute(
            _statement(), {"states": list(part), "start": start, "end": end}
        ):
            totals[country].add(activity_id)
            for key in _keys_of(by, themes, domains, kind):
                found[country, key].append(activity_id)
    cells = [
        CoverageCell(
            country=country,
            key=key,
            count=len(found[country, key]),
            activity_ids=sorted(found[country, key], key=str),
        )
        for country in states
        for key in keys
    ]
    gaps = [CoverageGap(country=country, key=None) for country in states if not totals[country]]
    gaps += [CoverageGap(country=cell.country, key=cell.key) for cell in cells if not cell.count]
    return CoverageReport(
        period=Period(start=start, end=end),
        region=region,
        region_name=geography.region_names.get(region) if region else None,
        by=by,
        countries=states,
        country_names={code: geography.countries[code].name for code in states},
        keys=list(keys),
        totals={country: len(totals[country]) for country in states},
        cells=cells,
        gaps=gaps,
    )


def _statement() -> Any:
    return (
        sa.select(
            col(ActivityCountry.country),
            col(Activity.id),
            json_text(col(Activity.themes)),
            json_text(col(Activity.domains)),
            col(Activity.activity_type),
        )
        .join(Activity, col(Activity.id) == col(ActivityCountry.activity_id))
        .where(
            col(ActivityCountry.country).in_(sa.bindparam("states", expanding=True)),
            col(ActivityCountry.start_date) <= sa.bindparam("end"),
            col(ActivityCountry.end_date) >= sa.bindparam("start"),
            col(Activity.withdrawn_at).is_(None),
            col(Activity.duplicate_of).is_(None),
            col(Activity.status) != "cancelled",
        )
    )


def to_csv(report: CoverageReport) -> bytes:
    """The matrix: a row per State (code, name, a count per key, the State's total)."""
    counts = {(cell.country, cell.key): cell.count for cell in report.cells}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["country", "name", *report.keys, "total"])
    for country in report.countries:
        writer.writerow(
            [
                country,
                report.country_names[country],
                *(counts[country, key] for key in report.keys),
                report.totals[country],
            ]
        )
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
