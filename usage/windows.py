"""The usage rule fields as plain Python over one account's daily series (DESIGN 11): what
the in-memory evaluator and explain read, and what the compiled SQL must agree with.

The window of N days is today−N+1 … today; a day without a row counts as 0.
"""

from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal

from rules.sources import DIVISION

WINDOWS = (7, 14, 30, 60, 90)
WINDOW_KINDS = ("sum", "avg", "max", "days_active", "change")
LAST_ACTIVE = "last_active"
# The most days any field reads: change_90d compares 90 days with the 90 before them.
MAX_DAYS_READ = 2 * max(WINDOWS)

Series = Mapping[date, Decimal]


def window_start(today: date, days: int) -> date:
    """The first day of the N-day window ending today (today−N+1)."""
    return today - timedelta(days=days - 1)


def _window(series: Series, first: date, last: date) -> list[Decimal]:
    return [value for day, value in series.items() if first <= day <= last]


def window_sum(series: Series, today: date, days: int) -> Decimal:
    return sum(_window(series, window_start(today, days), today), Decimal(0))


def window_value(kind: str, days: int, series: Series, today: date) -> Decimal | int | None:
    """The value of ``usage.KEY.<kind>_<days>d`` for a series of (day → value ≥ 0)."""
    values = _window(series, window_start(today, days), today)
    if kind == "sum":
        return sum(values, Decimal(0))
    if kind == "avg":
        return DIVISION.divide(sum(values, Decimal(0)), Decimal(days))
    if kind == "max":
        return max(values, default=Decimal(0))
    if kind == "days_active":
        return sum(1 for value in values if value > 0)
    if kind == "change":
        current = sum(values, Decimal(0))
        previous = window_sum(series, today - timedelta(days=days), days)
        if not previous:
            return None
        return DIVISION.divide((current - previous) * 100, previous)
    raise ValueError(f"unknown usage window kind {kind!r}")


def last_active(series: Series, today: date) -> date | None:
    """The last day up to today with a value > 0 (None when none)."""
    return max((day for day, value in series.items() if value > 0 and day <= today), default=None)
