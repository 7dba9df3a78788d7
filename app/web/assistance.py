"""States' requests for assistance (list, record, move forward with a note, link the activities
answering them, the providers that fit them) and organizations' profiles (what each offers),
on the services the API calls: app.assistance.service and app.organizations.service decide
who may do what and who sees which request."""

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from app.activities import queries
from app.assistance import service as requests
from app.assistance.models import (
    STATUSES,
    AssistanceRequest,
    RequestCreate,
    RequestPublic,
    RequestUpdate,
)
from app.core import cursor as cursors
from app.core import i18n, vocab
from app.core.principal import Principal
from app.db.session import SessionDep
from app.errors import AppError, Conflict, Forbidden, ValidationFailed
from app.organizations import service as organizations
from app.organizations.models import Organization, ProfileIn
from app.web import auth, forms
from app.web.auth import ViewerDep
from app.web.render import language, render, see_other

router = APIRouter(include_in_schema=False)
PRIORITIES = ("low", "normal", "high")
PAGE_SIZE = 50
# The fields of the forms, in their order on the page (the error summary follows it).
REQUEST_FIELDS = ("country", "themes", "domains", "help_sought", "language", "priority")
PROFILE_FIELDS = ("themes", "domains", "activity_types", "languages", "regions", "contact_email")


def _field_errors(exc: ValidationError) -> dict[str, str]:
    """The first problem of each field, by the field's name (`themes[0]` is `themes`)."""
    found: dict[str, str] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "form"
        found.setdefault(name, error["msg"])
    return found


def _codes(text: str) -> list[str]:
    """Codes typed in one field, separated by commas or spaces."""
    return [part for part in text.replace(",", " ").split() if part]


# The list ------------------------------------------------------------------------------------


