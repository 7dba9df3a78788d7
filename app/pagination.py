"""Query parameters shared by every list endpoint."""

from typing import Annotated

from fastapi import Depends, Query

from app.core import cursor as cursors
from app.errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class PageParams:
    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = DEFAULT_LIMIT,
        cursor: Annotated[
            str | None, Query(max_length=500, description="next_cursor of the previous page")
        ] = None,
    ) -> None:
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


PageDep = Annotated[PageParams, Depends()]
