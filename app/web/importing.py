"""The import page: a file's dry run, then, once confirmed, the import of the file kept since."""

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from app.core.principal import Principal
from app.db.session import SessionDep, read_session
from app.errors import ValidationFailed
from app.imports import readers
from app.imports import service as imports
from app.web import auth, uploads
from app.web.auth import ViewerDep
from app.web.render import render

router = APIRouter(include_in_schema=False)
CHOICE = "choice-"  # the radio buttons of a row that may be a stored activity: choice-<row>


@router.get("/import", response_class=HTMLResponse)
def import_page(request: Request, reader: ViewerDep) -> HTMLResponse:
    reader.require()
    return render(request, reader, "import.html", report=None, pending=None)


@dataclass
class Upload:
    """A file sent to the import page (or kept since its dry run), read and checked."""

    reader: auth.Viewer
    principal: Principal
    name: str
    data: bytes
    table: readers.Table
    provider: str | None
    skip_invalid: bool
    pending: uuid.UUID | None  # the kept file being confirmed
    choices: dict[int, str]  # row -> activity id or "new", for rows perhaps stored already


async def page_upload(
    request: Request,
    reader: auth.ViewerBeforeTransaction,
    csrf: Annotated[str, Form(max_length=100)],
    file: Annotated[UploadFile | None, File()] = None,
    provider: Annotated[str | None, Form(max_length=30)] = None,
    skip_invalid: Annotated[bool, Form()] = False,
    confirm: Annotated[bool, Form()] = False,
    pending: Annotated[uuid.UUID | None, Form()] = None,
) -> Upload:
    """The signed-in reader's file, read whole before the page's transaction begins (see
    app.api.imports.uploaded_table)."""
    principal = reader.require()
    auth.check_csrf(reader, csrf)
    choices: dict[int, str] = {}
    if confirm and pending is not None:
        async with read_session(request) as session:
            kept = await run_in_threadpool(uploads.get, session, pending, principal)
        name, data, provider, skip_invalid = kept
        form = await request.form()
        chosen = {
            key.removeprefix(CHOICE): str(value)
            for key, value in form.items()
            if key.startswith(CHOICE) and isinstance(value, str)
        }
        choices = imports.parse_choices(chosen)
    elif file is not None:
        name, data, pending = file.filename or "upload", await file.read(), None
    else:
        raise ValidationFailed.on("file", "choose a file to import")
    table = await request.app.state.file_reader.read_in_turn(name, data)
    return Upload(
        reader, principal, name, data, table, provider or None, skip_invalid, pending, choices
    )


@router.post("/import", response_class=HTMLResponse)
def import_upload(
    request: Request,
    # In this order: the file read, then the transaction.
    upload: Annotated[Upload, Depends(page_upload)],
    session: SessionDep,
) -> HTMLResponse:
    """First a dry run of the uploaded file; the page then offers to import it for real."""
    confirm = upload.pending is not None
    if upload.pending is not None:
        uploads.remove(session, upload.pending, upload.principal)
    options = imports.Options(
        dry_run=not confirm,
        skip_invalid=upload.skip_invalid,
        provider=upload.provider,
        choices=upload.choices,
    )
    report = imports.run(session, upload.table, actor=upload.principal, options=options)
    kept = None
    if not confirm and (not report.errors or upload.skip_invalid):
        kept = uploads.keep(
            session,
            upload.principal,
            upload.name,
            upload.data,
            upload.provider,
            upload.skip_invalid,
        )
    return render(
        request,
        upload.reader,
        "import.html",
        report=report,
        pending=kept,
        name=upload.name,
        confirmed=confirm,
        status_code=200,
    )
