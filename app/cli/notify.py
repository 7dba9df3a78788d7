"""`assistcal notify`: e-mail notices on demand."""

from typing import Annotated

import typer

app = typer.Typer(help="E-mail notices.", no_args_is_help=True)


@app.command("digest")
def send_digest(
    to: Annotated[
        str | None, typer.Option("--to", help="Only this person's digest (their e-mail address).")
    ] = None,
) -> None:
    """Queue this period's digest (today's, or this week's) for every coordinator and admin
    who gets one and has not had it, whatever the hour; the running service sends it."""
    from app.cli.serve import mail_line
    from app.config import Settings
    from app.core.timeutil import utcnow
    from app.db.engine import make_engine
    from app.db.migrate import upgrade
    from app.notices import digest

    settings = Settings()
    typer.echo(mail_line(settings))
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        sent = digest.send_due(
            engine,
            settings,
            utcnow(),
            on_demand=True,
            to=to,
            progress=lambda address: typer.echo(f"queued: {address}"),
        )
    finally:
        engine.dispose()
    typer.echo(
        f"{len(sent.queued)} digest(s) queued, {sent.already} already sent this period; "
        "the running service's mail workers send them"
    )
    if to is not None and not sent.queued and not sent.already:
        typer.secho(
            f"{to} gets no digest: not an active coordinator or admin, or the digest is off",
            err=True,
            fg="yellow",
        )
        raise typer.Exit(1)
