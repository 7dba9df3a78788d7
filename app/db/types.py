"""What the table models share: the metadata's naming convention and column types.  Every
module that defines a table model imports this one (tests/migrations/test_naming.py checks it)."""

import json
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import SQLModel

# Named constraints make migrations reproducible on SQLite and PostgreSQL alike.  The
# convention must be on the metadata before any table model is defined, hence here, and not in
# app/__init__.py, which every `assistcal` command runs (sqlmodel alone takes 0.4 s to import).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def owned_by(target: str, *, nullable: bool = True, index: bool = True) -> Any:
    """A UUID column pointing at `target` ("table.id"), whose row goes when the row it points
    at goes (ON DELETE CASCADE): a session with its person, a private feed with its
    membership."""
    return sa.Column(
        sa.Uuid, sa.ForeignKey(target, ondelete="CASCADE"), index=index, nullable=nullable
    )


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
