"""`assistcal users`: people, from the shell, as the API's members routes do it."""

from typing import Annotated

import typer

from app.cli.common import write_session
from app.core.vocab import ROLES

users_app = typer.Typer(help="People: invitations, the list of members, removal.")


@users_app.command("invite")
def users_invite(
    email: Annotated[str, typer.Argument(help="The person's e-mail address.")],
    org: Annotated[str, typer.Option(help="Organization acronym.")],
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}")],
    manages: Annotated[
        bool, typer.Option("--manages", help="May invite and remove members and make keys.")
    ] = False,
    name: Annotated[str | None, typer.Option(help="The person's name.")] = None,
    language: Annotated[
        str | None, typer.Option(help="Their language for e-mails: en, es.")
    ] = None,
) -> None:
    """Invite a person: the e-mail with a link valid 7 days is sent by the running service
    (ASSISTCAL_PUBLIC_URL gives the link's address)."""
    from pydantic import ValidationError

    from app.auth import people
    from app.auth.models import MemberIn
    from app.config import Settings
    from app.organizations import service as organizations

    settings = Settings()
    try:
        data = MemberIn.model_validate(
            {"email": email, "role": role, "manages": manages, "name": name, "language": language}
        )
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            typer.secho(f"error: {field}: {error['msg']}", err=True, fg="red")
        raise typer.Exit(2) from exc
    base = settings.public_url
    if base is None:
        base = "http://127.0.0.1:8000"
        typer.secho(f"note: ASSISTCAL_PUBLIC_URL is not set; the link points to {base}", err=True)
    with write_session(settings) as session:
        organization = organizations.get(session, org)
        member = people.invite(session, organization, data, actor=None, base_url=base)
    manager = ", manages" if member.manages else ""
    typer.echo(
        f"invited {member.email} to {member.organization} as {member.role}{manager}; "
        "the e-mail goes out from the running service"
    )


@users_app.command("list")
def users_list(
    org: Annotated[str | None, typer.Option(help="Only this organization's members.")] = None,
) -> None:
    """List people and their memberships."""
    from app.auth import people
    from app.config import Settings

    settings = Settings()
    with write_session(settings) as session:
        for line in people.roster(session, org):
            typer.echo(line)


@users_app.command("remove")
def users_remove(
    email: Annotated[str, typer.Argument(help="The person's e-mail address.")],
) -> None:
    """Remove a person from every organization: their sessions and keys end at once."""
    from app.auth import people
    from app.cli.common import operator
    from app.config import Settings

    settings = Settings()
    with write_session(settings) as session:
        person = people.remove_person(session, email, actor=operator(session, settings))
    typer.echo(f"removed {person.email}")
