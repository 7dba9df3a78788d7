"""The pages people sign in with and manage themselves on: sign-in by e-mail link and by
single sign-on, the link's landing page, /account (name, language, whom to act for, own API
keys) and /organizations/{acronym}/members (invite, change role, remove; the organization's
keys)."""

import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Form, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.api.people import link_base
from app.auth import oidc, people
from app.auth import service as keys
from app.auth.models import MemberIn, MemberUpdate, Person
from app.core.i18n import N_
from app.core.keys import hash_key
from app.core.principal import ROLE_RANK, Principal
from app.core.vocab import ROLES
from app.db.engine import open_session
from app.db.session import SessionDep
from app.errors import (
    AppError,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unavailable,
    ValidationFailed,
)
from app.http.operations import Buckets
from app.notices import choices as notice_choices
from app.notices.models import DIGEST_FREQUENCIES, NOTICE_KINDS
from app.organizations import service as organizations
from app.organizations.models import Organization
from app.web import auth
from app.web.auth import COOKIE, ViewerDep
from app.web.render import LANG_COOKIE, render, safe_next, see_other

router = APIRouter(include_in_schema=False)

# Sign-in e-mails asked for: a few per address, more per client, in a quarter of an hour.
WINDOW_SECONDS = 15 * 60
PER_ADDRESS, PER_CLIENT, SSO_PER_CLIENT = 3, 10, 30
SSO_COOKIE = "assistcal_sso"
log = logging.getLogger("assistcal.auth")
CALLBACK = "/auth/oidc/callback"


@dataclass(frozen=True)
class Limits:
    per_address: Buckets  # sign-in e-mails asked for, per address
    per_client: Buckets  # the same, per client
    sso_per_client: Buckets  # single sign-ons begun, per client


def _limits(request: Request) -> Limits:
    """This process's counts (each process of `serve --workers N` counts its own)."""
    state = request.app.state
    if not hasattr(state, "sign_in_limits"):
        state.sign_in_limits = Limits(
            Buckets(PER_ADDRESS, window_seconds=WINDOW_SECONDS),
            Buckets(PER_CLIENT, window_seconds=WINDOW_SECONDS),
            Buckets(SSO_PER_CLIENT, window_seconds=WINDOW_SECONDS),
        )
    limits: Limits = state.sign_in_limits
    return limits


def _signed_in(response: Response, token: str) -> Response:
    auth.set_cookie(response, COOKIE, token, max_age=int(auth.LIFETIME.total_seconds()))
    return response


# Signing in by e-mail ----------------------------------------------------------------------


@router.post("/sign-in/email", response_class=HTMLResponse)
def sign_in_by_email(
    request: Request,
    reader: ViewerDep,
    background: BackgroundTasks,
    email: Annotated[str, Form(max_length=254)],
    csrf: Annotated[str, Form(max_length=100)],
) -> Response:
    """Send a sign-in link; the page says the same whether the address is known or not, and
    as soon: the link is looked for and sent after the answer."""
    auth.check_csrf(reader, csrf)
    address = people.normalise_email(email)
    if "@" not in address or len(address) < 3:
        return render(
            request, reader, "sign_in.html", status_code=422, next="/", failed=False,
            email=email, email_error=True, **sign_in_options(request),
        )  # fmt: skip
    now = time.monotonic()
    client = request.client.host if request.client else "unknown"
    limits = _limits(request)
    wait = max(limits.per_client.take(client, now), limits.per_address.take(address, now))
    if wait > 0:
        raise TooManyRequests(
            f"too many sign-in e-mails asked for: try again in {int(wait // 60) + 1} minutes"
        )
    background.add_task(_send_link, request.app.state, address, link_base(request))
    return render(request, reader, "sign_in_sent.html", email=address)


async def _send_link(state: Any, address: str, base: str) -> None:
    """The sign-in e-mail, queued in a transaction of its own after the answer went out."""
    try:
        async with state.gate.enter(write=True):
            await run_in_threadpool(_queue_link, state.engine, address, base)
    except Unavailable:
        log.warning("no sign-in link queued: the database was busy")


