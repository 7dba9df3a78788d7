"""/assistance-requests: States' requests for help, their statuses, the activities answering
them and the providers that fit them."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from app.api.caller import CurrentPrincipal, RequireCoordinator
from app.assistance import service
from app.assistance.models import (
    AssistanceRequest,
    LinkIn,
    Matches,
    RequestCreate,
    RequestPage,
    RequestPublic,
    RequestStatus,
    RequestUpdate,
)
from app.core.types import CountryCode
from app.core.vocab import Theme
from app.db.pagination import PageDep
from app.db.session import SessionDep

router = APIRouter(tags=["assistance requests"])


def load_request(
    session: SessionDep, request_id: uuid.UUID, viewer: CurrentPrincipal
) -> AssistanceRequest:
    return service.get(session, request_id, viewer=viewer)


RequestDep = Annotated[AssistanceRequest, Depends(load_request)]


@router.post("/assistance-requests", status_code=201, response_model=RequestPublic)
def create_assistance_request(
    data: RequestCreate, session: SessionDep, actor: RequireCoordinator
) -> RequestPublic:
    """Record a State's request for assistance (coordinators); its status starts at
    `received`."""
    return service.public(session, service.create(session, data, actor=actor))


@router.get("/assistance-requests", response_model=RequestPage)
def list_assistance_requests(
    session: SessionDep,
    viewer: CurrentPrincipal,
    page: PageDep,
    country: Annotated[list[CountryCode], Query(max_length=50)] = [],  # noqa: B006
    status: Annotated[list[RequestStatus], Query(max_length=7)] = [],  # noqa: B006
    theme: Annotated[list[Theme], Query(max_length=11)] = [],  # noqa: B006
) -> RequestPage:
    """Newest first.  Providers see the requests from `circulated` on."""
    items, next_cursor = service.list_page(
        session,
        viewer=viewer,
        countries=country,
        statuses=status,
        themes=theme,
        limit=page.limit,
        after=page.after(2),
    )
    return RequestPage(items=items, next_cursor=next_cursor)


@router.get("/assistance-requests/{request_id}", response_model=RequestPublic)
def get_assistance_request(request: RequestDep, session: SessionDep) -> RequestPublic:
    """The request with its status history and the activities answering it."""
    return service.public(session, request)


@router.patch("/assistance-requests/{request_id}", response_model=RequestPublic)
def update_assistance_request(
    request: RequestDep, data: RequestUpdate, session: SessionDep, actor: RequireCoordinator
) -> RequestPublic:
    """Edit the request or move its `status` forward through received, acknowledged,
    circulated, matched, in_progress, delivered, closed (with an optional `note`)."""
    updated, _moved = service.update(session, request, data, actor=actor)
    return service.public(session, updated)


@router.post("/assistance-requests/{request_id}/activities", response_model=RequestPublic)
def link_activity_to_request(
    request: RequestDep, data: LinkIn, session: SessionDep, actor: CurrentPrincipal
) -> RequestPublic:
    """Record that a planned activity for the requesting State answers the request: a
    coordinator, or the activity's own provider."""
    service.link(session, request, data.activity_id, actor=actor)
    return service.public(session, request)


@router.delete("/assistance-requests/{request_id}/activities/{activity_id}", status_code=204)
def unlink_activity_from_request(
    request: RequestDep, activity_id: uuid.UUID, session: SessionDep, actor: CurrentPrincipal
) -> Response:
    service.unlink(session, request, activity_id, actor=actor)
    return Response(status_code=204)


@router.get("/assistance-requests/{request_id}/matches", response_model=Matches)
def get_request_matches(request: RequestDep, session: SessionDep) -> Matches:
    """Providers ranked by how well they fit (themes, domains, kind of help, language,
    region, experience with the State), with the reasons for each, and the planned
    activities for the State on a requested theme (those answering it first)."""
    return service.matches(session, request)
