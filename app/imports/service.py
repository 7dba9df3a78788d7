"""Importing a table of activities: map its columns, check every row, then create, update or
leave each activity, found by its id, its (provider, external_ref) or, without either, its
likeness to a stored one (app.imports.identity); a dry run writes nothing."""

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from app.core import tabular
from app.core.principal import Principal
from app.errors import ValidationFailed
from app.exports import iati as iati_export
from app.exports.columns import column_of_hashtag
from app.imports import writing
from app.imports.models import ImportNote, ImportReport, ImportRowError
from app.imports.planning import Batch
from app.imports.readers import Table
from app.organizations import service as organizations
from app.organizations.models import Organization


@dataclass
class Options:
    dry_run: bool = False
    skip_invalid: bool = False
    provider: str | None = None
    mapping: dict[str, str] | None = None
    defaults: dict[str, str] = field(default_factory=dict)  # field -> value for empty cells
    create_orgs: bool = False
    choices: dict[int, str] = field(default_factory=dict)  # row -> activity id or "new"

    @classmethod
    def given(
        cls,
        *,
        mapping: str | None,
        defaults: str | None,
        choices: str | None = None,
        **flags: Any,
    ) -> "Options":
        """Options as the API and the CLI take them: `mapping`, `defaults` and `choices` as
        JSON."""
        return cls(
            mapping=parse_object(mapping, "mapping"),
            defaults=parse_object(defaults, "defaults") or {},
            choices=parse_choices(parse_object(choices, "choices") or {}),
            **flags,
        )


def parse_object(text: str | None, name: str) -> dict[str, str] | None:
    """A JSON object of strings, as the `mapping` and `defaults` options are given."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed.on(name, 'not JSON: send {"...": "...", ...}') from exc
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValidationFailed.on(name, 'send a JSON object of strings: {"...": "...", ...}')
    return value


CHOICES_HINT = 'send {"row number": "activity id" or "new", ...}'


def parse_choices(given: dict[str, str]) -> dict[int, str]:
    """The caller's choice for rows that may be stored activities: row number -> an
    activity's id, or "new"."""
    chosen: dict[int, str] = {}
    for row, choice in given.items():
        digits = row.strip()
        # ASCII digits only: "²".isdigit() is true, and int("²") fails
        if not (digits.isascii() and digits.isdigit()) or not 2 <= int(digits) <= 10_000_000:
            raise ValidationFailed.on("choices", f"{row!r} is not a row number: {CHOICES_HINT}")
        if choice != "new":
            try:
                choice = str(uuid.UUID(choice))
            except ValueError as exc:
                raise ValidationFailed.on(
                    "choices", f'row {row}: {choice!r} is neither an activity id nor "new"'
                ) from exc
        chosen[int(digits)] = choice
    return chosen


