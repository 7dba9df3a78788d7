"""Who is calling: the API key dependencies every route picks from."""

from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from app.auth import service
from app.auth.models import ApiKey
from app.core.principal import Principal
from app.db.session import SessionDep, read_session
from app.errors import Forbidden, Unauthorized, Unavailable

_bearer = HTTPBearer(
    auto_error=False,
    description="An API key from POST /api/v1/organizations/{acronym}/api-keys or the CLI.",
)


async def optional_principal(
    request: Request,
    session: SessionDep,
    background: BackgroundTasks,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    # Async, so that an anonymous request (no header) costs no trip to a worker thread.
    return await _principal(request, session, background, credentials)


async def principal_before_transaction(
    request: Request,
    background: BackgroundTasks,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, read in a short session of its own (app.db.read_session): for routes that
    do long work before their transaction begins, such as reading an uploaded file, so that
    no lock is held meanwhile and anonymous callers get no such work done."""
    async with read_session(request) as session:
        principal = await _principal(request, session, background, credentials)
    return await current_principal(principal)


async def _principal(
    request: Request,
    session: Session,
    background: BackgroundTasks,
    credentials: HTTPAuthorizationCredentials | None,
) -> Principal | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    if credentials is None or not credentials.credentials:
        raise Unauthorized("the Authorization header must be 'Bearer <api key>'")
    principal, api_key = await run_in_threadpool(
        service.authenticate, session, credentials.credentials
    )
    background.add_task(_touch_later, request, api_key)
    return principal


async def _touch_later(request: Request, api_key: ApiKey) -> None:
    """Record the key's use after the response, through the same gate as requests: the
    request's own transaction may have held SQLite's write lock."""
    state = request.app.state
    # Most requests find the key used less than a minute ago: no write, and no wait for the
    # gate's writer slot (on SQLite, one per process) just to learn that.
    if not service.touch_due(api_key, every_seconds=state.settings.key_touch_seconds):
        return
    try:
        async with state.gate.enter(write=True):
            await run_in_threadpool(
                service.touch, state.engine, api_key, every_seconds=state.settings.key_touch_seconds
            )
    except Unavailable:
        return


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


async def current_principal(principal: OptionalPrincipal) -> Principal:
    if principal is None:
        raise Unauthorized("an API key is required: send 'Authorization: Bearer <api key>'")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
PrincipalBeforeTransaction = Annotated[Principal, Depends(principal_before_transaction)]


async def require_coordinator(principal: CurrentPrincipal) -> Principal:
    if not principal.reads_all:
        raise Forbidden("this needs a coordinator or admin key")
    return principal


async def require_admin(principal: CurrentPrincipal) -> Principal:
    if not principal.is_admin:
        raise Forbidden("this needs an admin key")
    return principal


RequireCoordinator = Annotated[Principal, Depends(require_coordinator)]
RequireAdmin = Annotated[Principal, Depends(require_admin)]
