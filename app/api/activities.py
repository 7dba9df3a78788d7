import uuid
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from app.activities import queries, service
from app.activities.models import (
    ActivityCreate,
    ActivityPage,
    ActivityPublic,
    ActivityUpdate,
    HistoryPage,
)
from app.api.activity_deps import ActivityDep, IfMatchDep, etag
from app.api.caller import CurrentPrincipal, OptionalPrincipal
from app.core.types import CountryCode, RegionCode
from app.core.vocab import ActivityType, Domain, Status, Theme
from app.db.pagination import PageDep
from app.db.session import SessionDep
from app.findings import detection as findings
from app.findings import vectors
from app.findings.models import ActivitySubmitted, ActivityWithFindings
from app.http.read_cache import cacheable

router = APIRouter(tags=["activities"])


@router.post("/activities", status_code=201, response_model=ActivitySubmitted)
def create_activity(
    data: ActivityCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    actor: CurrentPrincipal,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=255,
            description="Retries with the same key and body return the first result.",
        ),
    ] = None,
) -> ActivitySubmitted:
    vectors.prefetch(data.title)  # the title's meaning, computed while the activity is stored
    activity, replayed = service.create(
        session,
        data,
        actor=actor,
        idempotency_key=idempotency_key,
        idempotency_ttl_hours=request.app.state.settings.idempotency_ttl_hours,
    )
    response.headers["ETag"] = etag(activity)
    response.headers["Location"] = f"/api/v1/activities/{activity.id}"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    # Findings depend on activities, not the other way round: the route joins the two.
    found = (
        findings.of_activity(session, activity.id)
        if replayed
        else findings.refresh(session, activity, created=True, actor=actor)
    )
    return ActivitySubmitted(
        activity=queries.to_public(session, activity),
        findings=found,
    )


async def list_filters(
    country: Annotated[list[CountryCode], Query(description="ISO alpha-2; repeat for any of")] = [],  # noqa: B006
    region: Annotated[list[RegionCode], Query(description="UN M49 code, e.g. 419")] = [],  # noqa: B006
    theme: Annotated[list[Theme], Query()] = [],  # noqa: B006
    domain: Annotated[list[Domain], Query()] = [],  # noqa: B006
    type: Annotated[list[ActivityType], Query()] = [],  # noqa: B006
    provider: Annotated[list[str], Query(description="organization acronym")] = [],  # noqa: B006
    status: Annotated[list[Status], Query()] = [],  # noqa: B006
    date_from: Annotated[date | None, Query(alias="from", description="ends on or after")] = None,
    date_to: Annotated[date | None, Query(alias="to", description="starts on or before")] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    updated_since: Annotated[datetime | None, Query()] = None,
) -> queries.Filters:
    """The list filters, shared by the list and the exports."""
    return queries.Filters(
        countries=country,
        regions=region,
        themes=[*theme],
        domains=[*domain],
        types=[*type],
        providers=provider,
        statuses=[*status],
        date_from=date_from,
        date_to=date_to,
        q=q,
        updated_since=updated_since,
    )


ListFilters = Annotated[queries.Filters, Depends(list_filters)]


@router.get("/activities", response_model=ActivityPage)
@cacheable
def list_activities(
    session: SessionDep, viewer: OptionalPrincipal, page: PageDep, filters: ListFilters
) -> ActivityPage:
    items, next_cursor = queries.page(
        session, filters, viewer=viewer, limit=page.limit, after=page.after(2)
    )
    return ActivityPage(items=[*items], next_cursor=next_cursor)


@router.get("/activities/{activity_id}", response_model=ActivityPublic)
@cacheable
def get_activity(
    activity_id: uuid.UUID,
    session: SessionDep,
    viewer: OptionalPrincipal,
    response: Response,
    if_none_match: Annotated[str | None, Header(max_length=100)] = None,
) -> ActivityPublic | Response:
    shown = queries.get_public(session, activity_id, viewer=viewer)
    tag = etag(shown)
    if if_none_match is not None and tag in (t.strip() for t in if_none_match.split(",")):
        return Response(status_code=304, headers={"ETag": tag})
    response.headers["ETag"] = tag
    return shown


@router.patch("/activities/{activity_id}", response_model=ActivityWithFindings)
def update_activity(
    activity: ActivityDep,
    data: ActivityUpdate,
    session: SessionDep,
    actor: CurrentPrincipal,
    revision: IfMatchDep,
    response: Response,
) -> ActivityWithFindings:
    activity, changed = service.update(session, activity, data, actor=actor, if_match=revision)
    response.headers["ETag"] = etag(activity)
    found = (
        findings.refresh(session, activity, actor=actor)
        if changed
        else findings.of_activity(session, activity.id)
    )
    return ActivityWithFindings(
        **queries.to_public(session, activity).model_dump(),
        findings=found,
    )


@router.delete("/activities/{activity_id}", response_model=ActivityPublic)
def withdraw_activity(
    activity: ActivityDep,
    session: SessionDep,
    actor: CurrentPrincipal,
    revision: IfMatchDep,
    response: Response,
) -> ActivityPublic:
    """Withdraw the activity: it is kept, marked cancelled, and its history stays."""
    activity = service.withdraw(session, activity, actor=actor, if_match=revision)
    findings.refresh(session, activity, actor=actor)
    response.headers["ETag"] = etag(activity)
    return queries.to_public(session, activity)


@router.get("/activities/{activity_id}/history", response_model=HistoryPage)
def get_activity_history(
    activity: ActivityDep, session: SessionDep, page: PageDep, _caller: CurrentPrincipal
) -> HistoryPage:
    """Who changed what, when (any API key)."""
    items, next_cursor = queries.history(session, activity, limit=page.limit, after=page.after(1))
    return HistoryPage(items=[*items], next_cursor=next_cursor)
