import uuid
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from app.audit import service as audit
from app.auth import people
from app.auth.models import ApiKey, ApiKeyCreated, ApiKeyPublic, Person
from app.core import keys
from app.core.principal import ROLE_RANK, Principal, lesser_role
from app.core.timeutil import utcnow
from app.db.engine import open_session
from app.errors import Forbidden, NotFound, Unauthorized, ValidationFailed
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
    return principal_for(session, *row), row[0]


def principal_for(session: Session, api_key: ApiKey, organization: Organization) -> Principal:
    """Whom a key acts as (for the API, and for a page signed in with it): its organization
    with its role, or for a person's own key the person, with the lesser of the key's role
    and theirs in the organization.  Unauthorized once revoked, or once its owner has left."""
    if api_key.revoked_at is not None:
        raise Unauthorized("this API key has been revoked")
    assert organization.id is not None
    if api_key.person_id is None:
        return Principal(
            key_id=api_key.id,
            key_prefix=api_key.prefix,
            organization_id=organization.id,
            organization=organization.acronym,
            role=api_key.role,
        )
    found = people.active_membership(session, api_key.person_id, organization_id=organization.id)
    if found is None:
        raise Unauthorized(f"this API key's owner is no longer a member of {organization.acronym}")
    person, membership, _ = found
    role = lesser_role(api_key.role, membership.role)
    return people.principal(person, membership, organization, key=api_key, role=role)


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


def _public(api_key: ApiKey, organization: str, owner: str | None = None) -> ApiKeyPublic:
    return ApiKeyPublic(
        id=api_key.id,
        prefix=api_key.prefix,
        role=api_key.role,
        name=api_key.name,
        organization=organization,
        created_at=api_key.created_at,
        last_used_at=api_key.last_used_at,
        revoked_at=api_key.revoked_at,
        owner=owner,
    )


def create(
    session: Session,
    *,
    organization: Organization,
    role: str,
    name: str | None = None,
    key: str | None = None,
    actor: Principal | None,
    person_id: uuid.UUID | None = None,
) -> ApiKeyCreated:
    """Make a key for `organization` (a person's own key when `person_id` is given).  `key`
    lets an operator choose the secret (the bootstrap admin key); otherwise a random one is
    made.  An actor who is not an admin makes no key above their own role."""
    assert organization.id is not None
    if actor is not None and not actor.is_admin:
        if person_id is not None and person_id != actor.person_id:
            raise Forbidden("a person makes their own keys only")
        if person_id is None and not actor.may_manage(organization.id):
            raise Forbidden(f"only an admin or a manager of {organization.acronym} makes its keys")
        if ROLE_RANK[role] > ROLE_RANK[actor.role]:
            raise Forbidden(f"a key may not have a role ({role}) above yours ({actor.role})")
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
        person_id=person_id,
    )
    session.add(api_key)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="api_key.create",
        entity_type="api_key",
        entity_id=api_key.id,
        changes={
            "organization": organization.acronym,
            "role": role,
            "prefix": api_key.prefix,
            **({"person": str(person_id)} if person_id else {}),
        },
    )
    return ApiKeyCreated(
        id=api_key.id,
        key=secret,
        prefix=api_key.prefix,
        role=role,
        organization=organization.acronym,
    )


def revoke(session: Session, key_id: uuid.UUID, *, actor: Principal | None) -> ApiKeyPublic:
    """Revoke a key: an admin any, a manager their organization's, a person their own."""
    row = session.exec(
        select(ApiKey, Organization)
        .join(Organization, col(Organization.id) == ApiKey.organization_id)
        .where(ApiKey.id == key_id)
    ).first()
    if row is None:
        raise NotFound(f"no API key with id {key_id}")
    api_key, organization = row
    assert organization.id is not None
    own = (
        actor is not None and api_key.person_id is not None and actor.person_id == api_key.person_id
    )
    if actor is not None and not own and not actor.may_manage(organization.id):
        raise Forbidden("only an admin, a manager of its organization or its owner revokes a key")
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
    """The organization's keys: its own (no owner) and its members' (the owner named)."""
    rows = session.exec(
        select(ApiKey, Person)
        .outerjoin(Person, col(Person.id) == col(ApiKey.person_id))
        .where(ApiKey.organization_id == organization.id)
        .order_by(col(ApiKey.created_at), col(ApiKey.id))
    )
    return [
        _public(
            api_key, organization.acronym, f"{person.name} <{person.email}>" if person else None
        )
        for api_key, person in rows
    ]


def list_own(session: Session, person_id: uuid.UUID) -> list[ApiKeyPublic]:
    """A person's own keys, in every organization they belong to."""
    rows = session.exec(
        select(ApiKey, Organization)
        .join(Organization, col(Organization.id) == col(ApiKey.organization_id))
        .where(ApiKey.person_id == person_id)
        .order_by(col(ApiKey.created_at), col(ApiKey.id))
    )
    return [_public(api_key, organization.acronym) for api_key, organization in rows]


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
