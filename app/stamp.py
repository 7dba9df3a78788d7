"""The change stamp that tells every process whether what it cached is still current: its
rendered feeds (app.feeds.service) and its answers to repeated reads (app.read_cache).

A transaction that changes what a feed or a cached read may show (an activity, an
organization's name, a revoked API key or feed token) calls `changed(session)`; just before
it commits, the one row of `feed_state` gets the next generation.  What is cached is cached
under the generation read before its rows were read, so it is never older than its key.
On PostgreSQL the row is locked only from that update to the commit, so concurrent writers
queue for a moment at the end, not for their whole transaction."""

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, col

from app.core.timeutil import as_utc, utcnow
from app.feeds.models import FeedState

_FLAG = "stamp_changed"


def changed(session: Session) -> None:
    """What feeds and cached reads show changes when this transaction commits."""
    session.info[_FLAG] = True


@dataclass(frozen=True)
class Stamp:
    generation: int  # 0 before the first change
    changed_at: datetime  # when the latest change committed (roughly: see _bump)


# The generation alone, for readers outside the ORM (app.read_cache, in the event loop).
GENERATION_SQL = "SELECT generation FROM feed_state WHERE id = 1"


def current(session: Session) -> Stamp:
    statement = sa.select(col(FeedState.generation), col(FeedState.changed_at)).where(
        col(FeedState.id) == 1
    )
    row = session.execute(statement).first()
    if row is None:
        return Stamp(0, datetime(2000, 1, 1, tzinfo=UTC))
    return Stamp(int(row[0]), as_utc(row[1]))


@event.listens_for(Session, "before_commit")
def _bump(session: Session) -> None:
    # Savepoints commit too (imports take one per row): only the real commit counts.
    if session.in_nested_transaction() or not session.info.pop(_FLAG, False):
        return
    session.flush()
    table = FeedState.__table__  # type: ignore[attr-defined]
    postgresql = session.get_bind().dialect.name == "postgresql"
    if postgresql:
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    # An upsert, so that a missing row (a wiped table) is no race between two writers.  On
    # PostgreSQL the time is taken once the row is locked, so it grows in commit order;
    # SQLite writers hold the database from their first statement.
    statement = insert(table).values(id=1, generation=1, changed_at=utcnow())
    after_lock = sa.func.clock_timestamp() if postgresql else statement.excluded.changed_at
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["id"],
            set_={"generation": table.c.generation + 1, "changed_at": after_lock},
        )
    )


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous_transaction: SessionTransaction) -> None:
    # Only the whole transaction: a savepoint rolled back (an import's failed row) leaves the
    # changes made before it, which still commit.
    if previous_transaction.parent is None:
        session.info.pop(_FLAG, None)
