"""A provider's own view: its organization's activities, and the warnings (findings) about
them with the coordinators' decisions and notes, so that a provider never needs the review
queue it may not open."""

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from app.activities import queries
from app.core import cursor as cursors
from app.db.session import SessionDep
from app.db.sql import chunks
from app.errors import ValidationFailed
from app.findings import service as findings
from app.findings.models import FindingPublic
from app.web.auth import ViewerDep
from app.web.render import render

router = APIRouter(include_in_schema=False)
STATUSES = ("planned", "confirmed", "postponed", "cancelled", "completed")
SHOWN = 1000  # rows a page lists at most
FINDING_STATUSES = ("open", "dismissed", "confirmed", "coordinated")
WARNINGS_SHOWN = 100  # warnings a page lists; the older ones a link away


@router.get("/our/activities", response_class=HTMLResponse)
def our_activities(
    request: Request,
    session: SessionDep,
    reader: ViewerDep,
    status: Annotated[str | None, Query(max_length=20)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
) -> HTMLResponse:
    """The acting organization's activities, every status, with their open warnings."""
    principal = reader.require()
    if status and status not in STATUSES:
        raise ValidationFailed.on("status", f"one of {', '.join(STATUSES)}")
    if date_from and date_to and date_to < date_from:
        raise ValidationFailed.on("to", "must not be before from")
    filters = queries.Filters(
        providers=[principal.organization],
        statuses=[status] if status else [],
        q=(q or "").strip() or None,
        date_from=date_from,
        date_to=date_to,
    )
    found = queries.first(session, filters, viewer=principal, most=SHOWN)
    flagged = findings.with_open_findings(session, [a.id for a in found], viewer=principal)
    return render(
        request,
        reader,
        "our_activities.html",
        activities=found,
        truncated=len(found) >= SHOWN,
        flagged=flagged,
        statuses=STATUSES,
        chosen={"status": status or "", "q": q or "", "from": date_from, "to": date_to},
    )


@router.get("/our/warnings", response_class=HTMLResponse)
def our_warnings(
    request: Request,
    session: SessionDep,
    reader: ViewerDep,
    status: Annotated[str | None, Query(max_length=20)] = "open",
    after: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """The findings that involve the organization's activities, open or decided, with who
    decided, when and why; the other activity named when the reader may see it.  Newest
    first, WARNINGS_SHOWN a page, and a link to the older ones."""
    principal = reader.require()
    if status and status not in FINDING_STATUSES:
        raise ValidationFailed.on("status", f"one of {', '.join(FINDING_STATUSES)}")
    try:
        position = cursors.decode(after, 2) if after else None
    except cursors.CursorError as exc:
        raise ValidationFailed.on("after", str(exc)) from exc
    found, older = findings.list_page(
        session,
        findings.Filters(statuses=[status] if status else [], providers=[principal.organization]),
        viewer=principal,
        limit=WARNINGS_SHOWN,
        after=position,
    )
    titles = _activities_of(session, found)
    return render(
        request,
        reader,
        "our_warnings.html",
        findings=found,
        activities=titles,
        status=status or "",
        statuses=FINDING_STATUSES,
        older=urlencode({"status": status or "", "after": older}) if older else None,
    )


def _activities_of(session: Session, found: list[FindingPublic]) -> dict[Any, Any]:
    """The headings of these findings' activities, loaded together: a signed-in reader sees
    every activity (queries.get hides only the non-public ones, and only from the anonymous)."""
    ids = list(dict.fromkeys(i for finding in found for i in finding.activity_ids))
    shown: dict[Any, Any] = {}
    for chunk in chunks(ids, 500):
        shown.update(queries.headings(session, chunk))
    return shown
