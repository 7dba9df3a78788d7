"""Importing a table of activities: map its columns, check every row, then create, update or
leave each activity, keyed by (provider, external_ref); a dry run writes nothing."""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_args

from pydantic import ValidationError
from sqlmodel import Session

from app.activities import service as activities
from app.activities.models import Activity, ActivityCreate, ActivityUpdate
from app.auth.principal import Principal
from app.core import tabular, vocab
from app.errors import AppError, ValidationFailed
from app.exports.columns import FORMULA_STARTS
from app.findings import service as findings
from app.imports.models import ImportReport, ImportRowError
from app.imports.readers import Table
from app.organizations import service as organizations
from app.organizations.models import Organization, normalise_acronym


@dataclass
class Options:
    dry_run: bool = False
    skip_invalid: bool = False
    provider: str | None = None
    mapping: dict[str, str] | None = None
    defaults: dict[str, str] = field(default_factory=dict)  # field -> value for empty cells
    create_orgs: bool = False

    @classmethod
    def given(cls, *, mapping: str | None, defaults: str | None, **flags: Any) -> "Options":
        """Options as the API and the CLI take them: `mapping` and `defaults` as JSON."""
        return cls(
            mapping=parse_object(mapping, "mapping"),
            defaults=parse_object(defaults, "defaults") or {},
            **flags,
        )


@dataclass
class _Run:
    """What one import remembers from row to row."""

    options: Options
    known: dict[str, Organization] = field(default_factory=dict)  # providers found so far
    seen: dict[tuple[str, str], int] = field(default_factory=dict)  # (provider, ref) -> row


class RowInvalid(Exception):
    def __init__(self, column: str, value: object, message: str) -> None:
        super().__init__(message)
        self.column, self.value, self.message = column, "" if value is None else str(value), message


VOCABULARIES: dict[str, tuple[str, ...]] = {
    "themes": vocab.THEMES,
    "domains": get_args(vocab.Domain),
    "audiences": get_args(vocab.Audience),
    "activity_type": vocab.ACTIVITY_TYPES,
    "status": get_args(vocab.Status),
    "visibility": get_args(vocab.Visibility),
    "modality": get_args(vocab.Modality),
}


def _cells(mapping: dict[int, str], values: list[Any]) -> dict[str, Any]:
    """A row's non-empty cells by field; text neutralised by an export is restored."""
    cells = {}
    for position, name in mapping.items():
        value = values[position] if position < len(values) else None
        if isinstance(value, str):
            value = value.strip()
            if value[:1] == "'" and value[1:2] and value[1] in FORMULA_STARTS:
                value = value[1:]  # neutralised by an export (app.exports.columns)
        if value not in (None, ""):
            cells[name] = value
    return cells


