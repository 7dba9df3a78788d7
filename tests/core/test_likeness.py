"""Whether a row of an edited file is a stored activity corrected, or another activity."""

from datetime import date
from typing import Any

import pytest

from app.core import likeness

STORED: dict[str, Any] = {
    "title": "National workshop on export control",
    "start_date": date(2025, 5, 5),
    "end_date": date(2025, 5, 7),
    "countries": ["TT"],
    "regions": [],
    "domains": ["chemical"],
}
MOVED = {"start_date": [date(2025, 5, 5), date(2025, 5, 12)]}
ADDED = {"countries": [["TT"], ["BB", "TT"]]}
TYPO = {"title": [STORED["title"], "National workshop on exprot control"]}
VENUE = {"venue": [None, {"city": "Port of Spain", "country": "TT", "modality": "in_person"}]}
WORDS = {"title": [STORED["title"], "Regional national workshop on export control"]}


@pytest.mark.parametrize(
    ("changes", "corrected"),
    [
        (MOVED, ("dates",)),
        (ADDED, ("states",)),
        (TYPO, ("title",)),
        ({**MOVED, **ADDED}, ("dates", "states")),
        ({**TYPO, **VENUE}, ("title", "details")),
        ({"regions": [[], ["029"]]}, ("states",)),  # the Caribbean holds Trinidad and Tobago
    ],
)
def test_one_or_two_corrections_are_certainly_the_same(
    changes: dict[str, list[Any]], corrected: tuple[str, ...]
) -> None:
    found = likeness.compare(STORED, changes)
    assert found is not None
    assert (found.corrected, found.certain) == (corrected, True)


@pytest.mark.parametrize(
    ("changes", "doubt"),
    [
        ({**MOVED, **ADDED, **VENUE}, "3 kinds of change: dates, states, details"),
        (WORDS, "the title differs by more than a typo"),
        ({"start_date": [date(2025, 5, 5), date(2025, 5, 30)]}, "the start moves by 25 days"),
    ],
)
def test_more_changes_are_plausible_not_certain(changes: dict[str, list[Any]], doubt: str) -> None:
    found = likeness.compare(STORED, changes)
    assert found is not None
    assert not found.certain
    assert found.doubts == (doubt,)


@pytest.mark.parametrize(
    "changes",
    [
        {"start_date": [date(2025, 5, 5), date(2025, 6, 5)]},  # 31 days
        {"countries": [["TT"], ["JM"]]},  # no State in common
        {"title": [STORED["title"], "Regional seminar on nuclear security"]},
        {"title": [STORED["title"], "National workshop on export control 2"]},  # an edition
        {**MOVED, **ADDED, **VENUE, **TYPO},  # all four kinds at once
        # a contradiction (app.core.differences): another weapon, instrument, edition, city
        {"domains": [["chemical"], ["nuclear"]]},
        {
            "title": ["National workshop on the BWC", "National workshop on the CWC"],
            "start_date": [date(2025, 5, 5), date(2025, 5, 19)],
        },
        {
            "title": [
                "Second national workshop on export control",
                "Third national workshop on export control",
            ]
        },
        {
            "venue": [
                {"city": "Port of Spain", "country": "TT", "modality": "in_person"},
                {"city": "San Fernando", "country": "TT", "modality": "in_person"},
            ]
        },
    ],
)
def test_another_activity_is_none(changes: dict[str, list[Any]]) -> None:
    stored = dict(STORED)
    if "venue" in changes:
        stored["venue"] = changes["venue"][0]
    if "title" in changes:
        stored["title"] = changes["title"][0]
    assert likeness.compare(stored, changes) is None


def test_titles_letter_by_letter() -> None:
    typo = likeness.title_alike("Natonal workshop on export control", STORED["title"])
    reordered = likeness.title_alike("Export control workshop", "Workshop on export control")
    added = likeness.title_alike("Workshop on export control", STORED["title"])
    assert typo >= likeness.CERTAIN_TITLE
    assert reordered >= likeness.CERTAIN_TITLE
    assert likeness.PLAUSIBLE_TITLE <= added < likeness.CERTAIN_TITLE
    assert likeness.numbers("2nd Regional Workshop 2025") == ("2", "2025")
