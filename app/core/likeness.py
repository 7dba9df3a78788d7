"""Whether a row of an edited file is a stored activity with a few corrections: the same
provider's record with its dates moved, a State added or removed, its title's typo fixed or a
detail changed, rather than another activity.  Pure: the stored record and the changes the
row would make in, a verdict out; app.imports.matching finds the candidates and settles the
file's rows.
"""

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from rapidfuzz import fuzz

from app.core import differences, titles, vocab

WINDOW = timedelta(days=30)  # a corrected start date moves at most this far
SURE_MOVE = timedelta(days=7)  # further, it may be the next of a series: the person chooses
CERTAIN_TITLE = 0.9  # a title at least this alike is the same title with a typo fixed
PLAUSIBLE_TITLE = 0.7  # below, another activity ("Workshop on X" / "Seminar on X": 0.74)
ADDED_WORDS = 0.85  # a title that only adds or drops words: plausible, not certain
MOST_CERTAIN = 2  # kinds of correction a certain match may have (of the four below)

WHEN = frozenset({"start_date", "end_date", "start_time", "end_time", "timezone"})
WHERE = frozenset({"countries", "regions"})
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class Likeness:
    """A stored activity the row may be: `corrected` names the kinds of correction ("dates",
    "states", "title", "details"); `doubts` why it is not certain (none: it is)."""

    corrected: tuple[str, ...]
    doubts: tuple[str, ...]

    @property
    def certain(self) -> bool:
        return not self.doubts


def compare(stored: dict[str, Any], changes: dict[str, list[Any]]) -> Likeness | None:
    """The likeness of a stored record (`stored`, as app.activities.records.record_of gives
    it) and the row that would change it by `changes` (field -> [stored, new]); None when
    the row is another activity: its start more than WINDOW away, no beneficiary State in
    common, a title less than PLAUSIBLE_TITLE alike or with other numbers (an edition, a
    year), or all four kinds of correction at once."""
    corrected: list[str] = []
    doubts: list[str] = []
    after = {**stored, **{name: new for name, (_, new) in changes.items()}}
    if differences.decisive(_Record.of(stored), _Record.of(after)) is not None:
        return None  # another weapon, instrument, audience, edition, city or part
    if WHEN & changes.keys():
        start: date = changes.get("start_date", [stored["start_date"]] * 2)[1]
        moved = abs(start - stored["start_date"])
        if moved > WINDOW:
            return None
        corrected.append("dates")
        if moved > SURE_MOVE:
            # a fortnight or a month later may be the next of a series ("Monthly coordination
            # call"), not a corrected date: asked, not assumed
            doubts.append(f"the start moves by {moved.days} days")
    if WHERE & changes.keys():
        before = vocab.beneficiary_states(stored["countries"], stored["regions"])
        after = vocab.beneficiary_states(
            changes.get("countries", [None, stored["countries"]])[1],
            changes.get("regions", [None, stored["regions"]])[1],
        )
        if not before.keys() & after.keys():
            return None
        corrected.append("states")
    if "title" in changes:
        old, new = changes["title"]
        alike = title_alike(old, new)
        if alike < PLAUSIBLE_TITLE or numbers(old) != numbers(new):
            return None
        corrected.append("title")
        if alike < CERTAIN_TITLE:
            doubts.append("the title differs by more than a typo")
    details = changes.keys() - WHEN - WHERE - {"title"}
    if details:
        corrected.append("details")
    if len(corrected) > MOST_CERTAIN + 1:
        return None
    if len(corrected) > MOST_CERTAIN:
        doubts.append(f"{len(corrected)} kinds of change: {', '.join(corrected)}")
    return Likeness(tuple(corrected), tuple(doubts))


@dataclass
class _Record:
    """What app.core.differences reads of a record."""

    title: str
    language: str
    domains: frozenset[str]
    audiences: frozenset[str]
    states: frozenset[str]
    city: str | None
    start: date

    @classmethod
    def of(cls, record: dict[str, Any]) -> "_Record":
        venue = record.get("venue") or {}
        states = vocab.beneficiary_states(record["countries"], record["regions"])
        return cls(
            title=record["title"],
            language=record.get("language") or "",
            domains=frozenset(record.get("domains") or ()),
            audiences=frozenset(record.get("audiences") or ()),
            states=frozenset(states),
            city=venue.get("city"),
            start=record["start_date"],
        )


def title_alike(old: str, new: str) -> float:
    """How alike a title and its edited form are, 0..1, letter by letter (not by meaning, as
    detection compares two activities: "Workshop" changed to "Seminar" is an edit to show):
    a typo fixed or words reordered stay above CERTAIN_TITLE; words added or dropped
    ("Workshop on X" -> "National workshop on X") score ADDED_WORDS."""
    left, right = titles.normalise(old), titles.normalise(new)
    kept = fuzz.token_sort_ratio(left, right)
    added = ADDED_WORDS * fuzz.token_set_ratio(left, right)
    return max(kept, added) / 100


def numbers(title: str) -> tuple[str, ...]:
    """The numbers of a title ("2nd", "2025", "1540"), which tell editions apart."""
    return tuple(sorted(_NUMBER.findall(titles.normalise(title))))