@router.get("/requests", response_class=HTMLResponse)
def requests_page(
    request: Request,
    session: SessionDep,
    reader: ViewerDep,
    country: Annotated[str | None, Query(max_length=2)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    theme: Annotated[str | None, Query(max_length=40)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    recorded: Annotated[uuid.UUID | None, Query()] = None,
) -> HTMLResponse:
    principal = reader.require()
    if country and not vocab.is_country(country):
        raise ValidationFailed.on("country", f"unknown State {country!r}")
    if status and status not in STATUSES:
        raise ValidationFailed.on("status", f"one of {', '.join(STATUSES)}")
    if theme and theme not in vocab.THEMES:
        raise ValidationFailed.on("theme", f"one of {', '.join(vocab.THEMES)}")
    try:
        after = cursors.decode(cursor, 2) if cursor else None
    except cursors.CursorError as exc:
        raise ValidationFailed.on("cursor", str(exc)) from exc
    items, next_cursor = requests.list_page(
        session,
        viewer=principal,
        countries=[country] if country else [],
        statuses=[status] if status else [],
        themes=[theme] if theme else [],
        limit=PAGE_SIZE,
        after=after,
    )
    chosen = {"country": country or "", "status": status or "", "theme": theme or ""}
    more = {k: v for k, v in chosen.items() if v}
    return render(
        request,
        reader,
        "requests.html",
        items=items,
        chosen=chosen,
        next_page="?" + urlencode({**more, "cursor": next_cursor}) if next_cursor else None,
        countries=_countries(language(request)),
        statuses=STATUSES,
        themes=vocab.THEMES,
        recorded=recorded,
    )


def _countries(lang: str) -> list[str]:
    return sorted(vocab.geography().countries, key=lambda c: i18n.country(c, lang))


# Recording one -------------------------------------------------------------------------------


def _new_form(
    request: Request,
    reader: auth.Viewer,
    status_code: int = 200,
    entered: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    lang = language(request)
    return render(
        request,
        reader,
        "request_new.html",
        status_code=status_code,
        entered=entered or {"language": lang, "priority": "normal", "themes": [], "domains": []},
        errors=errors or {},
        order=REQUEST_FIELDS,
        countries=_countries(lang),
        themes=vocab.THEMES,
        domains=vocab.DOMAINS,
        activity_types=vocab.ACTIVITY_TYPES,
        priorities=PRIORITIES,
    )


@router.get("/requests/new", response_class=HTMLResponse)
def new_request_page(request: Request, reader: ViewerDep) -> HTMLResponse:
    reader.require_coordinator()
    return _new_form(request, reader)


@router.post("/requests/new", response_class=HTMLResponse)
def record_request(
    request: Request,
    session: SessionDep,
    reader: ViewerDep,
    csrf: Annotated[str, Form(max_length=100)],
    country: Annotated[str, Form(max_length=8)] = "",
    themes: Annotated[list[str], Form(max_length=20)] = [],  # noqa: B006
    domains: Annotated[list[str], Form(max_length=10)] = [],  # noqa: B006
    help_sought: Annotated[str, Form(max_length=40)] = "",
    request_language: Annotated[str, Form(alias="language", max_length=8)] = "",
    priority: Annotated[str, Form(max_length=10)] = "normal",
    description: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    auth.check_csrf(reader, csrf)
    principal = reader.require()
    entered = {
        "country": country,
        "themes": themes,
        "domains": domains,
        "help_sought": help_sought,
        "language": request_language.strip().lower(),
        "priority": priority,
        "description": description,
    }
    try:
        data = RequestCreate.model_validate({**entered, "description": description.strip() or None})
    except ValidationError as exc:
        return _new_form(
            request, reader, status_code=422, entered=entered, errors=_field_errors(exc)
        )
    made = requests.create(session, data, actor=principal)
    return see_other(f"/requests/{made.id}?" + urlencode({"done": "recorded"}))


# One request ---------------------------------------------------------------------------------


def _request_page(
    request: Request,
    session: Session,
    reader: auth.Viewer,
    row: AssistanceRequest,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    principal = reader.require()
    shown: RequestPublic = requests.public(session, row)
    found = requests.matches(session, row)
    linked = queries.publics(session, shown.activity_ids)
    candidates = [
        a for a in found.activities if not a.answers and _may_link(session, principal, a.provider)
    ]
    position = STATUSES.index(shown.status)
    return render(
        request,
        reader,
        "request.html",
        status_code=status_code,
        item=shown,
        linked=[linked[i] for i in shown.activity_ids if i in linked],
        unlinkable={i for i, a in linked.items() if _may_link(session, principal, a.provider)},
        candidates=candidates,
        providers=found.providers,
        next_statuses=STATUSES[position + 1 :],
        statuses=STATUSES,
        **extra,
    )


def _may_link(session: Session, principal: Principal, acronym: str) -> bool:
    """Whether the reader may link this provider's activities (the rule the service applies:
    `Principal.may_write_for`)."""
    organization = organizations.find(session, acronym)
    return organization is not None and principal.may_write_for(organization.id or 0)


def _load(session: Session, request_id: uuid.UUID, principal: Principal) -> AssistanceRequest:
    return requests.get(session, request_id, viewer=principal)


@router.get("/requests/{request_id}", response_class=HTMLResponse)
def request_page(
    request: Request, request_id: uuid.UUID, session: SessionDep, reader: ViewerDep
) -> HTMLResponse:
    row = _load(session, request_id, reader.require())
    return _request_page(request, session, reader, row)


@router.post("/requests/{request_id}/status", response_class=HTMLResponse)
def move_request(
    request: Request,
    request_id: uuid.UUID,
    session: SessionDep,
    reader: ViewerDep,
    csrf: Annotated[str, Form(max_length=100)],
    status: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    auth.check_csrf(reader, csrf)
    principal = reader.require()
    row = _load(session, request_id, principal)
    entered = {"status": status, "note": note}
    try:
        change = RequestUpdate.model_validate({"status": status, "note": note.strip() or None})
        _, moved = requests.update(session, row, change, actor=principal)
    except ValidationError as exc:
        return _request_page(
            request, session, reader, row, status_code=422, entered=entered,
            move_errors=_field_errors(exc),
        )  # fmt: skip
    except (ValidationFailed, Conflict) as exc:  # raised before anything is written
        field = "status" if isinstance(exc, Conflict) else _error_field(exc, "status")
        return _request_page(
            request, session, reader, row, status_code=exc.status_code, entered=entered,
            move_errors={field: exc.message if isinstance(exc, Conflict) else _detail(exc)},
            moved_on=isinstance(exc, Conflict),
        )  # fmt: skip
    done = "moved" if moved else "unchanged"
    return see_other(f"/requests/{request_id}?" + urlencode({"done": done}) + "#status")


def _error_field(exc: AppError, default: str) -> str:
    return str(exc.details[0].field) if exc.details else default


def _detail(exc: AppError) -> str:
    return str(exc.details[0].message) if exc.details else exc.message


@router.post("/requests/{request_id}/activities", response_class=HTMLResponse)
def link_activity(
    request: Request,
    request_id: uuid.UUID,
    session: SessionDep,
    reader: ViewerDep,
    csrf: Annotated[str, Form(max_length=100)],
    activity_id: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    auth.check_csrf(reader, csrf)
    principal = reader.require()
    row = _load(session, request_id, principal)
    try:
        chosen = uuid.UUID(activity_id)
    except ValueError:
        return _request_page(request, session, reader, row, status_code=422, link_error="choose")
    try:
        requests.link(session, row, chosen, actor=principal)
    except (ValidationFailed, Forbidden) as exc:  # raised before anything is written
        return _request_page(
            request, session, reader, row, status_code=exc.status_code,
            link_error="forbidden" if isinstance(exc, Forbidden) else "refused",
            link_detail=_detail(exc),
        )  # fmt: skip
    return see_other(f"/requests/{request_id}?" + urlencode({"done": "linked"}) + "#activities")


@router.post("/requests/{request_id}/activities/{activity_id}/remove")
def unlink_activity(
    request_id: uuid.UUID,
    activity_id: uuid.UUID,
    session: SessionDep,
    reader: ViewerDep,
    csrf: Annotated[str, Form(max_length=100)],
) -> Response:
    auth.check_csrf(reader, csrf)
    principal = reader.require()
    row = _load(session, request_id, principal)
    requests.unlink(session, row, activity_id, actor=principal)
    return see_other(f"/requests/{request_id}?" + urlencode({"done": "unlinked"}) + "#activities")


# Organizations and their profiles ------------------------------------------------------------


@router.get("/organizations", response_class=HTMLResponse)
def organizations_page(request: Request, session: SessionDep, reader: ViewerDep) -> HTMLResponse:
    reader.require()
    found, _ = organizations.list_page(session, limit=500)
    return render(request, reader, "organizations.html", organizations=found)


def _profile_view(
    request: Request,
    session: Session,
    reader: auth.Viewer,
    organization: Organization,
    template: str,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    principal = reader.require()
    return render(
        request,
        reader,
        template,
        status_code=status_code,
        organization=organization,
        profile=organizations.profile(session, organization),
        may_edit=organizations.may_edit_profile(principal, organization),
        themes=vocab.THEMES,
        domains=vocab.DOMAINS,
        activity_types=vocab.ACTIVITY_TYPES,
        regions=forms.regions(),
        order=PROFILE_FIELDS,
        **extra,
    )


@router.get("/organizations/{acronym}", response_class=HTMLResponse)
def organization_page(
    request: Request, acronym: str, session: SessionDep, reader: ViewerDep
) -> HTMLResponse:
    reader.require()
    organization = organizations.get(session, acronym)
    return _profile_view(request, session, reader, organization, "organization.html")


@router.get("/organizations/{acronym}/profile", response_class=HTMLResponse)
def profile_form(
    request: Request, acronym: str, session: SessionDep, reader: ViewerDep
) -> HTMLResponse:
    principal = reader.require()
    organization = organizations.get(session, acronym)
    if not organizations.may_edit_profile(principal, organization):
        raise Forbidden("only an admin or the organization itself edits its profile")
    return _profile_view(request, session, reader, organization, "profile_edit.html", errors={})


@router.post("/organizations/{acronym}/profile", response_class=HTMLResponse)
def save_profile(
    request: Request,
    acronym: str,
    session: SessionDep,
    reader: ViewerDep,
    csrf: Annotated[str, Form(max_length=100)],
    themes: Annotated[list[str], Form(max_length=20)] = [],  # noqa: B006
    domains: Annotated[list[str], Form(max_length=10)] = [],  # noqa: B006
    activity_types: Annotated[list[str], Form(max_length=30)] = [],  # noqa: B006
    languages: Annotated[str, Form(max_length=300)] = "",
    regions: Annotated[list[str], Form(max_length=60)] = [],  # noqa: B006
    contact_email: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    auth.check_csrf(reader, csrf)
    principal = reader.require()
    organization = organizations.get(session, acronym)
    entered = {
        "themes": themes,
        "domains": domains,
        "activity_types": activity_types,
        "languages": [code.lower() for code in _codes(languages)],
        "regions": regions,
        "contact_email": contact_email.strip() or None,
    }
    try:
        data = ProfileIn.model_validate(entered)
    except ValidationError as exc:
        return _profile_view(
            request, session, reader, organization, "profile_edit.html", status_code=422,
            entered={**entered, "languages": languages}, errors=_field_errors(exc),
        )  # fmt: skip
    organizations.put_profile(session, organization, data, actor=principal)
    return see_other(f"/organizations/{organization.acronym}?saved=1")
