"""People's memberships of an organization: invite, list, change, remove (DOMAIN.md,
"People").  For an admin, or a member who manages that organization."""

import uuid

from fastapi import APIRouter, Request, Response

from app.api.caller import CurrentPrincipal
from app.api.organizations import OrganizationDep
from app.auth import people
from app.auth.models import MemberIn, MemberPublic, MemberUpdate
from app.db.session import SessionDep
from app.errors import Unavailable

router = APIRouter(tags=["people"])
MEMBERS = "/organizations/{acronym}/members"
LOOPBACK = ("localhost", "127.0.0.1", "::1")


def link_base(request: Request) -> str:
    """Where the links sent by e-mail, and single sign-on's redirect, point:
    ASSISTCAL_PUBLIC_URL.  Without it, the address a request came to, but only when that is
    this machine (a development set-up): a Host header sent from elsewhere could otherwise
    put another site's address, with the link's secret, in someone's e-mail."""
    configured = request.app.state.settings.public_url
    if configured:
        return str(configured)
    if request.url.hostname in LOOPBACK:
        return str(request.base_url)
    raise Unavailable(
        "this service sends no links by e-mail until ASSISTCAL_PUBLIC_URL names its address",
        retry_after=3600,
    )


@router.post(MEMBERS, status_code=201, response_model=MemberPublic)
def invite_member(
    organization: OrganizationDep,
    data: MemberIn,
    request: Request,
    session: SessionDep,
    actor: CurrentPrincipal,
) -> MemberPublic:
    """Invite a person by e-mail: they get a link, valid 7 days, that makes their account
    and signs them in.  A person already known gets a membership added."""
    return people.invite(session, organization, data, actor=actor, base_url=link_base(request))


@router.get(MEMBERS, response_model=list[MemberPublic])
def list_members(
    organization: OrganizationDep, session: SessionDep, actor: CurrentPrincipal
) -> list[MemberPublic]:
    return people.members(session, organization, actor=actor)


@router.patch(MEMBERS + "/{member_id}", response_model=MemberPublic)
def update_member(
    organization: OrganizationDep,
    member_id: uuid.UUID,
    data: MemberUpdate,
    session: SessionDep,
    actor: CurrentPrincipal,
) -> MemberPublic:
    """Change a member's role or whether they manage the organization."""
    return people.update_member(session, organization, member_id, data, actor=actor)


@router.delete(MEMBERS + "/{member_id}", status_code=204)
def remove_member(
    organization: OrganizationDep,
    member_id: uuid.UUID,
    session: SessionDep,
    actor: CurrentPrincipal,
) -> Response:
    """Remove a member: their sessions and their keys for this organization end at once."""
    people.remove_member(session, organization, member_id, actor=actor)
    return Response(status_code=204)
