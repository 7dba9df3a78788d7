import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.api.caller import CurrentPrincipal, RequireCoordinator
from app.core.types import CountryCode
from app.db.pagination import PageDep
from app.db.session import SessionDep
from app.findings import service, stored
from app.findings.models import (
    DecisionIn,
    Finding,
    FindingKind,
    FindingPage,
    FindingPublic,
    FindingStatus,
)

router = APIRouter(tags=["findings"])


def load_finding(finding_id: uuid.UUID, session: SessionDep, viewer: CurrentPrincipal) -> Finding:
    return service.get(session, finding_id, viewer=viewer)


FindingDep = Annotated[Finding, Depends(load_finding)]


@router.get("/findings", response_model=FindingPage)
def list_findings(
    session: SessionDep,
    viewer: CurrentPrincipal,
    page: PageDep,
    status: Annotated[list[FindingStatus], Query()] = [],  # noqa: B006
    kind: Annotated[list[FindingKind], Query()] = [],  # noqa: B006
    country: Annotated[list[CountryCode], Query()] = [],  # noqa: B006
    provider: Annotated[list[str], Query(description="organization acronym")] = [],  # noqa: B006
    activity: Annotated[uuid.UUID | None, Query(description="an activity's id")] = None,
) -> FindingPage:
    """Newest first. Coordinators and admins see all; providers see the findings that involve
    their own activities."""
    filters = service.Filters(
        statuses=status, kinds=kind, countries=country, providers=provider, activity_id=activity
    )
    items, next_cursor = service.list_page(
        session, filters, viewer=viewer, limit=page.limit, after=page.after(2)
    )
    return FindingPage(items=items, next_cursor=next_cursor)


@router.get("/findings/{finding_id}", response_model=FindingPublic)
def get_finding(finding: FindingDep) -> FindingPublic:
    return stored.public(finding)


@router.post("/findings/{finding_id}/decision", response_model=FindingPublic)
def decide_finding(
    finding: FindingDep, data: DecisionIn, session: SessionDep, coordinator: RequireCoordinator
) -> FindingPublic:
    """dismiss, confirm (duplicates only; canonical_id names the activity that stays) or
    coordinate, with a note. Coordinators and admins only."""
    return stored.public(service.decide(session, finding, data, actor=coordinator))
