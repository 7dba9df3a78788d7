"""Assistance requests: recorded by coordinators, moved through their statuses, answered by
planned activities, matched with providers (app.core.provider_fit)."""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.activities.models import Activity, ActivityCountry
from app.activities.queries import providers_of
from app.assistance.models import (
    STATUSES,
    ActivityMatch,
    AssistanceRequest,
    Matches,
    ProviderMatch,
    Reason,
    RequestActivity,
    RequestCreate,
    RequestPublic,
    RequestStatusChange,
    RequestUpdate,
    StatusChangePublic,
)
from app.audit import service as audit
from app.core import provider_fit, timeutil
from app.core.principal import Principal
from app.core.timeutil import utcnow
from app.db.pagination import newest_first
from app.db.sql import json_contains
from app.db.types import json_set, json_text
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.mail import notices
from app.organizations.models import Organization, OrganizationProfile
from app.webhooks import events as webhook_events

# Providers see a request once a coordinator has circulated it to them.
CIRCULATED = STATUSES.index("circulated")


def _visible(request: AssistanceRequest, viewer: Principal) -> bool:
    return viewer.reads_all or STATUSES.index(request.status) >= CIRCULATED


def create(session: Session, data: RequestCreate, *, actor: Principal) -> AssistanceRequest:
    if not actor.reads_all:
        raise Forbidden("coordinators record assistance requests")
    values = data.model_dump()
    for name in ("themes", "domains"):
        values[name] = [*dict.fromkeys(values[name])]
    request = AssistanceRequest(**values, recorded_by=actor.organization)
    session.add(request)
    session.flush()
    session.add(RequestStatusChange(request_id=request.id, status="received", by=actor.label))
    audit.record(
        session,
        actor=actor,
        action="request.create",
        entity_type="request",
        entity_id=request.id,
        revision=1,
        changes=data.model_dump(mode="json"),
    )
    session.flush()
    return request


def get(session: Session, request_id: uuid.UUID, *, viewer: Principal) -> AssistanceRequest:
    request = session.get(AssistanceRequest, request_id)
    if request is None or not _visible(request, viewer):
        raise NotFound(f"no assistance request with id {request_id}")
    return request


def public(session: Session, request: AssistanceRequest) -> RequestPublic:
    return _publics(session, [request])[0]


def _publics(session: Session, requests: Sequence[AssistanceRequest]) -> list[RequestPublic]:
    ids = [r.id for r in requests]
    history: dict[uuid.UUID, list[StatusChangePublic]] = defaultdict(list)
    linked: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    if ids:
        changes = select(RequestStatusChange).where(col(RequestStatusChange.request_id).in_(ids))
        for change in session.exec(changes.order_by(col(RequestStatusChange.id))):
            history[change.request_id].append(
                StatusChangePublic.model_validate(change.model_dump())
            )
        links = select(RequestActivity.request_id, RequestActivity.activity_id).where(
            col(RequestActivity.request_id).in_(ids)
        )
        for request_id, activity_id in session.exec(links.order_by(col(RequestActivity.linked_at))):
            linked[request_id].append(activity_id)
    return [
        RequestPublic.model_validate(
            {
                **r.model_dump(),
                "history": history[r.id],
                "activity_ids": linked[r.id],
                "answered": bool(linked[r.id]),
            }
        )
        for r in requests
    ]


def list_page(
    session: Session,
    *,
    viewer: Principal,
    countries: Sequence[str],
    statuses: Sequence[str],
    themes: Sequence[str] = (),
    limit: int,
    after: Sequence[str | int] | None,
) -> tuple[list[RequestPublic], str | None]:
    """Newest first; providers see the requests circulated to them and later ones.  Each
    filter keeps the requests with any of its values."""
    statement = select(AssistanceRequest)
    if not viewer.reads_all:
        statement = statement.where(col(AssistanceRequest.status).in_(STATUSES[CIRCULATED:]))
    if countries:
        statement = statement.where(col(AssistanceRequest.country).in_(countries))
    if statuses:
        statement = statement.where(col(AssistanceRequest.status).in_(statuses))
    if themes:
        statement = statement.where(
            sa.or_(*(json_contains(session, AssistanceRequest.themes, t) for t in themes))
        )
    rows, cursor = newest_first(
        session,
        statement,
        created=col(AssistanceRequest.created_at),
        ident=col(AssistanceRequest.id),
        limit=limit,
        after=after,
    )
    return _publics(session, rows), cursor


