"""The calendar (a timeline or a list of a month, a quarter or chosen dates) and its
downloads (CSV, XLSX, and a PDF for meetings), an activity's page and the page to subscribe to
a calendar feed."""

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlmodel import Session

from app.activities import queries
from app.activities.models import ActivityPublic
from app.api.exports import XLSX, download
from app.api.feeds import base_url
from app.core import i18n, timeline, timeutil, vocab
from app.db.session import SessionDep, read_session
from app.errors import NotFound, ValidationFailed
from app.exports import service as exports
from app.feeds import spec as feeds
from app.feeds import tokens
from app.feeds.models import FeedFilters, FeedTokenIn
from app.findings import service as findings
from app.findings.stored import KIND_ORDER
from app.web import auth, forms, printing
from app.web.auth import Viewer, ViewerDep
from app.web.render import language, render, render_text, see_other

router = APIRouter(include_in_schema=False)
STATUSES = ("planned", "confirmed", "postponed", "cancelled", "completed")
MAX_ROWS = 2000  # activities a calendar page shows at most
PDF_ROWS = 1000  # activities a PDF holds at most (about 18 s of a core): beyond, a 422
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


@dataclass(frozen=True)
class Choice:
    """What the calendar's filter form and period chose: the page, its downloads and its PDF
    read the same activities."""

    chosen: FeedFilters
    first: date  # the first month shown
    months_shown: int
    period: timeline.Period
    filters: queries.Filters

    def wanted_states(self) -> set[str]:
        return set(self.chosen.country) | {
            state for code in self.chosen.region for state in vocab.region_states(code)
        }


def choice(
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
) -> Choice:
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
    return Choice(chosen, first, months_shown, period, filters)


ChoiceDep = Annotated[Choice, Depends(choice)]


@router.get("/calendar", response_class=HTMLResponse)
def calendar_page(
    request: Request,
    session: SessionDep,
    reader: ViewerDep,
    picked: ChoiceDep,
    view: Annotated[str, Query(pattern="^(timeline|list)$")] = "timeline",
    rows: Annotated[str, Query(pattern="^(country|provider)$")] = "country",
) -> HTMLResponse:
    found = queries.first(session, picked.filters, viewer=reader.principal, most=MAX_ROWS)
    wanted_states = picked.wanted_states()
    lang = language(request)
    period, first, months_shown = picked.period, picked.first, picked.months_shown
    table = timeline.layout(
        (_span(activity, rows, picked.chosen, wanted_states) for activity in found),
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
        span="quarter" if months_shown == 3 else "month",
        start=first,
        previous=timeline.add_months(first, -months_shown).strftime("%Y-%m"),
        following=timeline.add_months(first, months_shown).strftime("%Y-%m"),
        period=(period.start, period.end),
        table=table,
        activities=found,
        months=_by_month(found, period.start) if view == "list" else [],
        truncated=len(found) >= MAX_ROWS,
        month_marks=period.month_marks(),
        chosen=picked.chosen,
        query=query,
        with_query=lambda **changes: "?" + urlencode({**query, **changes}),
        downloads=downloads(picked),
        statuses=STATUSES,
        **forms.choices(session, lang),
    )


def downloads(picked: Choice) -> str:
    """The query of the calendar's downloads: its filters and the period shown, as dates."""
    chosen = picked.chosen
    pairs = [
        *((name, value) for name in DOWNLOAD_FILTERS for value in getattr(chosen, name)),
        ("from", picked.period.start.isoformat()),
        ("to", picked.period.end.isoformat()),
    ]
    return urlencode(pairs)


DOWNLOAD_FILTERS = ("region", "country", "theme", "provider", "status", "type")


