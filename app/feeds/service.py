"""Feeds: which activities a feed shows, its cached bytes, and private feed tokens.

A feed is cached in each process under (what it shows, the change generation, today).  The
generation comes from the database (app.db.stamp), so every process notices a change
made by any other, and the date key lets the moving window and the 60-day stay of cancelled
activities move on by themselves.

A feed that is not cached is assembled from its events' texts: from this process's memory,
else from the database (`feed_event`, so that a new process does not render them again),
else rendered, and then stored for the next process."""

import hashlib
import json
import logging
import secrets
import uuid
from calendar import monthrange
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.activities.models import Activity
from app.activities.queries import Filters, conditions
from app.activities.queries import links as links_of
from app.audit import service as audit
from app.auth.models import ApiKey
from app.core import timeutil, vocab
from app.core.keys import hash_key
from app.core.principal import Principal
from app.core.timeutil import as_utc, utcnow
from app.db import stamp
from app.db.engine import SQLITE_BUSY_MS
from app.db.sql import chunks
from app.errors import NotFound
from app.feeds import render
from app.feeds.models import (
    FeedEvent,
    FeedFilters,
    FeedLinks,
    FeedToken,
    FeedTokenCreated,
    FeedTokenIn,
    FeedTokenPublic,
)
from app.organizations.models import Organization

CANCELLED_STAY = timedelta(days=60)
MONTHS_BACK = 3
MONTHS_AHEAD = 24
TOKEN_PREFIX = "ft_"  # noqa: S105 (a marker, not a secret)
APP_NAME = "1540 assistance activities"

log = logging.getLogger(__name__)


def months_from(day: date, months: int) -> date:
    """The same day `months` later (earlier if negative), or that month's last day."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(year, month + 1, min(day.day, monthrange(year, month + 1)[1]))


@dataclass(frozen=True)
class FeedSpec:
    """Everything a feed's bytes depend on, besides the data."""

    filters: FeedFilters
    name: str
    description: str
    today: date
    date_from: date | None = None  # None: MONTHS_BACK before today
    date_to: date | None = None  # None: MONTHS_AHEAD after today
    hide_cancelled: bool = False
    include_restricted: bool = False

    @property
    def window(self) -> tuple[date, date]:
        return (
            self.date_from or months_from(self.today, -MONTHS_BACK),
            self.date_to or months_from(self.today, MONTHS_AHEAD),
        )

    @property
    def key(self) -> str:
        facts = [
            self.filters.model_dump(mode="json"),
            self.name,
            self.description,
            self.today.isoformat(),
            [d.isoformat() for d in self.window],
            self.hide_cancelled,
            self.include_restricted,
        ]
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Rendered:
    body: bytes
    etag: str
    last_modified: datetime


class FeedCache:
    """Rendered feeds of this process, by (spec key, generation); least recently used
    dropped beyond `max_bytes` or `max_entries`."""

    def __init__(self, max_bytes: int = 256 * 2**20, max_entries: int = 2_000) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.size = 0
        self._items: OrderedDict[tuple[str, int], Rendered] = OrderedDict()
        self.events = render.EventCache()
        self.hits = self.misses = 0  # for /metrics

    def get(self, key: tuple[str, int]) -> Rendered | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
            self.hits += 1
        else:
            self.misses += 1
        return found

    def put(self, key: tuple[str, int], value: Rendered) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self.size -= len(old.body)
        self._items[key] = value
        self.size += len(value.body)
        while len(self._items) > 1 and (
            self.size > self.max_bytes or len(self._items) > self.max_entries
        ):
            _, dropped = self._items.popitem(last=False)
            self.size -= len(dropped.body)


def _filters(spec: FeedSpec) -> Filters:
    f = spec.filters
    date_from, date_to = spec.window
    return Filters(
        countries=[*f.country],
        regions=[*f.region],
        themes=[*f.theme],
        domains=[*f.domain],
        types=[*f.type],
        providers=[*f.provider],
        statuses=[*f.status],
        date_from=date_from,
        date_to=date_to,
        q=f.q,
        updated_since=f.updated_since,
    )


def _cancelled() -> sa.ColumnElement[bool]:
    return sa.or_(col(Activity.withdrawn_at).is_not(None), col(Activity.status) == "cancelled")


def _cancelled_at() -> sa.ColumnElement[Any]:
    return sa.func.coalesce(col(Activity.withdrawn_at), col(Activity.updated_at))


def _scope(session: Session, spec: FeedSpec, *, window: bool) -> list[sa.ColumnElement[bool]]:
    filters = _filters(spec)
    if not window:
        filters.date_from = filters.date_to = None
    return conditions(session, filters, public_only=not spec.include_restricted)


