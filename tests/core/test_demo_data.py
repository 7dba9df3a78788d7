"""The illustrative calendar is marked as such and has the near-duplicates and overlaps that
make a new user's first look at the service meaningful."""

from datetime import date, timedelta
from itertools import combinations

import pytest

from app.activities.models import ActivityCreate
from app.core import vocab
from app.demo import service as demo
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


@pytest.mark.parametrize(
    "today",
    [date(2026, 12, 3), date(2027, 1, 1), date(2028, 2, 29), date(2025, 6, 15), date(2030, 12, 31)],
)
def test_placed_around_today_by_whole_weeks(today: date) -> None:
    data = dataset()
    placed = demo.placed(data, today=today)
    written = {
        raw["external_ref"]: (date.fromisoformat(raw["start_date"]), raw)
        for raw in data["activities"]
    }
    shifts = {placed[ref][0] - start for ref, (start, _) in written.items()}
    assert len(shifts) == 1
    shift = shifts.pop()
    assert shift.days % 7 == 0
    for ref, (start, raw) in written.items():
        assert placed[ref] == (start + shift, date.fromisoformat(raw["end_date"]) + shift)
        # What the story says is done is past; everything else is still to come.
        if raw["status"] == "completed":
            assert placed[ref][1] < today, ref
        else:
            assert placed[ref][0] > today, ref
    starts = sorted(start for start, _ in placed.values())
    assert today - timedelta(days=70) <= starts[0] <= today - timedelta(days=50)
    # The calendar's quarter from the current month shows activities still to come.
    assert sum(today < start < today + timedelta(days=60) for start in starts) >= 8


def test_placed_in_a_year_moves_day_for_day() -> None:
    placed = demo.placed(dataset(), today=date(2026, 12, 3), year=2027)
    assert placed["DEMO-UNLIREC-2024-01"] == (date(2027, 4, 16), date(2027, 4, 18))
    assert placed["DEMO-UNLIREC-2024-03"] == (date(2027, 2, 27), date(2027, 2, 28))
    assert placed["DEMO-OAS-CICTE-2024-03"] == (date(2027, 12, 3), date(2027, 12, 4))
    leap = demo.placed(dataset(), today=date(2026, 12, 3), year=2028)
    assert leap["DEMO-UNLIREC-2024-03"] == (date(2028, 2, 27), date(2028, 2, 29))