def _queue_link(engine: Engine, address: str, base: str) -> None:
    with open_session(engine, write=True) as session:
        if people.request_sign_in(session, address, base_url=base):
            session.commit()


def sign_in_options(request: Request) -> dict[str, Any]:
    provider = request.app.state.oidc
    return {"sso_name": provider.name if provider else None}


# The link in an e-mail ---------------------------------------------------------------------

REFUSALS = {
    "unknown": (404, N_("This link is not one of ours, or it was mistyped. Ask for a new one.")),
    "used": (
        410,
        N_("This link has been used already: each link signs in once. Ask for a new one."),
    ),
    "expired": (410, N_("This link has expired. Ask for a new one.")),
    "removed": (
        403,
        N_("This account has been removed. Ask your organization to invite you again."),
    ),
    "not_invited": (
        403,
        N_(
            "There is no invitation for this e-mail address. Ask an administrator of your "
            "organization to invite you."
        ),
    ),
    "sso_state": (
        400,
        N_("This sign-in took too long, or its answer was used already. Start again."),
    ),
    "unverified": (
        403,
        N_(
            "Your sign-in service did not confirm this e-mail address, so it cannot sign you "
            "in. Sign in with a link by e-mail instead."
        ),
    ),
}


def _refused(
    request: Request, reader: auth.Viewer, reason: str, detail: str | None = None
) -> Response:
    status, message = REFUSALS.get(reason, (400, "This sign-in did not work. Try again."))
    return render(
        request, reader, "link_refused.html", status_code=status, message=message, detail=detail
    )


@router.get("/auth/link/{token}", response_class=HTMLResponse)
def link_page(request: Request, token: str, session: SessionDep, reader: ViewerDep) -> Response:
    """What the link will do, with a button that does it: mail scanners that open links
    must not use them up."""
    try:
        person, purpose = people.check_link(session, token)
    except people.LinkRefused as refused:
        return _refused(request, reader, refused.reason)
    return render(request, reader, "link.html", person=person, purpose=purpose, token=token)


@router.post("/auth/link/{token}", response_class=HTMLResponse)
def follow_link(
    request: Request,
    token: str,
    session: SessionDep,
    reader: ViewerDep,
    csrf: Annotated[str, Form(max_length=100)],
) -> Response:
    auth.check_csrf(reader, csrf)
    try:
        signed_in = people.follow_link(session, token)
    except people.LinkRefused as refused:
        return _refused(request, reader, refused.reason)
    return _person_session(session, signed_in, "/account" if signed_in.membership_id else "/")


def _person_session(session: Session, signed_in: people.SignedIn, target: str) -> Response:
    token = auth.start_for_person(session, signed_in)
    if token is None:
        raise Forbidden("you are no longer a member of any organization")
    response = see_other(target)
    response.set_cookie(
        LANG_COOKIE, signed_in.person.language, max_age=365 * 86400, samesite="lax", path="/"
    )
    return _signed_in(response, token)


# Single sign-on ----------------------------------------------------------------------------


def _provider(request: Request) -> oidc.Provider:
    provider: oidc.Provider | None = request.app.state.oidc
    if provider is None:
        raise NotFound("single sign-on is not configured on this service")
    return provider


def _redirect_uri(request: Request) -> str:
    return link_base(request).rstrip("/") + CALLBACK


@router.get("/auth/oidc/start")
async def oidc_start(
    request: Request, session: SessionDep, next: Annotated[str | None, Query()] = None
) -> Response:
    provider = _provider(request)
    reader = auth.Viewer(None, "", fresh_csrf=False)
    client = request.client.host if request.client else "unknown"
    if _limits(request).sso_per_client.take(client, time.monotonic()) > 0:
        raise TooManyRequests("too many single sign-ons begun: try again in a few minutes")
    try:
        begun = await provider.begin(_redirect_uri(request))
    except oidc.SignInRefused as refused:
        return _refused(request, reader, refused.reason, refused.message)
    browser = secrets.token_urlsafe(24)  # the sign-on ends in the browser that began it
    await run_in_threadpool(
        people.start_single_sign_on,
        session,
        state=begun.state,
        nonce=begun.nonce,
        verifier=begun.code_verifier,
        next_path=safe_next(next),
        browser=hash_key(browser),
    )
    response = see_other(begun.url)
    auth.set_cookie(
        response, SSO_COOKIE, browser, max_age=int(people.SIGN_IN_VALID.total_seconds())
    )
    return response


