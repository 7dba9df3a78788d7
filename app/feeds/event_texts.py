"""Events' texts: a feed that is not cached is assembled from them, taken from this
process's memory, else from the database (`feed_event`, so that a new process does not render
them again), else rendered, and then stored for the next process."""

import logging
import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from app.activities.models import Activity
from app.core.timeutil import utcnow
from app.db.engine import SQLITE_BUSY_MS
from app.db.sql import chunks, insert_for
from app.feeds import events, render
from app.feeds.models import FeedEvent, FeedEventText
from app.feeds.spec import FeedSpec

log = logging.getLogger(__name__)


def stored(
    session: Session, wanted: list[render.EventRef], language: str, spec: FeedSpec | None = None
) -> dict[str, bytes]:
    """The texts in `language` kept in the database for these events, where still theirs.
    With `spec`, read with the feed's own conditions rather than by id: for many events,
    cheaper than a list of thousands of ids."""
    digests = {ref.id: ref.digest for ref in wanted}
    statements = []
    columns = (col(FeedEventText.activity_id), col(FeedEventText.text_key), col(FeedEventText.text))
    kept = sa.select(*columns).where(col(FeedEventText.language) == language)
    if spec is not None:
        statements.append(
            kept.join(Activity, col(Activity.id) == FeedEventText.activity_id).where(
                *events.shown(session, spec)
            )
        )
    else:
        ids = [uuid.UUID(ref.id) for ref in wanted]
        statements += [
            kept.where(col(FeedEventText.activity_id).in_(chunk)) for chunk in chunks(ids, 1_000)
        ]
    found: dict[str, bytes] = {}
    for statement in statements:
        for activity_id, text_key, text in session.execute(statement):
            activity = str(activity_id)
            if text_key == digests.get(activity):
                found[activity] = text.encode()
    return found


STORE_WAIT_MS = 50


def store(engine: sa.Engine, rendered: list[tuple[render.EventRef, bytes]]) -> None:
    """Keep these texts for the next process, in a transaction of their own.  Not a change
    of what feeds show (no stamp): the same events, the same bytes.  A failure is logged and
    otherwise ignored: the feed was served, and the next one renders them again."""
    if not rendered:
        return
    postgresql = engine.dialect.name == "postgresql"
    table = FeedEventText.__table__  # type: ignore[attr-defined]
    # One order for every writer, so that two never wait for each other's rows.
    ordered = sorted(rendered, key=lambda pair: (pair[0].id, pair[0].language))
    rows = [
        {
            "activity_id": uuid.UUID(ref.id),
            "language": ref.language,
            "text_key": ref.digest,
            "text": text.decode(),
        }
        for ref, text in ordered
    ]
    statement = insert_for(engine.dialect.name, table)
    statement = statement.on_conflict_do_update(
        index_elements=["activity_id", "language"],
        set_={"text_key": statement.excluded.text_key, "text": statement.excluded.text},
    )
    try:
        with engine.connect() as conn:
            if not postgresql:
                # A read does not queue for SQLite's write lock (nor take the gate's writer
                # slot): if a writer holds it, the texts are kept by a later feed instead.
                conn.exec_driver_sql(f"PRAGMA busy_timeout={STORE_WAIT_MS}")
            try:
                _write(conn, statement, rows)
                conn.commit()
            finally:
                if not postgresql:
                    conn.rollback()
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
                    conn.commit()
    except sa.exc.SQLAlchemyError:
        log.warning("could not keep %d event texts", len(rows), exc_info=True)


def _write(conn: sa.Connection, statement: Any, rows: list[dict[str, Any]]) -> None:
    for chunk in chunks(rows, 1_000):
        conn.execute(statement, list(chunk))


def texts(
    session: Session,
    spec: FeedSpec,
    wanted: list[render.EventRef],
    memory: render.EventCache,
    engine: sa.Engine | None,
) -> list[bytes]:
    """Each event's text: from `memory`, else from the database, else rendered (and then
    stored with `engine`, when given).  An event that went away between the two reads is
    left out."""
    found: dict[str, bytes] = {}
    missing = []
    for ref in wanted:
        text = memory.get(ref)
        if text is None:
            missing.append(ref)
        else:
            found[ref.id] = text
    kept = [ref for ref in missing if ref.stored == ref.digest]
    # Many (a new process): read with the feed's conditions; a few (after an edit): by id.
    from_database = (
        stored(session, kept, spec.language, spec if len(kept) > 500 else None) if kept else {}
    )
    rendered = []
    to_render = [ref for ref in missing if ref.id not in from_database]
    by_id = {ref.id: ref for ref in to_render}
    for data in events.load(session, spec, to_render) if to_render else []:
        # Kept under the key it was asked for: on PostgreSQL the data may be a moment newer
        # than the ref read just before (load drops a changed revision); the next feed
        # renders it again.
        text = render.event(data)
        rendered.append((by_id[data.id], text))
        from_database[data.id] = text
    for ref in missing:
        text = from_database.get(ref.id)
        if text is not None:
            memory.put(ref, text)
            found[ref.id] = text
    memory.trim(keep=len(wanted))
    if engine is not None:
        store(engine, rendered)
    return [found[ref.id] for ref in wanted if ref.id in found]


def provider_renamed(session: Session, organization_id: int) -> None:
    """The provider's name changed: its events say so, so each one's SEQUENCE grows by one
    and its LAST-MODIFIED is now.  (Its kept texts no longer match their key.)"""
    table = FeedEvent.__table__  # type: ignore[attr-defined]
    now = utcnow()
    rows = sa.select(
        col(Activity.id), sa.literal(1), sa.literal(now, table.c.renamed_at.type)
    ).where(col(Activity.provider_id) == organization_id)
    rows = rows.order_by(col(Activity.id))  # the order `store` locks rows in
    statement = insert_for(session.get_bind().dialect.name, table).from_select(
        ["activity_id", "renamed", "renamed_at"], rows
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["activity_id"],
            set_={"renamed": table.c.renamed + 1, "renamed_at": statement.excluded.renamed_at},
        )
    )
