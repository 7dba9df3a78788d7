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

from app.core import titles, vocab

WINDOW = timedelta(days=30)  # a corrected start date moves at most this far
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
    if WHEN & changes.keys():
        start: date = changes.get("start_date", [stored["start_date"]] * 2)[1]
        if abs(start - stored["start_date"]) > WINDOW:
            return None
        corrected.append("dates")
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
        if "domains" in details and all(changes["domains"]):
            old_domains, new_domains = changes["domains"]
            if not set(old_domains) & set(new_domains):
                doubts.append("the domains differ")
    if len(corrected) > MOST_CERTAIN + 1:
        return None
    if len(corrected) > MOST_CERTAIN:
        doubts.append(f"{len(corrected)} kinds of change: {', '.join(corrected)}")
    return Likeness(tuple(corrected), tuple(doubts))


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
