"""The calendar's timeline: where each activity's bar sits in the period shown, in which row
and lane, and where each month begins.  Positions are percentages of the period's width."""

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

T = TypeVar("T")

MIN_WIDTH = 0.8  # percent: a one-day activity in a long period stays visible
TITLE_ROOM = 6.0  # percent a bar keeps from its start for its title before another may follow


def add_months(first: date, count: int) -> date:
    """The first day of the month `count` months after (or before) the month of `first`."""
    month = first.month - 1 + count
    return date(first.year + month // 12, month % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    """The days shown, both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def place(self, start: date, end: date) -> tuple[float, float]:
        """Left edge and width of the days from `start` to `end`, cut to the period."""
        first_day = max(start, self.start)
        last_day = min(end, self.end)
        left = 100 * (first_day - self.start).days / self.days
        width = max(100 * ((last_day - first_day).days + 1) / self.days, MIN_WIDTH)
        return left, width

    def month_marks(self) -> list[tuple[float, date]]:
        """Where each month of the period begins, with the month's first day; a month begun
        before the period is marked at its left edge."""
        marks = []
        month = date(self.start.year, self.start.month, 1)
        while month <= self.end:
            left = max((month - self.start).days, 0)
            marks.append((100 * left / self.days, month))
            month = add_months(month, 1)
        return marks


@dataclass(frozen=True)
class Span(Generic[T]):
    """An activity to lay out: its dates, its bar's colour and the keys of the rows it shows
    in."""

    activity: T
    start: date
    end: date
    theme: str
    rows: Sequence[str]


@dataclass(frozen=True)
class Bar(Generic[T]):
    activity: T
    left: float
    width: float
    theme: str
    lane: int = 0  # bars that meet in a row are stacked


@dataclass(frozen=True)
class Row(Generic[T]):
    key: str
    name: str
    bars: list[Bar[T]]
    lanes: int


def theme(themes: Sequence[str], chosen: Collection[str]) -> str:
    """A bar's colour: the first theme chosen in the filters that the activity has, else its
    first theme."""
    return next((t for t in chosen if t in themes), themes[0])


def layout(spans: Iterable[Span[T]], period: Period, name: Callable[[str], str]) -> list[Row[T]]:
    """One row per key the spans name, ordered by `name(key)`, with the bars of its spans in
    lanes."""
    grouped: dict[str, list[Bar[T]]] = {}
    for span in spans:
        left, width = period.place(span.start, span.end)
        bar = Bar(span.activity, left, width, span.theme)
        for key in span.rows:
            grouped.setdefault(key, []).append(bar)
    rows = [_stacked(key, name(key), bars) for key, bars in grouped.items()]
    return sorted(rows, key=lambda row: row.name)


def _stacked(key: str, name: str, bars: list[Bar[T]]) -> Row[T]:
    """Each bar in the first lane free where it starts, from the earliest (the longest first
    where they start together); a bar's lane stays taken for its title's room at least."""
    ends: list[float] = []
    placed = []
    for bar in sorted(bars, key=lambda b: (b.left, -b.width)):
        room = bar.left + max(bar.width, TITLE_ROOM)
        lane = next((i for i, end in enumerate(ends) if end <= bar.left), len(ends))
        if lane == len(ends):
            ends.append(room)
        else:
            ends[lane] = room
        placed.append(Bar(bar.activity, bar.left, bar.width, bar.theme, lane))
    return Row(key, name, placed, len(ends))
