"""Findings: detect them when an activity is created or changed, store them, review them.

Candidates come from the database (activities sharing a beneficiary State within a date
window, through the covering index of activity_country); scoring is app.core.matching.
"""

import dataclasses
import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.activities import service as activities
from app.activities.models import LONG_RUNNING_DAYS, Activity, ActivityCountry
from app.audit import service as audit
from app.core import activity_rules, matching
from app.core.principal import Principal
from app.core.timeutil import utcnow
from app.db.pagination import newest_first
from app.db.sql import chunks, upsert
from app.db.types import json_set, json_text
from app.errors import NotFound, ValidationFailed
from app.findings.models import STATUS_OF_DECISION, DecisionIn, Finding, FindingPublic
from app.organizations import service as organizations
from app.organizations.models import Organization
from app.webhooks import events as webhook_events

KIND_ORDER = {"duplicate": 0, "overlap": 1, "clash": 2}


@dataclass
class Filters:
    statuses: Sequence[str] = ()
    kinds: Sequence[str] = ()
    countries: Sequence[str] = ()
    providers: Sequence[str] = ()
    activity_id: uuid.UUID | None = None


def public(row: Any) -> FindingPublic:
    """A finding as the API shows it, from a Finding or a plain row of its table."""
    return FindingPublic.model_validate(
        {
            "id": row.id,
            "kind": row.kind,
            "score": row.score,
            "reasons": row.reasons,
            "status": row.status,
            "activity_ids": [row.first_id, row.second_id],
            "note": row.note,
            "decided_by": row.decided_by,
            "decided_at": row.decided_at,
            "created_at": row.created_at,
        }
    )


# Detection ---------------------------------------------------------------------------------


# Plain columns only: rows become facts by the hundred on the hottest path of a submission.
_FACT_COLUMNS = (
    col(Activity.id),
    col(Organization.acronym),
    json_text(col(Organization.aliases)),
    col(Activity.title),
    col(Activity.activity_type),
    json_text(col(Activity.themes)),
    col(Activity.start_date),
    col(Activity.end_date),
    json_text(col(Activity.partners)),
    col(Activity.external_ref),
    col(Activity.venue_city),
)


def _fact(fields: Sequence[Any], states: Collection[str]) -> matching.Facts:
    """Facts from the values of _FACT_COLUMNS, in their order (unpacked by position: named
    access to a row's columns costs more than the rest of the work)."""
    (activity_id, provider, aliases, title, kind, themes, start, end, partners, ref, city) = fields
    return matching.Facts(
        id=str(activity_id),
        provider=provider,
        provider_names=json_set(aliases),
        title=title,
        activity_type=kind,
        themes=json_set(themes),
        states=frozenset(states),
        start=start,
        end=end,
        partners=json_set(partners),
        external_ref=ref,
        city=city,
    )


@cache
def _states_statement() -> Any:
    return sa.select(col(ActivityCountry.activity_id), col(ActivityCountry.country)).where(
        col(ActivityCountry.activity_id).in_(sa.bindparam("ids", expanding=True))
    )