@router.get(CALLBACK, response_class=HTMLResponse)
async def oidc_callback(request: Request, session: SessionDep) -> Response:
    provider = _provider(request)
    reader = auth.Viewer(None, request.cookies.get(auth.PRE_CSRF) or "", fresh_csrf=False)
    params = dict(request.query_params)
    try:
        kept = await run_in_threadpool(
            people.finish_single_sign_on, session, params.get("state", "")
        )
    except people.LinkRefused:
        return _refused(request, reader, "sso_state")
    browser = request.cookies.get(SSO_COOKIE, "")
    if not secrets.compare_digest(hash_key(browser), kept.get("browser", "")):
        # Begun in another browser: someone's sign-on sent to this one to sign it in as them.
        return _refused(request, reader, "sso_state")
    refusal = provider.refusal_from_callback(params)
    if refusal is not None:
        return _refused(request, reader, refusal.reason, refusal.message)
    try:
        identity = await provider.finish(
            redirect_uri=_redirect_uri(request),
            code=params["code"],
            code_verifier=kept["verifier"],
            nonce=kept["nonce"],
        )
    except oidc.SignInRefused as refused:
        return _refused(request, reader, refused.reason, refused.message)
    verified = identity.email_verified or request.app.state.settings.oidc_trust_email
    try:
        signed_in = await run_in_threadpool(
            people.single_sign_on, session, identity.email, verified=verified
        )
    except people.LinkRefused as refused:
        return _refused(request, reader, refused.reason)
    response = await run_in_threadpool(_person_session, session, signed_in, kept.get("next", "/"))
    response.delete_cookie(SSO_COOKIE, path="/")
    return response


# The person's own page ---------------------------------------------------------------------


def _person(session: Session, principal: Principal) -> Person:
    if principal.person_id is None:
        raise Forbidden("this page is for people who sign in as themselves, not for API keys")
    person = session.get(Person, principal.person_id)
    if person is None:
        raise Forbidden("this account has been removed")
    return person


def _account(
    request: Request,
    session: Session,
    reader: auth.Viewer,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    principal = reader.require()
    person = _person(session, principal)
    own = keys.list_own(session, person.id)
    return render(
        request,
        reader,
        "account.html",
        status_code=status_code,
        person=person,
        keys=own,
        roles=[r for r in ROLES if ROLE_RANK[r] <= ROLE_RANK[principal.role]],
        notices=notice_choices.shown(session, person.id),
        reviews=notice_choices.reviews(session, person.id),
        **extra,
    )


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, session: SessionDep, reader: ViewerDep) -> HTMLResponse:
    return _account(request, session, reader)


@router.post("/account", response_class=HTMLResponse)
def save_account(
    request: Request,
    session: SessionDep,
    reader: ViewerDep,
    csrf: Annotated[str, Form(max_length=100)],
    name: Annotated[str, Form(max_length=300)],
    language: Annotated[str, Form(max_length=5)],
) -> Response:
    auth.check_csrf(reader, csrf)
    person = _person(session, reader.require())
    try:
        people.update_profile(session, person, name=name, language=language)
    except ValidationFailed as exc:
        return _account(request, session, reader, status_code=422, error=exc)
    response = see_other("/account?saved=1")
    response.set_cookie(LANG_COOKIE, language, max_age=365 * 86400, samesite="lax", path="/")
    return response


