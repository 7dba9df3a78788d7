"""The calendar's data: `assistcal import`, `demo`, `findings` and `report`."""

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.common import fail, operator, write_session

if TYPE_CHECKING:
    from app.imports.models import ImportReport

demo_app = typer.Typer(help="Illustrative data.")
findings_app = typer.Typer(help="Duplicate, overlap and clash findings.")
report_app = typer.Typer(help="Reports: what is planned where.")


@demo_app.command("load")
def demo_load(
    year: Annotated[
        int | None,
        typer.Option(min=1990, max=2100, help="Date the calendar in this year, not around today."),
    ] = None,
) -> None:
    """Load the illustrative Latin America and Caribbean calendar (invented, not real plans),
    dated around today; loading it again moves it to the new dates."""
    from app.config import Settings
    from app.demo import service as demo

    settings = Settings()
    with write_session(settings) as session:
        result = demo.load(session, actor=operator(session, settings), year=year)
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
    choices: Annotated[
        str | None,
        typer.Option(
            help='JSON: {"row": "activity id" or "new"} for the rows a dry run lists as '
            "perhaps stored already."
        ),
    ] = None,
) -> None:
    """Import activities from a CSV, XLSX, iCalendar or IATI XML file (see docs/api.md,
    Imports): all or nothing unless --skip-invalid; exit status 1 when rows failed."""
    from app.config import Settings
    from app.errors import AppError
    from app.imports import sandbox
    from app.imports import service as imports
    from app.warmup import settle

    settle()
    settings = Settings()
    try:
        table = sandbox.reader_for(settings).read(path.name, path.read_bytes(), sheet=sheet)
    except AppError as exc:
        fail(exc)
    with write_session(settings) as session:
        options = imports.Options.given(
            mapping=mapping,
            defaults=defaults,
            choices=choices,
            dry_run=dry_run,
            skip_invalid=skip_invalid,
            provider=provider,
            create_orgs=create_orgs,
        )
        mapped, _ = imports.map_columns(table, options.mapping)
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
                actor=operator(session, settings),
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
    for line in _matched(report, written):
        typer.echo(line)
    if report.notes:
        typer.echo("\nnot imported:")
        for note in report.notes[:100]:
            typer.echo(f"{note.row:>6}  {note.activity[:40]:<40} {note.message}")
        if len(report.notes) > 100:
            typer.echo(f"... and {len(report.notes) - 100} more")
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


def _matched(report: "ImportReport", written: str) -> list[str]:
    """The rows found (or perhaps found) stored by their likeness, and what they change."""
    lines = []
    for match in report.matched:
        lines.append("")
        if match.action == "update":
            how = "certain" if match.certain and not match.chosen else match.note
            lines.append(f"row {match.row}: {written}updated, {match.activity_id} ({how})")
        else:
            lines.append(f"row {match.row}: {written}created: {match.note}")
        for candidate in match.candidates:
            if match.action == "create":
                lines.append(
                    f'  perhaps {candidate.id} "{candidate.title}" ({candidate.start_date})'
                )
            for name, (before, after) in candidate.changes.items():
                lines.append(f"    {name}: {_shown(before)} -> {_shown(after)}")
    if any(not match.chosen and not match.certain for match in report.matched):
        lines.append('\nchoose with --choices \'{"ROW": "ACTIVITY ID" or "new", ...}\'')
    return lines


def _shown(value: object) -> str:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value) or "(none)"
    if isinstance(value, dict):
        return ", ".join(str(v) for v in value.values() if v) or "(none)"
    return "(none)" if value is None else str(value)


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
    from app.config import Settings
    from app.db.engine import make_engine, open_session
    from app.findings import detection as findings
    from app.warmup import settle

    settle()
    settings = Settings()
    with write_session(settings) as session:
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

    from app.config import Settings
    from app.core.timeutil import today
    from app.core.types import RegionCode
    from app.reports import service as reports
    from app.reports.models import CoverageBy

    try:
        code = TypeAdapter(RegionCode | None).validate_python(region)
        kind = TypeAdapter(CoverageBy).validate_python(by)
        first = date.fromisoformat(start) if start else date(year or today().year, 1, 1)
        last = date.fromisoformat(end) if end else date(year or today().year, 12, 31)
    except (ValidationError, ValueError) as exc:
        message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        typer.secho(f"error: {message}", err=True, fg="red")
        raise typer.Exit(2) from exc
    with write_session(Settings()) as session:
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
