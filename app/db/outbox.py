"""What the outboxes share (webhook deliveries, e-mails): rows written in the transaction of
the change they tell about, so a rolled-back change sends nothing, then sent by a worker thread
in each process.

A worker claims due rows before sending them (their next attempt pushed a lease ahead, in a
short transaction, with SKIP LOCKED on PostgreSQL), so several processes can run it and none
sends what another is sending.  It is woken as soon as a transaction that queued rows for it
commits (`queued`), and every `poll_seconds` for retries and rows queued by other processes."""

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.db.engine import open_session

_QUEUED = "assistcal.outbox.queued"
_wakers: dict[str, list[Callable[[], None]]] = {}


def queued(session: Session, topic: str) -> None:
    """Note that this transaction queued rows for the `topic` worker: its commit wakes it."""
    session.info.setdefault(_QUEUED, set()).add(topic)


@sa.event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    for topic in session.info.pop(_QUEUED, ()):
        for wake in list(_wakers.get(topic, ())):
            wake()


@sa.event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_QUEUED, None)


def claim(
    engine: Engine,
    columns: sa.Select[*tuple[Any, ...]],
    *,
    model: Any,
    now: datetime,
    lease: timedelta,
    limit: int,
) -> list[tuple[Any, ...]]:
    """Up to `limit` due rows of `model` (pending, next attempt passed), soonest first, as
    `columns` selects them (the row's id first), leased to this process for `lease` (longer
    than sending them all can take) by pushing their next attempt ahead."""
    due = (
        columns.where(model.status == "pending", model.next_attempt_at <= now)
        .order_by(model.next_attempt_at)
        .limit(limit)
    )
    with open_session(engine, write=False) as session:
        if session.execute(due).first() is None:
            return []  # nothing due: no write transaction (on SQLite, no write lock)
    with open_session(engine, write=True) as session:
        if engine.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True, of=model)
        rows = [tuple(row) for row in session.execute(due)]
        if rows:
            session.execute(
                sa.update(model)
                .where(model.id.in_([row[0] for row in rows]))
                .values(next_attempt_at=now + lease)
            )
        session.commit()
    return rows


def retry_at(
    attempts: int, now: datetime, *, first: timedelta, cap: timedelta, max_attempts: int
) -> datetime | None:
    """When to try again after the `attempts`-th failure: `first`, then four times longer
    each time up to `cap`; None once `max_attempts` have been made."""
    if attempts >= max_attempts:
        return None
    return now + min(first * 4 ** (attempts - 1), cap)


class Worker:
    """A thread that sends an outbox: `send_due(opened)` after each commit that queued rows
    for `topic`, and every `poll_seconds`; `opened()` is what every pass is handed, opened once
    for the thread's life (an HTTP client), and closed when it stops."""

    topic = ""

    def __init__(self, *, poll_seconds: float, stop_seconds: float, log: logging.Logger) -> None:
        self.poll_seconds = poll_seconds
        self.stop_seconds = stop_seconds
        self.log = log
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.topic, daemon=True)

    def opened(self) -> AbstractContextManager[Any]:
        return nullcontext()

    def send_due(self, opened: Any) -> None:
        raise NotImplementedError

    def start(self) -> None:
        _wakers.setdefault(self.topic, []).append(self._wake.set)
        self._thread.start()

    def stop(self) -> None:
        wakers = _wakers.get(self.topic, [])
        if self._wake.set in wakers:
            wakers.remove(self._wake.set)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=self.stop_seconds)

    def _run(self) -> None:
        with self.opened() as opened:
            while not self._stop.is_set():
                self._wake.clear()
                try:
                    self.send_due(opened)
                except Exception:  # a database hiccup must not end the thread
                    self.log.exception("%s: sending pass failed", self.topic)
                self._wake.wait(self.poll_seconds)