@router.post("/account/acting-for")
def act_for(
    request: Request,
    session: SessionDep,
    reader: ViewerDep,
    csrf: Annotated[str, Form(max_length=100)],
    membership: Annotated[uuid.UUID, Form()],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    auth.check_csrf(reader, csrf)
    auth.act_for(session, request.cookies.get(COOKIE), reader.require(), membership)
    return see_other(safe_next(next))


@router.post("/account/keys", response_class=HTMLResponse)
def make_own_key(
    request: Request,
    session: SessionDep,
    reader: ViewerDep,
    csrf: Annotated[str, Form(max_length=100)],
    role: Annotated[str, Form(max_length=20)],
    name: Annotated[str | None, Form(max_length=200)] = None,
) -> Response:
    """A key of the person's own, for the organization they act for, shown once."""
    auth.check_csrf(reader, csrf)
    principal = reader.require()
    person = _person(session, principal)
    if role not in ROLES:
        return _account(request, session, reader, status_code=422, key_error=True)
    organization = organizations.get(session, principal.organization)
    created = keys.create(
        session,
        organization=organization,
        role=role,
        name=(name or "").strip() or None,
        actor=principal,
        person_id=person.id,
    )
    return _account(request, session, reader, created=created)


@router.post("/keys/{key_id}/revoke")
def revoke_own_key(
    key_id: uuid.UUID,
    session: SessionDep,
    reader: ViewerDep,
    csrf: Annotated[str, Form(max_length=100)],
    next: Annotated[str, Form(max_length=500)] = "/account",
) -> Response:
    auth.check_csrf(reader, csrf)
    keys.revoke(session, key_id, actor=reader.require())
    return see_other(safe_next(next))


# An organization's members -----------------------------------------------------------------


def _organization(session: Session, acronym: str, principal: Principal) -> Organization:
    organization = organizations.get(session, acronym)
    assert organization.id is not None
    if not principal.may_manage(organization.id):
        raise Forbidden(
            f"only an administrator or a member who manages {organization.acronym} sees its members"
        )
    return organization


def _members(
    request: Request,
    session: Session,
    reader: auth.Viewer,
    organization: Organization,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    principal = reader.require()
    return render(
        request,
        reader,
        "members.html",
        status_code=status_code,
        organization=organization,
        members=people.members(session, organization, actor=principal),
        keys=keys.list_for(session, organization),
        roles=[r for r in ROLES if principal.is_admin or ROLE_RANK[r] <= ROLE_RANK[principal.role]],
        **extra,
    )


@router.get("/organizations/{acronym}/members", response_class=HTMLResponse)
def members_page(
    request: Request, acronym: str, session: SessionDep, reader: ViewerDep
) -> HTMLResponse:
    organization = _organization(session, acronym, reader.require())
    return _members(request, session, reader, organization)


@router.post("/organizations/{acronym}/members", response_class=HTMLResponse)
def invite_member(
    request: Request,
    acronym: str,
    session: SessionDep,
    reader: ViewerDep,
    csrf: Annotated[str, Form(max_length=100)],
    email: Annotated[str, Form(max_length=300)],
    role: Annotated[str, Form(max_length=20)],
    name: Annotated[str | None, Form(max_length=300)] = None,
    language: Annotated[str | None, Form(max_length=5)] = None,
    manages: Annotated[bool, Form()] = False,
) -> Response:
    auth.check_csrf(reader, csrf)
    principal = reader.require()
    organization = _organization(session, acronym, principal)
    entered = {"email": email, "name": name, "role": role, "language": language, "manages": manages}
    try:
        data = MemberIn.model_validate(
            {**entered, "name": (name or "").strip() or None, "language": language or None}
        )
        member = people.invite(
            session, organization, data, actor=principal, base_url=link_base(request)
        )
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0])
        return _members(
            request, session, reader, organization, status_code=422, entered=entered,
            invite_error=field,
        )  # fmt: skip
    except AppError as exc:
        if exc.status_code not in (409, 422):
            raise
        return _members(
            request, session, reader, organization, status_code=exc.status_code,
            entered=entered, invite_error="conflict" if exc.status_code == 409 else "email",
            problem=exc.message,
        )  # fmt: skip
    return see_other(
        f"/organizations/{organization.acronym}/members?" + urlencode({"invited": member.email})
    )