def _shown(spec: FeedSpec) -> list[sa.ColumnElement[bool]]:
    """Beyond the filters: no confirmed duplicates; cancelled and withdrawn activities for
    60 days (or never, with hide_cancelled)."""
    shown: list[sa.ColumnElement[bool]] = [col(Activity.duplicate_of).is_(None)]
    if spec.hide_cancelled:
        shown.append(sa.not_(_cancelled()))
    else:
        since = _day(spec.today) - CANCELLED_STAY
        shown.append(sa.or_(sa.not_(_cancelled()), _cancelled_at() >= since))
    return shown


def refs(session: Session, spec: FeedSpec) -> list[render.EventRef]:
    """The feed's events by start date, as much of them as tells whether a kept text is
    current: a few plain columns, so that a feed whose events are kept is read quickly."""
    rows = session.execute(
        sa.select(
            col(Activity.id),
            col(Activity.revision),
            col(Activity.withdrawn_at),
            col(Organization.acronym),
            col(Organization.name),
            col(FeedEvent.renamed),
            col(FeedEvent.renamed_at),
            col(FeedEvent.text_key),
            col(Activity.start_date),
            col(Activity.end_date),
            col(Activity.start_time),
            col(Activity.timezone),
        )
        .join(Organization, col(Organization.id) == Activity.provider_id)
        .outerjoin(FeedEvent, col(FeedEvent.activity_id) == Activity.id)
        .where(*_scope(session, spec, window=True), *_shown(spec))
        .order_by(col(Activity.start_date), col(Activity.id))
    )
    return [
        render.EventRef(
            id=str(activity_id),
            revision=revision,
            withdrawn=withdrawn_at is not None,
            provider=acronym,
            provider_name=name,
            renamed=renamed or 0,
            renamed_at=as_utc(renamed_at) if renamed_at else None,
            stored=text_key,
            start_date=start_date,
            end_date=end_date,
            zone=zone if start_time else None,
        )
        for (
            activity_id,
            revision,
            withdrawn_at,
            acronym,
            name,
            renamed,
            renamed_at,
            text_key,
            start_date,
            end_date,
            start_time,
            zone,
        ) in rows
    ]


def load(session: Session, spec: FeedSpec, wanted: list[render.EventRef]) -> list[render.EventData]:
    """Everything these events show, in chunks of 5,000.  The feed's conditions and each
    event's revision are checked again: on PostgreSQL each statement sees the latest
    commits, and an activity made restricted since `refs` must not reach a public feed."""
    geography = vocab.geography()
    country_names = {code: c.name for code, c in geography.countries.items()}
    by_id = {uuid.UUID(ref.id): ref for ref in wanted}
    ids = list(by_id)
    loaded: list[render.EventData] = []
    for chunk in chunks(ids, 5_000):
        states, regions = links_of(session, chunk)
        current = select(Activity).where(
            col(Activity.id).in_(chunk), *_scope(session, spec, window=True), *_shown(spec)
        )
        for a in session.exec(current):
            ref = by_id[a.id]
            if a.revision != ref.revision:
                continue  # changed since refs: the next request renders the new revision
            loaded.append(
                render.EventData(
                    id=ref.id,
                    revision=a.revision,
                    created_at=a.created_at,
                    updated_at=a.updated_at,
                    title=a.title,
                    description=a.description,
                    status=a.status,
                    withdrawn=a.withdrawn_at is not None,
                    start_date=a.start_date,
                    end_date=a.end_date,
                    start_time=a.start_time,
                    end_time=a.end_time,
                    timezone=a.timezone,
                    provider=ref.provider,
                    provider_name=ref.provider_name,
                    renamed=ref.renamed,
                    renamed_at=ref.renamed_at,
                    partners=tuple(a.partners),
                    states=render.names(states[a.id], country_names),
                    regions=render.names(regions[a.id], geography.region_names),
                    themes=tuple(a.themes),
                    activity_type=a.activity_type,
                    audiences=tuple(a.audiences),
                    location=_location(a, country_names),
                    contact_email=a.contact_email,
                    url=a.url,
                )
            )
    return loaded


def _location(activity: Activity, country_names: dict[str, str]) -> str | None:
    parts = [activity.venue_city, country_names.get(activity.venue_country or "")]
    place = ", ".join(p for p in parts if p)
    if activity.modality == "virtual":
        return f"Online ({place})" if place else "Online"
    if activity.modality == "hybrid":
        return f"{place} and online" if place else "Online"
    return place or None


