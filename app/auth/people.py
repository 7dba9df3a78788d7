"""People and their memberships: invitations, single-use links by e-mail, and what a
person may do for each organization they belong to (DOMAIN.md, "People").

A person is found by e-mail address, compared without case.  An invitation makes the person
(or finds them) and adds a membership, `invited` until the person first proves the address
is theirs: by following the invitation's or a sign-in e-mail's link, or by single sign-on
with a verified address.  Links are single-use; only their SHA-256 is kept."""

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.audit import service as audit
from app.auth.models import (
    ApiKey,
    AuthLink,
    MemberIn,
    MemberPublic,
    Membership,
    MembershipPublic,
    MemberUpdate,
    Person,
    PersonPublic,
)
from app.core.i18n import LANGUAGES
from app.core.keys import hash_key
from app.core.principal import ROLE_RANK, Principal
from app.core.timeutil import utcnow
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.mail import service as mail
from app.organizations.models import Organization

INVITATION_VALID = timedelta(days=7)
SIGN_IN_VALID = timedelta(minutes=15)
LINK_PATH = "/auth/link/"
PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]+$")  # a name on one line, no control characters


def normalise_email(value: str) -> str:
    return value.strip().lower()


def by_email(session: Session, email: str) -> Person | None:
    return session.exec(select(Person).where(Person.email == normalise_email(email))).first()


def principal(
    person: Person,
    membership: Membership,
    organization: Organization,
    *,
    key: ApiKey | None = None,
    role: str | None = None,
) -> Principal:
    """The person acting for `organization`, with the rights of their role there (or the
    lesser `role` of one of their keys)."""
    assert organization.id is not None
    return Principal(
        key_id=key.id if key else None,
        key_prefix=key.prefix if key else None,
        organization_id=organization.id,
        organization=organization.acronym,
        role=role or membership.role,
        person_id=person.id,
        person_name=person.name,
        person_email=person.email,
        membership_id=membership.id,
        manages=membership.manages,
    )


# Memberships -------------------------------------------------------------------------------


def _check_manager(actor: Principal, organization: Organization, role: str | None) -> None:
    assert organization.id is not None
    if not actor.may_manage(organization.id):
        raise Forbidden(
            f"only an admin or a member who manages {organization.acronym} may change its members"
        )
    if role is not None and not actor.is_admin and ROLE_RANK[role] > ROLE_RANK[actor.role]:
        raise Forbidden(f"you may not give the role {role}: it is above your own ({actor.role})")


def _member(membership: Membership, person: Person, organization: Organization) -> MemberPublic:
    return MemberPublic(
        id=membership.id,
        email=person.email,
        name=person.name,
        role=membership.role,
        manages=membership.manages,
        status=membership.status,
        organization=organization.acronym,
        created_at=membership.created_at,
    )


def _new_link(
    session: Session,
    purpose: str,
    person: Person | None,
    valid: timedelta,
    membership: Membership | None = None,
    data: dict[str, str] | None = None,
    token: str | None = None,
) -> str:
    """Keep a single-use secret (a new one unless `token` is given) for `valid`; links that
    expired more than a day ago go."""
    token = token or secrets.token_urlsafe(32)
    now = utcnow()
    session.execute(sa.delete(AuthLink).where(col(AuthLink.expires_at) < now - timedelta(days=1)))
    session.add(
        AuthLink(
            token_hash=hash_key(token),
            purpose=purpose,
            person_id=person.id if person else None,
            membership_id=membership.id if membership else None,
            data=data or {},
            expires_at=now + valid,
        )
    )
    return token


