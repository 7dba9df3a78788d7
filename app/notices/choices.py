"""Each person's choices of e-mail, and the signed links that turn a kind off without
signing in (RFC 8058 one-click unsubscribe).

A link names the person and the kinds it turns off, signed with HMAC-SHA256 under a random
secret kept for that person alone (NoticeChoice.secret): it cannot be made without the secret,
and changing the person or the kinds in it breaks the signature."""

import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable

from sqlmodel import Session, select

from app.auth.models import Membership, Person
from app.core.timeutil import utcnow
from app.db.sql import insert_for
from app.notices.models import DIGEST_FREQUENCIES, NOTICE_KINDS, NoticeChoice

# A digest is for those who review: coordinators and admins.
DIGEST_ROLES = ("coordinator", "admin")


def choice(session: Session, person_id: uuid.UUID) -> NoticeChoice:
    """The person's choices, made (with every notice on and their secret) at the first need;
    added to the session, not committed."""
    found = session.get(NoticeChoice, person_id)
    if found is None:
        # Two processes (or a save on /account) may make it at the same moment: the first
        # one's row stands, the other reads it.
        table = NoticeChoice.__table__  # type: ignore[attr-defined]
        row = NoticeChoice(person_id=person_id, secret=secrets.token_urlsafe(32)).model_dump()
        insert = insert_for(session.get_bind().dialect.name, table)
        session.execute(insert.values(**row).on_conflict_do_nothing(index_elements=["person_id"]))
        found = session.get(NoticeChoice, person_id)
        assert found is not None
    return found


def shown(session: Session, person_id: uuid.UUID) -> NoticeChoice:
    """The person's choices as stored, or the defaults (not stored: for reading)."""
    return session.get(NoticeChoice, person_id) or NoticeChoice(person_id=person_id, secret="")


def wants(found: NoticeChoice, kind: str) -> bool:
    """Whether the person gets this kind of notice (findings, decisions, requests, changes)."""
    if kind == "digest":
        return found.digest != "off"
    return bool(getattr(found, kind))


def reviews(session: Session, person_id: uuid.UUID) -> bool:
    """Whether the person is a coordinator or admin somewhere (the digest is for them)."""
    statement = select(Membership.id).where(
        Membership.person_id == person_id,
        Membership.status == "active",
        Membership.role.in_(DIGEST_ROLES),  # type: ignore[attr-defined]
    )
    return session.exec(statement).first() is not None


def save(
    session: Session, person_id: uuid.UUID, *, kinds_on: Iterable[str], digest: str
) -> NoticeChoice:
    """Record which notices the person gets and how often the digest comes."""
    if digest not in DIGEST_FREQUENCIES:
        raise ValueError(f"digest: one of {', '.join(DIGEST_FREQUENCIES)}")
    on = set(kinds_on)
    found = choice(session, person_id)
    for kind in NOTICE_KINDS:
        if kind != "digest":
            setattr(found, kind, kind in on)
    found.digest = digest
    found.updated_at = utcnow()
    session.add(found)
    return found


def turn_off(session: Session, person_id: uuid.UUID, kinds: Iterable[str]) -> NoticeChoice:
    found = choice(session, person_id)
    for kind in kinds:
        if kind == "digest":
            found.digest = "off"
        else:
            setattr(found, kind, False)
    found.updated_at = utcnow()
    session.add(found)
    return found


def _signature(secret: str, person_id: uuid.UUID, kinds: str) -> str:
    mac = hmac.new(secret.encode(), f"unsubscribe\n{person_id}\n{kinds}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def unsubscribe_path(found: NoticeChoice, kinds: Iterable[str]) -> str:
    """The path of the link that turns these kinds off for the person (no sign-in needed)."""
    named = ",".join(sorted(set(kinds), key=NOTICE_KINDS.index))
    return (
        f"/unsubscribe/{found.person_id}/{named}/{_signature(found.secret, found.person_id, named)}"
    )


def verified(
    session: Session, person_id: uuid.UUID, kinds: str, signature: str
) -> tuple[Person, list[str]] | None:
    """The person and the kinds a link turns off, or None when it was not made by this
    service for this person and these kinds."""
    named = kinds.split(",")
    if not named or any(kind not in NOTICE_KINDS for kind in named):
        return None
    found = session.get(NoticeChoice, person_id)
    person = session.get(Person, person_id)
    if found is None or person is None:
        return None
    expected = _signature(found.secret, person_id, kinds).encode()
    if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
        return None
    return person, named
