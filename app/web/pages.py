"""Server-rendered pages for coordinators and staff, on top of the same services as the API:
home, sign-in, calendar (timeline and list), activity detail, review queue, coverage map,
import and subscribe.  English or Spanish; no JavaScript needed."""

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlmodel import Session

from app.activities import queries
from app.activities.models import ActivityPublic
from app.api.exports import download
from app.api.feeds import base_url
from app.core import cursor as cursors
from app.core import vocab
from app.core.principal import Principal
from app.db.session import SessionDep, read_session
from app.errors import AppError, NotFound, ValidationFailed
from app.feeds import service as feeds
from app.feeds.models import FeedFilters
from app.findings import service as findings
from app.findings.models import DecisionIn
from app.imports import readers
from app.imports import service as imports
from app.organizations import service as organizations
from app.reports import service as reports
from app.web import auth, i18n, uploads
from app.web.auth import COOKIE, PRE_CSRF, ViewerDep

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
LANG_COOKIE = "assistcal_lang"
THEMES = vocab.THEMES
STATUSES = ("planned", "confirmed", "postponed", "cancelled", "completed")
MAX_ROWS = 2000  # activities a calendar page shows at most


def language(request: Request) -> str:
    """The page's language, chosen once per request."""
    chosen = getattr(request.state, "language", None)
    if chosen is None:
        chosen = i18n.choose(
            request.cookies.get(LANG_COOKIE), request.headers.get("accept-language")
        )
        request.state.language = chosen
    return str(chosen)


