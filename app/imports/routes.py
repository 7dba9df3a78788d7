"""POST /imports: a CSV or XLSX file of activities, checked and then written (or not)."""

from dataclasses import asdict
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.auth.deps import CurrentPrincipal
from app.db import SessionDep
from app.errors import ValidationFailed
from app.imports import readers, service

router = APIRouter(tags=["imports"])


class ImportRowError(BaseModel):
    row: int
    column: str
    value: str
    message: str


class ImportReport(BaseModel):
    dry_run: bool
    created: int
    updated: int
    unchanged: int
    errors: list[ImportRowError]
    findings: list[dict[str, Any]]
    mapping: dict[str, str]
    unused_columns: list[str]


@router.post(
    "/imports",
    response_model=ImportReport,
    responses={422: {"model": ImportReport, "description": "rows failed; nothing was written"}},
)
def import_activities(
    session: SessionDep,
    actor: CurrentPrincipal,
    file: Annotated[UploadFile, File(description="CSV (UTF-8 or Windows-1252) or XLSX")],
    provider: Annotated[str | None, Form(max_length=30)] = None,
    mapping: Annotated[
        str | None, Form(max_length=10_000, description="JSON: header -> field")
    ] = None,
    sheet: Annotated[str | None, Form(max_length=100)] = None,
    defaults: Annotated[
        str | None,
        Form(max_length=10_000, description="JSON: field -> value for empty cells"),
    ] = None,
    date_from: Annotated[
        date | None, Query(alias="from", description="iCalendar: occurrences from")
    ] = None,
    date_to: Annotated[date | None, Query(alias="to", description="iCalendar: until")] = None,
    create_orgs: Annotated[
        bool, Query(description="coordinators: create the organizations a file names")
    ] = False,
    dry_run: Annotated[bool, Query(description="check and report, write nothing")] = False,
    skip_invalid: Annotated[bool, Query(description="write the good rows, report the bad")] = False,
) -> ImportReport | JSONResponse:
    """Create, update or leave each row's activity, keyed by (provider, external_ref).  By
    default all or nothing: one bad row and nothing is written (422, with every error)."""
    between = None
    if date_from or date_to:
        today = date.today()
        between = (date_from or today - timedelta(days=365), date_to or today + timedelta(days=730))
        if between[1] < between[0]:
            raise ValidationFailed.on("to", "must not be before from")
    table = readers.read(file.filename or "", file.file.read(), sheet=sheet, between=between)
    options = service.Options(
        dry_run=dry_run,
        skip_invalid=skip_invalid,
        provider=provider,
        mapping=service.parse_object(mapping, "mapping"),
        defaults=service.parse_object(defaults, "defaults") or {},
        create_orgs=create_orgs,
    )
    report = ImportReport.model_validate(
        asdict(service.run(session, table, actor=actor, options=options))
    )
    if report.errors and not dry_run and not skip_invalid:
        return JSONResponse(report.model_dump(mode="json"), status_code=422)
    return report
