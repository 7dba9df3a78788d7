"""Entering and correcting an activity on a page: the form (new, edit, or a copy for the next
edition), its duplicate check before saving, and withdrawal.

The form calls the same services as the API: `activities.service` writes (with the API's
idempotency store and If-Match revision), `findings.detection.refresh` finds duplicates,
overlaps and clashes.  The check before saving runs both inside a savepoint that it then
rolls back, so it stores nothing and has no matching rules of its own."""

import secrets
import unicodedata
import uuid
from collections.abc import Iterable
from typing import Annotated, Any

from babel import Locale
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlmodel import Session

from app.activities import queries
from app.activities import service as activities
from app.activities.models import Activity, ActivityCreate, ActivityPublic, ActivityUpdate
from app.core import i18n, vocab
from app.core.i18n import N_
from app.core.principal import Principal
from app.db.session import SessionDep
from app.errors import (
    AppError,
    Conflict,
    FieldError,
    Forbidden,
    PreconditionFailed,
    ValidationFailed,
)
from app.findings import detection, vectors
from app.findings.models import FindingPublic
from app.organizations import service as organizations
from app.web import auth
from app.web.auth import ViewerDep
from app.web.render import language, render, see_other

router = APIRouter(include_in_schema=False)

LIST_FIELDS = ("themes", "domains", "audiences", "countries", "regions")
TEXT_FIELDS = (
    "title",
    "description",
    "language",
    "activity_type",
    "start_date",
    "end_date",
    "start_time",
    "end_time",
    "timezone",
    "venue_city",
    "venue_country",
    "modality",
    "partners",
    "status",
    "visibility",
    "contact_email",
    "url",
    "external_ref",
    "provider",
)
# The record's fields the form shows: an edit changes these and leaves the others alone.
EDITED = (
    "title",
    "description",
    "language",
    "activity_type",
    "themes",
    "domains",
    "audiences",
    "partners",
    "external_ref",
    "start_date",
    "end_date",
    "start_time",
    "end_time",
    "timezone",
    "countries",
    "regions",
    "venue",
    "status",
    "visibility",
    "contact_email",
    "url",
)
REQUIRED = ("title", "language", "activity_type", "start_date", "end_date")
LANGUAGES = ("en", "es", "fr", "ru", "ar", "zh", "pt")
MISSING = N_("Fill in this field.")

Values = dict[str, Any]


async def submitted(request: Request) -> Values:
    """The form as sent: a string per field, a list per group of checkboxes."""
    form = await request.form()
    values: Values = {name: str(form.get(name) or "").strip() for name in TEXT_FIELDS}
    values["description"] = str(form.get("description") or "")  # kept as typed
    values.update({name: [str(v) for v in form.getlist(name)] for name in LIST_FIELDS})
    for name in ("csrf", "idempotency_key", "revision", "action"):
        values[name] = str(form.get(name) or "")
    return values


Submitted = Annotated[Values, Depends(submitted)]


def _values_of(activity: ActivityPublic) -> Values:
    """A stored activity as the form shows it."""
    venue = activity.venue
    return {
        **{name: getattr(activity, name) or "" for name in TEXT_FIELDS if hasattr(activity, name)},
        "description": activity.description or "",
        "start_date": activity.start_date.isoformat(),
        "end_date": activity.end_date.isoformat(),
        "venue_city": (venue.city or "") if venue else "",
        "venue_country": (venue.country or "") if venue else "",
        "modality": venue.modality if venue else "",
        "partners": "\n".join(activity.partners),
        **{name: list(getattr(activity, name)) for name in LIST_FIELDS},
    }


def _blank() -> Values:
    values: Values = dict.fromkeys(TEXT_FIELDS, "")
    values.update({name: [] for name in LIST_FIELDS})
    values.update(language="en", status="planned", visibility="public")
    return values


