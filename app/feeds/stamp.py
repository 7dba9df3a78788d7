"""The change stamp that tells every process whether its cached feeds are still current.

A transaction that changes what a feed may show calls `changed(session)`; just before it
commits, the one row of `feed_state` gets the next generation.  A feed is cached under the
generation read before its rows were read, so a cached feed is never older than its key.
On PostgreSQL the row is locked only from that update to the commit, so concurrent writers
queue for a moment at the end, not for their whole transaction."""

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session, col

from app.core.timeutil import utcnow
from app.feeds.models import FeedState

_FLAG = "feeds_changed"


def changed(session: Session) -> None:
    """Feeds must be rendered again once this transaction commits."""
    session.info[_FLAG] = True


def generation(session: Session) -> int:
    """The current generation (0 before the first change)."""
    statement = sa.select(col(FeedState.generation)).where(col(FeedState.id) == 1)
    value = session.execute(statement).scalar()
    return int(value or 0)


@event.listens_for(Session, "before_commit")
def _bump(session: Session) -> None:
    if not session.info.pop(_FLAG, False):
        return
    session.flush()
    table = FeedState.__table__  # type: ignore[attr-defined]
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    # An upsert, so that a missing row (a wiped table) is no race between two writers.
    statement = insert(table).values(id=1, generation=1, changed_at=utcnow())
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["id"],
            set_={
                "generation": table.c.generation + 1,
                "changed_at": statement.excluded.changed_at,
            },
        )
    )


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_FLAG, None)