def update(
    session: Session, request: AssistanceRequest, data: RequestUpdate, *, actor: Principal
) -> tuple[AssistanceRequest, str | None]:
    """Edit a request or move its status forward (coordinators); returns the request and the
    status it moved to, if it moved.  A status never goes back: a request closed by mistake
    is recorded again."""
    if not actor.reads_all:
        raise Forbidden("coordinators move assistance requests")
    # Re-read under a row lock: two coordinators moving it at once must not move it back.
    request = session.exec(
        select(AssistanceRequest)
        .where(AssistanceRequest.id == request.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).one()
    patch = data.model_dump(exclude_unset=True)
    note = patch.pop("note", None)
    for name, value in patch.items():
        if value is None and name != "description":
            raise ValidationFailed.on(name, "may not be null")
    moved = None
    status = patch.pop("status", None)
    if status is not None and status != request.status:
        if STATUSES.index(status) < STATUSES.index(request.status):
            raise Conflict(
                f"a request moves forward only ({' → '.join(STATUSES)}); "
                f"it is {request.status} already",
                details=[],
            )
        moved = status
    elif note is not None:
        raise ValidationFailed.on("note", "a note goes with a status change")
    before = request.model_dump(mode="json")
    for name in ("themes", "domains"):
        if name in patch:
            patch[name] = [*dict.fromkeys(patch[name])]
    for name, value in patch.items():
        setattr(request, name, value)
    if moved is not None:
        request.status = moved
        session.add(
            RequestStatusChange(request_id=request.id, status=moved, by=actor.label, note=note)
        )
    after = request.model_dump(mode="json")
    changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    if not changes:
        return request, None
    request.revision += 1
    request.updated_at = utcnow()
    session.add(request)
    audit.record(
        session,
        actor=actor,
        action="request.update",
        entity_type="request",
        entity_id=request.id,
        revision=request.revision,
        changes={**changes, **({"note": note} if note else {})},
    )
    session.flush()
    if moved == "matched":
        summary = {
            "id": request.id,
            "country": request.country,
            "status": request.status,
            "themes": request.themes,
            "help_sought": request.help_sought,
        }
        webhook_events.emit(session, [webhook_events.Event("request.matched", summary)])
        answering = session.exec(
            select(RequestActivity.activity_id).where(RequestActivity.request_id == request.id)
        ).all()
        notices.request_told(
            session,
            request.id,
            providers_of(session, answering),
            event="request.matched",
            actor=actor,
        )
    return request, moved


def link(
    session: Session, request: AssistanceRequest, activity_id: uuid.UUID, *, actor: Principal
) -> None:
    """Record that a planned activity answers the request: a coordinator, or the provider of
    the activity.  The activity must be for the requesting State."""
    activity = session.get(Activity, activity_id)
    if activity is None:
        raise ValidationFailed.on("activity_id", f"no activity with id {activity_id}")
    if not actor.may_write_for(activity.provider_id):
        raise Forbidden("a provider links only its own organization's activities")
    if activity.withdrawn_at is not None:
        raise ValidationFailed.on("activity_id", "this activity was withdrawn")
    covers = session.exec(
        select(ActivityCountry.country).where(
            ActivityCountry.activity_id == activity_id, ActivityCountry.country == request.country
        )
    ).first()
    if covers is None:
        raise ValidationFailed.on(
            "activity_id", f"the activity is not for {request.country}, the requesting State"
        )
    if session.get(RequestActivity, (request.id, activity_id)) is not None:
        return
    session.add(
        RequestActivity(request_id=request.id, activity_id=activity_id, linked_by=actor.label)
    )
    audit.record(
        session,
        actor=actor,
        action="request.link",
        entity_type="request",
        entity_id=request.id,
        changes={"activity_id": str(activity_id)},
    )
    notices.request_told(
        session,
        request.id,
        providers_of(session, [activity_id]),
        event="request.linked",
        actor=actor,
    )
    session.flush()


def unlink(
    session: Session, request: AssistanceRequest, activity_id: uuid.UUID, *, actor: Principal
) -> None:
    row = session.get(RequestActivity, (request.id, activity_id))
    if row is None:
        raise NotFound(f"activity {activity_id} is not linked to this request")
    activity = session.get(Activity, activity_id)
    if activity is not None and not actor.may_write_for(activity.provider_id):
        raise Forbidden("a provider unlinks only its own organization's activities")
    session.delete(row)
    audit.record(
        session,
        actor=actor,
        action="request.unlink",
        entity_type="request",
        entity_id=request.id,
        changes={"activity_id": str(activity_id)},
    )
    session.flush()


def _live() -> list[Any]:
    return [
        col(Activity.withdrawn_at).is_(None),
        col(Activity.duplicate_of).is_(None),
        col(Activity.status) != "cancelled",
    ]


def matches(session: Session, request: AssistanceRequest, *, today: date | None = None) -> Matches:
    """Providers ranked by how well their profile and their activities with the State fit
    the request, and the planned activities for the State on a requested theme."""
    today = today or timeutil.today()
    need = provider_fit.Need(
        country=request.country,
        themes=frozenset(request.themes),
        domains=frozenset(request.domains),
        help_sought=request.help_sought,
        language=request.language,
    )
    linked = set(
        session.exec(
            select(RequestActivity.activity_id).where(RequestActivity.request_id == request.id)
        )
    )
    with_state: dict[int, int] = defaultdict(int)
    on_theme: dict[int, int] = defaultdict(int)
    planned: list[ActivityMatch] = []
    rows = session.execute(
        sa.select(
            col(Activity.id),
            col(Activity.provider_id),
            col(Organization.acronym),
            col(Activity.title),
            col(Activity.start_date),
            col(Activity.end_date),
            json_text(col(Activity.themes)),
        )
        .join(ActivityCountry, col(ActivityCountry.activity_id) == col(Activity.id))
        .join(Organization, col(Organization.id) == col(Activity.provider_id))
        .where(col(ActivityCountry.country) == request.country, *_live())
    )
    for activity_id, provider_id, acronym, title, start, end, themes_text in rows:
        themes = json_set(themes_text)
        with_state[provider_id] += 1
        if themes & need.themes:
            on_theme[provider_id] += 1
        if activity_id in linked or (themes & need.themes and end >= today):
            planned.append(
                ActivityMatch(
                    id=activity_id,
                    title=title,
                    provider=acronym,
                    start_date=start,
                    end_date=end,
                    themes=sorted(themes),
                    answers=activity_id in linked,
                )
            )
    profiles = {p.organization_id: p for p in session.exec(select(OrganizationProfile))}
    candidates = set(profiles) | set(with_state)
    organizations = {
        o.id: o
        for o in session.exec(select(Organization).where(col(Organization.id).in_(candidates)))
    }
    providers = []
    for organization_id in candidates:
        profile = profiles.get(organization_id)
        offer = provider_fit.Offer(
            themes=frozenset(profile.themes) if profile else frozenset(),
            domains=frozenset(profile.domains) if profile else frozenset(),
            activity_types=frozenset(profile.activity_types) if profile else frozenset(),
            languages=frozenset(profile.languages) if profile else frozenset(),
            regions=frozenset(profile.regions) if profile else frozenset(),
            with_state=with_state[organization_id],
            with_state_on_theme=on_theme[organization_id],
        )
        score, reasons = provider_fit.fit(need, offer)
        organization = organizations[organization_id]
        if score > 0:
            providers.append(
                ProviderMatch(
                    provider=organization.acronym,
                    name=organization.name,
                    score=score,
                    reasons=[Reason(**vars(r)) for r in reasons],
                    contact_email=(profile.contact_email if profile else None)
                    or organization.contact_email,
                )
            )
    providers.sort(key=lambda p: (-p.score, p.provider))
    planned.sort(key=lambda a: (not a.answers, a.start_date, str(a.id)))
    return Matches(
        request_id=request.id, answered=bool(linked), providers=providers, activities=planned
    )
