"""The calendar (a timeline or a list of a month, a quarter or chosen dates), an activity's
page and the page to subscribe to a calendar feed."""

import uuid
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlmodel import Session

from app.activities import queries
from app.activities.models import ActivityPublic
from app.api.feeds import base_url
from app.core import cursor as cursors
from app.core import i18n, timeline, timeutil, vocab
from app.core.principal import Principal
from app.db.session import SessionDep
from app.errors import NotFound, ValidationFailed
from app.feeds import spec as feeds
from app.feeds import tokens
from app.feeds.models import FeedFilters, FeedTokenIn
from app.findings import service as findings
from app.web import auth, forms
from app.web.auth import Viewer, ViewerDep
from app.web.render import language, render, see_other

router = APIRouter(include_in_schema=False)
STATUSES = ("planned", "confirmed", "postponed", "cancelled", "completed")
MAX_ROWS = 2000  # activities a calendar page shows at most
YEARS = (1990, 2100)  # what the calendar pages move within


def _month_start(text: str | None) -> date:
    if text:
        try:
            year, month = (int(part) for part in text.split("-")[:2])
            chosen = date(year, month, 1)
        except ValueError as exc:
            raise ValidationFailed.on("start", "use YYYY-MM, e.g. 2024-03") from exc
        if not YEARS[0] <= year <= YEARS[1]:
            raise ValidationFailed.on("start", f"a month between {YEARS[0]} and {YEARS[1]}")
        return chosen
    today = timeutil.today()
    return date(today.year, today.month, 1)


def _within_years(value: date | None, name: str) -> None:
    if value is not None and not YEARS[0] <= value.year <= YEARS[1]:
        raise ValidationFailed.on(name, f"a date between {YEARS[0]} and {YEARS[1]}")


def _activities(
    session: Session, filters: queries.Filters, viewer: Principal | None
) -> list[ActivityPublic]:
    found: list[ActivityPublic] = []
    after = None
    while len(found) < MAX_ROWS:
        items, cursor = queries.page(session, filters, viewer=viewer, limit=500, after=after)
        found += items
        if cursor is None:
            break
        after = cursors.decode(cursor, 2)
    return found[:MAX_ROWS]


def _span(
    activity: ActivityPublic, rows: str, chosen: FeedFilters, wanted_states: set[str]
) -> timeline.Span[ActivityPublic]:
    """An activity on the timeline: in its provider's row, or in the row of each of its
    beneficiary States (those filtered on, when the filters name States or regions)."""
    if rows == "provider":
        keys = [activity.provider]
    else:
        states = vocab.beneficiary_states(activity.countries, activity.regions)
        keys = [s for s in states if not wanted_states or s in wanted_states]
    return timeline.Span(
        activity,
        activity.start_date,
        activity.end_date,
        timeline.theme(activity.themes, chosen.theme),
        keys,
    )


