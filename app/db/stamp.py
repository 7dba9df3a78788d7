"""The change stamp that tells every process whether what it cached is still current: its
rendered feeds (app.feeds) and its answers to repeated reads (app.http.read_cache).

The stamp moves by itself.  A table whose rows a cached answer may show is declared with
`watch(Model)` beside its model (activities and their links, organizations, API keys, feed
tokens), and a listener on every Session notes each write to such a table, whatever code
made it: objects added, changed or deleted and flushed; INSERT, UPDATE and DELETE statements
run through `Session.execute`, in bulk or not; even textual SQL that names the table.  Just
before a transaction that wrote one commits, the one row of `feed_state` gets the next
generation.  What is cached is cached under the generation read before its rows were read, so
it is never older than its key.  On PostgreSQL the row is locked only from that update to the
commit, so concurrent writers queue for a moment at the end, not for their whole
transaction.

A table may name columns that cached answers never show (`watch(..., ignore=...)`: an API key's
last use): a change to those alone leaves the stamp where it was.  Writes made on a bare
connection, outside a Session, are not seen: everything in the service writes through one."""

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, SessionTransaction, UOWTransaction
from sqlmodel import Field, Session, SQLModel, col

from app.core.timeutil import as_utc, utcnow
from app.db import types  # noqa: F401  (the metadata's naming convention, before the table)
from app.db.sql import insert_for

_WATCH = "assistcal_stamp"  # key of a watched table's Table.info: the columns it ignores
_FLAG = "stamp_changed"  # key of Session.info: this transaction wrote a watched table


def watch(*models: type[SQLModel], ignore: Iterable[str] = ()) -> None:
    """The models' tables hold rows that cached answers may show: every write to them,
    except to the `ignore` columns alone, moves the stamp."""
    for model in models:
        table: sa.Table = model.__table__  # type: ignore[attr-defined]
        unknown = set(ignore) - set(table.columns.keys())
        assert not unknown, f"{table.name} has no column {unknown}"
        table.info[_WATCH] = frozenset(ignore)


def watched_tables(metadata: sa.MetaData = SQLModel.metadata) -> dict[str, frozenset[str]]:
    """The watched tables' names, each with the columns it ignores."""
    return {
        name: table.info[_WATCH] for name, table in metadata.tables.items() if _WATCH in table.info
    }


class ChangeStamp(SQLModel, table=True):
    """One row: the generation, bumped by every transaction that wrote a watched table."""

    __tablename__ = "feed_state"  # its name since feeds were the first to read it

    id: int = Field(default=1, primary_key=True)
    generation: int = Field(default=0, sa_type=sa.BigInteger)
    changed_at: datetime = Field(default_factory=utcnow)


@dataclass(frozen=True)
class Stamp:
    generation: int  # 0 before the first change
    changed_at: datetime  # when the latest change committed (roughly: see _bump)


# The generation alone, for readers outside the ORM (app.http.read_cache, in the event loop).
GENERATION_SQL = "SELECT generation FROM feed_state WHERE id = 1"


def current(session: Session) -> Stamp:
    statement = sa.select(col(ChangeStamp.generation), col(ChangeStamp.changed_at)).where(
        col(ChangeStamp.id) == 1
    )
    row = session.execute(statement).first()
    if row is None:
        return Stamp(0, datetime(2000, 1, 1, tzinfo=UTC))
    return Stamp(int(row[0]), as_utc(row[1]))


def pending(session: Session) -> bool:
    """Whether the transaction has written a watched table so far (flushed or executed)."""
    return bool(session.info.get(_FLAG))


# What a write touches -----------------------------------------------------------------------


def _ignored(table: Any) -> frozenset[str] | None:
    """The columns a watched table ignores; None when the table is not watched."""
    info = getattr(table, "info", None)
    return info.get(_WATCH) if info else None


def _columns_set(state: ORMExecuteState, table: sa.Table) -> Iterator[str]:
    """The columns an UPDATE sets: named in .values(), or in the parameters of an update by
    primary key (whose key columns only say which rows)."""
    statement: Any = state.statement
    for key in statement._values or ():  # .values() and .ordered_values()
        yield getattr(key, "key", key)
    keys = set(table.primary_key.columns.keys())
    parameters = state.parameters
    for row in [parameters] if isinstance(parameters, dict) else parameters or ():
        yield from (name for name in row if name not in keys)


# Textual SQL: the table after INSERT INTO, UPDATE or DELETE FROM (quoted or not).
_TEXT_WRITE = re.compile(
    r'\b(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE
)


def _text_writes_watched(sql: str) -> bool:
    tables = SQLModel.metadata.tables
    return any(_ignored(tables.get(name.lower())) is not None for name in _TEXT_WRITE.findall(sql))


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if state.session.info.get(_FLAG) or state.is_select:
        return
    statement: Any = state.statement
    if isinstance(statement, sa.TextClause):
        written = _text_writes_watched(statement.text)
    else:
        table: Any = getattr(statement, "table", None)
        ignore = _ignored(table)
        if ignore is None:
            return
        written = (
            not state.is_update
            or not ignore
            or any(name not in ignore for name in _columns_set(state, table))
        )
    if written:
        state.session.info[_FLAG] = True


@event.listens_for(Session, "after_flush")
def _on_flush(session: Session, _flush: UOWTransaction) -> None:
    # After the flush, new, dirty and deleted still hold what it wrote, with their history.
    if session.info.get(_FLAG):
        return
    for instance in chain(session.new, session.deleted):
        if _ignored(sa.inspect(instance).mapper.local_table) is not None:
            session.info[_FLAG] = True
            return
    for instance in session.dirty:
        state = sa.inspect(instance)
        ignore = _ignored(state.mapper.local_table)
        if ignore is None:
            continue
        if any(a.key not in ignore and a.history.has_changes() for a in state.attrs):
            session.info[_FLAG] = True
            return


# The bump -----------------------------------------------------------------------------------


@event.listens_for(Session, "before_commit")
def _bump(session: Session) -> None:
    # Savepoints commit too (imports take one per row): only the real commit counts.
    if session.in_nested_transaction():
        return
    session.flush()  # what is still pending may write a watched table
    if not session.info.pop(_FLAG, False):
        return
    table = ChangeStamp.__table__  # type: ignore[attr-defined]
    postgresql = session.get_bind().dialect.name == "postgresql"
    # An upsert, so that a missing row (a wiped table) is no race between two writers.  On
    # PostgreSQL the time is taken once the row is locked, so it grows in commit order;
    # SQLite writers hold the database from their first statement.
    statement = insert_for(session.get_bind().dialect.name, table)
    statement = statement.values(id=1, generation=1, changed_at=utcnow())
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
    # changes made before it, which still commit (and may move the stamp for nothing).
    if previous_transaction.parent is None:
        session.info.pop(_FLAG, None)
