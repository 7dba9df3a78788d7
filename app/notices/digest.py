"""The coordinators' digest: daily or weekly, per person, what waits for them (open findings by
kind and region, requests waiting), what is new or changed in the calendar, and the States
with nothing planned in the coming three months, each with links to the pages.

The running service sends it (Worker: at or after ASSISTCAL_DIGEST_HOUR, UTC, every day for
daily digests and on Mondays for weekly ones), and `assistcal notify digest` on demand.  Each
person's digest of a period is a DigestSent row written in the transaction that queues the
mail: a second process trying the same digest finds the row there and sends nothing."""

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from app.activities import queries
from app.activities.models import Activity, ActivityCountry, ActivityPublic
from app.assistance.models import AssistanceRequest
from app.auth.models import Membership, Person
from app.config import Settings
from app.core import i18n, vocab
from app.core.timeutil import utcnow
from app.db import outbox
from app.db.engine import open_session
from app.db.sql import insert_for
from app.findings.models import Finding
from app.findings.stored import KIND_ORDER
from app.mail import service as mail_service
from app.notices import choices
from app.notices.models import DigestSent, NoticeChoice
from app.reports import service as reports

log = logging.getLogger("assistcal.notices")

FREQUENCIES = ("daily", "weekly")
LOCAL_URL = "http://127.0.0.1:8000"  # the links' address without ASSISTCAL_PUBLIC_URL
TOP = 5  # items shown of each list; the counts say how many there are
GAP_DAYS = 91  # "the coming quarter": today and the next 90 days
# Requests that wait for someone to act: not yet answered by a matched activity.
WAITING = ("received", "acknowledged", "circulated")
POLL_SECONDS = 300.0


# When ---------------------------------------------------------------------------------------


def period(frequency: str, now: datetime) -> str:
    """The period `now` falls in: "2027-03-08" (daily) or "2027-W10" (weekly, ISO weeks)."""
    if frequency == "daily":
        return now.date().isoformat()
    year, week, _ = now.isocalendar()
    return f"{year}-W{week:02d}"


def period_start(frequency: str, now: datetime) -> date:
    """The first day of `now`'s period: the day itself, or the week's Monday."""
    day = now.date()
    return day if frequency == "daily" else day - timedelta(days=day.weekday())


def since(frequency: str, now: datetime) -> datetime:
    """Where "new and changed" begins: the start of the period before (yesterday, or the
    Monday a week before this week's), so that digests sent on time overlap by their hour
    rather than leave a gap."""
    step = timedelta(days=1 if frequency == "daily" else 7)
    start = period_start(frequency, now) - step
    return datetime(start.year, start.month, start.day, tzinfo=UTC)


def is_due(frequency: str, now: datetime, hour: int) -> bool:
    """Whether the service sends the `frequency` digest at `now`: from the hour on, every day
    (daily) or on Mondays (weekly); a process started later that day still sends it."""
    if now.hour < hour:
        return False
    return frequency == "daily" or now.weekday() == 0


# Who ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reader:
    person_id: uuid.UUID
    email: str
    name: str
    language: str
    had: bool  # this period's digest already


def readers(
    session: Session, frequency: str, *, periods: str, to: str | None = None
) -> list[Reader]:
    """The people who get the `frequency` digest, each saying whether they had the one of
    `periods`: an active coordinator or admin membership, not removed, and that frequency
    chosen (a person who never chose gets the weekly one)."""
    reviewing = sa.select(col(Membership.person_id)).where(
        col(Membership.status) == "active", col(Membership.role).in_(choices.DIGEST_ROLES)
    )
    had = sa.select(col(DigestSent.person_id)).where(col(DigestSent.period) == periods)
    chosen = sa.func.coalesce(col(NoticeChoice.digest), "weekly")
    statement = (
        sa.select(
            col(Person.id),
            col(Person.email),
            col(Person.name),
            col(Person.language),
            col(Person.id).in_(had),
        )
        .outerjoin(NoticeChoice, col(NoticeChoice.person_id) == col(Person.id))
        .where(col(Person.removed_at).is_(None), col(Person.id).in_(reviewing), chosen == frequency)
        .order_by(col(Person.email))
    )
    if to is not None:
        statement = statement.where(col(Person.email) == to.strip().lower())
    return [
        Reader(person_id, email, name, language if language in i18n.LANGUAGES else "en", bool(sent))
        for person_id, email, name, language, sent in session.execute(statement)
    ]


# What ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    """The States of one region with nothing planned."""

    region: str
    states: list[str]
    of: int  # the region's States


