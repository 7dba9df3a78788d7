"""Importing a table of activities: map its columns, check every row, then create, update or
leave each activity, keyed by (provider, external_ref); a dry run writes nothing."""

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, get_args

from pydantic import ValidationError
from sqlmodel import Session

from app.activities import bulk, queries, records
from app.activities import service as activities
from app.activities.models import Activity, ActivityCreate, ActivityUpdate
from app.core import tabular, vocab
from app.core.principal import Principal
from app.db.sql import chunks
from app.errors import AppError, ValidationFailed
from app.exports.columns import FORMULA_STARTS
from app.findings import detection as findings
from app.findings.locks import serialise_by_state
from app.findings.models import FindingPublic
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


class RowInvalid(Exception):
    def __init__(self, column: str, value: object, message: str) -> None:
        super().__init__(message)
        self.column, self.value, self.message = column, "" if value is None else str(value), message


VOCABULARIES: dict[str, tuple[str, ...]] = {
    "themes": vocab.THEMES,
    "domains": vocab.DOMAINS,
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


def _fits(values: list[Any], width: int) -> None:
    """A row with values past the header's last column is refused rather than cut: in a
    CSV, that is a separator inside a value that was not quoted."""
    extra = [value for value in values[width:] if value is not None and str(value).strip()]
    if extra:
        raise RowInvalid(
            f"column {width + 1}",
            extra[0],
            f"{len(values)} cells but {width} columns: quote values that hold the separator",
        )


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
    done = progress or (lambda n: None)
    batch = _Batch(session, actor, options, len(table.headers), mapping, headers, report)
    # One savepoint around the whole file: a dry run, or a failed all-or-nothing run, rolls
    # it back and leaves the rest of the request's transaction as it was.
    whole = session.begin_nested()
    try:
        batch.plan(table.rows)
        done(len(table.rows) - len(batch.creates) - len(batch.updates))
        batch.write(done)
    except BaseException:
        whole.rollback()
        raise
    report.errors.sort(key=lambda error: error.row)
    if options.dry_run or (report.errors and not options.skip_invalid):
        whole.rollback()
    else:
        whole.commit()
    return report


@dataclass
class _Batch:
    """One import: every row checked and sorted into creates, updates and unchanged ones
    (plan), then the changes written together (write)."""

    session: Session
    actor: Principal
    options: Options
    width: int  # columns with a header, named or not
    mapping: dict[int, str]  # column position -> field
    headers: dict[str, str]  # field -> column header
    report: ImportReport
    providers: dict[str, Organization | str] = field(default_factory=dict)  # by name as given
    orgs: dict[str, Organization] = field(default_factory=dict)  # by acronym
    new_orgs: dict[str, str] = field(default_factory=dict)  # acronym -> name, for create_orgs
    creates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # acronym, record
    updates: list[tuple[int, Activity, ActivityUpdate]] = field(default_factory=list)
    reported: set[str] = field(default_factory=set)  # ids of the findings in the report
    states: set[str] = field(default_factory=set)  # every State the writes touch

    def _column(self, name: str) -> str:
        return self.headers.get(name, name)

    def plan(self, rows: Sequence[tuple[int, list[Any]]]) -> None:
        """Parse and check every row, and find the activities stored already; writes
        nothing."""
        parsed: list[tuple[int, str, dict[str, Any]]] = []
        seen: dict[tuple[str, str], int] = {}
        for number, values in rows:
            cells = {**self.options.defaults, **_cells(self.mapping, values)}
            try:
                _fits(values, self.width)
                record = _record(cells, self.headers)
                named = record.pop("provider", None)
                acronym = self._provider(named or self.options.provider or self.actor.organization)
                if "start_date" not in record:
                    raise RowInvalid(
                        self.headers["start_date"], "", "empty: every row needs a start date"
                    )
                record.setdefault("end_date", record["start_date"])
                ref = record.get("external_ref") or _derived_ref(acronym, record)
                record["external_ref"] = ref
                if (acronym, ref) in seen:
                    raise RowInvalid(
                        self._column("external_ref"),
                        ref,
                        f"the same activity as row {seen[acronym, ref]} of this file",
                    )
                seen[acronym, ref] = number
            except RowInvalid as problem:
                self._failed(number, problem)
                continue
            record["provider"] = acronym
            parsed.append((number, acronym, record))
        stored = self._stored(parsed)
        for number, acronym, record in parsed:
            try:
                with self._as_row(record):
                    current = stored.get((acronym, record["external_ref"]))
                    if current is None:
                        data = ActivityCreate.model_validate(record)
                        prepared = records.prepared(data)
                        self.creates.append((acronym, prepared))
                        self.states |= set(
                            vocab.beneficiary_states(prepared["countries"], prepared["regions"])
                        )
                        continue
                    activity, countries, regions = current
                    patch = ActivityUpdate.model_validate(record)
                    if not records.would_change(activity, countries, regions, patch):
                        self.report.unchanged += 1
                    elif activity.withdrawn_at is not None:
                        raise RowInvalid(
                            self._column("external_ref"),
                            record["external_ref"],
                            "this activity was withdrawn and can no longer be changed",
                        )
                    else:
                        self.updates.append((number, activity, patch))
                        after = patch.model_dump(exclude_unset=True)
                        for named, grouped in (
                            (countries, regions),
                            (after.get("countries", countries), after.get("regions", regions)),
                        ):
                            self.states |= set(vocab.beneficiary_states(named, grouped))
            except RowInvalid as problem:
                self._failed(number, problem)

    def _provider(self, name: str) -> str:
        """The acronym of the organization a row names, looked up once per name."""
        if name not in self.providers:
            found = organizations.find(self.session, name)
            if found is not None:
                self.providers[name] = self.orgs[found.acronym] = found
            elif self.options.create_orgs and self.actor.reads_all:
                try:
                    acronym = normalise_acronym(name)
                except ValueError as exc:
                    raise RowInvalid(self._column("provider"), name, str(exc)) from exc
                self.providers[name] = acronym
                self.new_orgs.setdefault(acronym, name)
            else:
                hint = " (a coordinator may add create_orgs=true)" if self.actor.reads_all else ""
                raise RowInvalid(self._column("provider"), name, "unknown organization" + hint)
        provider = self.providers[name]
        if isinstance(provider, str):
            return provider
        assert provider.id is not None
        if not self.actor.may_write_for(provider.id):
            raise RowInvalid(
                self._column("provider"),
                name,
                "a provider key imports only its own organization's activities "
                f"({self.actor.organization})",
            )
        return provider.acronym

    def _stored(
        self, parsed: list[tuple[int, str, dict[str, Any]]]
    ) -> dict[tuple[str, str], tuple[Activity, list[str], list[str]]]:
        """The stored activities the rows name, by (provider, external_ref), with their
        named States and regions: a query per thousand rows, not one per row."""
        refs: dict[str, list[str]] = defaultdict(list)
        for _, acronym, record in parsed:
            if acronym in self.orgs:
                refs[acronym].append(record["external_ref"])
        found: dict[tuple[str, str], Activity] = {}
        for acronym, wanted in refs.items():
            provider_id = self.orgs[acronym].id
            assert provider_id is not None
            for part in chunks(wanted, 1000):
                for activity in queries.by_refs(self.session, provider_id, part):
                    found[acronym, str(activity.external_ref)] = activity
        countries: dict[uuid.UUID, list[str]] = {}
        regions: dict[uuid.UUID, list[str]] = {}
        for ids in chunks([activity.id for activity in found.values()], 1000):
            named, grouped = queries.links(self.session, ids)
            countries.update(named)
            regions.update(grouped)
        return {
            key: (activity, countries.get(activity.id, []), regions.get(activity.id, []))
            for key, activity in found.items()
        }

    def write(self, done: Callable[[int], None]) -> None:
        """Apply the updates one by one (an edited file changes few), then store the new
        activities together and detect their findings as if they had come one at a time.

        The per-State locks of detection are taken for all of them first, in one sorted
        go: taken update by update, two imports (or an import and an edit) could deadlock."""
        serialise_by_state(self.session, self.states)
        for number, activity, patch in self.updates:
            try:
                with self.session.begin_nested(), self._as_row(patch.model_dump()):
                    updated, _ = activities.update(self.session, activity, patch, actor=self.actor)
            except RowInvalid as problem:
                self._failed(number, problem)
            else:
                self.report.updated += 1
                self._found(findings.refresh(self.session, updated, actor=self.actor))
            done(1)
        for acronym, name in self.new_orgs.items():
            if any(wanted == acronym for wanted, _ in self.creates):
                self.orgs[acronym] = organizations.ensure(
                    self.session, acronym=acronym, name=name, actor=self.actor
                )
        ids = bulk.create_many(
            self.session,
            [(self.orgs[acronym], record) for acronym, record in self.creates],
            actor=self.actor,
        )
        self.report.created += len(ids)
        live = [
            activity_id
            for activity_id, (_, record) in zip(ids, self.creates, strict=True)
            if record["status"] != "cancelled"
        ]
        done(len(ids) - len(live))
        self._found(findings.detect_new(self.session, live, each=lambda: done(1)))

    @contextmanager
    def _as_row(self, record: dict[str, Any]) -> Iterator[None]:
        """A validation error or a refusal of the activities service as a row's error, on
        the column of the field it names."""
        try:
            yield
        except ValidationError as exc:
            first = exc.errors()[0]
            name = str(first["loc"][0]) if first["loc"] else "row"
            given = "" if first["type"] == "missing" else first.get("input", "")
            raise RowInvalid(self._column(name), given, first["msg"]) from exc
        except AppError as exc:
            detail = exc.details[0] if exc.details else None
            name = detail.field.split(".")[0] if detail else "row"
            message = detail.message if detail else str(exc)
            raise RowInvalid(self._column(name), record.get(name, ""), message) from exc

    def _failed(self, row: int, problem: RowInvalid) -> None:
        self.report.errors.append(
            ImportRowError(
                row=row, column=problem.column, value=problem.value, message=problem.message
            )
        )

    def _found(self, found: Sequence[FindingPublic]) -> None:
        """The possible duplicates among these findings go into the report, each once."""
        for finding in found:
            if finding.kind == "duplicate" and str(finding.id) not in self.reported:
                self.reported.add(str(finding.id))
                self.report.findings.append(finding.model_dump(mode="json"))
