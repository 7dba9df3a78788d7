"""Files in: CSV (UTF-8 with or without BOM, UTF-16 with BOM, or Windows-1252; comma,
semicolon or tab), XLSX (the first sheet or a named one), iCalendar (app.imports.ics) and IATI
activity files (app.imports.iati), as a header and numbered rows.  A CSV or XLSX whose second
row holds HXL hashtags (#activity+name, ...) keeps them, to name its columns by.

A table has at most MAX_COLUMNS columns and MAX_ROWS rows: beyond, the file is refused (413)
as soon as a reader meets the first cell past the limit, before it has spent more on it.  What
a reader may spend in all is bounded by app.imports.sandbox, which runs it."""

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from app.core import timeutil
from app.errors import PayloadTooLarge, ValidationFailed

MAX_COLUMNS = 200
MAX_ROWS = 100_000


@dataclass
class Table:
    headers: list[str]
    rows: list[tuple[int, list[Any]]]  # (line or sheet row where it starts; values)
    kind: str = "csv"  # what the file was read as: csv, xlsx, ics or iati
    hxl: list[str] | None = None  # each column's HXL hashtag, when a hashtag row has them
    fields: list[str | None] | None = None  # each column's field, when the reader knows it
    # What rows could not take, as (row, the activity's reference, message): for the report.
    notes: list[tuple[int, str, str]] = field(default_factory=list)


def _bad(message: str) -> ValidationFailed:
    return ValidationFailed.on("file", message)


def _too_wide(where: str) -> PayloadTooLarge:
    return PayloadTooLarge.on(
        "file", f"{where} has more than {MAX_COLUMNS} columns, the most a file may have"
    )


def _too_long() -> PayloadTooLarge:
    return PayloadTooLarge.on(
        "file", f"the file has more than {MAX_ROWS:,} rows, the most one import takes: split it"
    )


def read(
    filename: str,
    data: bytes,
    *,
    sheet: str | None = None,
    first: date | None = None,
    last: date | None = None,
) -> Table:
    """The file as a table; `first` and `last` bound the occurrences of recurring iCalendar
    events (default: a year back to two years ahead)."""
    if first and last and last < first:
        raise ValidationFailed.on("to", "must not be before from")
    if not data.strip():
        raise _bad("the file is empty")
    name = filename.lower()
    if name.endswith(".ics") or data.lstrip(b"\xef\xbb\xbf \r\n\t").startswith(b"BEGIN:VCALENDAR"):
        from app.imports import ics

        today = timeutil.today()
        first = first or today - timedelta(days=365)
        last = last or today + timedelta(days=730)
        return ics.read(data, first, last)
    if name.endswith(".xml") or data.lstrip(b"\xef\xbb\xbf \r\n\t").startswith(b"<"):
        from app.imports import iati

        return iati.read(data)
    if name.endswith(".xlsx") or data[:2] == b"PK":
        table = _xlsx(data, sheet)
        table.kind = "xlsx"
        return table
    if name.endswith((".csv", ".txt")) or not name.rpartition(".")[1]:
        return _csv(data)
    raise _bad(f"{filename!r}: send a .csv, .xlsx, .ics or IATI .xml file")


def _csv(data: bytes) -> Table:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16, as "Unicode text" from Excel
        try:
            data = data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as exc:
            raise _bad("the file starts as UTF-16 but is not") from exc
    if b"\x00" in data:
        raise _bad("this is not a text file (it holds NUL bytes); send CSV or XLSX")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")  # what Excel on Windows writes in Western locales
        except UnicodeDecodeError as exc:
            raise _bad("the file is neither UTF-8 nor Windows-1252 text") from exc
    first_line = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records: list[tuple[int, list[Any]]] = []
    line = 1  # where the next record starts: a quoted cell may hold line breaks
    try:
        for record in reader:
            if len(record) > MAX_COLUMNS:
                raise _too_wide(f"line {line}")
            if len(records) >= MAX_ROWS + 1:  # the header and MAX_ROWS rows
                raise _too_long()
            records.append((line, record))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise _bad(f"not readable as CSV (line {reader.line_num}): {exc}") from exc
    return _table(records)


def _xlsx(data: bytes, sheet: str | None) -> Table:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise _bad(f"not a readable XLSX workbook ({type(exc).__name__})") from exc
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise ValidationFailed.on(
                "sheet",
                f"no sheet {sheet!r}; the workbook has {', '.join(workbook.sheetnames)}",
            )
        chosen: Any = workbook[sheet] if sheet is not None else workbook.worksheets[0]
        if not hasattr(chosen, "iter_rows"):
            raise _bad("the sheet is a chart, not a table")
        try:
            records = _sheet_rows(chosen)
        except PayloadTooLarge:
            raise
        except Exception as exc:
            raise _bad(f"the sheet cannot be read ({type(exc).__name__})") from exc
    finally:
        workbook.close()
    return _table(records)


def _sheet_rows(sheet: Any) -> list[tuple[int, list[Any]]]:
    """The sheet's rows with a value, read one column past the limit: the dimension a sheet
    declares is not trusted (openpyxl would pad every row to it), nor are cells far to the
    right or far down that hold nothing (formatting), which real workbooks often have."""
    sheet.reset_dimensions()
    records: list[tuple[int, list[Any]]] = []
    for number, row in enumerate(sheet.iter_rows(max_col=MAX_COLUMNS + 1, values_only=True), 1):
        if not any(value is not None and str(value).strip() for value in row):
            continue
        if row[MAX_COLUMNS:] and row[MAX_COLUMNS] is not None:
            raise _too_wide(f"row {number}")
        if len(records) >= MAX_ROWS + 1:
            raise _too_long()
        records.append((number, _trimmed(list(row[:MAX_COLUMNS]))))
    if records:  # a column without a header is an unnamed column, as in the sheet
        width = max(len(values) for _, values in records)
        header = records[0][1]
        header.extend([None] * (width - len(header)))
    return records


def _trimmed(values: list[Any]) -> list[Any]:
    """Without the empty cells at the end of the row."""
    end = len(values)
    while end and values[end - 1] is None:
        end -= 1
    return values[:end]


def _table(records: list[tuple[int, list[Any]]]) -> Table:
    """The first row with a value is the header; rows without one are left out."""
    numbered = [
        (number, values)
        for number, values in records
        if any(v is not None and str(v).strip() for v in values)
    ]
    if not numbered:
        raise _bad("the file has no rows")
    (_, header), *rows = numbered
    headers = ["" if h is None else str(h).strip() for h in header]
    if not any(headers):
        raise _bad("the first row must name the columns")
    if rows and _hashtags(rows[0][1]):
        tags = ["" if tag is None else str(tag).strip() for tag in rows[0][1]]
        return Table(headers, rows[1:], hxl=tags + [""] * (len(headers) - len(tags)))
    return Table(headers, rows)


def _hashtags(values: list[Any]) -> bool:
    """An HXL hashtag row: every cell with a value holds a hashtag (#org+impl)."""
    filled = [str(v).strip() for v in values if v is not None and str(v).strip()]
    return bool(filled) and all(re.fullmatch(r"#[A-Za-z][\w+ ]*", v) for v in filled)
