"""The calendar's timeline layout, without a database: bars placed and cut to the period, rows
and their order, lanes, month marks."""

from datetime import date

import pytest

from app.core.timeline import (
    MIN_WIDTH,
    TITLE_ROOM,
    Bar,
    Period,
    Row,
    Span,
    add_months,
    layout,
    theme,
)

MARCH = Period(date(2025, 3, 1), date(2025, 3, 31))  # 31 days
QUARTER = Period(date(2025, 1, 1), date(2025, 3, 31))  # 90 days


def span(name: str, start: date, end: date, *rows: str, colour: str = "reporting") -> Span[str]:
    return Span(name, start, end, colour, rows or ("TT",))


def bars(row: Row[str]) -> list[tuple[str, int]]:
    """A row's bars as (activity, lane), in the row's order."""
    return [(bar.activity, bar.lane) for bar in row.bars]


def test_add_months_crosses_years_both_ways() -> None:
    assert add_months(date(2025, 11, 1), 1) == date(2025, 12, 1)
    assert add_months(date(2025, 11, 1), 3) == date(2026, 2, 1)
    assert add_months(date(2025, 1, 1), -1) == date(2024, 12, 1)
    assert add_months(date(2025, 2, 1), -14) == date(2023, 12, 1)
    assert add_months(date(2025, 5, 20), 0) == date(2025, 5, 1)


def test_a_bar_spans_its_days_as_a_share_of_the_period() -> None:
    assert MARCH.days == 31
    left, width = MARCH.place(date(2025, 3, 1), date(2025, 3, 31))
    assert (left, width) == (0, 100)
    left, width = MARCH.place(date(2025, 3, 11), date(2025, 3, 20))  # days 10 to 19
    assert left == pytest.approx(100 * 10 / 31)
    assert width == pytest.approx(100 * 10 / 31)
    # The last day counts: a bar ending on the period's last day reaches its right edge.
    left, width = MARCH.place(date(2025, 3, 25), date(2025, 3, 31))
    assert left + width == pytest.approx(100)


def test_a_bar_is_cut_to_the_period() -> None:
    left, width = MARCH.place(date(2025, 2, 20), date(2025, 3, 3))
    assert (left, width) == (0, pytest.approx(100 * 3 / 31))
    left, width = MARCH.place(date(2025, 3, 30), date(2025, 4, 10))
    assert left == pytest.approx(100 * 29 / 31)
    assert width == pytest.approx(100 * 2 / 31)
    assert MARCH.place(date(2025, 1, 1), date(2025, 12, 31)) == (0, 100)


def test_a_short_bar_in_a_long_period_keeps_a_visible_width() -> None:
    three_years = Period(date(2024, 1, 1), date(2026, 12, 31))
    left, width = three_years.place(date(2025, 6, 1), date(2025, 6, 1))
    assert 100 / three_years.days < MIN_WIDTH
    assert width == MIN_WIDTH
    assert left == pytest.approx(100 * (date(2025, 6, 1) - date(2024, 1, 1)).days / 1096)
    assert MARCH.place(date(2025, 3, 5), date(2025, 3, 5))[1] == pytest.approx(100 / 31)


def test_month_marks_start_at_the_left_edge_and_follow_each_month() -> None:
    assert QUARTER.month_marks() == [
        (0, date(2025, 1, 1)),
        (pytest.approx(100 * 31 / 90), date(2025, 2, 1)),
        (pytest.approx(100 * 59 / 90), date(2025, 3, 1)),
    ]
    # A period begun in mid-month marks that month at its left edge, and a month that begins
    # on its last day is marked too.
    chosen = Period(date(2024, 12, 15), date(2025, 2, 1))
    assert chosen.month_marks() == [
        (0, date(2024, 12, 1)),
        (pytest.approx(100 * 17 / 49), date(2025, 1, 1)),
        (pytest.approx(100 * 48 / 49), date(2025, 2, 1)),
    ]
    assert MARCH.month_marks() == [(0, date(2025, 3, 1))]


def test_no_activity_no_rows_but_the_months_still_show() -> None:
    assert layout([], QUARTER, name=str) == []
    assert len(QUARTER.month_marks()) == 3