@router.get("/calendar", response_class=HTMLResponse)
def calendar_page(
    request: Request,
    session: SessionDep,
    reader: ViewerDep,
    view: Annotated[str, Query(pattern="^(timeline|list)$")] = "timeline",
    rows: Annotated[str, Query(pattern="^(country|provider)$")] = "country",
    span: Annotated[str, Query(pattern="^(month|quarter)$")] = "quarter",
    start: Annotated[str | None, Query(max_length=7)] = None,
    region: Annotated[str | None, Query(max_length=3)] = None,
    country: Annotated[str | None, Query(max_length=2)] = None,
    theme: Annotated[str | None, Query(max_length=40)] = None,
    provider: Annotated[str | None, Query(max_length=30)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    type: Annotated[str | None, Query(max_length=40)] = None,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
) -> HTMLResponse:
    chosen = forms.filters(
        region=region, country=country, theme=theme, provider=provider, status=status, type=type
    )
    _within_years(date_from, "from")
    _within_years(date_to, "to")
    first = _month_start(start if start or date_from is None else date_from.strftime("%Y-%m"))
    months_shown = 3 if span == "quarter" else 1
    period = timeline.Period(
        date_from or first,
        date_to or timeline.add_months(first, months_shown) - timedelta(days=1),
    )
    if period.end < period.start:
        raise ValidationFailed.on("to", "must not be before from")
    if (period.end - period.start).days > 3 * 366:
        raise ValidationFailed.on("to", "at most three years at a time")
    filters = queries.Filters(
        countries=chosen.country,
        regions=chosen.region,
        themes=list(chosen.theme),
        providers=chosen.provider,
        statuses=list(chosen.status),
        types=list(chosen.type),
        date_from=period.start,
        date_to=period.end,
    )
    found = _activities(session, filters, reader.principal)
    wanted_states = set(chosen.country) | {s for r in chosen.region for s in vocab.region_states(r)}
    lang = language(request)
    table = timeline.layout(
        (_span(activity, rows, chosen, wanted_states) for activity in found),
        period,
        name=(lambda key: key) if rows == "provider" else (lambda key: i18n.country(key, lang)),
    )
    query = dict(request.query_params)
    flagged = findings.with_open_findings(session, [a.id for a in found], viewer=reader.principal)
    return render(
        request,
        reader,
        "calendar.html",
        flagged=flagged,
        this_month=timeutil.today().strftime("%Y-%m"),
        view=view,
        rows=rows,
        span=span,
        start=first,
        previous=timeline.add_months(first, -months_shown).strftime("%Y-%m"),
        following=timeline.add_months(first, months_shown).strftime("%Y-%m"),
        period=(period.start, period.end),
        table=table,
        activities=found,
        truncated=len(found) >= MAX_ROWS,
        month_marks=period.month_marks(),
        chosen=chosen,
        query=query,
        with_query=lambda **changes: "?" + urlencode({**query, **changes}),
        statuses=STATUSES,
        **forms.choices(session, lang),
    )


@router.get("/activity/{activity_id}", response_class=HTMLResponse)
def activity_page(
    request: Request,
    activity_id: uuid.UUID,
    session: SessionDep,
    reader: ViewerDep,
    saved: Annotated[bool, Query()] = False,
    withdrawn: Annotated[bool, Query()] = False,
) -> HTMLResponse:
    """An activity with its findings and history; after a change made on the form, a banner
    saying what was stored."""
    activity = queries.get(session, activity_id, viewer=reader.principal)
    shown = queries.to_public(session, activity)
    found: list[Any] = []
    history: list[Any] = []
    if reader.principal is not None:
        found, _ = findings.list_page(
            session,
            findings.Filters(activity_id=activity.id),
            viewer=reader.principal,
            limit=100,
        )
        history = list(queries.history(session, activity, limit=200)[0])
    others = {}
    for finding in found:
        for other_id in finding.activity_ids:
            if other_id != activity.id and other_id not in others:
                try:
                    others[other_id] = queries.get_public(
                        session, other_id, viewer=reader.principal
                    )
                except NotFound:
                    continue
    return render(
        request,
        reader,
        "activity.html",
        activity=shown,
        findings=found,
        others=others,
        history=history,
        saved=saved,
        withdrawn=withdrawn,
        may_write=reader.principal is not None
        and reader.principal.may_write_for(activity.provider_id),
    )


@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_page(
    request: Request,
    session: SessionDep,
    reader: ViewerDep,
    region: Annotated[str | None, Query(max_length=3)] = None,
    country: Annotated[str | None, Query(max_length=2)] = None,
    theme: Annotated[str | None, Query(max_length=40)] = None,
    provider: Annotated[str | None, Query(max_length=30)] = None,
    revoked: Annotated[str | None, Query(max_length=100)] = None,
) -> HTMLResponse:
    chosen = forms.filters(region=region, country=country, theme=theme, provider=provider)
    return _subscribe(request, session, reader, chosen, revoked=revoked)


def _subscribe(
    request: Request,
    session: Session,
    reader: Viewer,
    chosen: FeedFilters,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The subscribe page: the public feed of the chosen filters, and a signed-in reader's
    private feeds."""
    query = feeds.filter_query(chosen)
    path = "/feeds/calendar.ics" if query else "/feeds/all.ics"
    links = feeds.links(base_url(request), path, query or None)
    name, _ = feeds.describe(chosen)
    lang = language(request)
    private = []
    if reader.principal is not None:
        private = [
            {"token": t, "shows": _in_words(t.filters, lang)}
            for t in tokens.own_tokens(session, reader.principal)
        ]
    return render(
        request,
        reader,
        "subscribe.html",
        status_code=status_code,
        links=links,
        feed_name=name,
        chosen=chosen,
        chosen_words=_in_words(chosen, lang),
        private=private,
        **forms.choices(session, lang),
        **context,
    )


def _in_words(filters: FeedFilters, lang: str) -> str:
    """What a feed's filters choose, in the page's language ("" for everything)."""
    parts = [i18n.country(c, lang) for c in filters.country]
    parts += [i18n.region(r, lang) for r in filters.region]
    parts += [i18n.label(t, lang) for t in filters.theme]
    parts += [i18n.label(d, lang) for d in filters.domain]
    parts += [i18n.label(t, lang) for t in filters.type]
    parts += list(filters.provider)
    parts += [i18n.label(s, lang) for s in filters.status]
    if filters.q:
        parts.append(f"“{filters.q}”")
    return ", ".join(parts)


@router.post("/subscribe/feeds", response_class=HTMLResponse)
def make_private_feed(
    request: Request,
    session: SessionDep,
    reader: ViewerDep,
    csrf: Annotated[str, Form(max_length=100)],
    label: Annotated[str, Form(max_length=200)] = "",
    region: Annotated[str | None, Form(max_length=3)] = None,
    country: Annotated[str | None, Form(max_length=2)] = None,
    theme: Annotated[str | None, Form(max_length=40)] = None,
    provider: Annotated[str | None, Form(max_length=30)] = None,
) -> HTMLResponse:
    """Make a private feed of the chosen filters; its addresses are shown this once."""
    auth.check_csrf(reader, csrf)
    principal = reader.require()
    chosen = forms.filters(region=region, country=country, theme=theme, provider=provider)
    try:
        data = FeedTokenIn(label=label.strip(), filters=chosen)
    except ValidationError:
        return _subscribe(
            request, session, reader, chosen, status_code=422, label_error=True, entered=label
        )
    made = tokens.create_token(session, data, actor=principal, base_url=base_url(request))
    return _subscribe(request, session, reader, chosen, status_code=201, made=made, made_as=label)


@router.post("/subscribe/feeds/{token_id}/revoke")
def revoke_private_feed(
    token_id: uuid.UUID,
    session: SessionDep,
    reader: ViewerDep,
    csrf: Annotated[str, Form(max_length=100)],
) -> RedirectResponse:
    auth.check_csrf(reader, csrf)
    principal = reader.require()
    gone = tokens.revoke_token(session, token_id, actor=principal)
    return see_other("/subscribe?" + urlencode({"revoked": gone.label}) + "#private")