def _body(values: Values) -> dict[str, Any]:
    """The record the API would be sent; a required field left empty is missing."""
    optional = lambda name: values[name] or None  # noqa: E731
    venue = None
    if values["venue_city"] or values["venue_country"] or values["modality"]:
        venue = {
            "city": optional("venue_city"),
            "country": optional("venue_country"),
            "modality": values["modality"] or "in_person",
        }
    body: dict[str, Any] = {
        "provider": optional("provider"),
        "description": optional("description"),
        "partners": [line.strip() for line in values["partners"].splitlines() if line.strip()],
        "external_ref": optional("external_ref"),
        "start_time": optional("start_time"),
        "end_time": optional("end_time"),
        "timezone": optional("timezone"),
        "venue": venue,
        "status": values["status"] or "planned",
        "visibility": values["visibility"] or "public",
        "contact_email": optional("contact_email"),
        "url": optional("url"),
        **{name: values[name] for name in LIST_FIELDS},
    }
    body.update({name: values[name] for name in REQUIRED if values[name]})
    return body


def _field(loc: tuple[int | str, ...]) -> str:
    """The form field a validation error is about."""
    if loc[0] == "venue" and len(loc) > 1:
        return "modality" if loc[1] == "modality" else f"venue_{loc[1]}"
    return str(loc[0])


def _problem(error: ErrorDetails) -> FieldError:
    message = MISSING if error["type"] == "missing" else error["msg"]
    return FieldError(_field(error["loc"]), message)


def _validated(values: Values) -> ActivityCreate:
    """The form checked as the API checks a new activity (a 422 naming the fields)."""
    try:
        return ActivityCreate.model_validate(_body(values))
    except ValidationError as exc:
        raise ValidationFailed.of([_problem(e) for e in exc.errors()]) from exc


def _errors(exc: AppError) -> dict[str, str]:
    """An error, by the form field it is about ("form" for the whole form)."""
    errors: dict[str, str] = {}
    for detail in exc.details or [FieldError("form", exc.message)]:
        errors.setdefault(detail.field, detail.message)
    return errors


def _by_name(codes: Iterable[str], name: Any) -> list[str]:
    """Codes sorted by their names in the reader's language, accents aside."""

    def key(code: str) -> str:
        plain = unicodedata.normalize("NFKD", name(code))
        return "".join(c for c in plain if not unicodedata.combining(c)).casefold()

    return sorted(codes, key=key)


def _choices(session: Session, principal: Principal, lang: str, values: Values) -> Values:
    """What the form offers, in the reader's language."""
    country = lambda code: i18n.country(code, lang)  # noqa: E731
    region = lambda code: i18n.region(code, lang)  # noqa: E731
    names = Locale.parse(lang).languages
    languages = [*LANGUAGES, *([values["language"]] if values["language"] not in LANGUAGES else [])]
    return {
        "countries": _by_name(vocab.geography().countries, country),
        "regions": _by_name(
            (code for code in vocab.geography().region_names if vocab.region_states(code)), region
        ),
        "languages": [(code, names.get(code, code)) for code in languages if code],
        "providers": (
            [o.acronym for o in organizations.list_page(session, limit=500)[0]]
            if principal.reads_all
            else []
        ),
        "vocab": {
            "themes": vocab.THEMES,
            "domains": vocab.DOMAINS,
            "audiences": vocab.AUDIENCES,
            "activity_type": vocab.ACTIVITY_TYPES,
            "status": vocab.STATUSES,
            "visibility": vocab.VISIBILITIES,
            "modality": vocab.MODALITIES,
        },
    }