def _day(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)


def stored(
    session: Session, wanted: list[render.EventRef], spec: FeedSpec | None = None
) -> dict[str, bytes]:
    """The texts kept in the database for these events, where still theirs.  With `spec`,
    read with the feed's own conditions rather than by id: for many events, cheaper than a
    list of thousands of ids."""
    digests = {ref.id: ref.digest for ref in wanted}
    statements = []
    columns = (col(FeedEvent.activity_id), col(FeedEvent.text_key), col(FeedEvent.text))
    if spec is not None:
        statements.append(
            sa.select(*columns)
            .join(Activity, col(Activity.id) == FeedEvent.activity_id)
            .where(*_scope(session, spec, window=True), *_shown(spec))
        )
    else:
        ids = [uuid.UUID(ref.id) for ref in wanted]
        statements += [
            sa.select(*columns).where(col(FeedEvent.activity_id).in_(chunk))
            for chunk in chunks(ids, 1_000)
        ]
    found: dict[str, bytes] = {}
    for statement in statements:
        for activity_id, text_key, text in session.execute(statement):
            activity = str(activity_id)
            if text is not None and text_key == digests.get(activity):
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
    if postgresql:
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    table = FeedEvent.__table__  # type: ignore[attr-defined]
    # One order for every writer, so that two never wait for each other's rows.
    ordered = sorted(rendered, key=lambda pair: pair[0].id)
    rows = [
        {
            "activity_id": uuid.UUID(ref.id),
            "renamed": 0,
            "text_key": ref.digest,
            "text": text.decode(),
        }
        for ref, text in ordered
    ]
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=["activity_id"],
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
    from_database = stored(session, kept, spec if len(kept) > 500 else None) if kept else {}
    rendered = []
    to_render = [ref for ref in missing if ref.id not in from_database]
    by_id = {ref.id: ref for ref in to_render}
    for data in load(session, spec, to_render) if to_render else []:
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


def serve(
    session: Session, spec: FeedSpec, cache: FeedCache, engine: sa.Engine | None = None
) -> Rendered:
    """The feed's bytes, from this process's cache while no change was committed since.

    Last-Modified is the latest committed change to any activity or provider, or the start
    of today (when the window and the 60-day stay of cancelled activities move on), whichever
    is later: coarser than the feed itself, so If-Modified-Since may answer 200 where 304
    would do, but never 304 where the feed changed.  ETags are exact."""
    # The stamp is read before the rows: a feed cached under it is never older than it.
    read = stamp.current(session)
    key = (spec.key, read.generation)
    found = cache.get(key)
    if found is not None:
        return found
    listed = refs(session, spec)
    body = render.assemble(
        spec.name, spec.description, listed, texts(session, spec, listed, cache.events, engine)
    )
    etag = '"' + hashlib.sha256(body).hexdigest()[:40] + '"'
    rendered = Rendered(body, etag, max(read.changed_at, _day(spec.today)))
    cache.put(key, rendered)
    return rendered


def provider_renamed(session: Session, organization_id: int) -> None:
    """The provider's name changed: its events say so, so each one's SEQUENCE grows by one
    and its LAST-MODIFIED is now.  (Its kept texts no longer match their key.)"""
    postgresql = session.get_bind().dialect.name == "postgresql"
    if postgresql:
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    table = FeedEvent.__table__  # type: ignore[attr-defined]
    now = utcnow()
    events = sa.select(
        col(Activity.id), sa.literal(1), sa.literal(now, table.c.renamed_at.type)
    ).where(col(Activity.provider_id) == organization_id)
    events = events.order_by(col(Activity.id))  # the order `store` locks rows in
    statement = insert(table).from_select(["activity_id", "renamed", "renamed_at"], events)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["activity_id"],
            set_={"renamed": table.c.renamed + 1, "renamed_at": statement.excluded.renamed_at},
        )
    )


# Names ---------------------------------------------------------------------------------------


def describe(filters: FeedFilters) -> tuple[str, str]:
    """A feed's readable name and description from its filters, e.g. "Trinidad and Tobago -
    1540 assistance activities".  Pure: it runs on every request, cached feed or not."""
    geography = vocab.geography()
    parts: list[str] = []
    parts += [geography.countries[c].name for c in filters.country if c in geography.countries]
    parts += [geography.region_names.get(r, r) for r in filters.region]
    parts += [acronym.strip().upper() for acronym in filters.provider]  # acronyms are upper case
    parts += [t.replace("_", " ").capitalize() for t in filters.theme]
    parts += [d.replace("_", " ") for d in filters.domain]
    parts += [t.replace("_", " ") for t in filters.type]
    parts += list(filters.status)
    name = f"{', '.join(parts)} - {APP_NAME}" if parts else f"All {APP_NAME}"
    description = (
        "Planned activities of assistance for the implementation of UN Security Council "
        f"resolution 1540 (2004): {', '.join(parts) if parts else 'all States and themes'}. "
        "Shared by the providers in assistcal."
    )
    return name, description