@dataclass
class Content:
    """What one digest says, the same for every reader of a frequency (coordinators and
    admins read everything): plain values, written in each reader's language by the
    templates."""

    frequency: str
    since: date
    findings_total: int = 0
    findings_by_kind: dict[str, int] = field(default_factory=dict)
    findings_by_region: list[tuple[str, int]] = field(default_factory=list)
    findings: list[tuple[Finding, ActivityPublic, ActivityPublic]] = field(default_factory=list)
    new: list[ActivityPublic] = field(default_factory=list)
    new_total: int = 0
    changed: list[ActivityPublic] = field(default_factory=list)
    changed_total: int = 0
    requests: list[AssistanceRequest] = field(default_factory=list)
    requests_total: int = 0
    gap_from: date | None = None
    gap_to: date | None = None
    gaps: list[Gap] = field(default_factory=list)
    gaps_total: int = 0


def content(session: Session, frequency: str, now: datetime) -> Content:
    """The digest of `frequency` as of `now`."""
    start = since(frequency, now)
    found = Content(frequency=frequency, since=start.date())
    _findings(session, found)
    _activities(session, found, start)
    _requests(session, found)
    _gaps(session, found, now.date())
    return found


def _findings(session: Session, found: Content) -> None:
    is_open = col(Finding.status) == "open"
    counted = session.execute(
        sa.select(col(Finding.kind), sa.func.count()).where(is_open).group_by(col(Finding.kind))
    )
    found.findings_by_kind = dict(sorted(counted, key=lambda row: KIND_ORDER.get(row[0], 9)))
    found.findings_total = sum(found.findings_by_kind.values())
    # A finding counts once in each region its two activities' States belong to (a regional
    # activity's implied States included).
    touched = (
        sa.select(col(Finding.id), col(ActivityCountry.country))
        .join(
            ActivityCountry,
            col(ActivityCountry.activity_id).in_([col(Finding.first_id), col(Finding.second_id)]),
        )
        .where(is_open)
        .distinct()
    )
    regions: dict[str, set[uuid.UUID]] = {}
    for finding_id, country in session.execute(touched):
        region = vocab.subregion(country)
        if region is not None:
            regions.setdefault(region, set()).add(finding_id)
    found.findings_by_region = sorted(
        ((region, len(ids)) for region, ids in regions.items()), key=lambda r: (-r[1], r[0])
    )
    # The most serious first, as the review page orders them.
    top = session.exec(  # type: ignore[call-overload]
        sa.select(Finding)
        .where(is_open)
        .order_by(sa.case(KIND_ORDER, value=col(Finding.kind), else_=9), col(Finding.score).desc())
        .limit(TOP)
    ).scalars()
    top = list(top)
    shown = queries.publics(session, [i for f in top for i in (f.first_id, f.second_id)])
    found.findings = [(f, shown[f.first_id], shown[f.second_id]) for f in top]


def _activities(session: Session, found: Content, start: datetime) -> None:
    current = col(Activity.duplicate_of).is_(None)
    new = sa.and_(current, col(Activity.created_at) >= start, col(Activity.withdrawn_at).is_(None))
    changed = sa.and_(current, col(Activity.created_at) < start, col(Activity.updated_at) >= start)
    for condition, name in ((new, "new"), (changed, "changed")):
        total = session.execute(sa.select(sa.func.count()).where(condition)).scalar_one()
        ids = list(
            session.execute(
                sa.select(col(Activity.id))
                .where(condition)
                .order_by(col(Activity.updated_at).desc())
                .limit(TOP)
            ).scalars()
        )
        shown = queries.publics(session, ids)
        setattr(found, name, [shown[i] for i in ids if i in shown])
        setattr(found, f"{name}_total", int(total))


def _requests(session: Session, found: Content) -> None:
    waiting = col(AssistanceRequest.status).in_(WAITING)
    found.requests_total = int(
        session.execute(sa.select(sa.func.count()).where(waiting)).scalar_one()
    )
    # The longest waiting first.
    found.requests = list(
        session.exec(  # type: ignore[call-overload]
            sa.select(AssistanceRequest)
            .where(waiting)
            .order_by(col(AssistanceRequest.created_at))
            .limit(TOP)
        ).scalars()
    )


def _gaps(session: Session, found: Content, today: date) -> None:
    found.gap_from, found.gap_to = today, today + timedelta(days=GAP_DAYS - 1)
    report = reports.coverage(
        session, start=found.gap_from, end=found.gap_to, region=None, by="type"
    )
    by_region: dict[str, list[str]] = {}
    for gap in report.gaps:
        region = vocab.subregion(gap.country) if gap.key is None else None
        if region is not None:
            by_region.setdefault(region, []).append(gap.country)
    members = Counter(vocab.subregion(country) for country in report.countries)
    found.gaps = [
        Gap(region=region, states=states, of=members[region])
        for region, states in sorted(by_region.items(), key=lambda r: (-len(r[1]), r[0]))
    ]
    found.gaps_total = sum(len(g.states) for g in found.gaps)


