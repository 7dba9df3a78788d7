"""Who is reading a page: the session cookie, made when a person signs in (by an e-mail
link or single sign-on) or a program's owner signs in with an API key.

The cookie (Secure, HttpOnly, SameSite=Lax) holds a random token; the database keeps only its
SHA-256, with the person and the membership they act through (or the key it stands for):
removing the member or revoking the key ends the session.  Every form carries
the session's CSRF token (before sign-in, a token in a cookie of its own)."""

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session, col, select

from app.auth import people
from app.auth import service as keys
from app.auth.models import ApiKey
from app.core.keys import hash_key
from app.core.principal import Principal
from app.core.timeutil import utcnow
from app.db.session import SessionDep, read_session
from app.errors import AppError, Forbidden, Unauthorized
from app.organizations.models import Organization
from app.web.models import WebSession

COOKIE = "assistcal_session"
PRE_CSRF = "assistcal_csrf"
LIFETIME = timedelta(hours=12)


def set_cookie(response: Response, name: str, value: str, *, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, secure=True, samesite="lax", path="/"
    )


def sign_in(session: Session, key: str) -> tuple[str, Principal]:
    """A new session for this key (a 401 if it is not a valid key); a person's own key
    signs in as it acts in the API, and its session ends with it."""
    principal, api_key = keys.authenticate(session, key.strip())
    return start(session, api_key_id=api_key.id), principal


def start(
    session: Session,
    *,
    api_key_id: uuid.UUID | None = None,
    person_id: uuid.UUID | None = None,
    membership_id: uuid.UUID | None = None,
) -> str:
    """A new session (for a key, or for a person acting through a membership): its token,
    for the cookie."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.execute(sa.delete(WebSession).where(col(WebSession.expires_at) < now))
    session.add(
        WebSession(
            token_hash=hash_key(token),
            api_key_id=api_key_id,
            person_id=person_id,
            membership_id=membership_id,
            csrf=secrets.token_urlsafe(24),
            expires_at=now + LIFETIME,
        )
    )
    session.flush()
    return token


def start_for_person(session: Session, signed_in: people.SignedIn) -> str | None:
    """A session for a person who just proved who they are, acting for the membership the
    link was for, else their first; None when they have no membership left."""
    own = people.memberships(session, signed_in.person.id)
    if not own:
        return None
    chosen = next((m for m, _ in own if m.id == signed_in.membership_id), own[0][0])
    return start(session, person_id=signed_in.person.id, membership_id=chosen.id)


def act_for(
    session: Session, token: str | None, principal: Principal, membership_id: uuid.UUID
) -> None:
    """The signed-in person acts for another of their organizations from now on."""
    if not token or principal.person_id is None or principal.key_id is not None:
        raise Forbidden(
            "only a person signed in with their e-mail address may choose whom to act for"
        )
    if membership_id not in {m.id for m, _ in people.memberships(session, principal.person_id)}:
        raise Forbidden("you are not a member there")
    session.execute(
        sa.update(WebSession)
        .where(col(WebSession.token_hash) == hash_key(token))
        .values(membership_id=membership_id)
    )


def sign_out(session: Session, token: str | None) -> None:
    if token:
        session.execute(sa.delete(WebSession).where(col(WebSession.token_hash) == hash_key(token)))


@dataclass(frozen=True)
class Acting:
    """One of a signed-in person's memberships, as the header's switch offers it."""

    membership_id: uuid.UUID
    organization: str
    role: str


class Viewer:
    """The page's reader: a principal (or None), the CSRF token its forms carry, and for a
    person the memberships they may act through."""

    def __init__(
        self,
        principal: Principal | None,
        csrf: str,
        fresh_csrf: bool,
        acting: tuple[Acting, ...] = (),
    ) -> None:
        self.principal = principal
        self.csrf = csrf
        self.fresh_csrf = fresh_csrf  # set the pre-sign-in cookie on the response
        self.acting = acting

    def require(self) -> Principal:
        if self.principal is None:
            raise Unauthorized("sign in to see this page")
        return self.principal

    def require_coordinator(self) -> Principal:
        principal = self.require()
        if not principal.reads_all:
            raise Forbidden("this page is for coordinators")
        return principal


def _signed_in(session: Session, token: str) -> tuple[Principal, str, tuple[Acting, ...]] | None:
    web = session.get(WebSession, hash_key(token))
    if web is None or web.expires_at <= utcnow():
        return None
    if web.api_key_id is not None:  # signed in with a key: it acts as it does in the API
        found = session.exec(
            select(ApiKey, Organization)
            .join(Organization, col(Organization.id) == col(ApiKey.organization_id))
            .where(ApiKey.id == web.api_key_id)
        ).first()
        if found is None:
            return None
        try:
            return keys.principal_for(session, *found), web.csrf, ()
        except Unauthorized:
            return None
    if web.person_id is None or web.membership_id is None:
        return None
    row = people.active_membership(session, web.person_id, membership_id=web.membership_id)
    if row is None:
        return None
    acting = tuple(
        Acting(m.id, o.acronym, m.role) for m, o in people.memberships(session, web.person_id)
    )
    return people.principal(*row), web.csrf, acting


def viewer(request: Request, session: SessionDep) -> Viewer:
    return _viewer(request, session)


async def viewer_before_transaction(request: Request) -> Viewer:
    """The reader, read in a short session of its own: for pages that do long work before
    their transaction begins (app.db.session.read_session)."""
    async with read_session(request) as session:
        return await run_in_threadpool(_viewer, request, session)


def _viewer(request: Request, session: Session) -> Viewer:
    reader = _find_viewer(request, session)
    request.state.viewer = reader  # for the error page, rendered after the session is gone
    return reader


def _find_viewer(request: Request, session: Session) -> Viewer:
    token = request.cookies.get(COOKIE)
    found = _signed_in(session, token) if token else None
    if found is not None:
        return Viewer(found[0], found[1], fresh_csrf=False, acting=found[2])
    pre = request.cookies.get(PRE_CSRF)
    if pre and 20 <= len(pre) <= 64:
        return Viewer(None, pre, fresh_csrf=False)
    return Viewer(None, secrets.token_urlsafe(24), fresh_csrf=True)


ViewerDep = Annotated[Viewer, Depends(viewer)]
ViewerBeforeTransaction = Annotated[Viewer, Depends(viewer_before_transaction)]


class CsrfFailed(AppError):
    status_code = 403
    code = "csrf"


def check_csrf(reader: Viewer, sent: str | None) -> None:
    if not sent or not secrets.compare_digest(sent, reader.csrf):
        raise CsrfFailed(
            "the form was out of date or not sent from this site: reload the page and try again"
        )