def invite(
    session: Session,
    organization: Organization,
    data: MemberIn,
    *,
    actor: Principal | None,
    base_url: str,
) -> MemberPublic:
    """Invite `data.email` to `organization` (actor None: the operator at the shell).  A
    second invitation to the same address adds a membership to the same person; inviting a
    member again sends a new link when they have not joined yet, else it is a 409."""
    if actor is not None:
        _check_manager(actor, organization, data.role)
    if data.language is not None:
        _check_language(data.language)
    email = normalise_email(str(data.email))
    person = by_email(session, email)
    if person is None:
        person = Person(
            email=email,
            name=data.name or email.split("@")[0],
            language=data.language or "en",
        )
        session.add(person)
        try:
            session.flush()
        except IntegrityError as exc:
            raise Conflict(f"{email} is being invited at this moment: try again") from exc
    elif person.removed_at is not None:
        person.removed_at = None
        person.joined_at = None
        session.add(person)
    membership = session.exec(
        select(Membership).where(
            Membership.person_id == person.id, Membership.organization_id == organization.id
        )
    ).first()
    if membership is not None and membership.status == "active":
        raise Conflict(f"{email} is already a member of {organization.acronym}")
    if (
        membership is not None
        and actor is not None
        and not actor.is_admin
        and ROLE_RANK[membership.role] > ROLE_RANK[actor.role]
    ):
        raise Forbidden(
            f"{email} is invited as {membership.role}, above your own role: an admin may "
            "invite them again"
        )
    inviter = actor.label if actor else "assistcal"
    assert organization.id is not None
    if membership is None:
        membership = Membership(person_id=person.id, organization_id=organization.id, role="")
    membership.role = data.role
    membership.manages = data.manages
    membership.invited_by = inviter
    session.add(membership)
    try:
        session.flush()
    except IntegrityError as exc:  # the same address invited at the same moment
        raise Conflict(f"{email} is being invited at this moment: try again") from exc
    token = _new_link(session, "invitation", person, INVITATION_VALID, membership)
    mail.queue(
        session,
        to=person.email,
        template="invitation",
        language=person.language,
        name=person.name if data.name or person.joined_at else None,
        inviter=inviter,
        organization=organization.acronym,
        organization_name=organization.name,
        role=data.role,
        link=base_url.rstrip("/") + LINK_PATH + token,
        days=INVITATION_VALID.days,
    )
    audit.record(
        session,
        actor=actor,
        action="member.invite",
        entity_type="membership",
        entity_id=membership.id,
        changes={
            "email": person.email,
            "organization": organization.acronym,
            "role": data.role,
            "manages": data.manages,
        },
    )
    return _member(membership, person, organization)


def _membership_in(
    session: Session, organization: Organization, membership_id: uuid.UUID
) -> tuple[Membership, Person]:
    row = session.exec(
        select(Membership, Person)
        .join(Person, col(Person.id) == col(Membership.person_id))
        .where(Membership.id == membership_id, Membership.organization_id == organization.id)
    ).first()
    if row is None:
        raise NotFound(f"{organization.acronym} has no member with id {membership_id}")
    return row[0], row[1]


def members(
    session: Session, organization: Organization, *, actor: Principal
) -> list[MemberPublic]:
    _check_manager(actor, organization, None)
    rows = session.exec(
        select(Membership, Person)
        .join(Person, col(Person.id) == col(Membership.person_id))
        .where(Membership.organization_id == organization.id)
        .order_by(col(Person.name), col(Person.email))
    )
    return [_member(membership, person, organization) for membership, person in rows]


def update_member(
    session: Session,
    organization: Organization,
    membership_id: uuid.UUID,
    data: MemberUpdate,
    *,
    actor: Principal,
) -> MemberPublic:
    _check_manager(actor, organization, data.role)
    membership, person = _membership_in(session, organization, membership_id)
    if not actor.is_admin and ROLE_RANK[membership.role] > ROLE_RANK[actor.role]:
        raise Forbidden(
            f"you may not change a member whose role ({membership.role}) is above yours"
        )
    changes: dict[str, object] = {}
    if data.role is not None and data.role != membership.role:
        changes["role"] = [membership.role, data.role]
        membership.role = data.role
    if data.manages is not None and data.manages != membership.manages:
        changes["manages"] = [membership.manages, data.manages]
        membership.manages = data.manages
    if changes:
        session.add(membership)
        audit.record(
            session,
            actor=actor,
            action="member.update",
            entity_type="membership",
            entity_id=membership.id,
            changes={"email": person.email, "organization": organization.acronym, **changes},
        )
        session.flush()
    return _member(membership, person, organization)


def _end_membership(session: Session, membership: Membership) -> None:
    """The membership gone, and with it at once every session, key, private feed and link
    that acted through it."""
    # Its web sessions, kept uploads and private feeds go with it (ON DELETE CASCADE).
    session.execute(
        sa.update(ApiKey)
        .where(
            col(ApiKey.person_id) == membership.person_id,
            col(ApiKey.organization_id) == membership.organization_id,
            col(ApiKey.revoked_at).is_(None),
        )
        .values(revoked_at=utcnow())
    )
    session.delete(membership)


def remove_member(
    session: Session, organization: Organization, membership_id: uuid.UUID, *, actor: Principal
) -> None:
    _check_manager(actor, organization, None)
    membership, person = _membership_in(session, organization, membership_id)
    if not actor.is_admin and ROLE_RANK[membership.role] > ROLE_RANK[actor.role]:
        raise Forbidden(
            f"you may not remove a member whose role ({membership.role}) is above yours"
        )
    _end_membership(session, membership)
    audit.record(
        session,
        actor=actor,
        action="member.remove",
        entity_type="membership",
        entity_id=membership_id,
        changes={"email": person.email, "organization": organization.acronym},
    )
    session.flush()


