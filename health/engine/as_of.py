"""One statement that scores each row as of its own day (the backtest: each renewal as of
90 days before its end date), instead of one statement per day.

The rules compiler, the usage fields and the manual scores take ``today`` as a Python
date and turn it into parameters (relative dates, window bounds, the days a manual score
counts). ``per_row_day`` builds the statement twice, with ``today`` on two sentinel days
far from any real date, and compares: the SQL text must be the same, and every parameter
that differs must be a date at the same distance from its sentinel in both builds — a
day derived from ``today``. Each such parameter becomes ``day_sql`` + that distance (the
row's own day); every other parameter stays. When anything else depends on ``today`` the
answer is None and the caller scores one day at a time.
"""

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from cs_platform.db import dialect

# Far apart and far from any real date, so no constant of a rule is taken for one of them.
SENTINELS = (date(1200, 1, 1), date(1200, 1, 1) + timedelta(days=1234))
# The furthest a derived day may lie from its sentinel (a relative date of up to 100 years).
MAX_OFFSET_DAYS = 36600
_PLACEHOLDER = re.compile(r"(%%|%s)")
_ISO_DATE = re.compile(r"\A\d{4}-\d{2}-\d{2}\Z")


def _as_date(value: Any) -> date | None:
    """A parameter as a date: a date (not a datetime), or its ISO text (SQLite's binding)."""
    if isinstance(value, datetime):
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _offset(first: Any, second: Any) -> int | None:
    """The distance in days of a parameter from its sentinel, the same in both builds."""
    one, two = _as_date(first), _as_date(second)
    if one is None or two is None:
        return None
    offset = (one - SENTINELS[0]).days
    if (two - SENTINELS[1]).days != offset or abs(offset) > MAX_OFFSET_DAYS:
        return None
    return offset


def per_row_day(
    build: Callable[[date], tuple[str, list[Any]]], day_sql: str
) -> tuple[str, list[Any]] | None:
    """The statement ``build(today)`` with ``today`` replaced by the SQL date expression
    ``day_sql`` (a column of the statement's rows); None when that is not possible."""
    first_sql, first_params = build(SENTINELS[0])
    second_sql, second_params = build(SENTINELS[1])
    if first_sql != second_sql or len(first_params) != len(second_params):
        return None
    db = dialect()
    parts: list[str] = []
    params: list[Any] = []
    position = 0
    for piece in _PLACEHOLDER.split(first_sql):
        if piece != "%s":
            parts.append(piece)
            continue
        first, second = first_params[position], second_params[position]
        position += 1
        if first == second:
            parts.append(piece)
            params.append(first)
            continue
        offset = _offset(first, second)
        if offset is None:
            return None
        parts.append(db.day_plus(day_sql, offset))
    if position != len(first_params):
        return None
    return "".join(parts), params
