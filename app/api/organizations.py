from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from app.api.caller import CurrentPrincipal, RequireAdmin
from app.auth import service as keys_service
from app.auth.models import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from app.db.pagination import PageDep
from app.db.session import SessionDep
from app.errors import Forbidden
from app.feeds import event_texts
from app.organizations import service
from app.organizations.models import (
    Organization,
    OrganizationCreate,
    OrganizationPublic,
    OrganizationUpdate,
    ProfileIn,
    ProfilePublic,
)

router = APIRouter(tags=["organizations"])


class OrganizationPage(BaseModel):
    items: list[OrganizationPublic]
    next_cursor: str | None


class ApiKeyList(BaseModel):
    items: list[ApiKeyPublic]
    next_cursor: str | None = None


def load_organization(
    session: SessionDep, acronym: Annotated[str, Path(max_length=30)]
) -> Organization:
    return service.get(session, acronym)


OrganizationDep = Annotated[Organization, Depends(load_organization)]


@router.post("/organizations", status_code=201, response_model=OrganizationPublic)
def create_organization(
    data: OrganizationCreate, session: SessionDep, admin: RequireAdmin
) -> Organization:
    return service.create(session, data, actor=admin)


@router.get("/organizations", response_model=OrganizationPage)
def list_organizations(
    session: SessionDep, _caller: CurrentPrincipal, page: PageDep
) -> OrganizationPage:
    after = page.after(1)
    rows, next_cursor = service.list_page(
        session, limit=page.limit, after=str(after[0]) if after else None
    )
    return OrganizationPage(
        items=[OrganizationPublic.model_validate(row) for row in rows], next_cursor=next_cursor
    )


@router.get("/organizations/{acronym}", response_model=OrganizationPublic)
def get_organization(organization: OrganizationDep, _caller: CurrentPrincipal) -> Organization:
    return organization


@router.patch("/organizations/{acronym}", response_model=OrganizationPublic)
def update_organization(
    organization: OrganizationDep,
    data: OrganizationUpdate,
    session: SessionDep,
    admin: RequireAdmin,
) -> Organization:
    name = organization.name
    updated = service.update(session, organization, data, actor=admin)
    if updated.name != name and updated.id is not None:
        # Its events say so: their SEQUENCE grows and their LAST-MODIFIED is now.
        event_texts.provider_renamed(session, updated.id)
    return updated


@router.post("/organizations/{acronym}/api-keys", status_code=201, response_model=ApiKeyCreated)
def create_api_key(
    organization: OrganizationDep, data: ApiKeyCreate, session: SessionDep, actor: CurrentPrincipal
) -> ApiKeyCreated:
    """An organization key (for a program): by an admin, or a member who manages the
    organization (never above their own role).  The key is shown once."""
    return keys_service.create(
        session, organization=organization, role=data.role, name=data.name, actor=actor
    )


@router.get("/organizations/{acronym}/api-keys", response_model=ApiKeyList)
def list_api_keys(
    organization: OrganizationDep, session: SessionDep, actor: CurrentPrincipal
) -> ApiKeyList:
    """The organization's keys and its members' own (`owner`): for an admin or a member who
    manages the organization."""
    assert organization.id is not None
    if not actor.may_manage(organization.id):
        raise Forbidden(f"only an admin or a manager of {organization.acronym} sees its keys")
    return ApiKeyList(items=keys_service.list_for(session, organization))


@router.get("/organizations/{acronym}/profile", response_model=ProfilePublic)
def get_organization_profile(
    organization: OrganizationDep, session: SessionDep, _caller: CurrentPrincipal
) -> ProfilePublic:
    """What the organization offers (themes, domains, activity types, languages, regions,
    a contact); empty while it has stated nothing."""
    return service.profile(session, organization)


@router.put("/organizations/{acronym}/profile", response_model=ProfilePublic)
def replace_organization_profile(
    organization: OrganizationDep, data: ProfileIn, session: SessionDep, caller: CurrentPrincipal
) -> ProfilePublic:
    """Replace the profile: an admin, or any key of the organization itself."""
    return service.put_profile(session, organization, data, actor=caller)