def _states(session: Session, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
    states: dict[uuid.UUID, set[str]] = defaultdict(set)
    if ids:
        for activity_id, country in session.connection().execute(
            _states_statement(), {"ids": list(ids)}
        ):
            states[activity_id].add(country)
    return states


@cache
def _facts_statement() -> sa.Select[Any]:
    """One row per activity and beneficiary State (a single row with no State for an
    activity whose regions hold no independent State)."""
    return (
        sa.select(col(ActivityCountry.country), *_FACT_COLUMNS)
        .select_from(Activity)
        .outerjoin(ActivityCountry, col(ActivityCountry.activity_id) == Activity.id)
        .join(Organization, col(Organization.id) == Activity.provider_id)
        .where(col(Activity.id).in_(sa.bindparam("ids", expanding=True)))
    )


def _facts(session: Session, ids: Iterable[uuid.UUID]) -> list[matching.Facts]:
    """Plain facts of these activities, in one query and without ORM objects."""
    ids = list(ids)
    if not ids:
        return []
    return _gathered(session.connection().execute(_facts_statement(), {"ids": ids}).all())


def _gathered(rows: Iterable[Sequence[Any]]) -> list[matching.Facts]:
    """Facts from rows of (country, *_FACT_COLUMNS), one row per activity and State."""
    states: dict[uuid.UUID, set[str]] = defaultdict(set)
    first: dict[uuid.UUID, Sequence[Any]] = {}
    for country, *fields in rows:
        first.setdefault(fields[0], fields)
        if country is not None:
            states[fields[0]].add(country)
    return [_fact(fields, states[key]) for key, fields in first.items()]


@cache
def _candidate_statement() -> sa.Select[Any]:
    """The candidate query, built once: constructing a statement of this size costs more
    than running it.  Parameters: states, low, high, short_from, long_from, me."""

    def starting_after(earliest: str, long_running: bool) -> Any:
        return sa.select(col(ActivityCountry.activity_id), col(ActivityCountry.country)).where(
            col(ActivityCountry.country).in_(sa.bindparam("states", expanding=True)),
            col(ActivityCountry.long_running).is_(long_running),
            col(ActivityCountry.start_date) >= sa.bindparam(earliest),
            col(ActivityCountry.start_date) <= sa.bindparam("high"),
            col(ActivityCountry.end_date) >= sa.bindparam("low"),
        )

    # A start_date range bounded on both sides keeps each index scan short: nothing short
    # started more than LONG_RUNNING_DAYS before the window, nothing at all more than the
    # longest duration allowed.
    near = sa.union_all(
        starting_after("short_from", False), starting_after("long_from", True)
    ).subquery()
    return (
        sa.select(near.c.country, *_FACT_COLUMNS)
        .join(Activity, col(Activity.id) == near.c.activity_id)
        .join(Organization, col(Organization.id) == Activity.provider_id)
        .where(
            col(Activity.id) != sa.bindparam("me"),
            col(Activity.withdrawn_at).is_(None),
            col(Activity.duplicate_of).is_(None),
            col(Activity.status) != "cancelled",
        )
    )


def _candidates(
    session: Session,
    new: matching.Facts,
    rules: matching.Rules,
    known: Mapping[str, matching.Facts] | None = None,
) -> list[matching.Facts]:
    """Live activities sharing a beneficiary State with `new` whose dates come within the
    window, with the States they share, in one query on the window index.  The few that
    could be duplicates get their full set of States (matching.could_be_duplicate): from
    `known` (complete facts at hand, by id) or else from the database."""
    low = new.start - timedelta(days=rules.window_days)
    parameters = {
        "states": sorted(new.states),
        "low": low,
        "high": new.end + timedelta(days=rules.window_days),
        "short_from": low - timedelta(days=LONG_RUNNING_DAYS - 1),
        "long_from": low - timedelta(days=activity_rules.MAX_DURATION_DAYS - 1),
        "me": uuid.UUID(new.id),
    }
    rows = session.connection().execute(_candidate_statement(), parameters).all()
    # Only the States shared with `new` so far: enough for overlaps and clashes.
    light = {fact.id: fact for fact in _gathered(rows)}
    closer = [key for key, fact in light.items() if matching.could_be_duplicate(new, fact, rules)]
    known = known or {}
    for key in closer:
        if key in known:
            light[key] = known[key]
    unknown = [uuid.UUID(key) for key in closer if key not in known]
    for activity_id, states in _states(session, unknown).items():
        light[str(activity_id)] = dataclasses.replace(
            light[str(activity_id)], states=frozenset(states)
        )
    return list(light.values())


def _state_lock_key(country: str) -> int:
    return 0x1540_0000 * 65_536 + ord(country[0]) * 256 + ord(country[1])


def serialise_by_state(session: Session, states: Collection[str]) -> None:
    """On PostgreSQL, detection for activities sharing a State runs one at a time (advisory
    locks held to the end of the transaction), so two duplicates submitted at the same moment
    cannot both miss each other.  SQLite write transactions are serial already.

    The same round trip turns parallel query off for the rest of the transaction: for the
    candidate query (a few hundred rows through an index) PostgreSQL would start two workers
    and take three times as long (13 ms instead of 4 at 100,000 stored)."""
    if session.get_bind().dialect.name != "postgresql" or not states:
        return
    keys = sorted(_state_lock_key(state) for state in states)
    session.execute(
        sa.text(
            "SELECT pg_advisory_xact_lock(k), "
            "set_config('max_parallel_workers_per_gather', '0', true) "
            "FROM (SELECT unnest(:keys) AS k ORDER BY 1) s"
        ),
        {"keys": keys},
    )


def _rows(session: Session, activity_id: uuid.UUID) -> list[Any]:
    """The findings of an activity as plain rows, read afresh (not from the ORM's cache)."""
    table = Finding.__table__  # type: ignore[attr-defined]
    statement = table.select().where(
        sa.or_(table.c.first_id == activity_id, table.c.second_id == activity_id)
    )
    return list(session.connection().execute(statement))


def _pair(a: uuid.UUID, b: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    return (a, b) if str(a) < str(b) else (b, a)


def _reasons(found: matching.Finding) -> list[dict[str, object]]:
    return [
        {"code": r.code, "message": r.message, "contribution": r.contribution}
        for r in found.reasons
    ]


def refresh(
    session: Session,
    activity: Activity,
    *,
    created: bool = False,
    actor: Principal | None = None,
    rules: matching.Rules = matching.RULES,
) -> list[FindingPublic]:
    """Detect the findings of `activity` against its neighbours, store them (see _store) and
    return every finding of the activity, strongest first.  `created`: the activity is new,
    so it has no findings yet."""
    fresh = _store(session, activity, created=created, actor=actor, rules=rules)
    if created:
        # No other transaction sees the new activity yet: its findings are those just written.
        return _undecided(fresh)
    return of_activity(session, activity.id)


def _store(
    session: Session,
    activity: Activity,
    *,
    created: bool,
    actor: Principal | None,
    rules: matching.Rules,
) -> list[dict[str, Any]]:
    """Detect the findings of `activity` and store them; returns the rows newly inserted.

    Open findings follow the data.  A decided one keeps its decision while the title, dates,
    States and themes of its two activities are those it was decided on (its `basis`); when
    they differ it is reopened, and a confirmed duplicate is un-marked.  Findings that no
    longer apply are removed while open and kept once decided.

    Writes are plain upserts, updates and deletes by key, taken after the per-State locks, so
    a concurrent refresh of the other activity of a pair cannot make this one fail."""
    [new] = _facts(session, [activity.id])
    serialise_by_state(session, new.states)
    existing = (
        {} if created else {_pair(r.first_id, r.second_id): r for r in _rows(session, activity.id)}
    )
    reopened = _reopen_changed(session, new, list(existing.values()), actor=actor)
    detected: list[matching.Finding] = []
    providers = {new.id: new.provider}  # for the webhook events of new findings
    live = (
        activity.withdrawn_at is None
        and activity.duplicate_of is None
        and activity.status != "cancelled"
    )
    if live:
        others = {str(b if a == activity.id else a) for a, b in existing}
        candidates = _candidates(session, new, rules)
        providers.update((c.id, c.provider) for c in candidates)
        detected = matching.detect(new, candidates, rules, keep=others)

    now = utcnow()
    table = Finding.__table__  # type: ignore[attr-defined]
    fresh: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for found in detected:
        pair = _pair(activity.id, uuid.UUID(found.other_id))
        values = _values(found)
        row = existing.pop(pair, None)
        if row is None:
            fresh.append(_fresh(pair, values, now))
        elif (row.kind, row.score, row.reasons) != tuple(values.values()):
            changed.append({"finding_id": row.id, "updated_at": now, **values})
    if changed:
        # A rescan of unchanged data writes nothing; the changes go in one executemany.
        statement = table.update().where(table.c.id == sa.bindparam("finding_id"))
        session.execute(statement, changed)
    _insert(session, fresh, providers)
    # Open findings that no longer apply go; so do reopened ones that no longer apply.
    stale = [row.id for row in existing.values() if row.status == "open" or row.id in reopened]
    if stale:
        # `status || ''`, not `status`: SQLite without table statistics would use the index
        # on (status, created_at) and scan every open finding instead of looking up the ids.
        still_open = table.c.status.concat("") == "open"
        session.execute(table.delete().where(table.c.id.in_(stale), still_open))
    return fresh


def _values(found: matching.Finding) -> dict[str, Any]:
    return {"kind": found.kind, "score": found.score, "reasons": _reasons(found)}


def _fresh(
    pair: tuple[uuid.UUID, uuid.UUID], values: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """A new open finding's row."""
    return {
        "id": uuid.uuid4(),
        "first_id": pair[0],
        "second_id": pair[1],
        "status": "open",
        "created_at": now,
        "updated_at": now,
        **values,
    }


def _insert(session: Session, fresh: list[dict[str, Any]], providers: Mapping[str, str]) -> None:
    """Store new findings (one a concurrent refresh of the other activity stored meanwhile
    is updated instead, see _store) and queue their webhook events; `providers`: the
    provider of each activity, by id."""
    upsert(
        session,
        Finding.__table__,  # type: ignore[attr-defined]
        fresh,
        keys=("first_id", "second_id"),
        update=("kind", "score", "reasons", "updated_at"),
    )
    webhook_events.emit(
        session,
        (
            webhook_events.finding_event(
                "created",
                SimpleNamespace(**row),
                {providers[str(row["first_id"])], providers[str(row["second_id"])]},
            )
            for row in fresh
        ),
    )


def _undecided(rows: list[dict[str, Any]]) -> list[FindingPublic]:
    """Findings just inserted, as the API shows them, strongest first."""
    blank = {"note": None, "decided_by": None, "decided_at": None}
    return _strongest_first([SimpleNamespace(**row, **blank) for row in rows])


def detect_new(
    session: Session,
    ids: Sequence[uuid.UUID],
    *,
    each: Callable[[], None] | None = None,
    rules: matching.Rules = matching.RULES,
) -> list[FindingPublic]:
    """Detect and store the findings of activities just created together (an import), none
    of them cancelled: each is compared with what was stored before and with those before it
    in `ids`, as if they had come one at a time.  Returns the possible duplicates found (the
    overlaps and clashes are stored only: a file can raise hundreds of thousands).

    The per-State locks are taken once, for all of them, before any detection; findings are
    written a few thousand at a time; `each` is called after each activity, for progress."""
    facts: dict[str, matching.Facts] = {}
    for chunk in chunks(ids, 500):
        facts.update((fact.id, fact) for fact in _facts(session, chunk))
    serialise_by_state(session, set().union(*(fact.states for fact in facts.values())))
    later = set(facts)
    providers = {fact.id: fact.provider for fact in facts.values()}
    now = utcnow()
    fresh: list[dict[str, Any]] = []
    duplicates: list[FindingPublic] = []
    for activity_id in ids:
        new = facts[str(activity_id)]
        later.discard(new.id)
        candidates = [c for c in _candidates(session, new, rules, facts) if c.id not in later]
        providers.update((c.id, c.provider) for c in candidates)
        for found in matching.detect(new, candidates, rules):
            fresh.append(_fresh(_pair(activity_id, uuid.UUID(found.other_id)), _values(found), now))
        if len(fresh) >= 2_000 or activity_id == ids[-1]:
            _insert(session, fresh, providers)
            duplicates += _undecided([row for row in fresh if row["kind"] == "duplicate"])
            fresh = []
        if each is not None:
            each()
    return duplicates


def of_activity(session: Session, activity_id: uuid.UUID) -> list[FindingPublic]:
    """The stored findings of an activity, strongest first, without detecting anew."""
    return _strongest_first(_rows(session, activity_id))


def _strongest_first(rows: list[Any]) -> list[FindingPublic]:
    rows.sort(key=lambda r: (KIND_ORDER.get(r.kind, 9), -r.score, str(r.id)))
    return [public(row) for row in rows]


def _basis(a: matching.Facts, b: matching.Facts) -> str:
    """A fingerprint of what a decision on the pair was about: both activities' title, dates,
    beneficiary States and themes."""
    facts = sorted(
        [f.id, f.title, f.start.isoformat(), f.end.isoformat(), sorted(f.states), sorted(f.themes)]
        for f in (a, b)
    )
    return hashlib.sha256(json.dumps(facts).encode()).hexdigest()


def _reopen_changed(
    session: Session, new: matching.Facts, rows: list[Any], *, actor: Principal | None
) -> set[uuid.UUID]:
    """Reopen the decided findings of `new` whose activities changed materially since the
    decision; a confirmed duplicate is un-marked.  Returns the ids reopened."""
    decided = [row for row in rows if row.status != "open" and row.basis is not None]
    if not decided:
        return set()
    me = uuid.UUID(new.id)
    others = {
        f.id: f
        for f in _facts(session, {r.second_id if r.first_id == me else r.first_id for r in decided})
    }
    table = Finding.__table__  # type: ignore[attr-defined]
    reopened: set[uuid.UUID] = set()
    for row in decided:
        other = others.get(str(row.second_id if row.first_id == me else row.first_id))
        if other is None or _basis(new, other) == row.basis:
            continue
        session.execute(
            table.update()
            .where(table.c.id == row.id)
            .values(status="open", note=None, decided_by=None, decided_at=None, basis=None)
        )
        audit.record(
            session,
            actor=actor,
            action="finding.reopen",
            entity_type="finding",
            entity_id=row.id,
            changes={"status": [row.status, "open"]},
        )
        if row.status == "confirmed":
            for activity_id in (row.first_id, row.second_id):
                activity = session.get(Activity, activity_id)
                if activity is not None and activity.duplicate_of in (row.first_id, row.second_id):
                    activities.mark_duplicate(session, activity, None, actor=actor)
        reopened.add(row.id)
    return reopened


def rescan_order(session: Session) -> list[uuid.UUID]:
    """Every activity, by start date: the order a rescan visits them in (neighbours follow
    each other, so the pages they need are warm)."""
    statement = sa.select(col(Activity.id)).order_by(col(Activity.start_date), col(Activity.id))
    return list(session.execute(statement).scalars())


def rescan(
    session: Session, ids: Sequence[uuid.UUID], rules: matching.Rules = matching.RULES
) -> None:
    """Detect and store the findings of these activities again, keeping decisions."""
    for activity_id in ids:
        activity = session.get(Activity, activity_id)
        if activity is not None:
            _store(session, activity, created=False, actor=None, rules=rules)


def open_findings(session: Session) -> dict[str, int]:
    """How many findings wait for a decision, by kind."""
    statement = (
        sa.select(col(Finding.kind), sa.func.count())
        .where(col(Finding.status) == "open")
        .group_by(col(Finding.kind))
    )
    return {str(row[0]): int(row[1]) for row in session.execute(statement)}


def totals(session: Session) -> dict[str, int]:
    """How many findings are stored, by kind."""
    statement = sa.select(col(Finding.kind), sa.func.count()).group_by(col(Finding.kind))
    return {str(row[0]): int(row[1]) for row in session.execute(statement)}


# Reading and deciding ----------------------------------------------------------------------


def _involves_provider(organization_ids: Sequence[int]) -> sa.ColumnElement[bool]:
    owned = sa.select(col(Activity.id)).where(col(Activity.provider_id).in_(organization_ids))
    return sa.or_(col(Finding.first_id).in_(owned), col(Finding.second_id).in_(owned))


def review_queue(
    session: Session, *, viewer: Principal, kind: str | None, limit: int = 50
) -> list[FindingPublic]:
    """Open findings, most serious first: duplicates, overlaps, clashes, each by score."""
    order = sa.case(KIND_ORDER, value=col(Finding.kind), else_=9)
    statement = select(Finding).where(col(Finding.status) == "open")
    if not viewer.reads_all:
        statement = statement.where(_involves_provider([viewer.organization_id]))
    if kind:
        statement = statement.where(col(Finding.kind) == kind)
    statement = statement.order_by(order, col(Finding.score).desc(), col(Finding.id)).limit(limit)
    return [public(row) for row in session.exec(statement)]


def get(session: Session, finding_id: uuid.UUID, *, viewer: Principal) -> Finding:
    row = session.get(Finding, finding_id)
    if row is not None and not viewer.reads_all:
        visible = session.exec(
            select(Finding.id).where(
                Finding.id == finding_id, _involves_provider([viewer.organization_id])
            )
        ).first()
        row = row if visible else None
    if row is None:
        raise NotFound(f"no finding with id {finding_id}")
    return row


def list_page(
    session: Session,
    filters: Filters,
    *,
    viewer: Principal,
    limit: int,
    after: Sequence[str | int] | None = None,
) -> tuple[list[FindingPublic], str | None]:
    """Newest first; providers see the findings that involve their own activities."""
    statement = select(Finding)
    if not viewer.reads_all:
        statement = statement.where(_involves_provider([viewer.organization_id]))
    if filters.statuses:
        statement = statement.where(col(Finding.status).in_(filters.statuses))
    if filters.kinds:
        statement = statement.where(col(Finding.kind).in_(filters.kinds))
    if filters.activity_id is not None:
        statement = statement.where(
            sa.or_(
                col(Finding.first_id) == filters.activity_id,
                col(Finding.second_id) == filters.activity_id,
            )
        )
    if filters.countries:
        in_country = sa.select(col(ActivityCountry.activity_id)).where(
            col(ActivityCountry.country).in_(filters.countries)
        )
        statement = statement.where(
            sa.or_(col(Finding.first_id).in_(in_country), col(Finding.second_id).in_(in_country))
        )
    if filters.providers:
        ids = organizations.ids_of(session, filters.providers, field="provider")
        statement = statement.where(_involves_provider(ids))
    rows, next_cursor = newest_first(
        session,
        statement,
        created=col(Finding.created_at),
        ident=col(Finding.id),
        limit=limit,
        after=after,
    )
    return [public(row) for row in rows], next_cursor


def decide(session: Session, row: Finding, data: DecisionIn, *, actor: Principal) -> Finding:
    """Record a coordinator's decision; confirming a duplicate marks the other activity as
    a duplicate of the one that stays."""
    pair = {row.first_id, row.second_id}
    if data.decision == "confirm":
        if row.kind != "duplicate":
            raise ValidationFailed.on(
                "decision", f"only a duplicate can be confirmed, not {row.kind}"
            )
        if data.canonical_id is None or data.canonical_id not in pair:
            raise ValidationFailed.on(
                "canonical_id", "name the activity that stays: one of the finding's two activities"
            )
    previous = row.status
    for activity_id in pair:
        activity = session.get(Activity, activity_id)
        assert activity is not None
        keep = data.decision == "confirm" and activity_id != data.canonical_id
        target = data.canonical_id if keep else None
        if keep or (previous == "confirmed" and activity.duplicate_of in pair):
            activities.mark_duplicate(session, activity, target, actor=actor)
    row.status = STATUS_OF_DECISION[data.decision]
    row.basis = _basis(*_facts(session, [row.first_id, row.second_id]))
    row.note = data.note
    row.decided_by = f"{actor.organization} ({actor.key_prefix})"
    row.decided_at = utcnow()
    row.updated_at = row.decided_at
    session.add(row)
    if webhook_events.listening(session, "finding.decided"):
        owners = {
            organization.acronym
            for organization in session.exec(
                select(Organization)
                .join(Activity, col(Activity.provider_id) == col(Organization.id))
                .where(col(Activity.id).in_(pair))
            )
        }
        webhook_events.emit(session, [webhook_events.finding_event("decided", row, owners)])
    audit.record(
        session,
        actor=actor,
        action=f"finding.{data.decision}",
        entity_type="finding",
        entity_id=row.id,
        changes={
            "status": [previous, row.status],
            "note": data.note,
            "canonical_id": str(data.canonical_id) if data.canonical_id else None,
        },
    )
    session.flush()
    if data.decision == "confirm" or previous == "confirmed":
        # The duplicate left (or came back to) the calendar: its other findings follow.
        for activity_id in sorted(pair, key=str):
            activity = session.get(Activity, activity_id)
            assert activity is not None
            refresh(session, activity, actor=actor)
        session.refresh(row)
    return row
