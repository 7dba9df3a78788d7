"""Activity exports: CSV (UTF-8 with a byte order mark, for Excel) and XLSX."""

import csv
import io
from collections.abc import Iterator
from datetime import date

from openpyxl import Workbook
from sqlmodel import Session

from app.activities import queries
from app.activities.models import ActivityPublic
from app.core import cursor as cursors
from app.core.principal import Principal
from app.exports.columns import COLUMNS, row

PAGE = 500


def activities(
    session: Session, filters: queries.Filters, *, viewer: Principal | None
) -> Iterator[ActivityPublic]:
    """Every activity the list API would page through for these filters, in its order."""
    after = None
    while True:
        items, next_cursor = queries.page(session, filters, viewer=viewer, limit=PAGE, after=after)
        yield from items
        if next_cursor is None:
            return
        after = cursors.decode(next_cursor, 2)


def _header(hxl: bool) -> list[list[str]]:
    rows = [[column.name for column in COLUMNS]]
    if hxl:
        rows.append([column.hxl for column in COLUMNS])
    return rows


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def to_csv(items: Iterator[ActivityPublic], *, hxl: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows(_header(hxl))
    for activity in items:
        writer.writerow([_text(value) for value in row(activity)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(items: Iterator[ActivityPublic], *, hxl: bool) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("activities")
    try:
        for header in _header(hxl):
            sheet.append(header)
        for activity in items:
            sheet.append(row(activity))
        buffer = io.BytesIO()
        workbook.save(buffer)
    except BaseException:
        sheet.close()  # a filter refused while the rows were read: end the sheet's writer
        raise
    return buffer.getvalue()
