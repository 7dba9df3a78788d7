"""One row of a table as an activity's record: its cells by field, each parsed (dates,
times, countries, vocabulary codes, lists); a RowInvalid names the column and the value."""

import hashlib
from typing import Any, get_args

from app.core import tabular, vocab
from app.exports.columns import FORMULA_STARTS


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


# What a new activity has when its row leaves these empty; an update leaves them as stored.
NEW_DEFAULTS = {"language": "en", "activity_type": "other"}


def cells(mapping: dict[int, str], values: list[Any]) -> dict[str, Any]:
    """A row's non-empty cells by field; text neutralised by an export is restored."""
    found = {}
    for position, name in mapping.items():
        value = values[position] if position < len(values) else None
        if isinstance(value, str):
            value = value.strip()
            if value[:1] == "'" and value[1:2] and value[1] in FORMULA_STARTS:
                value = value[1:]  # neutralised by an export (app.exports.columns)
        if value not in (None, ""):
            found[name] = value
    return found


def fits(values: list[Any], width: int) -> None:
    """A row with values past the header's last column is refused rather than cut: in a
    CSV, that is a separator inside a value that was not quoted."""
    extra = [value for value in values[width:] if value is not None and str(value).strip()]
    if extra:
        raise RowInvalid(
            f"column {width + 1}",
            extra[0],
            f"{len(values)} cells but {width} columns: quote values that hold the separator",
        )


def record(cells: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """The activity's fields from a row's cells; a RowInvalid names the column."""
    fields: dict[str, Any] = {}
    for name, value in cells.items():
        column = headers[name]
        try:
            if name in ("start_date", "end_date"):
                fields[name] = tabular.parse_date(value).isoformat()
            elif name in ("start_time", "end_time"):
                fields[name] = tabular.parse_time(value)
            elif name == "countries":
                names = tabular.split_countries(value)
                found = [tabular.country_code(n) for n in names]
                unknown = [n for n, code in zip(names, found, strict=True) if code is None]
                if unknown:
                    raise ValueError(f"unknown country {unknown[0]!r}; use a name or an ISO code")
                fields[name] = found
            elif name in ("themes", "domains", "audiences"):
                fields[name] = tabular.codes(tabular.split_list(value), VOCABULARIES[name])
            elif name in ("activity_type", "status", "visibility", "modality"):
                [fields[name]] = tabular.codes([str(value)], VOCABULARIES[name])
            elif name in tabular.LIST_FIELDS:
                fields[name] = tabular.split_list(value)
            else:
                fields[name] = str(value)
        except ValueError as exc:
            raise RowInvalid(column, value, str(exc)) from exc
    venue = {k: fields.pop(f"venue_{k}", None) for k in ("city", "country")}
    modality = fields.pop("modality", None)
    if venue["city"] or venue["country"] or modality:
        fields["venue"] = {**venue, "modality": modality or "in_person"}
    return fields


def derived_ref(provider: str, record: dict[str, Any]) -> str:
    key = "|".join(
        [
            provider,
            record.get("title", ""),
            record.get("start_date", ""),
            record.get("end_date", ""),
        ]
    )
    return "import-" + hashlib.sha256(key.encode()).hexdigest()[:16]
