import uuid
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from app.audit import service as audit
from app.auth.models import ApiKey, ApiKeyCreated, ApiKeyPublic
from app.core import keys
from app.core.principal import Principal
from app.core.timeutil import utcnow
from app.db.engine import open_session
from app.errors import NotFound, Unauthorized, ValidationFailed
from app.organizations import service as organizations
from app.organizations.models import Organization


def authenticate(session: Session, key: str) -> tuple[Principal, ApiKey]:
    row = session.exec(
        select(ApiKey, Organization)
        .join(Organization, col(Organization.id) == ApiKey.organization_id)
        .where(ApiKey.key_hash == keys.hash_key(key))
    ).first()
    if row is None or not keys.key_matches(key, row[0].key_hash):
        raise Unauthorized("invalid API key")
    api_key, organization = row
    if api_key.revoked_at is not None:
        raise Unauthorized("this API key has been revoked")
    assert organization.id is not None
    principal = Principal(
        key_id=api_key.id,
        key_prefix=api_key.prefix,
        organization_id=organization.id,
        organization=organization.acronym,
        role=api_key.role,
    )
    return principal, api_key


def touch_due(api_key: ApiKey, *, every_seconds: int) -> bool:
    """Whether the key's last use is older than `every_seconds` (and so worth recording)."""
    last = api_key.last_used_at
    return last is None or utcnow() - last >= timedelta(seconds=every_seconds)


def touch(engine: Engine, api_key: ApiKey, *, every_seconds: int) -> None:
    """Record that a key was used, at most once per `every_seconds`, in a transaction of its
    own so that read requests stay read-only.  Best effort: a busy database skips it."""
    now = utcnow()
    if not touch_due(api_key, every_seconds=every_seconds):
        return
    try:
        with open_session(engine, write=True) as session:
            session.exec(
                update(ApiKey).where(col(ApiKey.id) == api_key.id).values(last_used_at=now)
            )
            session.commit()
    except OperationalError:
        return


def _public(api_key: ApiKey, organization: str) -> ApiKeyPublic:
    return ApiKeyPublic(
        id=api_key.id,
        prefix=api_key.prefix,
        role=api_key.role,
        name=api_key.name,
        organization=organization,
        created_at=api_key.created_at,
        last_used_at=api_key.last_used_at,
        revoked_at=api_key.revoked_at,
    )


def create(
    session: Session,
    *,
    organization: Organization,
    role: str,
    name: str | None = None,
    key: str | None = None,
    actor: Principal | None,
) -> ApiKeyCreated:
    """Make a key for `organization`.  `key` lets an operator choose the secret (the
    bootstrap admin key); otherwise a random one is made."""
    secret = key or keys.generate_key()
    if len(secret) < keys.MIN_KEY_LENGTH:
        raise ValidationFailed.on(
            "key", f"an API key has at least {keys.MIN_KEY_LENGTH} characters"
        )
    assert organization.id is not None
    api_key = ApiKey(
        key_hash=keys.hash_key(secret),
        prefix=keys.key_prefix(secret),
        role=role,
        name=name,
        organization_id=organization.id,
    )
    session.add(api_key)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="api_key.create",
        entity_type="api_key",
        entity_id=api_key.id,
        changes={"organization": organization.acronym, "role": role, "prefix": api_key.prefix},
    )
    return ApiKeyCreated(
        id=api_key.id,
        key=secret,
        prefix=api_key.prefix,
        role=role,
        organization=organization.acronym,
    )


def revoke(session: Session, key_id: uuid.UUID, *, actor: Principal | None) -> ApiKeyPublic:
    row = session.exec(
        select(ApiKey, Organization)
        .join(Organization, col(Organization.id) == ApiKey.organization_id)
        .where(ApiKey.id == key_id)
    ).first()
    if row is None:
        raise NotFound(f"no API key with id {key_id}")
    api_key, organization = row
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
        session.add(api_key)
        audit.record(
            session,
            actor=actor,
            action="api_key.revoke",
            entity_type="api_key",
            entity_id=api_key.id,
            changes={"organization": organization.acronym, "prefix": api_key.prefix},
        )
        session.flush()
    return _public(api_key, organization.acronym)


def find_by_prefix(session: Session, prefix: str) -> list[uuid.UUID]:
    """Ids of the keys whose visible prefix is `prefix`."""
    return list(session.exec(select(ApiKey.id).where(ApiKey.prefix == prefix)))


def list_for(session: Session, organization: Organization) -> list[ApiKeyPublic]:
    rows = session.exec(
        select(ApiKey)
        .where(ApiKey.organization_id == organization.id)
        .order_by(col(ApiKey.created_at), col(ApiKey.id))
    )
    return [_public(api_key, organization.acronym) for api_key in rows]


def ensure_admin_key(session: Session, *, key: str, admin_org: str) -> bool:
    """Make `key` an admin key unless it exists already; True when it was created."""
    if session.exec(select(ApiKey).where(ApiKey.key_hash == keys.hash_key(key))).first():
        return False
    organization = organizations.ensure(session, acronym=admin_org, name="assistcal operators")
    create(session, organization=organization, role="admin", name="bootstrap", key=key, actor=None)
    return True


def create_first_admin(session: Session, *, admin_org: str) -> ApiKeyCreated | None:
    """On a database with no key at all, make an admin key and return it (shown once)."""
    if session.exec(select(ApiKey.id).limit(1)).first() is not None:
        return None
    organization = organizations.ensure(session, acronym=admin_org, name="assistcal operators")
    return create(session, organization=organization, role="admin", name="first admin", actor=None)