def remove_person(session: Session, email: str, *, actor: Principal | None) -> Person:
    """The person loses every membership (and so every session and key) at once; the row
    stays, so that histories still name them."""
    person = by_email(session, email)
    if person is None or person.removed_at is not None:
        raise NotFound(f"no person with the address {normalise_email(email)}")
    for membership in session.exec(select(Membership).where(Membership.person_id == person.id)):
        _end_membership(session, membership)
    person.removed_at = utcnow()
    session.add(person)
    audit.record(
        session,
        actor=actor,
        action="person.remove",
        entity_type="person",
        entity_id=person.id,
        changes={"email": person.email},
    )
    session.flush()
    return person


def memberships(
    session: Session, person_id: uuid.UUID, *, active_only: bool = True
) -> list[tuple[Membership, Organization]]:
    statement = (
        select(Membership, Organization)
        .join(Organization, col(Organization.id) == col(Membership.organization_id))
        .where(Membership.person_id == person_id)
        .order_by(col(Organization.acronym))
    )
    if active_only:
        statement = statement.where(Membership.status == "active")
    return [(m, o) for m, o in session.exec(statement)]


def roster(session: Session, acronym: str | None = None) -> list[str]:
    """One line per membership (people without one too): e-mail, name, organization, role,
    status; for the shell."""
    statement = (
        select(Person, Membership, Organization)
        .outerjoin(Membership, col(Membership.person_id) == col(Person.id))
        .outerjoin(Organization, col(Organization.id) == col(Membership.organization_id))
        .order_by(col(Person.email), col(Organization.acronym))
    )
    if acronym is not None:
        statement = statement.where(Organization.acronym == acronym.strip().upper())
    lines = []
    for person, membership, organization in session.exec(statement):
        if membership is None or organization is None:
            state = "removed" if person.removed_at else "no membership"
            lines.append(f"{person.email:<36} {person.name:<28} {state}")
            continue
        manager = " manages" if membership.manages else ""
        lines.append(
            f"{person.email:<36} {person.name:<28} {organization.acronym:<14} "
            f"{membership.role}{manager} ({membership.status})"
        )
    return lines


def active_membership(
    session: Session,
    person_id: uuid.UUID,
    *,
    organization_id: int | None = None,
    membership_id: uuid.UUID | None = None,
) -> tuple[Person, Membership, Organization] | None:
    """The person (not removed) and their active membership of that organization (or that
    membership): what a person's key and a person's web session act through."""
    statement = (
        select(Person, Membership, Organization)
        .join(Membership, col(Membership.person_id) == col(Person.id))
        .join(Organization, col(Organization.id) == col(Membership.organization_id))
        .where(
            Person.id == person_id,
            Membership.status == "active",
            col(Person.removed_at).is_(None),
        )
    )
    if organization_id is not None:
        statement = statement.where(Membership.organization_id == organization_id)
    if membership_id is not None:
        statement = statement.where(Membership.id == membership_id)
    row = session.exec(statement).first()
    return None if row is None else (row[0], row[1], row[2])


def describe(session: Session, person: Person) -> PersonPublic:
    return PersonPublic(
        id=person.id,
        email=person.email,
        name=person.name,
        language=person.language,
        memberships=[
            MembershipPublic(
                id=m.id, organization=o.acronym, role=m.role, manages=m.manages, status=m.status
            )
            for m, o in memberships(session, person.id, active_only=False)
        ],
    )


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValidationFailed.on("language", f"one of {', '.join(LANGUAGES)}")


def set_language(session: Session, person_id: uuid.UUID, language: str) -> None:
    """The person's language (their e-mails, and the pages wherever they sign in), as the
    language menu of the pages sets it."""
    _check_language(language)
    session.execute(sa.update(Person).where(col(Person.id) == person_id).values(language=language))


def update_profile(session: Session, person: Person, *, name: str, language: str) -> Person:
    name = name.strip()
    if not 1 <= len(name) <= 200 or not PRINTABLE.match(name):
        raise ValidationFailed.on("name", "a name of 1 to 200 characters, on one line")
    _check_language(language)
    person.name = name
    person.language = language
    session.add(person)
    session.flush()
    return person


# Signing in ---------------------------------------------------------------------------------


class LinkRefused(Exception):
    """A link or a single sign-on that signs no one in; `reason` says why (for the page):
    unknown, used, expired, removed, not_invited, unverified."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SignedIn:
    person: Person
    membership_id: uuid.UUID | None  # the membership to act through first, if one is chosen


def _may_sign_in(session: Session, person: Person | None) -> bool:
    """A person signs in while they have an active membership, or an invitation whose link
    has not expired (following it, or signing in otherwise, makes it a membership)."""
    if person is None or person.removed_at is not None:
        return False
    return bool(memberships(session, person.id) or _pending(session, person.id))


def _pending(session: Session, person_id: uuid.UUID) -> set[uuid.UUID]:
    """The person's memberships still invited by a link that has not expired."""
    rows = session.execute(
        sa.select(col(AuthLink.membership_id)).where(
            col(AuthLink.person_id) == person_id,
            col(AuthLink.purpose) == "invitation",
            col(AuthLink.used_at).is_(None),
            col(AuthLink.expires_at) > utcnow(),
        )
    )
    return {membership_id for (membership_id,) in rows if membership_id is not None}


