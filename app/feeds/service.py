"""Serving a feed: its bytes, cached in each process.

A feed is cached under (what it shows, the change generation, today).  The generation comes
from the database (app.db.stamp), so every process notices a change made by any other, and the
date key lets the moving window and the 60-day stay of cancelled activities move on by
themselves.  What a feed shows is app.feeds.spec; its events, app.feeds.events; their texts,
app.feeds.event_texts."""

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from app.db import stamp
from app.feeds import event_texts, events, render
from app.feeds.spec import FeedSpec, start_of


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
    listed = events.refs(session, spec)
    body = render.assemble(
        spec.name,
        spec.description,
        listed,
        event_texts.texts(session, spec, listed, cache.events, engine),
    )
    etag = '"' + hashlib.sha256(body).hexdigest()[:40] + '"'
    rendered = Rendered(body, etag, max(read.changed_at, start_of(spec.today)))
    cache.put(key, rendered)
    return rendered
