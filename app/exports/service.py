"""Activity exports: CSV (UTF-8 with a byte order mark, for Excel), XLSX and IATI XML."""

import csv
import io
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import date

import sqlalchemy as sa
from openpyxl import Workbook
from sqlmodel import Session, col, select

from app.activities import queries
from app.activities.models import Activity, ActivityPublic
from app.core import cursor as cursors
from app.core.principal import Principal
from app.core.timeutil import utcnow
from app.db.sql import chunks
from app.errors import NotFound
from app.exports import iati
from app.exports.columns import COLUMNS, row
from app.findings.models import Finding
from app.organizations.models import Organization

PAGE = 500


def activities(
    session: Session, filters: queries.Filters, *, viewer: Principal | None
) -> Iterator[ActivityPublic]:
    """Every activity the list API would page through for these filters, in its order."""
    after = None
    while True:
        items, next_cursor = queries.page(session, filters, viewer=viewer, limit=PAGE, after=after)
        yield from items
        if next_cursor is None:
            return
        after = cursors.decode(next_cursor, 2)


def _header(hxl: bool) -> list[list[str]]:
    rows = [[column.name for column in COLUMNS]]
    if hxl:
        rows.append([column.hxl for column in COLUMNS])
    return rows


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def to_csv(items: Iterator[ActivityPublic], *, hxl: bool, language: str = "en") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows(_header(hxl))
    for activity in items:
        writer.writerow([_text(value) for value in row(activity, language)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(items: Iterator[ActivityPublic], *, hxl: bool, language: str = "en") -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("activities")
    try:
        for header in _header(hxl):
            sheet.append(header)
        for activity in items:
            sheet.append(row(activity, language))
        buffer = io.BytesIO()
        workbook.save(buffer)
    except BaseException:
        sheet.close()  # a filter refused while the rows were read: end the sheet's writer
        raise
    return buffer.getvalue()


def to_iati(
    session: Session, items: Iterator[ActivityPublic], *, viewer: Principal | None, themes_uri: str
) -> bytes:
    """The activities as an IATI activity file (app.exports.iati), each naming its confirmed
    duplicates that the viewer may see; none is a 404."""
    activities = list(items)
    if not activities:
        # The schema wants one iati-activity at least: no file rather than an invalid one.
        raise NotFound("no activity matches these filters, and an IATI file holds one at least")
    organizations = {o.acronym: o for o in session.exec(select(Organization))}
    reporters = {
        acronym: iati.reporter(acronym, o.name, o.kind, o.iati_identifier)
        for acronym, o in organizations.items()
    }
    partner_refs = {a: o.iati_identifier for a, o in organizations.items() if o.iati_identifier}
    related = _confirmed_duplicates(session, activities, viewer=viewer, reporters=reporters)
    return iati.document(
        activities,
        reporters=reporters,
        partner_refs=partner_refs,
        related=related,
        themes_uri=themes_uri,
        generated_at=utcnow(),
    )


def _confirmed_duplicates(
    session: Session,
    activities: Sequence[ActivityPublic],
    *,
    viewer: Principal | None,
    reporters: dict[str, iati.Reporter],
) -> dict[uuid.UUID, list[str]]:
    """Each activity's confirmed duplicates as iati-identifiers: the pairs of confirmed
    duplicate findings, and of activities marked a duplicate of another (`duplicate_of`),
    either way round.  An activity the viewer may not see is not named."""
    pairs: set[tuple[uuid.UUID, uuid.UUID]] = set()
    for activity in activities:
        if activity.duplicate_of is not None:
            pairs.add((activity.id, activity.duplicate_of))
    ids = [activity.id for activity in activities]
    for part in chunks(ids):
        findings = select(Finding.first_id, Finding.second_id).where(
            Finding.kind == "duplicate",
            Finding.status == "confirmed",
            sa.or_(col(Finding.first_id).in_(part), col(Finding.second_id).in_(part)),
        )
        for first, second in session.exec(findings):
            pairs |= {(first, second), (second, first)}
        marked = select(Activity.id, Activity.duplicate_of).where(
            col(Activity.duplicate_of).in_(part)
        )
        for duplicate, canonical in session.exec(marked):
            if canonical is not None:
                pairs.add((canonical, duplicate))
    others = sorted({other for _, other in pairs}, key=str)
    shown: dict[uuid.UUID, ActivityPublic] = {}
    for part in chunks(others):
        shown.update(queries.publics(session, part))
    related: dict[uuid.UUID, list[str]] = defaultdict(list)
    for activity_id, other_id in sorted(pairs, key=lambda pair: (str(pair[0]), str(pair[1]))):
        other = shown.get(other_id)
        if other is None or (viewer is None and other.visibility != "public"):
            continue
        ref = iati.identifier(reporters[other.provider].ref, other.external_ref, other.id)
        if ref not in related[activity_id]:
            related[activity_id].append(ref)
    return related