def _record(cells: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """The activity's fields from a row's cells; a RowInvalid names the column."""
    record: dict[str, Any] = {}
    for name, value in cells.items():
        column = headers[name]
        try:
            if name in ("start_date", "end_date"):
                record[name] = tabular.parse_date(value).isoformat()
            elif name in ("start_time", "end_time"):
                record[name] = tabular.parse_time(value)
            elif name == "countries":
                names = tabular.split_countries(value)
                found = [tabular.country_code(n) for n in names]
                unknown = [n for n, code in zip(names, found, strict=True) if code is None]
                if unknown:
                    raise ValueError(f"unknown country {unknown[0]!r}; use a name or an ISO code")
                record[name] = found
            elif name in ("themes", "domains", "audiences"):
                record[name] = tabular.codes(tabular.split_list(value), VOCABULARIES[name])
            elif name in ("activity_type", "status", "visibility", "modality"):
                [record[name]] = tabular.codes([str(value)], VOCABULARIES[name])
            elif name in tabular.LIST_FIELDS:
                record[name] = tabular.split_list(value)
            else:
                record[name] = str(value)
        except ValueError as exc:
            raise RowInvalid(column, value, str(exc)) from exc
    venue = {k: record.pop(f"venue_{k}", None) for k in ("city", "country")}
    modality = record.pop("modality", None)
    if venue["city"] or venue["country"] or modality:
        record["venue"] = {**venue, "modality": modality or "in_person"}
    record.setdefault("language", "en")
    record.setdefault("activity_type", "other")
    return record


def _derived_ref(provider: str, record: dict[str, Any]) -> str:
    key = "|".join(
        [
            provider,
            record.get("title", ""),
            record.get("start_date", ""),
            record.get("end_date", ""),
        ]
    )
    return "import-" + hashlib.sha256(key.encode()).hexdigest()[:16]


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


def run(
    session: Session,
    table: Table,
    *,
    actor: Principal,
    options: Options,
    progress: Callable[[], None] | None = None,
) -> ImportReport:
    for option, fields in (
        ("mapping", (options.mapping or {}).values()),
        ("defaults", options.defaults),
    ):
        unknown = sorted(set(fields) - set(tabular.HEADERS))
        if unknown:
            raise ValidationFailed.on(
                option, f"unknown field {unknown[0]!r}; fields are {', '.join(tabular.HEADERS)}"
            )
    mapping, unused = tabular.map_headers(table.headers, options.mapping)
    headers = {name: table.headers[position] for position, name in mapping.items()}
    for name in options.defaults:
        headers.setdefault(name, f"defaults.{name}")
    report = ImportReport(dry_run=options.dry_run, mapping=headers, unused_columns=unused)
    for required in ("title", "start_date"):
        if required not in headers:
            report.errors.append(
                ImportRowError(
                    row=1, column=required, value="", message=f"no column for {required}"
                )
            )
    if report.errors:
        return report
    # One savepoint around the whole file: a dry run, or a failed all-or-nothing run, rolls
    # it back and leaves the rest of the request's transaction as it was.
    state = _Run(options)
    whole = session.begin_nested()
    for number, values in table.rows:
        if progress is not None:
            progress()
        cells = {**options.defaults, **_cells(mapping, values)}
        savepoint = session.begin_nested()
        try:
            outcome, found = _import_row(
                session, cells, headers, actor=actor, state=state, row=number
            )
        except RowInvalid as problem:
            savepoint.rollback()
            state.known.clear()  # an organization made for this row is gone with it
            report.errors.append(
                ImportRowError(
                    row=number, column=problem.column, value=problem.value, message=problem.message
                )
            )
            continue
        savepoint.commit()
        setattr(report, outcome, getattr(report, outcome) + 1)
        report.findings += [f for f in found if f["kind"] == "duplicate"]
    if options.dry_run or (report.errors and not options.skip_invalid):
        whole.rollback()
    else:
        whole.commit()
    return report


def _import_row(
    session: Session,
    cells: dict[str, Any],
    headers: dict[str, str],
    *,
    actor: Principal,
    state: _Run,
    row: int,
) -> tuple[str, list[dict[str, Any]]]:
    options = state.options
    record = _record(cells, headers)
    provider_name = record.pop("provider", None) or options.provider or actor.organization
    provider = state.known.get(provider_name) or organizations.find(session, provider_name)
    if provider is None and options.create_orgs and actor.reads_all:
        try:
            acronym = normalise_acronym(provider_name)
        except ValueError as exc:
            raise RowInvalid(headers.get("provider", "provider"), provider_name, str(exc)) from exc
        provider = organizations.ensure(session, acronym=acronym, name=provider_name)
    if provider is not None:
        state.known[provider_name] = provider
    if provider is None or provider.id is None:
        hint = " (a coordinator may add create_orgs=true)" if actor.reads_all else ""
        raise RowInvalid(
            headers.get("provider", "provider"), provider_name, "unknown organization" + hint
        )
    record["provider"] = provider.acronym
    if "start_date" not in record:
        raise RowInvalid(headers["start_date"], "", "empty: every row needs a start date")
    record.setdefault("end_date", record["start_date"])
    record["external_ref"] = record.get("external_ref") or _derived_ref(provider.acronym, record)
    key = (provider.acronym, record["external_ref"])
    if key in state.seen:
        raise RowInvalid(
            headers.get("external_ref", "external_ref"),
            record["external_ref"],
            f"the same activity as row {state.seen[key]} of this file",
        )
    state.seen[key] = row
    existing_id = activities.find_by_ref(session, provider.id, record["external_ref"])
    try:
        if existing_id is None:
            data = ActivityCreate.model_validate(record)
            activity, _ = activities.create(session, data, actor=actor)
            outcome = "created"
        else:
            current = session.get(Activity, existing_id)
            assert current is not None
            patch = ActivityUpdate.model_validate(record)
            activity, changed = activities.update(session, current, patch, actor=actor)
            outcome = "updated" if changed else "unchanged"
            if not changed:
                return outcome, []
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "row"
        given = "" if first["type"] == "missing" else first.get("input", "")
        raise RowInvalid(headers.get(name, name), given, first["msg"]) from exc
    except AppError as exc:
        detail = exc.details[0] if exc.details else None
        name = detail.field.split(".")[0] if detail else "row"
        raise RowInvalid(
            headers.get(name, name), record.get(name, ""), detail.message if detail else str(exc)
        ) from exc
    found = findings.refresh(session, activity, created=outcome == "created", actor=actor)
    return outcome, [f.model_dump(mode="json") for f in found]
