"""`assistcal orgs` and `assistcal keys`: who may use the service."""

import uuid
from typing import Annotated

import typer

from app.cli.common import operator, write_session
from app.core.vocab import ORG_KINDS, ROLES

orgs_app = typer.Typer(help="Organizations (providers, coordinators, operators).")
keys_app = typer.Typer(help="API keys.")


@orgs_app.command("create")
def orgs_create(
    acronym: Annotated[str, typer.Argument(help="e.g. UNLIREC")],
    name: Annotated[str, typer.Option(help="Full name.")],
    kind: Annotated[str, typer.Option(help=f"One of: {', '.join(ORG_KINDS)}")] = "other",
    email: Annotated[str | None, typer.Option(help="Contact email.")] = None,
) -> None:
    """Create an organization."""
    from pydantic import ValidationError

    from app.config import Settings
    from app.organizations import service as organizations
    from app.organizations.models import OrganizationCreate

    settings = Settings()
    try:
        data = OrganizationCreate.model_validate(
            {"acronym": acronym, "name": name, "kind": kind, "contact_email": email}
        )
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            typer.secho(f"error: {field}: {error['msg']}", err=True, fg="red")
        raise typer.Exit(2) from exc
    with write_session(settings) as session:
        organization = organizations.create(session, data, actor=operator(session, settings))
        typer.echo(f"created organization {organization.acronym}: {organization.name}")


@orgs_app.command("list")
def orgs_list() -> None:
    """List organizations."""
    from app.config import Settings
    from app.organizations import service as organizations

    settings = Settings()
    with write_session(settings) as session:
        rows, _ = organizations.list_page(session, limit=10_000)
        for organization in rows:
            typer.echo(f"{organization.acronym:<20} {organization.kind:<28} {organization.name}")


@keys_app.command("create")
def keys_create(
    org: Annotated[str, typer.Option(help="Organization acronym.")],
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}")],
    name: Annotated[str | None, typer.Option(help="A label, e.g. who uses it.")] = None,
) -> None:
    """Create an API key and print it (it is shown only once)."""
    from app.auth import service as keys_service
    from app.config import Settings
    from app.organizations import service as organizations

    if role not in ROLES:
        typer.secho(f"error: role: must be one of {', '.join(ROLES)}", err=True, fg="red")
        raise typer.Exit(2)
    settings = Settings()
    with write_session(settings) as session:
        organization = organizations.get(session, org)
        created = keys_service.create(
            session,
            organization=organization,
            role=role,
            name=name,
            actor=operator(session, settings),
        )
    typer.echo(f"{created.role} key for {created.organization} (id {created.id}):")
    typer.secho(created.key, fg="green", bold=True)


@keys_app.command("list")
def keys_list(org: Annotated[str, typer.Option(help="Organization acronym.")]) -> None:
    """List an organization's keys (prefixes only)."""
    from app.auth import service as keys_service
    from app.config import Settings
    from app.organizations import service as organizations

    settings = Settings()
    with write_session(settings) as session:
        for key in keys_service.list_for(session, organizations.get(session, org)):
            state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            typer.echo(f"{key.id}  {key.prefix}…  {key.role:<12} {state:<20} {key.name or ''}")


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="The key's id, or its prefix.")]) -> None:
    """Revoke an API key: it is refused from the next request on."""
    from app.auth import service as keys_service
    from app.config import Settings

    settings = Settings()
    with write_session(settings) as session:
        try:
            key_id = uuid.UUID(key)
        except ValueError:
            matches = keys_service.find_by_prefix(session, key)
            if len(matches) != 1:
                found = "no key" if not matches else f"{len(matches)} keys"
                typer.secho(f"error: {found} with prefix {key!r}; give the id", err=True, fg="red")
                raise typer.Exit(1) from None
            key_id = matches[0]
        revoked = keys_service.revoke(session, key_id, actor=operator(session, settings))
    typer.echo(f"revoked key {revoked.prefix}… of {revoked.organization}")
