"""The first half of an import: every row parsed and checked, its provider looked up once per
name and the stored activities the rows name loaded a thousand at a time, so that each row is
sorted into a create, an update or an unchanged activity, or a row error.  Writes nothing;
writing.write() then applies the batch."""

import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from app.activities import queries, records
from app.activities.models import Activity, ActivityCreate, ActivityUpdate
from app.core import vocab
from app.core.principal import Principal
from app.db.sql import chunks
from app.errors import AppError
from app.imports import parsing
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
    providers: dict[str, Organization | str] = field(default_factory=dict)  # by name as given
    orgs: dict[str, Organization] = field(default_factory=dict)  # by acronym
    new_orgs: dict[str, str] = field(default_factory=dict)  # acronym -> name, for create_orgs
    creates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # acronym, record
    updates: list[tuple[int, Activity, ActivityUpdate]] = field(default_factory=list)
    states: set[str] = field(default_factory=set)  # every State the writes touch

    def column(self, name: str) -> str:
        return self.headers.get(name, name)

    def plan(self, rows: Sequence[tuple[int, list[Any]]]) -> None:
        """Parse and check every row, and find the activities stored already; writes
        nothing."""
        parsed: list[tuple[int, str, dict[str, Any]]] = []
        seen: dict[tuple[str, str], int] = {}
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
                ref = record.get("external_ref") or parsing.derived_ref(acronym, record)
                record["external_ref"] = ref
                if (acronym, ref) in seen:
                    raise RowInvalid(
                        self.column("external_ref"),
                        ref,
                        f"the same activity as row {seen[acronym, ref]} of this file",
                    )
                seen[acronym, ref] = number
            except RowInvalid as problem:
                self.failed(number, problem)
                continue
            record["provider"] = acronym
            parsed.append((number, acronym, record))
        stored = self._stored(parsed)
        for number, acronym, record in parsed:
            try:
                with self.as_row(record):
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
                            self.column("external_ref"),
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
                self.failed(number, problem)

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
