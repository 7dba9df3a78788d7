"""The `assistcal` command."""

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from sqlmodel import Session

from app.auth import service as keys_service
from app.config import Settings
from app.core import tabular
from app.core.principal import Principal
from app.core.vocab import ORG_KINDS, ROLES
from app.db.engine import make_engine, normalise_url, open_session
from app.db.migrate import current_revision, downgrade, upgrade
from app.errors import AppError
from app.organizations import service as organizations
from app.organizations.models import OrganizationCreate

app = typer.Typer(help="assistcal: the shared calendar of UNSCR 1540 assistance activities.")
db_app = typer.Typer(help="Database schema migrations.")
orgs_app = typer.Typer(help="Organizations (providers, coordinators, operators).")
keys_app = typer.Typer(help="API keys.")
demo_app = typer.Typer(help="Illustrative data.")
findings_app = typer.Typer(help="Duplicate, overlap and clash findings.")
report_app = typer.Typer(help="Reports: what is planned where.")
app.add_typer(db_app, name="db")
app.add_typer(orgs_app, name="orgs")
app.add_typer(keys_app, name="keys")
app.add_typer(demo_app, name="demo")
app.add_typer(findings_app, name="findings")
app.add_typer(report_app, name="report")


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    """A write session on a database migrated to the latest schema."""
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with open_session(engine, write=True) as session:
            try:
                yield session
                session.commit()
            except AppError as exc:
                session.rollback()
                _failed(exc)
    finally:
        engine.dispose()


def _failed(exc: AppError) -> NoReturn:
    typer.secho(f"error: {exc.message}", err=True, fg="red")
    for detail in exc.details:
        typer.secho(f"  {detail.field}: {detail.message}", err=True, fg="red")
    raise typer.Exit(1) from exc


def _operator(session: Session, settings: Settings) -> Principal:
    """The CLI acts as an admin of the operators' organization; the audit log says 'cli'."""
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


def prepare(settings: Settings) -> None:
    """Migrate the database and make sure someone can log in: the bootstrap admin key when
    configured, or a new admin key, printed once, on a database without any key."""
    with _session(settings) as session:
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


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Apply migrations, then serve the API."""
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from app.http.operations import log_config

    settings = Settings()
    prepare(settings)
    typer.echo(
        f"assistcal listening on http://{host}:{port}  (API docs: http://{host}:{port}/docs)"
    )
    typer.echo("Database: " + _display_url(settings.database_url))
    typer.echo("Make keys with: assistcal keys create --org ACRONYM --role provider")
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


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    settings = Settings()
    upgrade(settings.database_url, revision)
    _print_revision(settings)


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="e.g. -1 or base")]) -> None:
    """Revert migrations down to REVISION."""
    settings = Settings()
    downgrade(settings.database_url, revision)
    _print_revision(settings)


@db_app.command("current")
def db_current() -> None:
    """Print the database's migration revision."""
    typer.echo(current_revision(Settings().database_url) or "empty (no migrations applied)")


def _sqlite_file(settings: Settings) -> Path:
    from sqlalchemy.engine import make_url

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


@db_app.command("backup")
def db_backup(path: Annotated[Path, typer.Argument(help="The backup file to write.")]) -> None:
    """Copy the SQLite database to PATH with SQLite's online backup (the service may keep
    running: the copy is one consistent moment), then check the copy's integrity."""
    import sqlite3

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


@db_app.command("restore")
def db_restore(
    path: Annotated[Path, typer.Argument(help="A file made by `assistcal db backup`.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Replace the database without asking.")
    ] = False,
) -> None:
    """Replace the SQLite database with the backup at PATH (stop the service first), then
    apply any newer migrations."""
    import sqlite3

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


def _print_revision(settings: Settings) -> None:
    revision = current_revision(settings.database_url)
    typer.echo(f"database at revision {revision}" if revision else "empty (no migrations applied)")


@orgs_app.command("create")
def orgs_create(
    acronym: Annotated[str, typer.Argument(help="e.g. UNLIREC")],
    name: Annotated[str, typer.Option(help="Full name.")],
    kind: Annotated[str, typer.Option(help=f"One of: {', '.join(ORG_KINDS)}")] = "other",
    email: Annotated[str | None, typer.Option(help="Contact email.")] = None,
) -> None:
    """Create an organization."""
    from pydantic import ValidationError

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
    with _session(settings) as session:
        organization = organizations.create(session, data, actor=_operator(session, settings))
        typer.echo(f"created organization {organization.acronym}: {organization.name}")