@router.get("/calendar.csv")
def calendar_csv(
    request: Request, session: SessionDep, reader: ViewerDep, picked: ChoiceDep
) -> Response:
    """The calendar's activities as the API's CSV export makes them, for the page's reader
    (signed in: restricted ones too, which the API gives only to a key), the names in the
    page's language."""
    items = exports.activities(session, picked.filters, viewer=reader.principal)
    body = exports.to_csv(items, hxl=False, language=language(request))
    return download(body, "text/csv; charset=utf-8", "calendar.csv")


@router.get("/calendar.xlsx")
def calendar_xlsx(
    request: Request, session: SessionDep, reader: ViewerDep, picked: ChoiceDep
) -> Response:
    """The same as a workbook."""
    items = exports.activities(session, picked.filters, viewer=reader.principal)
    body = exports.to_xlsx(items, hxl=False, language=language(request))
    return download(body, XLSX, "calendar.xlsx")


@router.get("/calendar.pdf")
async def calendar_pdf(
    request: Request, reader: auth.ViewerBeforeTransaction, picked: ChoiceDep
) -> Response:
    """The calendar as a document for a meeting: A4 landscape, a table per month. The
    activities are read first, in a short session; the PDF is made after it has ended."""
    async with read_session(request) as session:
        found = await run_in_threadpool(
            functools.partial(queries.first, viewer=reader.principal, most=PDF_ROWS + 1),
            session,
            picked.filters,
        )
    if len(found) > PDF_ROWS:
        raise ValidationFailed.on(
            "filters",
            f"more than {PDF_ROWS:,} activities: choose fewer dates or narrower filters for "
            "a PDF (the CSV and XLSX downloads have no limit)",
        )
    body = await printing.in_turn(lambda: printing.pdf(_document(request, reader, picked, found)))
    name = f"calendar-{picked.period.start.isoformat()}-{picked.period.end.isoformat()}.pdf"
    return download(body, "application/pdf", name)


def _document(
    request: Request, reader: auth.Viewer, picked: Choice, found: list[ActivityPublic]
) -> str:
    lang = language(request)
    chosen = picked.chosen
    _ = i18n.translator(lang)
    named: dict[str, tuple[str, Callable[[str], str]]] = {
        "region": (_("Region"), lambda code: i18n.region(code, lang)),
        "country": (_("State"), lambda code: i18n.country(code, lang)),
        "theme": (_("Theme"), lambda code: i18n.label(code, lang)),
        "provider": (_("Provider"), str),
        "status": (_("Status"), lambda code: i18n.label(code, lang)),
        "type": (_("Type"), lambda code: i18n.label(code, lang)),
    }
    shown = [
        (title, [name(value) for value in getattr(chosen, key)])
        for key, (title, name) in named.items()
        if getattr(chosen, key)
    ]
    dates = i18n.date_locale(request.headers.get("accept-language"), lang)
    now = timeutil.utcnow()
    return render_text(
        request,
        reader,
        "calendar_pdf.html",
        period=picked.period,
        filters=shown,
        count=len(found),
        months=_by_month(found, picked.period.start),
        generated=f"{i18n.day(now.date(), dates, 'long')}, {now:%H:%M} UTC",
    )


def _by_month(
    found: list[ActivityPublic], first_day: date
) -> list[tuple[date, list[ActivityPublic]]]:
    """The activities (in order of their start) by the month they start in; those begun
    before the period in its first month."""
    months: dict[date, list[ActivityPublic]] = {}
    for activity in found:
        begins = max(activity.start_date, first_day)
        months.setdefault(date(begins.year, begins.month, 1), []).append(activity)
    return list(months.items())


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
        # duplicates first, as the API answers: an overlap can score as high as a duplicate
        found.sort(key=lambda f: (KIND_ORDER.get(f.kind, 9), -f.score))
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
    lang = language(request)
    # The feed speaks the page's language: its name and its events' descriptions.
    query = feeds.feed_query(chosen, lang)
    links = feeds.links(base_url(request), feeds.public_path(query), query or None)
    name, _ = feeds.describe(chosen, lang)
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
    return i18n.listed(parts, lang)


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
