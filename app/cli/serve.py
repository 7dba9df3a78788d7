"""`assistcal serve`."""

import os
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from app.config import Settings


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Apply migrations, then serve the API."""
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from app.cli.common import prepare
    from app.config import Settings
    from app.http.operations import log_config

    settings = Settings()
    prepare(settings)
    typer.echo(
        f"assistcal listening on http://{host}:{port}  (API docs: http://{host}:{port}/docs)"
    )
    typer.echo("Database: " + _display_url(settings.database_url))
    typer.echo(mail_line(settings))
    typer.echo("Invite people with: assistcal users invite EMAIL --org ACRONYM --role provider")
    if os.environ.get("FORWARDED_ALLOW_IPS") and not settings.forwarded_allow_ips:
        typer.secho(
            "FORWARDED_ALLOW_IPS is uvicorn's and is not read: name the proxies in "
            "ASSISTCAL_FORWARDED_ALLOW_IPS.",
            fg="yellow",
            err=True,
        )
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        log_config=log_config(settings.log_level) if settings.json_logs else LOGGING_CONFIG,
        access_log=False,  # the service logs each request itself, as JSON, secrets redacted
        # The app believes X-Forwarded-For only from ASSISTCAL_FORWARDED_ALLOW_IPS; uvicorn's
        # own would trust 127.0.0.1 (or FORWARDED_ALLOW_IPS) before the app sees a request.
        proxy_headers=False,
    )


def _display_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def mail_line(settings: "Settings") -> str:
    """Where e-mail goes, for the start-up banner (never the user or password)."""
    server = settings.smtp_server
    if server is None:
        return "mail: not sent, written to the log (set ASSISTCAL_SMTP_URL)"
    return f"mail: through {server}"
