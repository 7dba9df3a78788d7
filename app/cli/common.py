"""What the commands share: a write session on a migrated database, the operator they act
as, and how they report a refused change.  Like the commands, it imports the service's
modules only when a command runs."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from sqlmodel import Session

    from app.config import Settings
    from app.core.principal import Principal
    from app.errors import AppError


@contextmanager
def write_session(settings: "Settings") -> Iterator["Session"]:
    """A write session on a database migrated to the latest schema."""
    from app.db.engine import make_engine, open_session
    from app.db.migrate import upgrade
    from app.errors import AppError
    from app.findings import vectors

    vectors.configure(enabled=settings.detection_model)
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with open_session(engine, write=True) as session:
            try:
                yield session
                session.commit()
            except AppError as exc:
                session.rollback()
                fail(exc)
    finally:
        engine.dispose()


def fail(exc: "AppError") -> NoReturn:
    typer.secho(f"error: {exc.message}", err=True, fg="red")
    for detail in exc.details:
        typer.secho(f"  {detail.field}: {detail.message}", err=True, fg="red")
    raise typer.Exit(1) from exc


def operator(session: "Session", settings: "Settings") -> "Principal":
    """The CLI acts as an admin of the operators' organization; the audit log says 'cli'."""
    from app.core.principal import Principal
    from app.organizations import service as organizations

    organization = organizations.ensure(
        session, acronym=settings.admin_org, name="assistcal operators"
    )
    assert organization.id is not None
    return Principal(
        key_id=uuid.UUID(int=0),
        key_prefix="cli",
        organization_id=organization.id,
        organization=organization.acronym,
        role="admin",
    )


def prepare(settings: "Settings") -> None:
    """Migrate the database and make sure someone can log in: the bootstrap admin key when
    configured, or a new admin key, printed once, on a database without any key."""
    from app.auth import service as keys_service

    with write_session(settings) as session:
        if settings.bootstrap_admin_key is not None:
            created = keys_service.ensure_admin_key(
                session,
                key=settings.bootstrap_admin_key.get_secret_value(),
                admin_org=settings.admin_org,
            )
            if created:
                typer.echo("Created the admin key given in ASSISTCAL_BOOTSTRAP_ADMIN_KEY.")
            return
        first = keys_service.create_first_admin(session, admin_org=settings.admin_org)
        if first is not None:
            typer.secho(
                "This is a new database. Its admin API key, shown only this once:", bold=True
            )
            typer.secho(f"    {first.key}", fg="green", bold=True)
            typer.echo("Keep it safe: it can create organizations and keys for everyone else.")