@router.post("/organizations/{acronym}/members/{member_id}", response_class=HTMLResponse)
def change_member(
    acronym: str,
    member_id: uuid.UUID,
    session: SessionDep,
    reader: ViewerDep,
    csrf: Annotated[str, Form(max_length=100)],
    role: Annotated[str, Form(max_length=20)],
    manages: Annotated[bool, Form()] = False,
) -> Response:
    auth.check_csrf(reader, csrf)
    principal = reader.require()
    organization = _organization(session, acronym, principal)
    try:
        change = MemberUpdate.model_validate({"role": role, "manages": manages})
    except ValidationError as exc:
        raise ValidationFailed.on("role", f"one of {', '.join(ROLES)}") from exc
    people.update_member(session, organization, member_id, change, actor=principal)
    return see_other(f"/organizations/{organization.acronym}/members?" + urlencode({"changed": 1}))


@router.post("/organizations/{acronym}/members/{member_id}/remove")
def remove_member(
    acronym: str,
    member_id: uuid.UUID,
    session: SessionDep,
    reader: ViewerDep,
    csrf: Annotated[str, Form(max_length=100)],
) -> Response:
    auth.check_csrf(reader, csrf)
    principal = reader.require()
    organization = _organization(session, acronym, principal)
    people.remove_member(session, organization, member_id, actor=principal)
    return see_other(f"/organizations/{organization.acronym}/members?" + urlencode({"removed": 1}))


# E-mail choices and one-click unsubscribe -------------------------------------------------


@router.post("/account/notices")
def save_notices(
    session: SessionDep,
    reader: ViewerDep,
    csrf: Annotated[str, Form(max_length=100)],
    notice: Annotated[list[str] | None, Form(max_length=20)] = None,
    digest: Annotated[str, Form(max_length=10)] = "off",
) -> Response:
    """Which notices the person gets, and how often the digest comes (coordinators)."""
    auth.check_csrf(reader, csrf)
    person = _person(session, reader.require())
    if digest not in DIGEST_FREQUENCIES:
        raise ValidationFailed.on("digest", f"one of {', '.join(DIGEST_FREQUENCIES)}")
    unknown = sorted(set(notice or []) - set(NOTICE_KINDS) - {"digest"})
    if unknown:
        raise ValidationFailed.on("notice", f"no such notice: {', '.join(unknown)}")
    if not notice_choices.reviews(session, person.id):
        digest = notice_choices.shown(session, person.id).digest  # theirs only when they review
    notice_choices.save(session, person.id, kinds_on=notice or [], digest=digest)
    return see_other("/account?saved=notices#notices")


def _unsubscribe_page(
    request: Request,
    session: Session,
    reader: auth.Viewer,
    person_id: uuid.UUID,
    kinds: str,
    signature: str,
    *,
    done: bool = False,
) -> HTMLResponse:
    verified = notice_choices.verified(session, person_id, kinds, signature)
    if verified is None:
        return render(request, reader, "unsubscribe.html", status_code=404, valid=False)
    person, named = verified
    return render(
        request, reader, "unsubscribe.html", valid=True, email=person.email, kinds=named, done=done
    )


@router.get("/unsubscribe/{person_id}/{kinds}/{signature}", response_class=HTMLResponse)
def unsubscribe_page(
    request: Request,
    session: SessionDep,
    reader: ViewerDep,
    person_id: uuid.UUID,
    kinds: str,
    signature: str,
) -> HTMLResponse:
    """The link at the foot of an e-mail: says what it turns off, and asks (a link opened by a
    mail scanner changes nothing)."""
    return _unsubscribe_page(request, session, reader, person_id, kinds, signature)


@router.post("/unsubscribe/{person_id}/{kinds}/{signature}", response_class=HTMLResponse)
def unsubscribe(
    request: Request,
    session: SessionDep,
    reader: ViewerDep,
    person_id: uuid.UUID,
    kinds: str,
    signature: str,
) -> HTMLResponse:
    """Turn those e-mails off: the page's button, or a mail client's one-click unsubscribe
    (RFC 8058: a POST of List-Unsubscribe=One-Click, without cookies).  The signature is the
    authority, so no sign-in and no CSRF token are asked."""
    verified = notice_choices.verified(session, person_id, kinds, signature)
    if verified is not None:
        notice_choices.turn_off(session, person_id, verified[1])
    return _unsubscribe_page(request, session, reader, person_id, kinds, signature, done=True)