def _form(
    request: Request,
    session: Session,
    reader: auth.Viewer,
    principal: Principal,
    values: Values,
    *,
    editing: ActivityPublic | None = None,
    errors: dict[str, str] | None = None,
    collisions: list[dict[str, Any]] | None = None,
    conflict: list[tuple[str, str, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        reader,
        "activity_form.html",
        status_code=status_code,
        values=values,
        editing=editing,
        errors=errors or {},
        collisions=collisions,
        conflict=conflict,
        own=principal.organization,
        **_choices(session, principal, language(request), values),
    )


def _collisions(
    session: Session, found: list[FindingPublic], new_id: uuid.UUID | None
) -> list[dict[str, Any]]:
    """Each finding with the other activity it is about (signed-in readers see them all)."""
    others = {f.id: next(i for i in f.activity_ids if i != new_id) for f in found}
    shown = queries.publics(session, list(others.values()))
    return [{"finding": f, "other": shown[others[f.id]]} for f in found if others[f.id] in shown]


def _check(session: Session, data: ActivityCreate, principal: Principal) -> list[dict[str, Any]]:
    """The findings the activity would raise, detected for real in a savepoint rolled back
    afterwards: nothing is stored."""
    savepoint = session.begin_nested()
    try:
        activity, _ = activities.create(session, data, actor=principal)
        new_id = activity.id
        found = detection.refresh(session, activity, created=True, actor=principal)
    finally:
        savepoint.rollback()
    return _collisions(session, found, new_id)


def _writable(session: Session, activity_id: uuid.UUID, principal: Principal) -> Activity:
    activity = queries.get(session, activity_id, viewer=principal)
    if not principal.may_write_for(activity.provider_id):
        raise Forbidden("a provider changes only its own organization's activities")
    return activity


@router.get("/activities/new", response_class=HTMLResponse)
def new_form(
    request: Request,
    session: SessionDep,
    reader: ViewerDep,
    source: Annotated[uuid.UUID | None, Query(alias="from")] = None,
) -> HTMLResponse:
    """A blank form, or one filled from an earlier activity for its next edition (without
    its dates or its reference)."""
    principal = reader.require()
    values = _blank()
    if source is not None:
        values = _values_of(queries.get_public(session, source, viewer=principal))
        values.update(start_date="", end_date="", external_ref="", status="planned")
    if not principal.reads_all:
        values["provider"] = ""
    values["idempotency_key"] = secrets.token_urlsafe(24)
    return _form(request, session, reader, principal, values)


@router.post("/activities/new", response_class=HTMLResponse)
def create(request: Request, session: SessionDep, reader: ViewerDep, values: Submitted) -> Response:
    """ "Check for duplicates" shows what saving would raise, storing nothing; "Save" stores
    the activity once per form (its idempotency key), then shows it with its findings."""
    principal = reader.require()
    auth.check_csrf(reader, values["csrf"])
    if not values["idempotency_key"]:
        values["idempotency_key"] = secrets.token_urlsafe(24)
    try:
        data = _validated(values)
        vectors.prefetch(data.title)  # the title's meaning, computed while it is stored
        if values["action"] == "check":
            collisions = _check(session, data, principal)
            return _form(request, session, reader, principal, values, collisions=collisions)
        with session.begin_nested():
            activity, replayed = activities.create(
                session,
                data,
                actor=principal,
                idempotency_key=values["idempotency_key"][:255],
                idempotency_ttl_hours=request.app.state.settings.idempotency_ttl_hours,
            )
            if not replayed:
                detection.refresh(session, activity, created=True, actor=principal)
    except (ValidationFailed, Conflict) as exc:
        errors = _errors(exc)
        return _form(request, session, reader, principal, values, errors=errors, status_code=422)
    return see_other(f"/activity/{activity.id}?saved=1")


@router.get("/activity/{activity_id}/edit", response_class=HTMLResponse)
def edit_form(
    request: Request, activity_id: uuid.UUID, session: SessionDep, reader: ViewerDep
) -> HTMLResponse:
    principal = reader.require()
    activity = _writable(session, activity_id, principal)
    if activity.withdrawn_at is not None:
        raise Conflict("this activity was withdrawn and can no longer be changed")
    shown = queries.to_public(session, activity)
    values = {**_values_of(shown), "revision": str(shown.revision)}
    return _form(request, session, reader, principal, values, editing=shown)


def _conflict(mine: Values, theirs: Values, lang: str) -> list[tuple[str, str, str]]:
    """The fields that differ between the stored version and the one being saved."""

    def shown(values: Values, name: str) -> str:
        value = values.get(name) or ""
        if name == "countries":
            return i18n.listed((i18n.country(c, lang) for c in value), lang)
        if name == "regions":
            return i18n.listed((i18n.region(r, lang) for r in value), lang)
        if isinstance(value, list):
            return i18n.listed((i18n.label(v, lang) for v in value), lang)
        return str(value)

    rows = []
    for name in ("provider", *TEXT_FIELDS, *LIST_FIELDS):
        if name == "provider" and not mine.get("provider"):
            continue
        if shown(mine, name) != shown(theirs, name):
            rows.append((name, shown(theirs, name), shown(mine, name)))
    return rows


@router.post("/activity/{activity_id}/edit", response_class=HTMLResponse)
def edit(
    request: Request,
    activity_id: uuid.UUID,
    session: SessionDep,
    reader: ViewerDep,
    values: Submitted,
) -> Response:
    """Save the form with If-Match: the revision it was opened on.  If someone saved
    meanwhile, nothing is written: the page shows their version beside this one."""
    principal = reader.require()
    auth.check_csrf(reader, values["csrf"])
    activity = _writable(session, activity_id, principal)
    shown = queries.to_public(session, activity)
    try:
        if not values["revision"].isdigit():
            raise ValidationFailed.on("revision", N_("reload the page and make the change again"))
        data = _validated(values)
        fields = {*EDITED, *(["provider"] if data.provider else [])}
        patch = ActivityUpdate.model_validate(data.model_dump(include=fields))
        checking = values["action"] == "check"
        savepoint = session.begin_nested()
        try:
            activity, changed = activities.update(
                session, activity, patch, actor=principal, if_match=int(values["revision"])
            )
            found = (
                detection.refresh(session, activity, actor=principal)
                if changed
                else detection.of_activity(session, activity.id)
            )
        except BaseException:
            savepoint.rollback()
            raise
        if checking:  # what saving would raise; nothing stays stored
            savepoint.rollback()
            collisions = _collisions(session, found, activity_id)
            return _form(
                request, session, reader, principal, values,
                editing=shown, collisions=collisions,
            )  # fmt: skip
        savepoint.commit()
    except PreconditionFailed:
        current = queries.get_public(session, activity_id, viewer=principal)
        values["revision"] = str(current.revision)
        theirs = _values_of(current)
        conflict = _conflict(values, theirs, language(request))
        return _form(
            request, session, reader, principal, values,
            editing=current, conflict=conflict, status_code=409,
        )  # fmt: skip
    except (ValidationFailed, Conflict) as exc:
        return _form(
            request, session, reader, principal, values,
            editing=shown, errors=_errors(exc), status_code=422,
        )  # fmt: skip
    return see_other(f"/activity/{activity.id}?saved=1")


@router.get("/activity/{activity_id}/withdraw", response_class=HTMLResponse)
def withdraw_form(
    request: Request, activity_id: uuid.UUID, session: SessionDep, reader: ViewerDep
) -> HTMLResponse:
    principal = reader.require()
    activity = _writable(session, activity_id, principal)
    shown = queries.to_public(session, activity)
    return render(
        request, reader, "withdraw.html", activity=shown, revision=shown.revision,
        reason="", errors={}, changed=False,
    )  # fmt: skip


@router.post("/activity/{activity_id}/withdraw", response_class=HTMLResponse)
def withdraw(
    request: Request,
    activity_id: uuid.UUID,
    session: SessionDep,
    reader: ViewerDep,
    csrf: Annotated[str, Form(max_length=100)],
    revision: Annotated[int, Form(ge=1)],
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Withdraw after confirmation, with a reason kept in the activity's history."""
    principal = reader.require()
    auth.check_csrf(reader, csrf)
    activity = _writable(session, activity_id, principal)
    shown = queries.to_public(session, activity)
    again = lambda **context: render(  # noqa: E731
        request, reader, "withdraw.html", activity=shown, reason=reason, **context
    )
    if not reason.strip():
        return again(
            revision=revision, errors={"reason": N_("Say why it is withdrawn.")}, changed=False,
            status_code=422,
        )  # fmt: skip
    try:
        with session.begin_nested():
            activity = activities.withdraw(
                session, activity, actor=principal, if_match=revision, reason=reason.strip()
            )
            detection.refresh(session, activity, actor=principal)
    except PreconditionFailed:
        shown = queries.get_public(session, activity_id, viewer=principal)
        return again(revision=shown.revision, errors={}, changed=True, status_code=409)
    return see_other(f"/activity/{activity.id}?withdrawn=1")
