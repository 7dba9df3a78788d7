"""POST /imports: a CSV, XLSX, iCalendar or IATI file of activities, checked and then written (or
not)."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse

from app.api.caller import PrincipalBeforeTransaction
from app.db.session import SessionDep
from app.errors import ErrorBody
from app.imports import service
from app.imports.models import ImportReport
from app.imports.readers import Table

router = APIRouter(tags=["imports"])


async def uploaded_table(
    request: Request,
    actor: PrincipalBeforeTransaction,
    file: Annotated[
        UploadFile, File(description="CSV, XLSX, iCalendar (.ics) or IATI activity XML")
    ],
    sheet: Annotated[str | None, Form(max_length=100)] = None,
    date_from: Annotated[
        date | None, Query(alias="from", description="iCalendar: occurrences from")
    ] = None,
    date_to: Annotated[date | None, Query(alias="to", description="iCalendar: until")] = None,
) -> Table:
    """The uploaded file read whole and checked, for a known caller, before the request's
    transaction begins: other writers never wait on a parse (app.imports.sandbox)."""
    data = await file.read()
    table: Table = await request.app.state.file_reader.read_in_turn(
        file.filename or "", data, sheet=sheet, first=date_from, last=date_to
    )
    return table


@router.post(
    "/imports",
    response_model=ImportReport,
    responses={
        422: {
            "model": ImportReport | ErrorBody,
            "description": "rows failed and nothing was written (the report), or bad input",
        }
    },
)
def import_activities(
    # In this order: the caller, then the file read, then the transaction.
    actor: PrincipalBeforeTransaction,
    table: Annotated[Table, Depends(uploaded_table)],
    session: SessionDep,
    provider: Annotated[str | None, Form(max_length=30)] = None,
    mapping: Annotated[
        str | None, Form(max_length=10_000, description="JSON: header -> field")
    ] = None,
    defaults: Annotated[
        str | None,
        Form(max_length=10_000, description="JSON: field -> value for empty cells"),
    ] = None,
    choices: Annotated[
        str | None,
        Form(
            max_length=100_000,
            description='JSON: row number -> the id of the stored activity it is, or "new", '
            "for rows the dry run lists in `matched`",
        ),
    ] = None,
    create_orgs: Annotated[
        bool, Query(description="coordinators: create the organizations a file names")
    ] = False,
    dry_run: Annotated[bool, Query(description="check and report, write nothing")] = False,
    skip_invalid: Annotated[bool, Query(description="write the good rows, report the bad")] = False,
) -> ImportReport | JSONResponse:
    """Create, update or leave each row's activity, found by its `id`, by (provider,
    external_ref), or by its likeness to a stored activity (`matched`).  By default all or
    nothing: one bad row and nothing is written (422, with every error)."""
    options = service.Options.given(
        mapping=mapping,
        defaults=defaults,
        choices=choices,
        dry_run=dry_run,
        skip_invalid=skip_invalid,
        provider=provider,
        create_orgs=create_orgs,
    )
    report = service.run(session, table, actor=actor, options=options)
    if report.errors and not dry_run and not skip_invalid:
        return JSONResponse(report.model_dump(mode="json"), status_code=422)
    return report
