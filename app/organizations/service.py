from collections.abc import Iterable, Sequence

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.audit import service as audit
from app.core import cursor as cursors
from app.core.principal import Principal
from app.core.timeutil import utcnow
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed, reject_nulls
from app.organizations.models import (
    Organization,
    OrganizationCreate,
    OrganizationProfile,
    OrganizationUpdate,
    ProfileBase,
    ProfileIn,
    ProfilePublic,
    normalise_acronym,
)


def get(session: Session, acronym: str) -> Organization:
    organization = session.exec(
        select(Organization).where(Organization.acronym == acronym.strip().upper())
    ).first()
    if organization is None:
        raise NotFound(f"no organization with acronym {acronym!r}")
    return organization


def find(session: Session, acronym: str) -> Organization | None:
    return session.exec(
        select(Organization).where(Organization.acronym == acronym.strip().upper())
    ).first()


def by_iati_identifier(session: Session, identifier: str) -> Organization | None:
    return session.exec(
        select(Organization).where(Organization.iati_identifier == identifier.strip())
    ).first()


def contact_emails(session: Session, acronyms: Iterable[str]) -> dict[str, str | None]:
    """Each organization's contact address (None when it has none), by acronym."""
    wanted = {acronym.strip().upper() for acronym in acronyms}
    rows = session.exec(select(Organization).where(col(Organization.acronym).in_(wanted)))
    return {row.acronym: row.contact_email for row in rows}


def ids_of(session: Session, acronyms: Iterable[str], *, field: str) -> list[int]:
    """The ids of these organizations; an unknown acronym is a 422 on `field`."""
    ids = []
    for acronym in acronyms:
        organization = find(session, acronym)
        if organization is None or organization.id is None:
            raise ValidationFailed.on(field, f"no organization with acronym {acronym!r}")
        ids.append(organization.id)
    return ids


def list_page(
    session: Session, *, limit: int, after: str | None = None
) -> tuple[Sequence[Organization], str | None]:
    statement = select(Organization).order_by(col(Organization.acronym)).limit(limit + 1)
    if after is not None:
        statement = statement.where(col(Organization.acronym) > after)
    rows = session.exec(statement).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, cursors.encode(rows[-1].acronym) if more else None


def create(session: Session, data: OrganizationCreate, *, actor: Principal | None) -> Organization:
    if find(session, data.acronym) is not None:
        raise Conflict(f"organization {data.acronym} exists already")
    _check_iati_identifier(session, data.iati_identifier, organization=None)
    organization = Organization.model_validate(data)
    session.add(organization)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"organization {data.acronym} exists already") from exc
    audit.record(
        session,
        actor=actor,
        action="organization.create",
        entity_type="organization",
        entity_id=organization.acronym,
        changes=data.model_dump(mode="json"),
    )
    return organization


def update(
    session: Session, organization: Organization, data: OrganizationUpdate, *, actor: Principal
) -> Organization:
    """Change an organization.  A new name is a change of every event of its activities in
    the feeds: the caller also calls `app.feeds.event_texts.provider_renamed` (as
    app/api/organizations.py does), which raises their SEQUENCE."""
    changes = data.model_dump(exclude_unset=True, mode="json")
    reject_nulls(changes, nullable={"contact_email", "iati_identifier"})
    _check_iati_identifier(session, changes.get("iati_identifier"), organization=organization)
    old = organization.model_dump(mode="json")
    organization.sqlmodel_update(changes)
    session.add(organization)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="organization.update",
        entity_type="organization",
        entity_id=organization.acronym,
        changes={k: [old.get(k), v] for k, v in changes.items() if old.get(k) != v},
    )
    return organization


def _check_iati_identifier(
    session: Session, identifier: str | None, *, organization: Organization | None
) -> None:
    """An IATI identifier names one organization: another's is a 409 naming the field."""
    if not identifier:
        return
    holder = by_iati_identifier(session, identifier)
    if holder is not None and holder is not organization:
        raise Conflict(
            f"iati_identifier: {identifier} is already the IATI identifier of {holder.acronym}"
        )


def ensure(
    session: Session,
    *,
    acronym: str,
    name: str,
    kind: str = "other",
    actor: Principal | None = None,
) -> Organization:
    """The organization with this acronym, created when missing."""
    existing = find(session, acronym)
    if existing is not None:
        return existing
    data = OrganizationCreate(acronym=normalise_acronym(acronym), name=name, kind=kind)  # type: ignore[arg-type]
    return create(session, data, actor=actor)


# Profiles --------------------------------------------------------------------------------


def profile(session: Session, organization: Organization) -> ProfilePublic:
    """What the organization offers; empty lists while it has stated nothing."""
    stored = session.get(OrganizationProfile, organization.id)
    values = ProfileBase.model_validate(stored or {}).model_dump()
    return ProfilePublic(
        organization=organization.acronym,
        updated_at=stored.updated_at if stored else None,
        **values,
    )


def may_edit_profile(actor: Principal, organization: Organization) -> bool:
    """An admin, or anyone acting for the organization itself (its keys and its members)."""
    return actor.is_admin or actor.organization_id == organization.id


def put_profile(
    session: Session, organization: Organization, data: ProfileIn, *, actor: Principal
) -> ProfilePublic:
    """Replace the organization's profile: an admin, or the organization itself."""
    if not may_edit_profile(actor, organization):
        raise Forbidden("only an admin or the organization itself edits its profile")
    assert organization.id is not None
    stored = session.get(OrganizationProfile, organization.id)
    before = profile(session, organization).model_dump(mode="json")
    values = data.model_dump()
    for name in ("themes", "domains", "activity_types", "languages", "regions"):
        values[name] = [*dict.fromkeys(values[name])]
    if stored is None:
        stored = OrganizationProfile(organization_id=organization.id, **values)
    else:
        stored.sqlmodel_update(values)
    stored.updated_at = utcnow()
    session.add(stored)
    session.flush()
    after = profile(session, organization)
    written = after.model_dump(mode="json")
    audit.record(
        session,
        actor=actor,
        action="organization.profile",
        entity_type="organization",
        entity_id=organization.acronym,
        changes={k: [before[k], v] for k, v in written.items() if before[k] != v and k in values},
    )
    return after
