"""The review queue: findings side by side with what differs, a coordinator's decision on an
open one, and taking a decision back."""

import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from app.activities import queries
from app.activities.models import ActivityPublic
from app.core import i18n
from app.db.session import SessionDep
from app.errors import NotFound
from app.findings import service as findings
from app.findings.models import DecisionIn, FindingPublic
from app.organizations import service as organizations
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
TABS = ("open", "decided", "all")
KIND = "^(duplicate|overlap|clash)$"


def _compared(activity: ActivityPublic, lang: str) -> dict[str, str]:
    venue = activity.venue
    return {
        "title": activity.title,
        "provider": activity.provider,
        "dates": i18n.day(activity.start_date, lang)
        + " \u2013 "
        + i18n.day(activity.end_date, lang),
        "countries": i18n.listed((i18n.country(c, lang) for c in activity.countries), lang),
        "regions": i18n.listed((i18n.region(r, lang) for r in activity.regions), lang),
        "themes": i18n.listed((i18n.label(t, lang) for t in activity.themes), lang),
        "activity_type": i18n.label(activity.activity_type, lang),
        "language": activity.language,
        "venue": ", ".join(v for v in (venue.city, venue.country) if v) if venue else "",
        "partners": i18n.listed(activity.partners, lang),
        "external_ref": activity.external_ref or "",
    }


@router.get("/review", response_class=HTMLResponse)
def review_page(
    request: Request,
    session: SessionDep,
    reader: ViewerDep,
    kind: Annotated[str | None, Query(pattern=KIND)] = None,
    status: Annotated[str, Query(pattern="^(open|decided|all)$")] = "open",
    decided: Annotated[uuid.UUID | None, Query()] = None,
    at: Annotated[uuid.UUID | None, Query()] = None,
) -> HTMLResponse:
    """`decided`: the finding just decided (or reopened), whose confirmation shows beside
    the card `at`, the one that followed it."""
    principal = reader.require_coordinator()
    queue = findings.review_queue(session, viewer=principal, kind=kind, status=status)
    lang = language(request)
    done = None
    if decided is not None:
        try:
            done = findings.get(session, decided, viewer=principal)
        except NotFound:
            done = None
    # Coordinators read every activity: the queue's pairs load together.
    shown = queries.publics(session, [i for f in queue for i in f.activity_ids])
    contacts = organizations.contact_emails(session, {a.provider for a in shown.values()})
    cards: list[dict[str, object]] = []
    for finding in queue:
        pair = [shown[activity_id] for activity_id in finding.activity_ids]
        fields = [_compared(activity, lang) for activity in pair]
        differs = {name for name in COMPARED if fields[0][name] != fields[1][name]}
        emails = [a.contact_email or contacts.get(a.provider) for a in pair]
        cards.append(
            {
                "finding": finding,
                "pair": pair,
                "emails": emails,
                "fields": fields,
                "differs": differs,
            }
        )
    at_card = at if any(finding.id == at for finding in queue) else None
    return render(
        request,
        reader,
        "review.html",
        cards=cards,
        compared=COMPARED,
        kind=kind,
        status=status,
        tab_links=[(t, _link(t, kind)) for t in TABS],
        kind_links=[(k, _link(status, k)) for k in (None, "duplicate", "overlap", "clash")],
        done=done,
        at=at_card,
    )


def _link(status: str, kind: str | None) -> str:
    query = {"status": status if status != "open" else None, "kind": kind}
    shown = urlencode({k: v for k, v in query.items() if v})
    return f"/review?{shown}" if shown else "/review"


def _following(
    before: list[FindingPublic], after: list[FindingPublic], finding_id: uuid.UUID
) -> uuid.UUID | None:
    """The card that followed this one in the queue as it was (wrapping round), among those
    still on the tab after the decision (which may have taken others with it); else the
    tab's first."""
    ids = [f.id for f in before]
    left = {f.id for f in after}
    position = ids.index(finding_id) if finding_id in ids else 0
    for candidate in ids[position + 1 :] + ids[:position]:
        if candidate in left:
            return candidate
    return after[0].id if after else None


@router.post("/review/{finding_id}")
def decide(
    finding_id: uuid.UUID,
    session: SessionDep,
    reader: ViewerDep,
    decision: Annotated[str, Form(pattern="^(dismiss|confirm|coordinate|reopen)$")],
    csrf: Annotated[str, Form(max_length=100)],
    note: Annotated[str | None, Form(max_length=2000)] = None,
    keep: Annotated[uuid.UUID | None, Form()] = None,
    kind: Annotated[str | None, Form(pattern="^(duplicate|overlap|clash)?$")] = None,
    status: Annotated[str | None, Form(pattern="^(open|decided|all)?$")] = None,
) -> RedirectResponse:
    """Decide (or reopen), then back to the same tab at the card that followed this one,
    with the confirmation beside it."""
    principal = reader.require_coordinator()
    auth.check_csrf(reader, csrf)
    tab = status or "open"
    queue = findings.review_queue(session, viewer=principal, kind=kind or None, status=tab)
    row = findings.get(session, finding_id, viewer=principal)
    data = DecisionIn.model_validate(
        {"decision": decision, "note": note or None, "canonical_id": keep}
    )
    findings.decide(session, row, data, actor=principal)
    now = findings.review_queue(session, viewer=principal, kind=kind or None, status=tab)
    following = _following(queue, now, finding_id)
    done = {"decided": str(finding_id), "at": str(following) if following else None}
    anchor = "#decision-done" if following is not None else ""
    page = _link(tab, kind or None)
    joiner = "&" if "?" in page else "?"
    return see_other(f"{page}{joiner}{urlencode({k: v for k, v in done.items() if v})}{anchor}")
