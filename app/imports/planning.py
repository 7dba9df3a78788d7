"""The first half of an import: every row parsed and checked, its provider looked up once per
name and its stored activity found (app.imports.identity: by id, by reference, by likeness),
so that each row is sorted into a create, an update or an unchanged activity, or a row
error.  Writes nothing; writing.write() then applies the batch."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from app.activities import records
from app.activities.models import Activity, ActivityCreate, ActivityUpdate
from app.core import vocab
from app.core.principal import Principal
from app.errors import AppError
from app.imports import identity, matching, parsing
from app.imports.identity import Row
from app.imports.models import ImportReport, ImportRowError
from app.imports.parsing import RowInvalid
from app.organizations import service as organizations
from app.organizations.models import Organization, normalise_acronym


@dataclass
class Batch:
    """One import: every row checked and sorted into creates, updates and unchanged ones
    (plan), then the changes written together (writing.write)."""

    session: Session
    actor: Principal
    width: int  # columns with a header, named or not
    mapping: dict[int, str]  # column position -> field
    headers: dict[str, str]  # field -> column header
    report: ImportReport
    defaults: dict[str, str]  # field -> value for empty cells
    provider: str | None  # for rows that name none (default: the caller's organization)
    create_orgs: bool
    choices: dict[int, str] = field(default_factory=dict)  # row -> activity id or "new"
    providers: dict[str, Organization | str] = field(default_factory=dict)  # by name as given
    orgs: dict[str, Organization] = field(default_factory=dict)  # by acronym
    new_orgs: dict[str, str] = field(default_factory=dict)  # acronym -> name, for create_orgs
    creates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # acronym, record
    # row, activity, patch, why (for its history)
    updates: list[tuple[int, Activity, ActivityUpdate, str]] = field(default_factory=list)
    states: set[str] = field(default_factory=set)  # every State the writes touch

    def column(self, name: str) -> str:
        return self.headers.get(name, name)

    def plan(self, rows: Sequence[tuple[int, list[Any]]]) -> None:
        """Parse and check every row, and find the activities stored already; writes
        nothing."""
        parsed: list[Row] = []
        for number, values in rows:
            cells = {**self.defaults, **parsing.cells(self.mapping, values)}
            try:
                parsing.fits(values, self.width)
                record = parsing.record(cells, self.headers)
                named = record.pop("provider", None)
                acronym = self._provider(named or self.provider or self.actor.organization)
                if "start_date" not in record:
                    raise RowInvalid(
                        self.headers["start_date"], "", "empty: every row needs a start date"
                    )
                record.setdefault("end_date", record["start_date"])
            except RowInvalid as problem:
                self.failed(number, problem)
                continue
            given = identity.given_id(record.pop("id", None))
            parsed.append(Row(number, acronym, record, given))
        found, claimed = identity.find(self, parsed)
        for row in matching.match(self, found, claimed):
            try:
                with self.as_row(row.record):
                    self._sort(row)
            except RowInvalid as problem:
                self.failed(row.number, problem)

    def _sort(self, row: Row) -> None:
        """The row as a create, an update or an unchanged activity."""
        if row.stored is None:
            record = {**parsing.NEW_DEFAULTS, **row.record, "external_ref": row.ref}
            prepared = records.prepared(ActivityCreate.model_validate(record))
            self.creates.append((row.acronym, prepared))
            self.states |= set(vocab.beneficiary_states(prepared["countries"], prepared["regions"]))
            return
        activity, countries, regions = row.stored
        patch = ActivityUpdate.model_validate({**row.record, "provider": row.acronym})
        if not records.changes(records.record_of(activity, countries, regions), patch):
            self.report.unchanged += 1
        elif activity.withdrawn_at is not None:
            column = "id" if row.how == "id" else "external_ref"
            raise RowInvalid(
                self.column(column),
                str(activity.id) if row.how == "id" else str(activity.external_ref),
                "this activity was withdrawn and can no longer be changed",
            )
        else:
            self.updates.append((row.number, activity, patch, _why(row)))
            after = patch.model_dump(exclude_unset=True)
            for named, grouped in (
                (countries, regions),
                (after.get("countries", countries), after.get("regions", regions)),
            ):
                self.states |= set(vocab.beneficiary_states(named, grouped))

    def _provider(self, name: str) -> str:
        """The acronym of the organization a row names, looked up once per name."""
        if name not in self.providers:
            found = organizations.find(self.session, name)
            if found is not None:
                self.providers[name] = self.orgs[found.acronym] = found
            elif self.create_orgs and self.actor.reads_all:
                try:
                    acronym = normalise_acronym(name)
                except ValueError as exc:
                    raise RowInvalid(self.column("provider"), name, str(exc)) from exc
                self.providers[name] = acronym
                self.new_orgs.setdefault(acronym, name)
            else:
                hint = " (a coordinator may add create_orgs=true)" if self.actor.reads_all else ""
                raise RowInvalid(self.column("provider"), name, "unknown organization" + hint)
        provider = self.providers[name]
        if isinstance(provider, str):
            return provider
        assert provider.id is not None
        if not self.actor.may_write_for(provider.id):
            raise RowInvalid(
                self.column("provider"),
                name,
                "a provider key imports only its own organization's activities "
                f"({self.actor.organization})",
            )
        return provider.acronym

    @contextmanager
    def as_row(self, record: dict[str, Any]) -> Iterator[None]:
        """A validation error or a refusal of the activities service as a row's error, on
        the column of the field it names."""
        try:
            yield
        except ValidationError as exc:
            first = exc.errors()[0]
            name = str(first["loc"][0]) if first["loc"] else "row"
            given = "" if first["type"] == "missing" else first.get("input", "")
            raise RowInvalid(self.column(name), given, first["msg"]) from exc
        except AppError as exc:
            detail = exc.details[0] if exc.details else None
            name = detail.field.split(".")[0] if detail else "row"
            message = detail.message if detail else str(exc)
            raise RowInvalid(self.column(name), record.get(name, ""), message) from exc

    def failed(self, row: int, problem: RowInvalid) -> None:
        self.report.errors.append(
            ImportRowError(
                row=row, column=problem.column, value=problem.value, message=problem.message
            )
        )


def _why(row: Row) -> str:
    """What the history of an activity an import updates says of it."""
    how = {
        "id": "by its id",
        "external_ref": "by its external_ref" if row.given_ref else "by its title and dates",
        "likeness": "as the same activity, corrected",
        "choice": "as the same activity, by the importer's choice",
    }
    return f"import, row {row.number}: found {how[row.how]}"
