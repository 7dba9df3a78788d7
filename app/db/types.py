"""Column types shared by the table models."""

import json
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

# JSON: JSONB on PostgreSQL so that containment (`@>`) filters and GIN indexes work.
JSONValue = sa.JSON().with_variant(JSONB(), "postgresql")


def json_text(column: Any) -> Any:
    """A JSON list column read as its text, for json_set(): decoded once per distinct value
    (theme lists repeat a lot) rather than by the driver once per row."""
    return sa.cast(column, sa.Text).label(column.key)


@lru_cache(maxsize=4096)
def _decoded(text: str) -> frozenset[str]:
    return frozenset(json.loads(text))


def json_set(text: str | None) -> frozenset[str]:
    """The values of a JSON list read by json_text()."""
    return _decoded(text) if text else frozenset()