def render(
    request: Request,
    reader: auth.Viewer,
    template: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    lang = language(request)
    dates = i18n.date_locale(request.headers.get("accept-language"), lang)
    response = templates.TemplateResponse(
        request,
        template,
        {
            "_": i18n.translator(lang),
            "lang": lang,
            "viewer": reader.principal,
            "csrf": reader.csrf,
            "label": lambda code: i18n.label(code, lang),
            "country": lambda code: i18n.country(code, lang),
            "region": lambda code: i18n.region(code, lang),
            "day": lambda value, style="medium": i18n.day(value, dates, style),
            "reason": lambda r: i18n.reason(_get(r, "code"), _get(r, "message"), lang),
            "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            **context,
        },
        status_code=status_code,
    )
    if reader.fresh_csrf:
        auth.set_cookie(response, PRE_CSRF, reader.csrf, max_age=12 * 3600)
    return response


def _get(item: Any, name: str) -> Any:
    return item[name] if isinstance(item, dict) else getattr(item, name)


def _safe_next(target: str | None) -> str:
    """Only a path of this site: never an address elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def page_error(request: Request, exc: AppError) -> Response:
    """An error on a page: the sign-in page for a 401, else a page saying what went wrong
    (rendered without the database: the request's session is gone)."""
    if exc.status_code == 401:
        return _see_other("/sign-in?" + urlencode({"next": request.url.path}))
    reader = auth.Viewer(None, request.cookies.get(PRE_CSRF) or "", fresh_csrf=False)
    return render(request, reader, "error.html", status_code=exc.status_code, error=exc)


# Home, language, sign-in ------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request, reader: ViewerDep) -> HTMLResponse:
    return render(request, reader, "home.html")


@router.get("/language", response_class=HTMLResponse)
def switch_language(
    to: Annotated[str, Query(max_length=5)], next: Annotated[str | None, Query()] = None
) -> RedirectResponse:
    response = _see_other(_safe_next(next))
    if to in i18n.LANGUAGES:
        response.set_cookie(LANG_COOKIE, to, max_age=365 * 86400, samesite="lax", path="/")
    return response


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(
    request: Request, reader: ViewerDep, next: Annotated[str | None, Query()] = None
) -> HTMLResponse:
    return render(request, reader, "sign_in.html", next=_safe_next(next), failed=False)


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    session: SessionDep,
    reader: ViewerDep,
    key: Annotated[str, Form(max_length=200)],
    csrf: Annotated[str, Form(max_length=100)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    auth.check_csrf(reader, csrf)
    try:
        token, _principal = auth.sign_in(session, key)
    except AppError:
        return render(
            request, reader, "sign_in.html", status_code=401, next=_safe_next(next), failed=True
        )
    response = _see_other(_safe_next(next))
    auth.set_cookie(response, COOKIE, token, max_age=int(auth.LIFETIME.total_seconds()))
    return response


@router.post("/sign-out")
def sign_out(
    request: Request,
    session: SessionDep,
    reader: ViewerDep,
    csrf: Annotated[str, Form(max_length=100)],
) -> RedirectResponse:
    auth.check_csrf(reader, csrf)
    auth.sign_out(session, request.cookies.get(COOKIE))
    response = _see_other("/")
    response.delete_cookie(COOKIE, path="/")
    return response


# Calendar ---------------------------------------------------------------------------------


@dataclass
class Bar:
    activity: ActivityPublic
    left: float  # percent of the period
    width: float
    theme: str
    lane: int = 0  # bars that meet in a row are stacked


@dataclass
class Row:
    key: str
    name: str
    bars: list[Bar] = field(default_factory=list)
    lanes: int = 1

    def stack(self) -> "Row":
        """Give each bar the first lane free where it starts (bars keep a little room for
        their title)."""
        ends: list[float] = []
        placed = []
        for bar in sorted(self.bars, key=lambda b: (b.left, -b.width)):
            room = bar.left + max(bar.width, 6.0)
            lane = next((i for i, end in enumerate(ends) if end <= bar.left), len(ends))
            if lane == len(ends):
                ends.append(room)
            else:
                ends[lane] = room
            placed.append(Bar(bar.activity, bar.left, bar.width, bar.theme, lane))
        self.bars, self.lanes = placed, max(len(ends), 1)
        return self


YEARS = (1990, 2100)  # what the calendar pages move within


def _month_start(text: str | None) -> date:
    today = date.today()
    if text:
        try:
            year, month = (int(part) for part in text.split("-")[:2])
            chosen = date(year, month, 1)
        except ValueError as exc:
            raise ValidationFailed.on("start", "use YYYY-MM, e.g. 2024-03") from exc
        if not YEARS[0] <= year <= YEARS[1]:
            raise ValidationFailed.on("start", f"a month between {YEARS[0]} and {YEARS[1]}")
        return chosen
    return date(today.year, today.month, 1)


def _within_years(value: date | None, name: str) -> None:
    if value is not None and not YEARS[0] <= value.year <= YEARS[1]:
        raise ValidationFailed.on(name, f"a date between {YEARS[0]} and {YEARS[1]}")


def _add_months(first: date, count: int) -> date:
    month = first.month - 1 + count
    return date(first.year + month // 12, month % 12 + 1, 1)


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


def _filters(**chosen: str | None) -> FeedFilters:
    """The filter form's choices (one value each, empty for all), checked as the feeds and
    the list API check them; a bad one is a 422 naming it."""
    try:
        return FeedFilters.model_validate({k: [v] for k, v in chosen.items() if v})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValidationFailed.on(str(first["loc"][0]), first["msg"]) from exc


def _choices(session: Session, lang: str) -> dict[str, Any]:
    """What the filter forms offer."""
    return {
        "regions": _regions(),
        "countries": sorted(vocab.geography().countries, key=lambda c: i18n.country(c, lang)),
        "providers": [o.acronym for o in organizations.list_page(session, limit=500)[0]],
        "themes": THEMES,
    }


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
    chosen = _filters(
        region=region, country=country, theme=theme, provider=provider, status=status, type=type
    )
    _within_years(date_from, "from")
    _within_years(date_to, "to")
    first = _month_start(start if start or date_from is None else date_from.strftime("%Y-%m"))
    months_shown = 3 if span == "quarter" else 1
    period_start = date_from or first
    period_end = date_to or _add_months(first, months_shown) - timedelta(days=1)
    if period_end < period_start:
        raise ValidationFailed.on("to", "must not be before from")
    if (period_end - period_start).days > 3 * 366:
        raise ValidationFailed.on("to", "at most three years at a time")
    filters = queries.Filters(
        countries=chosen.country,
        regions=chosen.region,
        themes=list(chosen.theme),
        providers=chosen.provider,
        statuses=list(chosen.status),
        types=list(chosen.type),
        date_from=period_start,
        date_to=period_end,
    )
    found = _activities(session, filters, reader.principal)
    days = (period_end - period_start).days + 1
    table: dict[str, Row] = {}
    wanted_states = set(chosen.country) | {s for r in chosen.region for s in vocab.region_states(r)}
    lang = language(request)
    for activity in found:
        first_day = max(activity.start_date, period_start)
        last_day = min(activity.end_date, period_end)
        bar = Bar(
            activity,
            left=100 * (first_day - period_start).days / days,
            width=max(100 * ((last_day - first_day).days + 1) / days, 0.8),
            theme=next((t for t in chosen.theme if t in activity.themes), activity.themes[0]),
        )
        if rows == "provider":
            keys = [activity.provider]
        else:
            states = vocab.beneficiary_states(activity.countries, activity.regions)
            keys = [s for s in states if not wanted_states or s in wanted_states]
        for key in keys:
            name = key if rows == "provider" else i18n.country(key, lang)
            table.setdefault(key, Row(key, name)).bars.append(bar)
    ordered = sorted((row.stack() for row in table.values()), key=lambda r: r.name)
    month_marks = []
    cursor_month = date(period_start.year, period_start.month, 1)
    while cursor_month <= period_end:
        left = max((cursor_month - period_start).days, 0)
        month_marks.append((100 * left / days, cursor_month))
        cursor_month = _add_months(cursor_month, 1)
    query = dict(request.query_params)
    return render(
        request,
        reader,
        "calendar.html",
        view=view,
        rows=rows,
        span=span,
        start=first,
        previous=_add_months(first, -months_shown).strftime("%Y-%m"),
        following=_add_months(first, months_shown).strftime("%Y-%m"),
        period=(period_start, period_end),
        table=ordered,
        activities=found,
        truncated=len(found) >= MAX_ROWS,
        month_marks=month_marks,
        chosen=chosen,
        query=query,
        with_query=lambda **changes: "?" + urlencode({**query, **changes}),
        statuses=STATUSES,
        **_choices(session, lang),
    )


def _regions() -> list[str]:
    names = vocab.geography().region_names
    return sorted((code for code in names if vocab.region_states(code)), key=names.__getitem__)


# Activity ---------------------------------------------------------------------------------


@router.get("/activity/{activity_id}", response_class=HTMLResponse)
def activity_page(
    request: Request, activity_id: uuid.UUID, session: SessionDep, reader: ViewerDep
) -> HTMLResponse:
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
                    other = queries.get(session, other_id, viewer=reader.principal)
                except NotFound:
                    continue
                others[other_id] = other.title
    return render(
        request,
        reader,
        "activity.html",
        activity=shown,
        findings=found,
        others=others,
        history=history,
    )


# Review queue -----------------------------------------------------------------------------

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
    return _see_other(f"/review?{urlencode(query)}{anchor}")


# Coverage ---------------------------------------------------------------------------------


@router.get("/coverage", response_class=HTMLResponse)
def coverage_page(
    request: Request,
    session: SessionDep,
    reader: ViewerDep,
    region: Annotated[str, Query(max_length=3)] = "419",
    year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
    by: Annotated[str, Query(pattern="^(theme|domain|type)$")] = "theme",
) -> HTMLResponse:
    reader.require()
    chosen_year = year or date.today().year
    report = _coverage(session, region, chosen_year, by)
    counts = {(c.country, c.key): c.count for c in report.cells}
    top = max(counts.values(), default=0) or 1
    lang = language(request)
    ordered = sorted(report.countries, key=lambda code: i18n.country(code, lang))
    return render(
        request,
        reader,
        "coverage.html",
        report=report,
        ordered=ordered,
        counts=counts,
        heat=lambda n: 0 if n == 0 else min(4, 1 + (3 * n) // top),
        region_code=region,
        year=chosen_year,
        by=by,
        regions=_regions(),
        filter_name={"theme": "theme", "domain": "domain", "type": "type"}[by],
    )


def _coverage(session: Session, region: str, year: int, by: str) -> Any:
    if not vocab.region_states(region):
        raise ValidationFailed.on("region", f"unknown region {region!r}")
    return reports.coverage(
        session,
        start=date(year, 1, 1),
        end=date(year, 12, 31),
        region=region,
        by=by,  # type: ignore[arg-type]
    )


@router.get("/coverage.csv")
def coverage_csv(
    session: SessionDep,
    reader: ViewerDep,
    region: Annotated[str, Query(max_length=3)] = "419",
    year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
    by: Annotated[str, Query(pattern="^(theme|domain|type)$")] = "theme",
) -> Response:
    """The coverage page's matrix as CSV, for the signed-in reader."""
    reader.require()
    report = _coverage(session, region, year or date.today().year, by)
    return download(reports.to_csv(report), "text/csv; charset=utf-8", "coverage.csv")


# Import -----------------------------------------------------------------------------------


@router.get("/import", response_class=HTMLResponse)
def import_page(request: Request, reader: ViewerDep) -> HTMLResponse:
    reader.require()
    return render(request, reader, "import.html", report=None, pending=None)


@dataclass
class Upload:
    """A file sent to the import page (or kept since its dry run), read and checked."""

    reader: auth.Viewer
    principal: Principal
    name: str
    data: bytes
    table: readers.Table
    provider: str | None
    skip_invalid: bool
    pending: uuid.UUID | None  # the kept file being confirmed


async def page_upload(
    request: Request,
    reader: auth.ViewerBeforeTransaction,
    csrf: Annotated[str, Form(max_length=100)],
    file: Annotated[UploadFile | None, File()] = None,
    provider: Annotated[str | None, Form(max_length=30)] = None,
    skip_invalid: Annotated[bool, Form()] = False,
    confirm: Annotated[bool, Form()] = False,
    pending: Annotated[uuid.UUID | None, Form()] = None,
) -> Upload:
    """The signed-in reader's file, read whole before the page's transaction begins (see
    app.api.imports.uploaded_table)."""
    principal = reader.require()
    auth.check_csrf(reader, csrf)
    if confirm and pending is not None:
        async with read_session(request) as session:
            kept = await run_in_threadpool(uploads.get, session, pending, principal)
        name, data, provider, skip_invalid = kept
    elif file is not None:
        name, data, pending = file.filename or "upload", await file.read(), None
    else:
        raise ValidationFailed.on("file", "choose a file to import")
    table = await request.app.state.file_reader.read_in_turn(name, data)
    return Upload(reader, principal, name, data, table, provider or None, skip_invalid, pending)


@router.post("/import", response_class=HTMLResponse)
def import_upload(
    request: Request,
    # In this order: the file read, then the transaction.
    upload: Annotated[Upload, Depends(page_upload)],
    session: SessionDep,
) -> HTMLResponse:
    """First a dry run of the uploaded file; the page then offers to import it for real."""
    confirm = upload.pending is not None
    if upload.pending is not None:
        uploads.remove(session, upload.pending, upload.principal)
    options = imports.Options(
        dry_run=not confirm, skip_invalid=upload.skip_invalid, provider=upload.provider
    )
    report = imports.run(session, upload.table, actor=upload.principal, options=options)
    kept = None
    if not confirm and (not report.errors or upload.skip_invalid):
        kept = uploads.keep(
            session,
            upload.principal,
            upload.name,
            upload.data,
            upload.provider,
            upload.skip_invalid,
        )
    return render(
        request,
        upload.reader,
        "import.html",
        report=report,
        pending=kept,
        name=upload.name,
        confirmed=confirm,
        status_code=200,
    )


# Subscribe --------------------------------------------------------------------------------


@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_page(
    request: Request,
    session: SessionDep,
    reader: ViewerDep,
    region: Annotated[str | None, Query(max_length=3)] = None,
    country: Annotated[str | None, Query(max_length=2)] = None,
    theme: Annotated[str | None, Query(max_length=40)] = None,
    provider: Annotated[str | None, Query(max_length=30)] = None,
) -> HTMLResponse:
    chosen = _filters(region=region, country=country, theme=theme, provider=provider)
    query = feeds.filter_query(chosen)
    path = "/feeds/calendar.ics" if query else "/feeds/all.ics"
    links = feeds.links(base_url(request), path, query or None)
    name, _ = feeds.describe(chosen)
    lang = language(request)
    return render(
        request,
        reader,
        "subscribe.html",
        links=links,
        feed_name=name,
        chosen=chosen,
        **_choices(session, lang),
    )
