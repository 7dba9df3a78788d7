import uuid

from fastapi import APIRouter

from app.api.caller import CurrentPrincipal, RequireAdmin
from app.auth import service
from app.auth.models import ApiKeyPublic
from app.db.session import SessionDep

router = APIRouter(tags=["api keys"])


@router.delete("/api-keys/{key_id}", response_model=ApiKeyPublic)
def revoke_api_key(key_id: uuid.UUID, session: SessionDep, admin: RequireAdmin) -> ApiKeyPublic:
    return service.revoke(session, key_id, actor=admin)


@router.get("/me", response_model=dict[str, str])
def get_current_key(principal: CurrentPrincipal) -> dict[str, str]:
    """The organization and role of the key you call with."""
    return {
        "organization": principal.organization,
        "role": principal.role,
        "key_prefix": principal.key_prefix or "",
    }
