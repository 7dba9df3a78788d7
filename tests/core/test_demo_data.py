"""The illustrative calendar is marked as such and has the near-duplicates and overlaps that
make a new user's first look at the service meaningful."""

from datetime import date
from itertools import combinations

from app.activities.models import ActivityCreate
from app.core import vocab
from app.demo.service import dataset


def test_every_activity_is_valid_and_marked_illustrative() -> None:
    data = dataset()
    assert "not real plans" in data["notice"]
    assert len(data["activities"]) == 47
    acronyms = {org["acronym"] for org in data["organizations"]}
    for raw in data["activities"]:
        ActivityCreate.model_validate(raw)
        assert raw["provider"] in acronyms
        assert raw["description"].startswith("Illustrative example, not a real plan.")
        assert raw["start_date"].startswith("2024")


def test_calendar_has_cross_provider_near_duplicates_and_overlaps() -> None:
    rows = []
    for raw in dataset()["activities"]:
        states = set(vocab.beneficiary_states(raw.get("countries", []), raw.get("regions", [])))
        rows.append(
            (
                raw["provider"],
                states,
                date.fromisoformat(raw["start_date"]),
                date.fromisoformat(raw["end_date"]),
                set(raw["themes"]),
            )
        )
    near_same_dates = close_same_theme = clashes = 0
    for a, b in combinations(rows, 2):
        if a[0] == b[0] or not (a[1] & b[1]) or len(a[1] | b[1]) > 3:
            continue
        overlap = a[2] <= b[3] and b[2] <= a[3]
        gap_days = max((b[2] - a[3]).days, (a[2] - b[3]).days, 0)
        if abs((a[2] - b[2]).days) <= 2 and a[4] & b[4]:
            near_same_dates += 1
        elif gap_days <= 14 and a[4] & b[4]:
            close_same_theme += 1
        elif overlap:
            clashes += 1
    assert near_same_dates >= 4
    assert close_same_theme >= 3
    assert clashes >= 2
