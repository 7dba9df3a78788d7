"""Who is calling: the API key dependencies every route picks from."""

from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth import service
from app.auth.principal import Principal
from app.db import SessionDep
from app.errors import Forbidden, Unauthorized

_bearer = HTTPBearer(
    auto_error=False,
    description="An API key from POST /api/v1/organizations/{acronym}/api-keys or the CLI.",
)


def optional_principal(
    request: Request,
    session: SessionDep,
    background: BackgroundTasks,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    if credentials is None or not credentials.credentials:
        raise Unauthorized("the Authorization header must be 'Bearer <api key>'")
    principal, api_key = service.authenticate(session, credentials.credentials)
    # After the response: the request's own transaction may hold SQLite's write lock.
    background.add_task(
        service.touch,
        request.app.state.engine,
        api_key,
        every_seconds=request.app.state.settings.key_touch_seconds,
    )
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


def current_principal(principal: OptionalPrincipal) -> Principal:
    if principal is None:
        raise Unauthorized("an API key is required: send 'Authorization: Bearer <api key>'")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_coordinator(principal: CurrentPrincipal) -> Principal:
    if not principal.reads_all:
        raise Forbidden("this needs a coordinator or admin key")
    return principal


def require_admin(principal: CurrentPrincipal) -> Principal:
    if not principal.is_admin:
        raise Forbidden("this needs an admin key")
    return principal


RequireCoordinator = Annotated[Principal, Depends(require_coordinator)]
RequireAdmin = Annotated[Principal, Depends(require_admin)]
