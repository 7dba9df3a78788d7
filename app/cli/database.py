"""`assistcal db`: the schema's migrations, and backups of a SQLite database."""

from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from app.config import Settings

app = typer.Typer(help="Database schema migrations.")


@app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    from app.config import Settings
    from app.db.migrate import upgrade

    settings = Settings()
    upgrade(settings.database_url, revision)
    _print_revision(settings)


@app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="e.g. -1 or base")]) -> None:
    """Revert migrations down to REVISION."""
    from app.config import Settings
    from app.db.migrate import downgrade

    settings = Settings()
    downgrade(settings.database_url, revision)
    _print_revision(settings)


@app.command("current")
def db_current() -> None:
    """Print the database's migration revision."""
    from app.config import Settings
    from app.db.migrate import current_revision

    typer.echo(current_revision(Settings().database_url) or "empty (no migrations applied)")


def _sqlite_file(settings: "Settings") -> Path:
    from sqlalchemy.engine import make_url

    from app.db.engine import normalise_url

    url = make_url(normalise_url(settings.database_url))
    if url.get_backend_name() != "sqlite" or not url.database:
        typer.secho(
            "error: backup and restore are for SQLite; on PostgreSQL use pg_dump and pg_restore "
            "(docs/operations.md, Backups)",
            err=True,
            fg="red",
        )
        raise typer.Exit(2)
    return Path(url.database)


@app.command("backup")
def db_backup(path: Annotated[Path, typer.Argument(help="The backup file to write.")]) -> None:
    """Copy the SQLite database to PATH with SQLite's online backup (the service may keep
    running: the copy is one consistent moment), then check the copy's integrity."""
    import sqlite3

    from app.config import Settings

    source = _sqlite_file(Settings())
    if not source.exists():
        typer.secho(f"error: no database at {source}", err=True, fg="red")
        raise typer.Exit(1)
    if path.exists():
        typer.secho(f"error: {path} exists; choose a new file", err=True, fg="red")
        raise typer.Exit(1)
    with (
        closing(sqlite3.connect(source, timeout=30)) as live,
        closing(sqlite3.connect(path)) as copy,
    ):
        live.backup(copy)
        verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
    if verdict != "ok":
        path.unlink(missing_ok=True)  # a bad copy must not block the next attempt
        typer.secho(f"error: the copy failed its integrity check: {verdict}", err=True, fg="red")
        raise typer.Exit(1)
    typer.echo(f"backed up {source} to {path} ({path.stat().st_size:,} bytes, integrity ok)")


@app.command("restore")
def db_restore(
    path: Annotated[Path, typer.Argument(help="A file made by `assistcal db backup`.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Replace the database without asking.")
    ] = False,
) -> None:
    """Replace the SQLite database with the backup at PATH (stop the service first), then
    apply any newer migrations."""
    import sqlite3

    from app.config import Settings
    from app.db.migrate import upgrade

    target = _sqlite_file(Settings())
    if not path.exists():
        typer.secho(f"error: no backup at {path}", err=True, fg="red")
        raise typer.Exit(1)
    with closing(sqlite3.connect(path)) as backup:
        try:
            verdict = backup.execute("PRAGMA integrity_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            verdict = str(exc)
        if verdict != "ok":
            typer.secho(f"error: {path} fails its integrity check: {verdict}", err=True, fg="red")
            raise typer.Exit(1)
        if not yes and target.exists():
            typer.confirm(f"replace {target} with {path}?", abort=True)
        with closing(sqlite3.connect(target, timeout=30)) as live:
            backup.backup(live)
    upgrade(Settings().database_url)
    typer.echo(f"restored {target} from {path}")
    _print_revision(Settings())


def _print_revision(settings: "Settings") -> None:
    from app.db.migrate import current_revision

    revision = current_revision(settings.database_url)
    typer.echo(f"database at revision {revision}" if revision else "empty (no migrations applied)")
