"""Rows of a file with neither `id` nor `external_ref` that no exact lookup found, compared
with their provider's stored activities near their dates, so that an edited copy of an
earlier file updates the activities it holds instead of creating them again.

The stored activities are read in bulk, per provider and span of dates (the rows' start
dates, WINDOW either side, merged), first their titles alone; only those whose title is
alike enough are read whole and compared (app.core.likeness).  Each row then is:

- unchanged: identical to a stored activity no other row is;
- certain: one stored activity fits, with at most two kinds of correction, and no other row
  of the file may be it: the row updates it;
- uncertain: more differs, or two activities fit, or two rows may be one activity: the row
  creates a new activity unless the caller's `choices` (row -> activity id or "new") names
  one of its candidates;
- new: nothing fits.

`choices` may also turn a certain row into a new activity ("new")."""

import bisect
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import ValidationError
from rapidfuzz import fuzz, process
from sqlmodel import col, select

from app.activities import records
from app.activities.models import Activity, ActivityUpdate
from app.core import likeness, titles, vocab
from app.core.likeness import WINDOW, Likeness
from app.db.sql import chunks
from app.errors import AppError
from app.imports import identity
from app.imports.identity import Row, Stored
from app.imports.models import ImportMatch, MatchCandidate
from app.imports.parsing import RowInvalid

if TYPE_CHECKING:
    from app.imports.planning import Batch

NEW = "new"
Titled = tuple[date, uuid.UUID, str, tuple[str, ...]]  # start, id, title normalised, numbers


@dataclass
class Candidate:
    stored: Stored
    changes: dict[str, list[Any]]
    likeness: Likeness

    @property
    def id(self) -> uuid.UUID:
        return self.stored[0].id


def match(batch: "Batch", rows: list[Row], claimed: dict[uuid.UUID, int]) -> list[Row]:
    """Find the stored activity of each row that has no id nor external_ref and was not
    found by its derived reference, as the caller's choices say when unsure; `claimed`
    holds the activities found so far (id -> row).  Returns the rows still good."""
    choices = batch.choices
    unsure = [r for r in rows if r.stored is None and not r.given_ref and r.acronym in batch.orgs]
    found = _candidates(batch, unsure, claimed)
    # A row identical to a stored activity is that activity, whatever else may be it.
    for row in unsure:
        same = next((c for c in found[row.number] if not c.changes), None)
        if same is not None and same.id not in claimed and row.number not in choices:
            row.stored, row.how = same.stored, "likeness"
            claimed[same.id] = row.number
    fits = {
        row.number: [c for c in found[row.number] if c.id not in claimed]
        for row in unsure
        if row.stored is None
    }
    wanted = Counter(c.id for candidates in fits.values() for c in candidates)
    kept = []
    for row in rows:
        choice = choices.get(row.number)
        try:
            if row.number in fits:
                _settle(batch, row, fits[row.number], choice, claimed, wanted)
            elif choice is not None and (row.stored is not None or choice != NEW):
                raise _nothing_to_choose(row, choice)
        except RowInvalid as problem:
            batch.failed(row.number, problem)
        else:
            kept.append(row)
    return kept


def _nothing_to_choose(row: Row, choice: str) -> RowInvalid:
    if row.stored is None:
        why = 'no stored activity may be this row: choose "new" or leave the row out'
    elif row.how == "id":
        why = "this row is found by its id: there is nothing to choose"
    elif row.given_ref:
        why = "this row is found by its external_ref: there is nothing to choose"
    else:
        why = "this row is the stored activity with its title and dates: nothing to choose"
    return RowInvalid("choices", choice, why)


def _settle(
    batch: "Batch",
    row: Row,
    fits: list[Candidate],
    choice: str | None,
    claimed: dict[uuid.UUID, int],
    wanted: Counter[uuid.UUID],
) -> None:
    """Decide what the row is, and say so in the report when it is (or may be) stored."""
    if not fits:
        if choice not in (None, NEW):
            raise _nothing_to_choose(row, str(choice))
        return
    only = fits[0] if len(fits) == 1 else None
    certain = only is not None and only.likeness.certain and wanted[only.id] == 1
    chosen: Candidate | None = None
    if choice is None:
        chosen = only if certain else None
        note = "" if certain else _doubt(fits, wanted) + ": a new activity unless you choose"
    elif choice == NEW:
        note = "you chose a new activity"
    else:
        chosen = next((c for c in fits if str(c.id) == choice), None)
        if chosen is None:
            raise RowInvalid(
                "choices",
                choice,
                'not an activity this row may be: choose one of its candidates or "new"',
            )
        if chosen.id in claimed:
            first = claimed[chosen.id]
            raise RowInvalid("choices", choice, f"the same activity as row {first} of this file")
        note = "you chose this activity"
    if chosen is not None:
        row.stored, row.how = chosen.stored, "likeness" if choice is None else "choice"
        claimed[chosen.id] = row.number
    batch.report.matched.append(
        ImportMatch(
            row=row.number,
            certain=certain,
            action="update" if chosen is not None else "create",
            chosen=choice is not None,
            activity_id=chosen.id if chosen else None,
            title=chosen.stored[0].title if chosen else None,
            note=note,
            candidates=[_shown(c) for c in fits],
        )
    )


def _doubt(fits: list[Candidate], wanted: Counter[uuid.UUID]) -> str:
    if len(fits) > 1:
        return f"{len(fits)} stored activities fit"
    [only] = fits
    if wanted[only.id] > 1:
        return "another row of the file may be the same activity"
    return "; ".join(only.likeness.doubts)


