"""Opaque keyset-pagination cursors: the sort key of the last row a page returned."""

import base64
import json


class CursorError(ValueError):
    pass


def encode(*values: str | int) -> str:
    raw = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, arity: int) -> list[str | int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CursorError("not a cursor this service gave out") from exc
    if (
        not isinstance(values, list)
        or len(values) != arity
        or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values)
    ):
        raise CursorError("not a cursor this service gave out")
    return values