@orgs_app.command("list")
def orgs_list() -> None:
    """List organizations."""
    settings = Settings()
    with _session(settings) as session:
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
    if role not in ROLES:
        typer.secho(f"error: role: must be one of {', '.join(ROLES)}", err=True, fg="red")
        raise typer.Exit(2)
    settings = Settings()
    with _session(settings) as session:
        organization = organizations.get(session, org)
        created = keys_service.create(
            session,
            organization=organization,
            role=role,
            name=name,
            actor=_operator(session, settings),
        )
    typer.echo(f"{created.role} key for {created.organization} (id {created.id}):")
    typer.secho(created.key, fg="green", bold=True)


@keys_app.command("list")
def keys_list(org: Annotated[str, typer.Option(help="Organization acronym.")]) -> None:
    """List an organization's keys (prefixes only)."""
    settings = Settings()
    with _session(settings) as session:
        for key in keys_service.list_for(session, organizations.get(session, org)):
            state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            typer.echo(f"{key.id}  {key.prefix}…  {key.role:<12} {state:<20} {key.name or ''}")


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="The key's id, or its prefix.")]) -> None:
    """Revoke an API key: it is refused from the next request on."""
    settings = Settings()
    with _session(settings) as session:
        try:
            key_id = uuid.UUID(key)
        except ValueError:
            matches = keys_service.find_by_prefix(session, key)
            if len(matches) != 1:
                found = "no key" if not matches else f"{len(matches)} keys"
                typer.secho(f"error: {found} with prefix {key!r}; give the id", err=True, fg="red")
                raise typer.Exit(1) from None
            key_id = matches[0]
        revoked = keys_service.revoke(session, key_id, actor=_operator(session, settings))
    typer.echo(f"revoked key {revoked.prefix}… of {revoked.organization}")


@demo_app.command("load")
def demo_load(
    year: Annotated[
        int | None,
        typer.Option(min=1990, max=2100, help="Date the calendar in this year, not around today."),
    ] = None,
) -> None:
    """Load the illustrative Latin America and Caribbean calendar (invented, not real plans),
    dated around today; loading it again moves it to the new dates."""
    from app.demo import service as demo

    settings = Settings()
    with _session(settings) as session:
        result = demo.load(session, actor=_operator(session, settings), year=year)
    typer.echo(result.notice)
    typer.echo(
        f"organizations created: {result.organizations_created}; "
        f"activities created: {result.activities_created}, "
        f"moved to new dates: {result.activities_moved}, "
        f"already at these dates: {result.activities_unchanged}"
        + (
            f", withdrawn (left as they were): {result.activities_withdrawn}"
            if result.activities_withdrawn
            else ""
        )
    )
    span = f"{result.first_day.isoformat()} to {result.last_day.isoformat()}"
    where = "to dates around today" if result.year is None else f"to {result.year}"
    if result.activities_moved:
        typer.echo(
            f"Moved {result.activities_moved} demo activities {where}: "
            f"the demo calendar now runs from {span}."
        )
    elif result.activities_created:
        typer.echo(f"The demo calendar runs from {span} (moved {where}).")
    else:
        typer.echo(f"Nothing to do: the demo calendar already runs from {span}.")


@app.command("import")
def import_file(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    provider: Annotated[
        str | None, typer.Option(help="The provider of rows without a provider column.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and report; write nothing.")
    ] = False,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Write the good rows even if others fail.")
    ] = False,
    create_orgs: Annotated[
        bool, typer.Option("--create-orgs", help="Create the organizations the file names.")
    ] = False,
    mapping: Annotated[str | None, typer.Option(help='JSON: {"column header": "field"}')] = None,
    defaults: Annotated[
        str | None, typer.Option(help='JSON: {"field": "value"} for empty cells')
    ] = None,
    sheet: Annotated[str | None, typer.Option(help="XLSX: the sheet to read.")] = None,
) -> None:
    """Import activities from a CSV, XLSX or iCalendar file (see docs/api.md, Imports): all or
    nothing unless --skip-invalid; exit status 1 when rows failed."""
    from app.imports import sandbox
    from app.imports import service as imports
    from app.warmup import settle

    settle()
    settings = Settings()
    try:
        table = sandbox.reader_for(settings).read(path.name, path.read_bytes(), sheet=sheet)
    except AppError as exc:
        _failed(exc)
    with _session(settings) as session:
        options = imports.Options.given(
            mapping=mapping,
            defaults=defaults,
            dry_run=dry_run,
            skip_invalid=skip_invalid,
            provider=provider,
            create_orgs=create_orgs,
        )
        mapped, _ = tabular.map_headers(table.headers, options.mapping)
        if provider is None and "provider" not in mapped.values():
            typer.secho(
                "error: name the provider: --provider ACRONYM, or a provider column",
                err=True,
                fg="red",
            )
            raise typer.Exit(1)
        with typer.progressbar(length=len(table.rows), label="Importing") as bar:
            report = imports.run(
                session,
                table,
                actor=_operator(session, settings),
                options=options,
                progress=bar.update,
            )
    written = "would be " if dry_run or (report.errors and not skip_invalid) else ""
    typer.echo(f"\n{'column':<24} field")
    for field_name, header in report.mapping.items():
        typer.echo(f"{header:<24} {field_name}")
    for header in report.unused_columns:
        typer.echo(f"{header:<24} (not imported: no such field)")
    typer.echo(
        f"\n{written}created {report.created}, {written}updated {report.updated}, "
        f"unchanged {report.unchanged}; {len(report.errors)} row(s) with errors; "
        f"{len(report.findings)} possible duplicate(s)"
    )
    if report.errors:
        typer.echo(f"\n{'row':>6}  {'column':<20} {'value':<24} message")
        for error in report.errors[:100]:
            typer.echo(
                f"{error.row:>6}  {error.column[:20]:<20} {error.value[:24]:<24} {error.message}"
            )
        if len(report.errors) > 100:
            typer.echo(f"... and {len(report.errors) - 100} more")
        if not skip_invalid and not dry_run:
            typer.secho("nothing was written: fix the rows, or use --skip-invalid", fg="red")
        raise typer.Exit(1)


