"""SQL that both databases speak, each in its own dialect."""

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Session

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = 1000) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most `size` items: for IN (...) lists, which both databases
    cap (SQLite at 32,766 parameters) and plan worse when long."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def json_contains(session: Session, column: Any, value: str) -> sa.ColumnElement[bool]:
    """`value` is an element of the JSON array in `column`."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.type_coerce(column, JSONB).contains([value])
    elements = sa.func.json_each(column).table_valued("value")
    return sa.exists(sa.select(1).select_from(elements).where(elements.c.value == value))


def upsert(
    session: Session,
    table: sa.Table,
    rows: list[dict[str, Any]],
    *,
    keys: tuple[str, ...],
    update: tuple[str, ...],
    returning: tuple[str, ...] = (),
) -> list[tuple[Any, ...]]:
    """Insert rows (batched by the driver into few statements); a row whose `keys` exist
    already updates the `update` columns of the stored one instead.  The rows are parameters
    of one statement, so it is compiled once per table rather than once per number of rows.
    Returns the `returning` columns of the rows as stored (an updated row's own id, not the
    one it was given), in the order of `rows`."""
    if not rows:
        return []
    statement = insert_for(session.get_bind().dialect.name, table)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_={name: statement.excluded[name] for name in update}
    )
    if not returning:
        session.execute(statement, rows)
        return []
    columns = [table.c[name] for name in returning]
    result = session.execute(statement.returning(*columns, sort_by_parameter_order=True), rows)
    return [tuple(row) for row in result]


def insert_for(dialect: str, table: sa.Table) -> Any:
    """An INSERT into `table` in the dialect's own form, which has ON CONFLICT: PostgreSQL's
    or SQLite's `insert` (both `on_conflict_do_update` and `excluded`)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    return insert(table)
