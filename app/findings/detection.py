"""Detection: the findings of an activity when it is created or changed (or of activities
created together, or again in a rescan), stored; decided findings keep their decision while
what it was about stays the same.

Candidates come from app.findings.candidates, scoring from app.core.matching; the per-State
locks of app.findings.locks serialise detection where two activities could meet."""

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import Session, col

from app.activities import service as activities
from app.activities.models import Activity
from app.activities.queries import providers_of
from app.audit import service as audit
from app.core import matching
from app.core.principal import Principal
from app.core.timeutil import utcnow
from app.db.sql import chunks, upsert
from app.findings import candidates, stored
from app.findings.locks import serialise_by_state
from app.findings.models import Finding, FindingPublic
from app.mail import notices
from app.webhooks import events as webhook_events

# Which new findings the providers hear of by e-mail: all; the possible duplicates only (an
# import: a file can raise thousands of overlaps and clashes, which wait in the review queue);
# none (a rescan, which finds again what was there, or what a change of rules makes).
Tell = Literal["all", "duplicates", "none"]


def _pair(a: uuid.UUID, b: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    return (a, b) if str(a) < str(b) else (b, a)


def _reasons(found: matching.Finding) -> list[dict[str, object]]:
    return [
        {"code": r.code, "message": r.message, "contribution": r.contribution, "params": r.params}
        for r in found.reasons
    ]


def refresh(
    session: Session,
    activity: Activity,
    *,
    created: bool = False,
    actor: Principal | None = None,
    rules: matching.Rules = matching.RULES,
    tell: Tell = "all",
) -> list[FindingPublic]:
    """Detect the findings of `activity` against its neighbours, store them (see _store) and
    return every finding of the activity, strongest first.  `created`: the activity is new,
    so it has no findings yet.  `tell`: which new findings its providers hear of by e-mail
    (an import's rows: the possible duplicates only)."""
    fresh = _store(session, activity, created=created, actor=actor, rules=rules, tell=tell)
    if created:
        # No other transaction sees the new activity yet: its findings are those just written.
        return _undecided(fresh)
    return of_activity(session, activity.id)


def of_activity(session: Session, activity_id: uuid.UUID) -> list[FindingPublic]:
    """The stored findings of an activity, strongest first, without detecting anew."""
    return stored.strongest_first(stored.rows(session, activity_id))


def _store(
    session: Session,
    activity: Activity,
    *,
    created: bool,
    actor: Principal | None,
    rules: matching.Rules,
    tell: Tell,
) -> list[dict[str, Any]]:
    """Detect the findings of `activity` and store them; returns the rows newly inserted.

    Open findings follow the data.  A decided one keeps its decision while the title, dates,
    States and themes of its two activities are those it was decided on (its `basis`); when
    they differ it is reopened, and a confirmed duplicate is un-marked.  Findings that no
    longer apply are removed while open and kept once decided.

    Writes are plain upserts, updates and deletes by key, taken after the per-State locks, so
    a concurrent refresh of the other activity of a pair cannot make this one fail."""
    [new] = candidates.facts(session, [activity.id])
    serialise_by_state(session, new.states)
    existing = (
        {}
        if created
        else {_pair(r.first_id, r.second_id): r for r in stored.rows(session, activity.id)}
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
        near = candidates.find(session, new, rules)
        providers.update((c.id, c.provider) for c in near)
        detected = matching.detect(new, near, rules, keep=others)

    now = utcnow()
    table = Finding.__table__  # type: ignore[attr-defined]
    fresh: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    kind_changed: list[tuple[Any, matching.Finding]] = []
    for found in detected:
        pair = _pair(activity.id, uuid.UUID(found.other_id))
        values = _values(found)
        row = existing.pop(pair, None)
        if row is None:
            fresh.append(_fresh(pair, values, now))
        elif (row.kind, row.score, row.reasons) != tuple(values.values()):
            changed.append({"finding_id": row.id, "updated_at": now, **values})
            if row.kind != found.kind:
                kind_changed.append((row, found))
    if changed:
        # A rescan of unchanged data writes nothing; the changes go in one executemany.
        statement = table.update().where(table.c.id == sa.bindparam("finding_id"))
        session.execute(statement, changed)
    webhook_events.emit(
        session,
        (
            webhook_events.finding_event(
                "changed",
                SimpleNamespace(
                    id=row.id,
                    kind=found.kind,
                    score=found.score,
                    status=row.status,
                    first_id=row.first_id,
                    second_id=row.second_id,
                ),
                {providers[str(row.first_id)], providers[str(row.second_id)]},
                previous_kind=row.kind,
            )
            for row, found in kind_changed
        ),
    )
    _insert(session, fresh, providers)
    # Told: the new findings, and those that became possible duplicates.
    became = [
        {"id": row.id, "kind": found.kind, "first_id": row.first_id, "second_id": row.second_id}
        for row, found in kind_changed
        if found.kind == "duplicate" and row.status == "open"
    ]
    if tell != "none":
        told = [*fresh, *became]
        _tell(
            session, told if tell == "all" else [r for r in told if r["kind"] == "duplicate"], actor
        )
    # Open findings that no longer apply go; so do reopened ones that no longer apply.
    stale = [row.id for row in existing.values() if row.status == "open" or row.id in reopened]
    if stale:
        # `status || ''`, not `status`: SQLite without table statistics would use the index
        # on (status, created_at) and scan every open finding instead of looking up the ids.
        still_open = table.c.status.concat("") == "open"
        session.execute(table.delete().where(table.c.id.in_(stale), still_open))
    return fresh


def _tell(session: Session, rows: list[dict[str, Any]], actor: Principal | None) -> None:
    """The providers of new findings' activities hear of them (app.mail.notices)."""
    if rows:
        pairs = [a for row in rows for a in (row["first_id"], row["second_id"])]
        notices.findings_found(session, rows, providers_of(session, pairs), actor=actor)


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
    is updated instead, see _store, and keeps its id: `fresh` is given the stored ids) and
    queue their webhook events; `providers`: the provider of each activity, by id."""
    stored_ids = upsert(
        session,
        Finding.__table__,  # type: ignore[attr-defined]
        fresh,
        keys=("first_id", "second_id"),
        update=("kind", "score", "reasons", "updated_at"),
        returning=("id",),
    )
    for row, (stored_id,) in zip(fresh, stored_ids, strict=True):
        row["id"] = stored_id
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
    return stored.strongest_first([SimpleNamespace(**row, **blank) for row in rows])


def detect_new(
    session: Session,
    ids: Sequence[uuid.UUID],
    *,
    each: Callable[[], None] | None = None,
    rules: matching.Rules = matching.RULES,
    actor: Principal | None = None,
) -> list[FindingPublic]:
    """Detect and store the findings of activities just created together (an import), none
    of them cancelled: each is compared with what was stored before and with those before it
    in `ids`, as if they had come one at a time.  Returns the possible duplicates found (the
    overlaps and clashes are stored only: a file can raise hundreds of thousands).

    The per-State locks are taken once, for all of them, before any detection; findings are
    written a few thousand at a time; `each` is called after each activity, for progress."""
    facts: dict[str, matching.Facts] = {}
    for chunk in chunks(ids, 500):
        facts.update((fact.id, fact) for fact in candidates.facts(session, chunk))
    serialise_by_state(session, set().union(*(fact.states for fact in facts.values())))
    later = set(facts)
    providers = {fact.id: fact.provider for fact in facts.values()}
    now = utcnow()
    fresh: list[dict[str, Any]] = []
    duplicates: list[FindingPublic] = []
    for activity_id in ids:
        new = facts[str(activity_id)]
        later.discard(new.id)
        near = [c for c in candidates.find(session, new, rules, facts) if c.id not in later]
        providers.update((c.id, c.provider) for c in near)
        for found in matching.detect(new, near, rules):
            fresh.append(_fresh(_pair(activity_id, uuid.UUID(found.other_id)), _values(found), now))
        if len(fresh) >= 2_000 or activity_id == ids[-1]:
            _insert(session, fresh, providers)
            possible = [row for row in fresh if row["kind"] == "duplicate"]
            # An import tells of its possible duplicates; its overlaps and clashes (a file can
            # raise hundreds of thousands) are in the review queue and the digest.
            _tell(session, possible, actor)
            duplicates += _undecided(possible)
            fresh = []
        if each is not None:
            each()
    return duplicates


def basis(a: matching.Facts, b: matching.Facts) -> str:
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
        for f in candidates.facts(
            session, {r.second_id if r.first_id == me else r.first_id for r in decided}
        )
    }
    table = Finding.__table__  # type: ignore[attr-defined]
    reopened: set[uuid.UUID] = set()
    for row in decided:
        other = others.get(str(row.second_id if row.first_id == me else row.first_id))
        if other is None or basis(new, other) == row.basis:
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
        event = SimpleNamespace(**{**_row_fields(row), "status": "open"})
        owners = {new.provider, other.provider}
        webhook_events.emit(
            session, [webhook_events.finding_event("reopened", event, owners, reason="changed")]
        )
        if row.status == "confirmed":
            for activity_id in (row.first_id, row.second_id):
                activity = session.get(Activity, activity_id)
                if activity is not None and activity.duplicate_of in (row.first_id, row.second_id):
                    activities.mark_duplicate(session, activity, None, actor=actor)
        reopened.add(row.id)
    return reopened


def _row_fields(row: Any) -> dict[str, Any]:
    """What a finding event tells of a stored finding."""
    return {
        name: getattr(row, name)
        for name in ("id", "kind", "score", "status", "first_id", "second_id")
    }


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
            _store(session, activity, created=False, actor=None, rules=rules, tell="none")


def totals(session: Session) -> dict[str, int]:
    """How many findings are stored, by kind."""
    statement = sa.select(col(Finding.kind), sa.func.count()).group_by(col(Finding.kind))
    return {str(row[0]): int(row[1]) for row in session.execute(statement)}