def run(
    session: Session,
    table: Table,
    *,
    actor: Principal,
    options: Options,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Check every row, then write the file's activities in a few statements per thousand
    rows and detect their findings.  `progress(n)`: n more rows are done."""
    for option, fields in (
        ("mapping", (options.mapping or {}).values()),
        ("defaults", options.defaults),
    ):
        unknown = sorted(set(fields) - set(tabular.HEADERS))
        if unknown:
            raise ValidationFailed.on(
                option, f"unknown field {unknown[0]!r}; fields are {', '.join(tabular.HEADERS)}"
            )
    if "id" in options.defaults:
        raise ValidationFailed.on("defaults", "an id names one activity: it has no default")
    numbers = {number for number, _ in table.rows}
    strays = sorted(set(options.choices) - numbers)
    if strays:
        raise ValidationFailed.on("choices", f"the file has no row {strays[0]}")
    mapping, unused = map_columns(table, options.mapping)
    if table.kind == "iati":
        _reporting_orgs(session, table, mapping)
    headers = {name: table.headers[position] for position, name in mapping.items()}
    for name in options.defaults:
        headers.setdefault(name, f"defaults.{name}")
    report = ImportReport(
        dry_run=options.dry_run,
        source=table.kind + ("+hxl" if table.hxl else ""),
        mapping=headers,
        unused_columns=unused,
        notes=[
            ImportNote(row=row, activity=ref, message=text)
            for row, ref, text in sorted(table.notes, key=lambda note: note[0])
        ],
    )
    for required in ("title", "start_date"):
        if required not in headers:
            report.errors.append(
                ImportRowError(
                    row=1, column=required, value="", message=f"no column for {required}"
                )
            )
    if report.errors:
        return report
    done = progress or (lambda n: None)
    batch = Batch(
        session=session,
        actor=actor,
        width=len(table.headers),
        mapping=mapping,
        headers=headers,
        report=report,
        defaults=options.defaults,
        provider=options.provider,
        create_orgs=options.create_orgs,
        choices=options.choices,
    )
    # One savepoint around the whole file: a dry run, or a failed all-or-nothing run, rolls
    # it back and leaves the rest of the request's transaction as it was.
    whole = session.begin_nested()
    try:
        batch.plan(table.rows)
        done(len(table.rows) - len(batch.creates) - len(batch.updates))
        writing.write(batch, done)
    except BaseException:
        whole.rollback()
        raise
    report.errors.sort(key=lambda error: error.row)
    if options.dry_run or (report.errors and not options.skip_invalid):
        whole.rollback()
    else:
        whole.commit()
    return report


def map_columns(table: Table, explicit: dict[str, str] | None) -> tuple[dict[int, str], list[str]]:
    """Which column holds which field ({position: field}) and the headers left unused: the
    caller's mapping first, then what the file says (an IATI file's elements, the export
    columns' HXL hashtags), then the headers."""
    known = table.fields
    if known is None and table.hxl is not None:
        known = [column_of_hashtag(tag) for tag in table.hxl]
    return tabular.map_headers(table.headers, explicit, known)


def _reporting_orgs(session: Session, table: Table, mapping: dict[int, str]) -> None:
    """An IATI file's reporting organisations as the service's providers, in the table's
    cells: an organization with that IATI identifier (or this service's fallback ref of its
    acronym, app.exports.iati) is the row's provider, and the iati-identifier less its prefix
    is the activity's external_ref (or, when that is an activity's id, its id), as the
    service's own export wrote them.  A reporting-org of no organization here leaves the row
    to the import's provider, and the whole iati-identifier as external_ref."""
    position = {name: index for index, name in mapping.items()}
    where, ref_at, id_at = (
        position.get("provider"),
        position.get("external_ref"),
        position.get("id"),
    )
    if where is None:
        return
    found: dict[str, Organization | None] = {}
    for number, values in table.rows:
        reporter = values[where]
        if not reporter:
            continue
        if reporter not in found:
            found[reporter] = _organization_of(session, reporter)
        organization = found[reporter]
        identifier = values[ref_at] if ref_at is not None else None
        if organization is None:
            values[where] = None
            table.notes.append(
                (
                    number,
                    identifier or "",
                    f"reporting-org {reporter} is no organization of this service (none has "
                    "it as its iati_identifier): imported as the provider's (the provider "
                    "option, else the importer's organization), with the whole "
                    "iati-identifier as its external_ref",
                )
            )
            continue
        values[where] = organization.acronym
        if ref_at is None or not identifier or not identifier.startswith(reporter + "-"):
            continue
        local = identifier.removeprefix(reporter + "-")
        if id_at is not None and _is_id(local):
            values[id_at], values[ref_at] = local, None
        else:
            values[ref_at] = local


def _organization_of(session: Session, ref: str) -> Organization | None:
    found = organizations.by_iati_identifier(session, ref)
    if found is None and ref.startswith(iati_export.FALLBACK_PREFIX):
        found = organizations.find(session, ref.removeprefix(iati_export.FALLBACK_PREFIX))
    return found


def _is_id(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
