"""GET /exports/activities.csv and .xlsx: the list API's filters, a file to download."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.api.activities import ListFilters
from app.api.caller import OptionalPrincipal
from app.db.session import SessionDep
from app.exports import service

router = APIRouter(tags=["exports"])

HxlQuery = Annotated[
    bool, Query(description="add a row of HXL hashtags under the header (#activity+name, ...)")
]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def download(body: bytes, media_type: str, filename: str) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(body, media_type=media_type, headers=headers)


@router.get("/exports/activities.csv", response_class=Response)
def export_activities_csv(
    session: SessionDep, viewer: OptionalPrincipal, filters: ListFilters, hxl: HxlQuery = False
) -> Response:
    """One row per activity (UTF-8 with a byte order mark, comma-separated); without a key,
    public activities only."""
    items = service.activities(session, filters, viewer=viewer)
    body = service.to_csv(items, hxl=hxl)
    return download(body, "text/csv; charset=utf-8", "activities.csv")


@router.get("/exports/activities.xlsx", response_class=Response)
def export_activities_xlsx(
    session: SessionDep, viewer: OptionalPrincipal, filters: ListFilters, hxl: HxlQuery = False
) -> Response:
    """The same as the CSV export, as a workbook with one sheet, "activities"."""
    items = service.activities(session, filters, viewer=viewer)
    return download(service.to_xlsx(items, hxl=hxl), XLSX, "activities.xlsx")
