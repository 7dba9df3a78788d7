"""Query parameters shared by every list endpoint."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Query
from sqlmodel import Session

from app.core import cursor as cursors
from app.core.timeutil import as_utc
from app.errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class PageParams:
    def __init__(self, limit: int, cursor: str | None) -> None:
        self.limit = limit
        self.cursor = cursor

    def after(self, arity: int) -> list[str | int] | None:
        """The decoded sort key to continue after, or None for the first page."""
        if self.cursor is None:
            return None
        try:
            return cursors.decode(self.cursor, arity)
        except cursors.CursorError as exc:
            raise ValidationFailed.on("cursor", str(exc)) from exc


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=500, description="next_cursor of the previous page")
    ] = None,
) -> PageParams:
    # Dependencies that do no I/O are async: a sync one would cost a trip to a worker thread.
    return PageParams(limit, cursor)


PageDep = Annotated[PageParams, Depends(page_params)]


def newest_first(
    session: Session,
    statement: Any,
    *,
    created: Any,
    ident: Any,
    limit: int,
    after: Sequence[str | int] | None,
) -> tuple[list[Any], str | None]:
    """A page of `statement`'s rows, newest `created` first, ties by `ident` (a UUID), after
    the decoded cursor `after`; with the cursor of the next page, if there is one."""
    if after is not None:
        try:
            after_at = as_utc(datetime.fromisoformat(str(after[0])))
            after_id = uuid.UUID(str(after[1]))
        except (ValueError, OverflowError) as exc:
            raise ValidationFailed.on("cursor", "not a cursor this service gave out") from exc
        statement = statement.where(
            sa.or_(created < after_at, sa.and_(created == after_at, ident > after_id))
        )
    rows = list(session.exec(statement.order_by(created.desc(), ident).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    following = None
    if more and last is not None:
        following = cursors.encode(
            getattr(last, created.key).isoformat(), str(getattr(last, ident.key))
        )
    return rows, following