def request_sign_in(session: Session, email: str, *, base_url: str) -> bool:
    """Send a sign-in link to `email` if it is a member's; the caller answers the same
    either way (no account discovery).  True when a link was sent."""
    person = by_email(session, email)
    if person is None or not _may_sign_in(session, person):
        return False
    token = _new_link(session, "sign_in", person, SIGN_IN_VALID)
    mail.queue(
        session,
        to=person.email,
        template="sign_in",
        language=person.language,
        link=base_url.rstrip("/") + LINK_PATH + token,
        minutes=int(SIGN_IN_VALID.total_seconds() // 60),
    )
    return True


def _joined(session: Session, person: Person, membership_id: uuid.UUID | None = None) -> None:
    """The person proved the address theirs: `membership_id` (the invitation they followed)
    and their other invitations still valid become memberships.  An invitation whose link
    expired stays an invitation: it takes a new one."""
    now = utcnow()
    if person.joined_at is None:
        person.joined_at = now
        session.add(person)
    joining = _pending(session, person.id) | ({membership_id} if membership_id else set())
    if joining:
        session.execute(
            sa.update(Membership)
            .where(col(Membership.id).in_(joining), col(Membership.status) == "invited")
            .values(status="active")
        )
    session.flush()


def _live_link(session: Session, token: str) -> tuple[AuthLink, Person]:
    if not 20 <= len(token) <= 100:
        raise LinkRefused("unknown")
    link = session.get(AuthLink, hash_key(token))
    if link is None or link.purpose not in ("invitation", "sign_in") or link.person_id is None:
        raise LinkRefused("unknown")
    if link.used_at is not None:
        raise LinkRefused("used")
    if link.expires_at <= utcnow():
        raise LinkRefused("expired")
    person = session.get(Person, link.person_id)
    if person is None or person.removed_at is not None:
        raise LinkRefused("removed")
    return link, person


def _use_up(session: Session, link: AuthLink) -> None:
    """Mark the link used, once: a second request that read it as unused meanwhile finds it
    used here and is refused."""
    used = session.execute(
        sa.update(AuthLink)
        .where(col(AuthLink.token_hash) == link.token_hash, col(AuthLink.used_at).is_(None))
        .values(used_at=utcnow())
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise LinkRefused("used")


def check_link(session: Session, token: str) -> tuple[Person, str]:
    """Whom a link would sign in, and why it was sent (invitation, sign_in), without using
    it up; LinkRefused as follow_link."""
    link, person = _live_link(session, token)
    return person, link.purpose


def follow_link(session: Session, token: str) -> SignedIn:
    """The person an invitation's or a sign-in e-mail's link signs in, the link used up; a
    LinkRefused (and nothing changed) for a forged, used or expired one."""
    link, person = _live_link(session, token)
    _joined(session, person, link.membership_id)
    _use_up(session, link)
    return SignedIn(person, link.membership_id)


def single_sign_on(session: Session, email: str, *, verified: bool) -> SignedIn:
    """The invited person whose address an OpenID Connect provider vouched for; never a
    new account."""
    if not verified:
        raise LinkRefused("unverified")
    person = by_email(session, email)
    if person is None or not _may_sign_in(session, person):
        raise LinkRefused("not_invited")
    _joined(session, person)
    return SignedIn(person, None)


def start_single_sign_on(
    session: Session, *, state: str, nonce: str, verifier: str, next_path: str, browser: str
) -> None:
    """Keep a single sign-on's state, nonce and PKCE verifier, the page to go back to and the
    digest of the browser's own secret, until the provider sends the person back (15 minutes
    at most)."""
    data = {"nonce": nonce, "verifier": verifier, "next": next_path, "browser": browser}
    _new_link(session, "oidc", None, SIGN_IN_VALID, data=data, token=state)


def finish_single_sign_on(session: Session, state: str) -> dict[str, str]:
    """The kept nonce, verifier and next page for `state`, used up; LinkRefused if the
    state is unknown, used or too old (a forged or replayed answer)."""
    link = session.get(AuthLink, hash_key(state)) if 10 <= len(state) <= 200 else None
    if link is None or link.purpose != "oidc":
        raise LinkRefused("unknown")
    if link.used_at is not None:
        raise LinkRefused("used")
    if link.expires_at <= utcnow():
        raise LinkRefused("expired")
    _use_up(session, link)
    return {str(k): str(v) for k, v in link.data.items()}