# How it reads -------------------------------------------------------------------------------


def states(codes: Iterable[str], language: str, limit: int = 6) -> str:
    """States by their names in `language`, alphabetically: the first `limit` of them and
    how many more."""
    ordered = sorted(i18n.country(code, language) for code in codes)
    shown = i18n.listed(ordered[:limit], language)
    if len(ordered) > limit:
        more = len(ordered) - limit
        shown += " " + i18n.plural("and %(n)s more", "and %(n)s more", more, language)
    return shown


def context(found: Content, reader: Reader, *, base: str, unsubscribe: str) -> dict[str, Any]:
    """What the digest templates are given for `reader` (app.mail.compose adds the words,
    dates and names in their language)."""
    return {
        "digest": found,
        "name": reader.name,
        "base": base,
        "unsubscribe": unsubscribe,
        "year": (found.gap_from or found.since).year,
        "states": states,
    }


# Sending ------------------------------------------------------------------------------------


@dataclass
class Sent:
    """What a pass did: digests queued, and how many readers had had theirs already."""

    queued: list[str] = field(default_factory=list)  # the addresses
    already: int = 0


_warned = False


def base_url(settings: Settings) -> str:
    """The links' address: ASSISTCAL_PUBLIC_URL, else the local one (said once in the log)."""
    global _warned
    if settings.public_url:
        return settings.public_url.rstrip("/")
    if not _warned:
        _warned = True
        log.warning("ASSISTCAL_PUBLIC_URL is not set: digests link to %s", LOCAL_URL)
    return LOCAL_URL


def send_due(
    engine: Engine,
    settings: Settings,
    now: datetime,
    *,
    on_demand: bool = False,
    to: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Sent:
    """Queue the digests due at `now` (every period's of now, whatever the hour, when
    `on_demand`), each person's in a transaction of its own; `to`: only that person's.
    `progress` is told each address as its digest is queued."""
    sent = Sent()
    for frequency in FREQUENCIES:
        if not on_demand and not is_due(frequency, now, settings.digest_hour):
            continue
        key = period(frequency, now)
        with open_session(engine, write=False) as session:
            listed = readers(session, frequency, periods=key, to=to)
            waiting = [reader for reader in listed if not reader.had]
            sent.already += len(listed) - len(waiting)
            if not waiting:
                continue
            found = content(session, frequency, now)
        for reader in waiting:
            if _send_one(engine, settings, found, reader, key):
                sent.queued.append(reader.email)
                if progress is not None:
                    progress(reader.email)
            else:
                sent.already += 1
    return sent


def _send_one(engine: Engine, settings: Settings, found: Content, reader: Reader, key: str) -> bool:
    """Queue `reader`'s digest of period `key`, with the DigestSent row that stands for it;
    False when another process has sent it (or the reader no longer wants it)."""
    with open_session(engine, write=True) as session:
        claim = (
            insert_for(engine.dialect.name, DigestSent.__table__)  # type: ignore[attr-defined]
            .values(person_id=reader.person_id, period=key, sent_at=utcnow())
            .on_conflict_do_nothing(index_elements=["person_id", "period"])
            .returning(sa.literal_column("1"))
        )
        # On PostgreSQL a second process's INSERT waits for the first's transaction, then
        # inserts nothing; on SQLite the write lock taken at the start orders them.  The row
        # returned says which (rowcount does not: the session's result gives -1).
        if session.execute(claim).first() is None:
            session.rollback()
            return False
        chosen = choices.choice(session, reader.person_id)
        if chosen.digest != found.frequency:  # changed since they were listed
            session.rollback()
            return False
        base = base_url(settings)
        unsubscribe = base + choices.unsubscribe_path(chosen, ["digest"])
        mail = mail_service.queue(
            session,
            to=reader.email,
            template="digest",
            language=reader.language,
            headers={
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",  # RFC 8058
            },
            person_id=reader.person_id,
            **context(found, reader, base=base, unsubscribe=unsubscribe),
        )
        session.execute(
            sa.update(DigestSent)
            .where(col(DigestSent.person_id) == reader.person_id, col(DigestSent.period) == key)
            .values(mail_id=mail.id)
        )
        session.commit()
    return True


class Worker(outbox.Worker):
    """The running service's digests: a look every few minutes at what is due."""

    topic = "digest"

    def __init__(self, engine: Engine, settings: Settings) -> None:
        super().__init__(poll_seconds=POLL_SECONDS, stop_seconds=10, log=log)
        self.engine = engine
        self.settings = settings

    def send_due(self, opened: Any) -> None:
        sent = send_due(self.engine, self.settings, utcnow())
        if sent.queued:
            log.info("digests queued: %d", len(sent.queued))
