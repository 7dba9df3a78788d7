import uuid

from fastapi import APIRouter
from pydantic import BaseModel

from app.api.caller import CurrentPrincipal
from app.auth import people, service
from app.auth.models import ApiKeyPublic, Person, PersonPublic
from app.db.session import SessionDep

router = APIRouter(tags=["api keys"])


class Me(BaseModel):
    organization: str
    role: str
    key_prefix: str
    person: PersonPublic | None = None


@router.delete("/api-keys/{key_id}", response_model=ApiKeyPublic)
def revoke_api_key(key_id: uuid.UUID, session: SessionDep, actor: CurrentPrincipal) -> ApiKeyPublic:
    """Revoke a key: an admin any, a member who manages an organization its keys, a person
    their own."""
    return service.revoke(session, key_id, actor=actor)


@router.get("/me", response_model=Me)
def get_current_key(principal: CurrentPrincipal, session: SessionDep) -> Me:
    """Who you are calling as: the organization and role, the key's prefix, and the person
    when the key is a person's own."""
    person = None
    if principal.person_id is not None:
        found = session.get(Person, principal.person_id)
        person = people.describe(session, found) if found else None
    return Me(
        organization=principal.organization,
        role=principal.role,
        key_prefix=principal.key_prefix or "",
        person=person,
    )