def _shown(candidate: Candidate) -> MatchCandidate:
    activity = candidate.stored[0]
    return MatchCandidate(
        id=activity.id,
        title=activity.title,
        start_date=activity.start_date,
        end_date=activity.end_date,
        changes=candidate.changes,
    )


def _candidates(
    batch: "Batch", rows: list[Row], claimed: dict[uuid.UUID, int]
) -> defaultdict[int, list[Candidate]]:
    """The stored activities each row may be, most alike first: its provider's, not
    withdrawn, starting within WINDOW of its start, with a title alike enough, and not
    found by another row's id or reference."""
    near: dict[int, list[uuid.UUID]] = {}
    for acronym, titled in _titles(batch, rows).items():
        starts = [start for start, _, _, _ in titled]
        names = [name for _, _, name, _ in titled]
        for row in (r for r in rows if r.acronym == acronym and r.record.get("title")):
            start = date.fromisoformat(row.record["start_date"])
            low = bisect.bisect_left(starts, start - WINDOW)
            high = bisect.bisect_right(starts, start + WINDOW)
            mine = titles.normalise(row.record["title"])
            numbers = likeness.numbers(mine)
            near[row.number] = [
                titled[low + i][1]
                for i in _alike(mine, names[low:high])
                if titled[low + i][3] == numbers and titled[low + i][1] not in claimed
            ]
    stored: dict[uuid.UUID, Stored] = {}
    for part in chunks(sorted({i for ids in near.values() for i in ids}), 1000):
        read = list(batch.session.exec(select(Activity).where(col(Activity.id).in_(part))))
        stored.update(identity.links(batch.session, read))
    records_of = {i: records.record_of(*found) for i, found in stored.items()}
    states = {
        i: set(vocab.beneficiary_states(r["countries"], r["regions"]))
        for i, r in records_of.items()
    }
    found: defaultdict[int, list[Candidate]] = defaultdict(list)
    for row in rows:
        try:
            patch = ActivityUpdate.model_validate(row.record)
        except ValidationError:
            continue  # not an activity: the row's error comes when it is created
        named = row.record.get("countries"), row.record.get("regions")
        where = set(vocab.beneficiary_states(*(n or [] for n in named))) if any(named) else None
        for activity_id in near.get(row.number, []):
            if where is not None and not where & states[activity_id]:
                continue  # no beneficiary State in common: another activity
            candidate = _compared(stored[activity_id], records_of[activity_id], patch)
            if candidate is not None:
                found[row.number].append(candidate)
        found[row.number].sort(key=_closeness)
    return found


def _alike(mine: str, names: list[str]) -> set[int]:
    """The positions of the normalised titles alike enough to `mine` to be it edited
    (likeness.title_alike at least PLAUSIBLE_TITLE), compared in C."""
    least = 100 * likeness.PLAUSIBLE_TITLE
    kept = process.extract(
        mine, names, scorer=fuzz.token_sort_ratio, score_cutoff=least, limit=None
    )
    added = process.extract(
        mine,
        names,
        scorer=fuzz.token_set_ratio,
        score_cutoff=least / likeness.ADDED_WORDS,
        limit=None,
    )
    return {position for _, _, position in (*kept, *added)}


def _closeness(candidate: Candidate) -> tuple[int, int]:
    """Fewest kinds of correction first, then fewest fields changed."""
    return len(candidate.likeness.corrected), len(candidate.changes)


def _compared(stored: Stored, before: dict[str, Any], patch: ActivityUpdate) -> Candidate | None:
    try:
        changes = records.changes(before, patch)
    except AppError:
        return None  # the row would break a rule of this activity: not an edit of it
    if not changes:
        return Candidate(stored, changes, Likeness((), ()))
    verdict = likeness.compare(before, changes)
    return None if verdict is None else Candidate(stored, changes, verdict)


def _titles(batch: "Batch", rows: list[Row]) -> dict[str, list[Titled]]:
    """The (start date, id, normalised title, its numbers) of each provider's stored
    activities, not withdrawn, within WINDOW of the rows' start dates, by start date: a few
    statements per provider, whatever the rows."""
    starts: defaultdict[str, set[date]] = defaultdict(set)
    for row in rows:
        starts[row.acronym].add(date.fromisoformat(row.record["start_date"]))
    found: dict[str, list[Titled]] = {}
    for acronym, days in starts.items():
        provider_id = batch.orgs[acronym].id
        titled: list[Titled] = []
        for part in chunks(_spans(sorted(days)), 100):
            statement = sa.select(
                col(Activity.start_date), col(Activity.id), col(Activity.title)
            ).where(
                col(Activity.provider_id) == provider_id,
                col(Activity.withdrawn_at).is_(None),
                sa.or_(*(col(Activity.start_date).between(low, high) for low, high in part)),
            )
            for start, activity_id, title in batch.session.execute(statement):
                name = titles.normalise(title)
                titled.append((start, activity_id, name, likeness.numbers(name)))
        found[acronym] = sorted(titled)
    return found


def _spans(days: list[date]) -> list[tuple[date, date]]:
    """The sorted days, each widened by WINDOW either side, merged where they overlap."""
    spans: list[tuple[date, date]] = []
    for day in days:
        low, high = day - WINDOW, day + WINDOW
        if spans and low <= spans[-1][1]:
            spans[-1] = (spans[-1][0], high)
        else:
            spans.append((low, high))
    return spans