# Links and tokens ----------------------------------------------------------------------------


def links(base_url: str, path: str, query: dict[str, list[str]] | None = None) -> FeedLinks:
    """The address of a feed under `base_url` (kept http or https, so a link to a plain-http
    local server works when pasted), its webcal:// form and Google Calendar's subscribe link."""
    url = base_url.rstrip("/") + path
    if query:
        url += "?" + urlencode([(k, v) for k, values in query.items() for v in values])
    webcal = "webcal://" + url.split("://", 1)[1]
    google = "https://calendar.google.com/calendar/render?cid=" + quote(url, safe="")
    return FeedLinks(url=url, webcal_url=webcal, google_url=google)


def create_token(
    session: Session, data: FeedTokenIn, *, actor: Principal, base_url: str
) -> FeedTokenCreated:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = FeedToken(
        label=data.label,
        token_hash=hash_key(token),
        organization_id=actor.organization_id,
        api_key_id=actor.key_id,
        created_by=f"{actor.organization} ({actor.key_prefix})",
        filters=data.filters.model_dump(mode="json"),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="feed_token.create",
        entity_type="feed_token",
        entity_id=row.id,
        changes={"label": data.label, "filters": row.filters},
    )
    found = links(base_url, f"/feeds/private/{token}.ics")
    return FeedTokenCreated(id=row.id, token=token, **found.model_dump())


def _public(row: FeedToken) -> FeedTokenPublic:
    return FeedTokenPublic(
        id=row.id,
        label=row.label,
        filters=FeedFilters.model_validate(row.filters),
        created_by=row.created_by,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def _visible(viewer: Principal) -> sa.ColumnElement[bool]:
    return (
        sa.true() if viewer.is_admin else col(FeedToken.organization_id) == viewer.organization_id
    )


def list_tokens(session: Session, viewer: Principal) -> list[FeedTokenPublic]:
    rows = session.exec(
        select(FeedToken).where(_visible(viewer)).order_by(col(FeedToken.created_at).desc())
    )
    return [_public(row) for row in rows]


def revoke_token(session: Session, token_id: uuid.UUID, *, actor: Principal) -> FeedTokenPublic:
    row = session.exec(
        select(FeedToken).where(FeedToken.id == token_id, _visible(actor)).with_for_update()
    ).first()
    if row is None:
        raise NotFound(f"no feed token with id {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        audit.record(
            session,
            actor=actor,
            action="feed_token.revoke",
            entity_type="feed_token",
            entity_id=row.id,
            changes={"label": row.label},
        )
    return _public(row)


def by_token(session: Session, token: str) -> FeedToken:
    """The live token with this secret; an unknown or revoked one is a 404 that says
    nothing more."""
    row = None
    if token.startswith(TOKEN_PREFIX) and len(token) < 100:
        row = session.exec(
            select(FeedToken)
            .join(ApiKey, col(ApiKey.id) == FeedToken.api_key_id)
            .where(
                FeedToken.token_hash == hash_key(token),
                col(FeedToken.revoked_at).is_(None),
                col(ApiKey.revoked_at).is_(None),  # the key that made it still works
            )
        ).first()
    if row is None:
        raise NotFound("no such feed")
    return row


def spec_for(
    filters: FeedFilters,
    *,
    date_from: date | None,
    date_to: date | None,
    hide_cancelled: bool,
    include_restricted: bool = False,
    name: str | None = None,
) -> FeedSpec:
    """What a feed shows; `name` replaces the name made from the filters (private feeds are
    named by their label)."""
    feed_name, description = describe(filters)
    if name is not None:
        feed_name = f"{name} - {APP_NAME}"
    return FeedSpec(
        filters=filters,
        name=feed_name,
        description=description,
        today=timeutil.today(),
        date_from=date_from,
        date_to=date_to,
        hide_cancelled=hide_cancelled,
        include_restricted=include_restricted,
    )


def filter_query(filters: FeedFilters) -> dict[str, list[str]]:
    """The filters as query parameters of /feeds/calendar.ics."""
    query: dict[str, list[str]] = {}
    for name, value in filters.model_dump(mode="json").items():
        if value:
            query[name] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return query