def test_one_row_per_key_ordered_by_name_with_the_bar_in_each() -> None:
    names = {"TT": "Trinidad and Tobago", "JM": "Jamaica", "BB": "Barbados"}
    rows = layout(
        [
            span("seminar", date(2025, 3, 10), date(2025, 3, 12), "TT", "JM", "BB"),
            span("workshop", date(2025, 3, 20), date(2025, 3, 21), "TT"),
        ],
        MARCH,
        name=names.__getitem__,
    )
    assert [(row.key, row.name) for row in rows] == [
        ("BB", "Barbados"),
        ("JM", "Jamaica"),
        ("TT", "Trinidad and Tobago"),
    ]
    assert [bars(row) for row in rows] == [
        [("seminar", 0)],
        [("seminar", 0)],
        [("seminar", 0), ("workshop", 0)],
    ]
    seminar = MARCH.place(date(2025, 3, 10), date(2025, 3, 12))
    assert rows[0].bars[0] == Bar("seminar", *seminar, "reporting", 0)
    # An activity that shows in no row (none of its States filtered on) makes none.
    assert (
        layout([Span("elsewhere", date(2025, 3, 1), date(2025, 3, 2), "x", [])], MARCH, str) == []
    )


def one_row(period: Period, *spans: tuple[str, date, date]) -> list[tuple[str, int]]:
    """The bars of the one row these spans make, with their lanes; the row has as many lanes
    as its bars use."""
    [row] = layout([span(*s) for s in spans], period, name=str)
    assert row.lanes == 1 + max(bar.lane for bar in row.bars)
    return bars(row)


def test_bars_that_meet_are_stacked_in_lanes_and_a_lane_is_reused_when_free() -> None:
    # Earliest first, whatever the order given; lane 0 is free again the day after "long"
    # ends.
    assert one_row(
        MARCH,
        ("late", date(2025, 3, 20), date(2025, 3, 25)),
        ("long", date(2025, 3, 1), date(2025, 3, 15)),
        ("overlapping", date(2025, 3, 10), date(2025, 3, 18)),
        ("after long", date(2025, 3, 16), date(2025, 3, 17)),
    ) == [("long", 0), ("overlapping", 1), ("after long", 0), ("late", 0)]


def test_bars_starting_together_put_the_longest_first() -> None:
    assert one_row(
        MARCH,
        ("short", date(2025, 3, 3), date(2025, 3, 4)),
        ("long", date(2025, 3, 3), date(2025, 3, 28)),
        ("middle", date(2025, 3, 3), date(2025, 3, 10)),
    ) == [("long", 0), ("middle", 1), ("short", 2)]


def test_a_short_bar_keeps_room_for_its_title() -> None:
    # One-day bars three days apart do not overlap, but the second would cover the first's
    # title: it goes to the next lane; one that starts past the title's room does not.
    assert QUARTER.place(date(2025, 1, 1), date(2025, 1, 1))[1] < 100 * 3 / 90 < TITLE_ROOM
    assert one_row(
        QUARTER,
        ("first", date(2025, 1, 1), date(2025, 1, 1)),
        ("three days on", date(2025, 1, 4), date(2025, 1, 4)),
        ("nine days on", date(2025, 1, 10), date(2025, 1, 10)),
    ) == [("first", 0), ("three days on", 1), ("nine days on", 0)]


def test_each_row_stacks_its_own_bars() -> None:
    rows = layout(
        [
            span("a", date(2025, 3, 1), date(2025, 3, 20), "JM", "TT"),
            span("b", date(2025, 3, 5), date(2025, 3, 8), "TT"),
        ],
        MARCH,
        name=str,
    )
    assert [(row.key, row.lanes, bars(row)) for row in rows] == [
        ("JM", 1, [("a", 0)]),
        ("TT", 2, [("a", 0), ("b", 1)]),
    ]


def test_a_bar_takes_the_colour_of_a_theme_filtered_on_else_its_first() -> None:
    themes = ["reporting", "export_control", "legislation"]
    assert theme(themes, []) == "reporting"
    assert theme(themes, ["export_control"]) == "export_control"
    assert theme(themes, ["border_control", "legislation"]) == "legislation"
    assert theme(themes, ["border_control"]) == "reporting"
