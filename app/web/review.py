"""The review queue: open findings side by side with what differs, and a coordinator's
decision on one."""

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session

from app.activities import queries
from app.activities.models import ActivityPublic
from app.core import i18n
from app.core.principal import Principal
from app.db.session import SessionDep
from app.findings import service as findings
from app.findings.models import DecisionIn
from app.web import auth
from app.web.auth import ViewerDep
from app.web.render import language, render, see_other

router = APIRouter(include_in_schema=False)

COMPARED = (
    "title",
    "provider",
    "dates",
    "countries",
    "regions",
    "themes",
    "activity_type",
    "language",
    "venue",
    "partners",
    "external_ref",
)


def _compared(activity: ActivityPublic, lang: str) -> dict[str, str]:
    venue = activity.venue
    return {
        "title": activity.title,
        "provider": activity.provider,
        "dates": i18n.day(activity.start_date, lang)
        + " \u2013 "
        + i18n.day(activity.end_date, lang),
        "countries": ", ".join(i18n.country(c, lang) for c in activity.countries),
        "regions": ", ".join(i18n.region(r, lang) for r in activity.regions),
        "themes": ", ".join(i18n.label(t, lang) for t in activity.themes),
        "activity_type": i18n.label(activity.activity_type, lang),
        "language": activity.language,
        "venue": ", ".join(v for v in (venue.city, venue.country) if v) if venue else "",
        "partners": ", ".join(activity.partners),
        "external_ref": activity.external_ref or "",
    }


@router.get("/review", response_class=HTMLResponse)
def review_page(
    request: Request,
    session: SessionDep,
    reader: ViewerDep,
    kind: Annotated[str | None, Query(pattern="^(duplicate|overlap|clash)$")] = None,
    decided: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    principal = reader.require_coordinator()
    queue = _queue(session, principal, kind)
    lang = language(request)
    # Coordinators read every activity: the queue's pairs load together.
    shown = queries.publics(session, [i for f in queue for i in f.activity_ids])
    cards = []
    for finding in queue:
        pair = [shown[activity_id] for activity_id in finding.activity_ids]
        fields = [_compared(activity, lang) for activity in pair]
        differs = {name for name in COMPARED if fields[0][name] != fields[1][name]}
        cards.append({"finding": finding, "pair": pair, "fields": fields, "differs": differs})
    return render(
        request,
        reader,
        "review.html",
        cards=cards,
        compared=COMPARED,
        kind=kind,
        decided=decided,
    )


def _queue(session: Session, viewer: Principal, kind: str | None) -> list[Any]:
    return findings.review_queue(session, viewer=viewer, kind=kind)


@router.post("/review/{finding_id}")
def decide(
    request: Request,
    finding_id: uuid.UUID,
    session: SessionDep,
    reader: ViewerDep,
    decision: Annotated[str, Form(pattern="^(dismiss|confirm|coordinate)$")],
    csrf: Annotated[str, Form(max_length=100)],
    note: Annotated[str | None, Form(max_length=2000)] = None,
    keep: Annotated[uuid.UUID | None, Form()] = None,
    kind: Annotated[str | None, Form(pattern="^(duplicate|overlap|clash)?$")] = None,
) -> RedirectResponse:
    """Decide, then back to the queue at the finding that followed this one."""
    principal = reader.require_coordinator()
    auth.check_csrf(reader, csrf)
    queue = [f.id for f in _queue(session, principal, kind or None)]
    following = None
    if finding_id in queue:
        position = queue.index(finding_id)
        rest = queue[position + 1 :] or queue[:position]
        following = rest[0] if rest else None
    row = findings.get(session, finding_id, viewer=principal)
    data = DecisionIn.model_validate(
        {"decision": decision, "note": note or None, "canonical_id": keep}
    )
    findings.decide(session, row, data, actor=principal)
    query = {k: v for k, v in {"kind": kind, "decided": str(finding_id)}.items() if v}
    anchor = f"#finding-{following}" if following else ""
    return see_other(f"/review?{urlencode(query)}{anchor}")