@findings_app.command("rescan")
def findings_rescan(
    seconds: Annotated[
        float,
        typer.Option(
            min=0.05,
            help="Longest a transaction runs before it commits: submissions on SQLite wait for "
            "it, so keep it short on a live service.",
        ),
    ] = 0.5,
) -> None:
    """Recompute every activity's findings (after new thresholds or an import); decisions
    are kept."""
    from app.findings import detection as findings
    from app.warmup import settle

    settle()
    settings = Settings()
    with _session(settings) as session:
        ids = findings.rescan_order(session)
    engine = make_engine(settings.database_url)
    try:
        with typer.progressbar(length=len(ids), label="Rescanning") as progress:
            done = 0
            while done < len(ids):
                started = time.monotonic()
                with open_session(engine, write=True) as session:
                    # One activity at a time until the time box is spent, then commit.
                    while done < len(ids) and time.monotonic() - started < seconds:
                        findings.rescan(session, [ids[done]])
                        done += 1
                        progress.update(1)
                    session.commit()
        with open_session(engine, write=False) as session:
            counts = findings.totals(session)
    finally:
        engine.dispose()
    summary = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("duplicate", "overlap", "clash"))
    typer.echo(f"rescanned {len(ids)} activities; findings now: {summary}")


def _short(key: str) -> str:
    """A column heading for a vocabulary code: initials of several words, else 4 letters."""
    words = key.split("_")
    return "".join(w[0] for w in words) if len(words) > 1 else key[:4]


@report_app.command("coverage")
def report_coverage(
    region: Annotated[
        str | None, typer.Option(help="M49 region, e.g. 419; every State if absent")
    ] = None,
    year: Annotated[int | None, typer.Option(help="A calendar year (default: this year).")] = None,
    start: Annotated[str | None, typer.Option("--from", help="Period start (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Period end (YYYY-MM-DD).")] = None,
    by: Annotated[str, typer.Option(help="theme, domain or type")] = "theme",
) -> None:
    """The coverage matrix: a row per State, a column per theme (domain, type), the number of
    activities planned in the period; "." where there are none."""
    from datetime import date

    from pydantic import TypeAdapter, ValidationError

    from app.core.types import RegionCode
    from app.reports import service as reports
    from app.reports.models import CoverageBy

    try:
        code = TypeAdapter(RegionCode | None).validate_python(region)
        kind = TypeAdapter(CoverageBy).validate_python(by)
        first = date.fromisoformat(start) if start else date(year or date.today().year, 1, 1)
        last = date.fromisoformat(end) if end else date(year or date.today().year, 12, 31)
    except (ValidationError, ValueError) as exc:
        message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        typer.secho(f"error: {message}", err=True, fg="red")
        raise typer.Exit(2) from exc
    with _session(Settings()) as session:
        report = reports.coverage(session, start=first, end=last, region=code, by=kind)
    counts = {(cell.country, cell.key): cell.count for cell in report.cells}
    place = report.region_name or "every State"
    typer.echo(f"{place}, {report.period.start} to {report.period.end}, by {report.by}\n")
    typer.echo(f"{'':<28}" + "".join(f"{_short(k):>6}" for k in report.keys) + f"{'total':>7}")
    for country in report.countries:
        cells = "".join(f"{counts[country, key] or '.':>6}" for key in report.keys)
        name = f"{country} {report.country_names[country]}"[:27]
        typer.echo(f"{name:<28}{cells}{report.totals[country] or '.':>7}")
    empty = sum(1 for gap in report.gaps if gap.key is None)
    typer.echo(f"\n{empty} of {len(report.countries)} States with nothing planned")
    typer.echo("; ".join(f"{_short(key)} = {key}" for key in report.keys))


def main() -> None:
    app()
