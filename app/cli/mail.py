"""`assistcal mail`: checking that e-mail goes out."""

import logging
import time
from typing import Annotated

import typer

app = typer.Typer(help="E-mail.", no_args_is_help=True)


@app.command("test")
def send_test(
    address: Annotated[str, typer.Argument(help="Where to send the test message.")],
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for the server's answer.")
    ] = 60,
) -> None:
    """Send a short test message through ASSISTCAL_SMTP_URL (or to the log) and say how it
    went."""
    from app.cli.common import write_session
    from app.cli.serve import mail_line
    from app.config import Settings
    from app.db.engine import make_engine, open_session
    from app.mail import sending
    from app.mail.models import OutboxMail
    from app.mail.service import queue

    settings = Settings()
    typer.echo(mail_line(settings))
    shown = logging.getLogger("assistcal.mail")  # the log fallback's mail, and failures
    shown.setLevel(logging.INFO)
    shown.addHandler(logging.StreamHandler())
    with write_session(settings) as session:
        try:
            mail_id = queue(session, to=address, template="test", language="en").id
        except ValueError as exc:
            typer.secho(f"error: {exc}", err=True, fg="red")
            raise typer.Exit(1) from None
    engine = make_engine(settings.database_url)
    transport = sending.transport_for(settings)
    deadline = time.monotonic() + timeout
    try:
        while True:
            # This process sends it, unless a running server's worker has claimed it first.
            sending.send_due(engine, transport=transport, mail_from=settings.mail_from)
            with open_session(engine, write=False) as session:
                mail = session.get(OutboxMail, mail_id)
            assert mail is not None
            if mail.status != "pending" or mail.attempts or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        engine.dispose()
    if mail.status == "sent":
        typer.secho(f"sent to {address} (Message-ID {mail.message_id})", fg="green")
    elif mail.status == "failed":
        typer.secho(f"failed: {mail.last_error}", err=True, fg="red")
        raise typer.Exit(1)
    elif mail.attempts:
        typer.secho(
            f"not sent yet: {mail.last_error}; the service's mail workers try again",
            err=True,
            fg="yellow",
        )
        raise typer.Exit(1)
    else:
        typer.secho("not sent yet: no answer in time", err=True, fg="yellow")
        raise typer.Exit(1)
