"""The `assistcal` command.

Each command group lives in a module of its own; a module imports only typer at its top, and
a command imports the service's modules it needs when it runs, so that `assistcal --help`
and every command start without loading what others use (openpyxl, sqlalchemy, fastapi, the
country table).  tests/cli/test_startup.py keeps it so."""

import typer

from app.cli import accounts, data, database, mail, notify, people
from app.cli.serve import serve

app = typer.Typer(help="assistcal: the shared calendar of UNSCR 1540 assistance activities.")
app.command()(serve)
app.command("import")(data.import_file)
app.add_typer(database.app, name="db")
app.add_typer(accounts.orgs_app, name="orgs")
app.add_typer(accounts.keys_app, name="keys")
app.add_typer(people.users_app, name="users")
app.add_typer(data.demo_app, name="demo")
app.add_typer(data.findings_app, name="findings")
app.add_typer(data.report_app, name="report")
app.add_typer(mail.app, name="mail")
app.add_typer(notify.app, name="notify")

__all__ = ["app", "main"]


def main() -> None:
    app()
