"""Private feed tokens: made, listed and revoked (through the API and the subscribe page),
found by their secret."""

import secrets
import uuid

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.audit import service as audit
from app.auth.models import ApiKey, Membership, Person
from app.core.i18n import LANGUAGES
from app.core.keys import hash_key
from app.core.principal import Principal
from app.core.timeutil import utcnow
from app.errors import NotFound
from app.feeds.models import (
    FeedFilters,
    FeedToken,
    FeedTokenCreated,
    FeedTokenIn,
    FeedTokenPublic,
)
from app.feeds.spec import links

TOKEN_PREFIX = "ft_"  # noqa: S105 (a marker, not a secret)


def create_token(
    session: Session, data: FeedTokenIn, *, actor: Principal, base_url: str
) -> FeedTokenCreated:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = FeedToken(
        label=data.label,
        token_hash=hash_key(token),
        organization_id=actor.organization_id,
        api_key_id=actor.key_id,
        membership_id=actor.membership_id,
        created_by=actor.label,
        filters=data.filters.model_dump(mode="json"),
        language=data.language,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="feed_token.create",
        entity_type="feed_token",
        entity_id=row.id,
        changes={"label": data.label, "filters": row.filters, "language": data.language},
    )
    found = links(base_url, f"/feeds/private/{token}.ics")
    return FeedTokenCreated(id=row.id, token=token, **found.model_dump())


def _public(row: FeedToken) -> FeedTokenPublic:
    return FeedTokenPublic(
        id=row.id,
        label=row.label,
        filters=FeedFilters.model_validate(row.filters),
        created_by=row.created_by,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        language=row.language,
    )


def _visible(viewer: Principal) -> sa.ColumnElement[bool]:
    return (
        sa.true() if viewer.is_admin else col(FeedToken.organization_id) == viewer.organization_id
    )


def list_tokens(session: Session, viewer: Principal) -> list[FeedTokenPublic]:
    rows = session.exec(
        select(FeedToken).where(_visible(viewer)).order_by(col(FeedToken.created_at).desc())
    )
    return [_public(row) for row in rows]


def own_tokens(session: Session, viewer: Principal) -> list[FeedTokenPublic]:
    """The live private feeds this person made (in the pages or with their keys), or this
    program's key made, newest first."""
    mine = (
        col(FeedToken.membership_id) == viewer.membership_id
        if viewer.membership_id is not None
        else col(FeedToken.api_key_id) == viewer.key_id
    )
    rows = session.exec(
        select(FeedToken)
        .where(mine, col(FeedToken.revoked_at).is_(None), _visible(viewer))
        .order_by(col(FeedToken.created_at).desc())
    )
    return [_public(row) for row in rows]


def revoke_token(session: Session, token_id: uuid.UUID, *, actor: Principal) -> FeedTokenPublic:
    row = session.exec(
        select(FeedToken).where(FeedToken.id == token_id, _visible(actor)).with_for_update()
    ).first()
    if row is None:
        raise NotFound(f"no feed token with id {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        audit.record(
            session,
            actor=actor,
            action="feed_token.revoke",
            entity_type="feed_token",
            entity_id=row.id,
            changes={"label": row.label},
        )
    return _public(row)


def by_token(session: Session, token: str) -> FeedToken:
    """The live token with this secret; an unknown or revoked one is a 404 that says
    nothing more."""
    row = None
    if token.startswith(TOKEN_PREFIX) and len(token) < 100:
        row = session.exec(
            select(FeedToken)
            .outerjoin(ApiKey, col(ApiKey.id) == FeedToken.api_key_id)
            .where(
                FeedToken.token_hash == hash_key(token),
                col(FeedToken.revoked_at).is_(None),
                # The key that made it still works (a member's: removal deletes it).
                col(ApiKey.revoked_at).is_(None),
            )
        ).first()
    if row is None:
        raise NotFound("no such feed")
    return row


def language_of(session: Session, row: FeedToken) -> str:
    """The language a private feed is read in: its own, else its owner's as it is now (the
    person who made it in the pages or with their key), else English."""
    if row.language is not None:
        return row.language
    if row.membership_id is not None:
        owner = session.exec(
            select(Person.language)
            .join(Membership, col(Membership.person_id) == Person.id)
            .where(Membership.id == row.membership_id)
        ).first()
        if owner in LANGUAGES:
            return owner
    return "en"
