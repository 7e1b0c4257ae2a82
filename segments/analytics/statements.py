"""How the analytic statements run (tuned, one at a time or side by side), and the small
conversions their parameters and rows need. Shared by every analytics module."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from django.db import connection, connections, transaction

from cs_platform.db import dialect, load_sql

T = TypeVar("T")

RATE = Decimal("0.0001")
CENT = Decimal("0.01")
ZERO = Decimal("0")


def analytics_sql(name: str, **fields: str) -> str:
    """The statement ``segments/sql/[<vendor>/]analytics_<name>.sql`` with its format
    ``fields`` filled in (``load_sql`` leaves out the file's opening comment)."""
    return load_sql("segments", f"analytics_{name}", **fields)


def sql_placeholders(values: Sequence[Any]) -> str:
    """``%s, %s, ...``: one DB-API placeholder per value, for an ``IN (...)`` list."""
    return ", ".join(["%s"] * len(values))


def date_param(day: date) -> Any:
    """``day`` as the database takes a date parameter in hand-written SQL."""
    return connection.ops.adapt_datefield_value(day)


def moment_param(moment: datetime) -> Any:
    """``moment`` as the database takes a timestamp parameter in hand-written SQL."""
    return connection.ops.adapt_datetimefield_value(moment)


def to_decimal(value: Any) -> Decimal:
    """A database number (Decimal on PostgreSQL, int or float on SQLite) as a Decimal."""
    if value is None:
        return ZERO
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def ratio(numerator: Decimal, denominator: Decimal, places: Decimal = RATE) -> Decimal | None:
    """``numerator / denominator`` rounded half up to ``places``; None over zero."""
    if not denominator:
        return None
    return (numerator / denominator).quantize(places, rounding=ROUND_HALF_UP)


def run_concurrently(calls: dict[str, Callable[[], T]]) -> dict[str, T]:
    """Run independent read-only selectors at once, each on its own database connection,
    when that is safe (``dialect().concurrent_reads``: on PostgreSQL and outside a
    transaction, since another connection would not see the caller's uncommitted rows,
    e.g. in a test). Otherwise one after another.

    The analytics page's statements each read a few hundred thousand rows; side by side,
    the page waits for the slowest instead of their sum."""
    if len(calls) < 2 or not dialect().concurrent_reads:
        return {name: call() for name, call in calls.items()}

    def run(call: Callable[[], T]) -> T:
        try:
            return call()
        finally:
            connections.close_all()  # this worker thread's own connection

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = {name: pool.submit(run, call) for name, call in calls.items()}
        return {name: future.result() for name, future in futures.items()}


def run_analytic_statement(
    sql: str, params: Sequence[Any], *, hash_joins: bool = False, sorted_groups: bool = False
) -> list[tuple]:
    """Run one read-only analytic statement and return its rows. On PostgreSQL,
    ``hash_joins`` turns nested loops off for it, for a statement whose row estimates are
    far too low (the planner cannot see through a VALUES list), so that it does not probe
    an index once per row of a large intermediate result. ``sorted_groups`` turns hash
    aggregation off: grouping about a hundred thousand accounts (or (segment, account)
    pairs) with several numeric sums each, sorting and aggregating in order took 15 to 40 %
    less time than a hash table (bench/analytics.py at 100k accounts: 433 to 311 ms, 349 to
    301 ms, 286 to 178 ms for the three metric statements, 220 to 134 ms for the overlap).

    The rest of the tuning is ``Dialect.tune_analytic_statement`` (memory, no parallel
    workers) and ``Dialect.tune_transaction``: these statements read a few hundred thousand
    rows in well under a second, but their estimated cost is high enough for PostgreSQL to
    JIT-compile them, which alone took 0.8 s per statement at 100k accounts
    (bench/analytics.py). Those settings last for a transaction (SET LOCAL), so the
    statement gets one where the database needs it."""
    db = dialect()
    scope = transaction.atomic() if db.settings_need_transaction else nullcontext()
    with scope, connection.cursor() as cursor:
        db.tune_transaction(cursor)
        db.tune_analytic_statement(cursor, hash_joins=hash_joins, sorted_groups=sorted_groups)
        cursor.execute(sql, params)
        return cursor.fetchall()
