"""Per-segment analytics (DESIGN section 6, defined once in docs/metrics.md).

Every figure is computed set-based in the database: a handful of statements per page
whatever the number of accounts, and the same statements for one segment or twenty. The
SQL is hand-written (CTEs, a window function, CASE sums) because it has to join
populations at two dates with contracts counting on those dates; it uses only constructs
that PostgreSQL and SQLite share, and Django's own backend operations for the one
time-zone-dependent expression (the local date of a membership event).

Vocabulary (see docs/metrics.md):

* a contract *counts on D* when ``start_date <= D`` and (``D <= end_date`` or its status is
  still ``active``) and its status is not ``cancelled``; an account's *ARR on D* is the sum
  of the ARR of its contracts that count on D;
* a segment's *population as of D* is its membership at the end of D in the configured
  time zone, from MembershipEvent (the current Membership rows when D is today);
* the *window* of D runs from ``S = D - 365 days`` to D; its population P is the members
  at the end of S with ARR on S > 0 (``trailing_12_months``), or, for a segment that began
  after S, every account that entered it by the end of D with ARR > 0 on the day it first
  entered (``since_created``).
"""

from __future__ import annotations

import calendar
import functools
import hashlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections, transaction
from django.db.models import F, OuterRef, Subquery, Window
from django.db.models.functions import RowNumber, TruncDate
from django.utils import timezone

from cs_platform import clock
from customers.models import Account, Contract, ContractStatus

from .models import Membership, MembershipEvent, MembershipEventKind, Segment, SegmentSnapshot

T = TypeVar("T")

WINDOW_DAYS = 365
# The compare table, the growth chart and the overlap matrix stay readable (and the overlap
# statement holds one CASE term per pair: n*(n-1)/2) up to this many segments.
MAX_SEGMENTS = 25
DEFAULT_COHORT_MONTHS = 12
# Cohorts x months-since cells grow as n*(n+1)/2 (666 cells for 36 months), each joined
# with the cohort's accounts and their contracts.
MAX_COHORT_MONTHS = 36
DEFAULT_GROWTH_DAYS = 365

RATE = Decimal("0.0001")
CENT = Decimal("0.01")
ZERO = Decimal("0")


class PopulationKind(StrEnum):
    TRAILING = "trailing_12_months"
    SINCE_CREATED = "since_created"


@dataclass(frozen=True)
class SegmentMetrics:
    """The metrics of one segment as of one date. Ratios over an empty population are None."""

    segment_id: int
    as_of: date
    window_start: date
    population: PopulationKind
    population_since: date | None
    population_size: int
    accounts: int
    arr: Decimal
    avg_arr: Decimal | None
    nrr: Decimal | None
    grr: Decimal | None
    logo_churn_rate: Decimal | None
    renewal_rate: Decimal | None
    contracts_up_for_renewal: int
    cost_to_serve_ratio: Decimal | None
    avg_cac: Decimal | None
    cac_payback_months: Decimal | None
    ltv: Decimal | None
    ltv_no_churn: bool
    avg_health: Decimal | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "segment": self.segment_id,
            "as_of": self.as_of,
            "window_start": self.window_start,
            "population": self.population.value,
            "population_since": self.population_since,
            "population_size": self.population_size,
            "accounts": self.accounts,
            "arr": self.arr,
            "avg_arr": self.avg_arr,
            "nrr": self.nrr,
            "grr": self.grr,
            "logo_churn_rate": self.logo_churn_rate,
            "renewal_rate": self.renewal_rate,
            "contracts_up_for_renewal": self.contracts_up_for_renewal,
            "cost_to_serve_ratio": self.cost_to_serve_ratio,
            "avg_cac": self.avg_cac,
            "cac_payback_months": self.cac_payback_months,
            "ltv": self.ltv,
            "ltv_no_churn": self.ltv_no_churn,
            "avg_health": self.avg_health,
        }


@dataclass(frozen=True)
class GrowthPoint:
    day: date
    member_count: int
    arr: Decimal


@dataclass(frozen=True)
class Overlap:
    """Pairwise shared members of ``segment_ids`` as of a date: ``matrix[i][j]`` accounts are
    in both segment i and segment j (the diagonal holds each segment's size)."""

    as_of: date
    segment_ids: list[int]
    matrix: list[list[int]]
    in_any: int
    accounts_total: int
    in_none: int

    def pairs(self) -> list[tuple[int, int, int]]:
        ids = self.segment_ids
        return [
            (ids[i], ids[j], self.matrix[i][j])
            for i in range(len(ids))
            for j in range(i + 1, len(ids))
        ]


@dataclass(frozen=True)
class CohortCell:
    months_since: int
    measured_on: date
    accounts_retained: int
    arr: Decimal
    logo_retention: Decimal | None
    revenue_retention: Decimal | None


@dataclass(frozen=True)
class Cohort:
    month: date  # the first day of the signup month
    accounts: int
    start_arr: Decimal
    cells: list[CohortCell] = field(default_factory=list)


@dataclass(frozen=True)
class CohortTable:
    as_of: date
    months: int
    segment_id: int | None
    plan: str | None
    cohorts: list[Cohort]


# --- small helpers ----------------------------------------------------------------------------


def end_of_day(day: date) -> datetime:
    """The first instant after ``day`` in the configured time zone ("the end of D")."""
    return datetime.combine(
        day + timedelta(days=1), time.min, tzinfo=timezone.get_default_timezone()
    )


def window_start(as_of: date) -> date:
    return as_of - timedelta(days=WINDOW_DAYS)


def _dec(value: Any) -> Decimal:
    """A database number (Decimal on PostgreSQL, int or float on SQLite) as a Decimal."""
    if value is None:
        return ZERO
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def _ratio(numerator: Decimal, denominator: Decimal, places: Decimal = RATE) -> Decimal | None:
    if not denominator:
        return None
    return (numerator / denominator).quantize(places, rounding=ROUND_HALF_UP)


def _q(table_model: type) -> str:
    return connection.ops.quote_name(table_model._meta.db_table)


def _in(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def _d(day: date) -> Any:
    return connection.ops.adapt_datefield_value(day)


def _dt(moment: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(moment)


def _counts_on(alias: str, day_sql: str) -> str:
    """SQL predicate: contract ``alias`` counts on the date expression ``day_sql``."""
    return (
        f"{alias}.status <> '{ContractStatus.CANCELLED.value}' AND {alias}.start_date <= {day_sql}"
        f" AND ({alias}.end_date >= {day_sql} OR {alias}.status = '{ContractStatus.ACTIVE.value}')"
    )


def members_sql(segment_ids: Sequence[int], as_of: date) -> tuple[str, list[Any]]:
    """SQL selecting ``(segment_id, account_id)`` for the members of ``segment_ids`` at the end
    of ``as_of``: the accounts whose last MembershipEvent up to then (by ``at``, then id) is
    ``entered``. For today (and later) the current Membership rows say the same thing more
    cheaply."""
    if as_of >= clock.today():
        return (
            f"SELECT m.segment_id, m.account_id FROM {_q(Membership)} m"
            f" WHERE m.segment_id IN ({_in(segment_ids)})",
            list(segment_ids),
        )
    if connection.vendor == "postgresql":
        # The last event of each (segment, account) up to then is the first one read by a
        # backward scan of the event_member_history index (segment, account, at, id,
        # including kind): one index-only scan with no sort and no hashing. ``<> exited``
        # rather than ``= entered``: the planner's default guess for an equality on a
        # derived column is 0.5 % of the rows, which invited nested loops over the result.
        return (
            "SELECT l.segment_id, l.account_id FROM ("
            "SELECT DISTINCT ON (e.segment_id, e.account_id) e.segment_id, e.account_id, e.kind"
            f" FROM {_q(MembershipEvent)} e WHERE e.segment_id IN ({_in(segment_ids)})"
            " AND e.at < %s ORDER BY e.segment_id DESC, e.account_id DESC, e.at DESC, e.id DESC"
            f") l WHERE l.kind <> '{MembershipEventKind.EXITED.value}'",
            [*segment_ids, _dt(end_of_day(as_of))],
        )
    # "The last event is entered" as a grouped comparison rather than a window function.
    # Ties in ``at`` go to the higher id. The ORDER BY in the subquery makes PostgreSQL read
    # the events in the order of the (segment, account, at) index and group them as they come
    # instead of hashing every (segment, account) pair, which it underestimates tenfold: 40 %
    # less CPU for this part at 100k accounts (bench/analytics.py).
    entered_at = f"MAX(CASE WHEN e.kind = '{MembershipEventKind.ENTERED.value}' THEN e.at END)"
    exited_at = f"MAX(CASE WHEN e.kind = '{MembershipEventKind.EXITED.value}' THEN e.at END)"
    entered_id = f"MAX(CASE WHEN e.kind = '{MembershipEventKind.ENTERED.value}' THEN e.id END)"
    exited_id = f"MAX(CASE WHEN e.kind = '{MembershipEventKind.EXITED.value}' THEN e.id END)"
    sql = (
        "SELECT e.segment_id, e.account_id FROM ("
        f"SELECT e.segment_id, e.account_id, e.kind, e.at, e.id FROM {_q(MembershipEvent)} e"
        f" WHERE e.segment_id IN ({_in(segment_ids)}) AND e.at < %s"
        " ORDER BY e.segment_id, e.account_id) e"
        " GROUP BY e.segment_id, e.account_id"
        f" HAVING {exited_at} IS NULL OR {entered_at} > {exited_at}"
        f" OR ({entered_at} = {exited_at} AND {entered_id} > {exited_id})"
    )
    return sql, [*segment_ids, _dt(end_of_day(as_of))]


def run_concurrently(calls: dict[str, Callable[[], T]]) -> dict[str, T]:
    """Run independent read-only selectors at once, each on its own database connection,
    when that is safe: on PostgreSQL and outside a transaction (another connection would
    not see the caller's uncommitted rows, e.g. in a test). Otherwise one after another.

    The analytics page's statements each read a few hundred thousand rows; side by side,
    the page waits for the slowest instead of their sum."""
    if len(calls) < 2 or connection.vendor != "postgresql" or connection.in_atomic_block:
        return {name: call() for name, call in calls.items()}

    def run(call: Callable[[], T]) -> T:
        try:
            return call()
        finally:
            connections.close_all()  # this worker thread's own connection

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = {name: pool.submit(run, call) for name, call in calls.items()}
        return {name: future.result() for name, future in futures.items()}


def _fetch(
    sql: str, params: Sequence[Any], *, hash_joins: bool = False, sorted_groups: bool = False
) -> list[tuple]:
    """Run one read-only analytic statement. On PostgreSQL, ``hash_joins`` turns nested
    loops off for it, for a statement whose row estimates are far too low (the planner
    cannot see through a VALUES list), so that it does not probe an index once per row of a
    large intermediate result. ``sorted_groups`` turns hash aggregation off: grouping about
    a hundred thousand accounts (or (segment, account) pairs) with several numeric sums
    each, sorting and aggregating in order took 15 to 40 % less time than a hash table
    (bench/analytics.py at 100k accounts: 433 to 311 ms, 349 to 301 ms, 286 to 178 ms for
    the three metric statements, 220 to 134 ms for the overlap)."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    # These statements read a few hundred thousand rows in well under a second, but their
    # estimated cost is high enough for PostgreSQL to JIT-compile them, which alone took
    # 0.8 s per statement at 100k accounts (bench/analytics.py). SET LOCAL needs a
    # transaction; it ends with it.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        # Hash aggregates of a few hundred thousand rows spill to disk with the default 4 MB.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        # No parallel workers: the page already runs its statements side by side, and a
        # parallel plan repeated its non-parallel parts (the grouping of the events) in
        # every worker: three times the CPU for the same answer (bench/analytics.py).
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        if hash_joins:
            cursor.execute("SET LOCAL enable_nestloop = off")
        if sorted_groups:
            cursor.execute("SET LOCAL enable_hashagg = off")
        cursor.execute(sql, params)
        return cursor.fetchall()


# --- per-segment metrics ----------------------------------------------------------------------


def segments_began_on(segment_ids: Sequence[int]) -> dict[int, date]:
    """When each segment began: the earlier of its creation day and its first event's day
    (history may be imported with the segment). One statement; the first event comes from
    the (segment, at) index."""
    first_event = MembershipEvent.objects.filter(segment=OuterRef("pk")).order_by("at")
    rows = (
        Segment.objects.filter(pk__in=segment_ids)
        .annotate(first_event_at=Subquery(first_event.values("at")[:1]))
        .values_list("pk", "created_at", "first_event_at")
    )
    began = {}
    for pk, created, first in rows:
        day = timezone.localdate(created)
        began[pk] = min(day, timezone.localdate(first)) if first else day
    return began


def segment_metrics(*, segment_id: int, as_of: date) -> SegmentMetrics:
    return segment_metrics_many(segment_ids=[segment_id], as_of=as_of)[segment_id]


@dataclass(frozen=True)
class SegmentFigures:
    """The metrics of some segments and their overlap, as of one date."""

    metrics: dict[int, SegmentMetrics]
    overlap: Overlap


def segment_metrics_many(*, segment_ids: Sequence[int], as_of: date) -> dict[int, SegmentMetrics]:
    """The metrics of every segment in ``segment_ids`` (existing ids) as of ``as_of``, in at
    most four statements whatever their number (when each segment began; the population as
    of D; the window of the old segments; that of the young ones)."""
    return _metrics_and_rows(segment_ids, as_of, overlap=False)[0]


def segment_figures(*, segment_ids: Sequence[int], as_of: date) -> SegmentFigures:
    """``segment_metrics_many`` and ``segment_overlap`` of the same segments as of the same
    date, for the price of the metrics alone: the overlap comes from the population the
    metrics group by account anyway (the analytics page shows both for the same segments
    unless asked otherwise)."""
    ids = list(dict.fromkeys(segment_ids))
    metrics, rows = _metrics_and_rows(ids, as_of, overlap=True)
    if not metrics:  # no existing segment: the overlap alone says how many accounts exist
        return SegmentFigures(metrics={}, overlap=segment_overlap(segment_ids=[], as_of=as_of))
    return SegmentFigures(
        metrics=metrics,
        overlap=_overlap_from_rows([pk for pk in ids if pk in metrics], as_of, rows),
    )


def _metrics_and_rows(
    segment_ids: Sequence[int], as_of: date, *, overlap: bool
) -> tuple[dict[int, SegmentMetrics], list[tuple]]:
    ids = list(dict.fromkeys(segment_ids))
    if not ids:
        return {}, []
    began = segments_began_on(ids)
    ids = [pk for pk in ids if pk in began]
    start = window_start(as_of)
    young = [pk for pk in ids if began[pk] > start]
    trailing = [pk for pk in ids if began[pk] <= start]

    if not ids:
        return {}, []
    statements = _metrics_statements(ids, trailing, young, as_of, overlap=overlap)
    parts = run_concurrently(
        {
            str(n): functools.partial(_fetch, sql, params, sorted_groups=True)
            for n, (sql, params) in enumerate(statements)
        }
    )
    rows = [row for rows in parts.values() for row in rows]
    current, window = _metric_rows(rows)

    result: dict[int, SegmentMetrics] = {}
    for pk in ids:
        cur = current.get(pk, {})
        win = window.get(pk, {})
        accounts = cur.get("accounts", 0)
        arr = cur.get("arr", ZERO)
        avg_arr = _ratio(arr, Decimal(accounts), CENT)
        size = win.get("size", 0)
        start_arr = win.get("start_arr", ZERO)
        churn = _ratio(Decimal(win.get("churned", 0)), Decimal(size))
        cac_count = cur.get("cac_count", 0)
        avg_cac = _ratio(cur.get("cac_sum", ZERO), Decimal(cac_count), CENT)
        # avg CAC / avg MRR over the accounts whose CAC is known = 12 * sum CAC / sum ARR.
        payback = (
            _ratio(12 * cur.get("cac_sum", ZERO), cur.get("cac_arr", ZERO), CENT)
            if cac_count
            else None
        )
        churned = win.get("churned", 0)
        ltv = None
        if churned and accounts:
            # Unrounded: (Σ ARR / accounts) / (churned / |P|).
            ltv = _ratio(arr * size, Decimal(accounts) * churned, CENT)
        is_young = pk in young
        result[pk] = SegmentMetrics(
            segment_id=pk,
            as_of=as_of,
            window_start=began[pk] if is_young else start,
            population=PopulationKind.SINCE_CREATED if is_young else PopulationKind.TRAILING,
            population_since=began[pk] if is_young else None,
            population_size=size,
            accounts=accounts,
            arr=arr.quantize(CENT),
            avg_arr=avg_arr,
            nrr=_ratio(win.get("end_arr", ZERO), start_arr),
            grr=_ratio(win.get("kept_arr", ZERO), start_arr),
            logo_churn_rate=churn,
            renewal_rate=_ratio(Decimal(win.get("renewed", 0)), Decimal(win.get("decided", 0))),
            contracts_up_for_renewal=win.get("decided", 0),
            cost_to_serve_ratio=_ratio(cur.get("cost_sum", ZERO), cur.get("cost_arr", ZERO)),
            avg_cac=avg_cac,
            cac_payback_months=payback,
            ltv=ltv,
            ltv_no_churn=churn is not None and churn == 0,
            avg_health=_ratio(
                cur.get("health_sum", ZERO), Decimal(cur.get("health_count", 0)), CENT
            ),
        )
    return result, rows


def _segment_masks(population: str, ids: Sequence[int]) -> tuple[str, str]:
    """A ``masks`` CTE over the CTE ``population`` of (segment_id, account_id) rows, one row
    per account with the bit of each of its segments set (segment ``ids[i]`` is bit i), and
    a derived table ``(segment_id, bit)`` to spread per-mask sums back to the segments.

    Summing per account first, then per distinct combination of segments (a few thousand
    at most, however many accounts), joins each account's figures once rather than once
    per segment it is in: less than half the time of a per-(segment, account) join at 100k
    accounts and 20 segments (bench/analytics.py). ``MAX_SEGMENTS`` bits fit in a bigint."""
    bit_case = " ".join(f"WHEN {int(pk)} THEN {1 << i}" for i, pk in enumerate(ids))
    masks = (
        f"masks AS (SELECT account_id, SUM(CASE segment_id {bit_case} ELSE 0 END) AS mask"
        f" FROM {population} GROUP BY account_id)"
    )
    bits = " UNION ALL ".join(
        f"SELECT {int(pk)} AS segment_id, {1 << i} AS bit" for i, pk in enumerate(ids)
    )
    return masks, f"({bits})"


def _metrics_statements(
    ids: list[int], trailing: list[int], young: list[int], as_of: date, *, overlap: bool = False
) -> list[tuple[str, list[Any]]]:
    """The statements behind every segment's metrics as of ``as_of``, each for all segments
    at once: rows ``("cur", segment, 9 sums)`` over each population as of D, and ``("win",
    segment, 7 sums)`` over each window population P of the trailing segments, then of the
    young ones.

    The trailing window takes ARR on S, ARR on D and the window's renewals per account from
    a single pass over the contracts (the ``acct`` CTE), joined with the members at S; a
    young segment's members, each measured from its own entry day, take all three from one
    join with their contracts. The three statements are independent so that they run side
    by side (``run_concurrently``).

    With ``overlap``, the first statement also returns the overlap of the same population
    (``_overlap_rows_sql``): its masks are already grouped there."""
    start = window_start(as_of)
    s, d = _d(start), _d(as_of)
    contract = _q(Contract)
    cancelled = ContractStatus.CANCELLED.value
    renewed = f"c.status = '{ContractStatus.RENEWED.value}'"
    decided = f"c.status IN ('{ContractStatus.RENEWED.value}', '{ContractStatus.CHURNED.value}')"
    pop_sql, pop_params = members_sql(ids, as_of)
    masks, bits = _segment_masks("pop", ids)
    overlap_sql, overlap_params = "", []
    if overlap:
        rows_sql, overlap_params = _overlap_rows_sql(as_of, columns=11)
        overlap_sql = f" UNION ALL {rows_sql}"
    statements = [
        (
            f"""WITH pop AS ({pop_sql}), {masks},
        acct AS (
            SELECT c.account_id, SUM(c.arr) AS arr_d FROM {contract} c
            WHERE {_counts_on("c", "%s")} GROUP BY c.account_id
        ),
        combos AS (
            SELECT masks.mask, COUNT(*) AS n,
                SUM(COALESCE(acct.arr_d, 0)) AS arr,
                SUM(a.cost_to_serve) AS cost,
                SUM(CASE WHEN a.cost_to_serve IS NOT NULL THEN COALESCE(acct.arr_d, 0) ELSE 0 END)
                    AS cost_arr,
                COUNT(a.acquisition_cost) AS cac_n,
                SUM(a.acquisition_cost) AS cac,
                SUM(CASE WHEN a.acquisition_cost IS NOT NULL THEN COALESCE(acct.arr_d, 0) ELSE 0 END)
                    AS cac_arr,
                COUNT(a.health_score) AS health_n,
                SUM(a.health_score) AS health
            FROM masks
            JOIN {_q(Account)} a ON a.id = masks.account_id
            LEFT JOIN acct ON acct.account_id = masks.account_id
            GROUP BY masks.mask
        )
        SELECT 'cur', b.segment_id, SUM(n), SUM(arr), SUM(cost), SUM(cost_arr), SUM(cac_n),
            SUM(cac), SUM(cac_arr), SUM(health_n), SUM(health)
        FROM combos JOIN {bits} b ON (combos.mask & b.bit) <> 0
        GROUP BY b.segment_id{overlap_sql}""",
            [*pop_params, d, d, *overlap_params],
        )
    ]
    win_sums = """COUNT(*), SUM(w.start_arr), SUM(w.end_arr),
            SUM(CASE WHEN w.end_arr < w.start_arr THEN w.end_arr ELSE w.start_arr END),
            SUM(CASE WHEN w.end_arr = 0 THEN 1 ELSE 0 END), SUM(w.renewed), SUM(w.decided)"""
    if trailing:
        at_start_sql, at_start_params = members_sql(trailing, start)
        # A contract that counts on S or on D, or is decided in (S, D], is not cancelled, starts
        # by D (end_date >= start_date) and ends after S or is still active: the WHERE drops the
        # rest before the aggregate.
        acct = f"""acct AS (
                SELECT c.account_id,
                    SUM(CASE WHEN {_counts_on("c", "%s")} THEN c.arr ELSE 0 END) AS arr_d,
                    SUM(CASE WHEN {_counts_on("c", "%s")} THEN c.arr ELSE 0 END) AS arr_s,
                    SUM(CASE WHEN {renewed} AND c.end_date > %s AND c.end_date <= %s
                        THEN 1 ELSE 0 END) AS renewed,
                    SUM(CASE WHEN {decided} AND c.end_date > %s AND c.end_date <= %s
                        THEN 1 ELSE 0 END) AS decided
                FROM {contract} c
                WHERE c.status <> '{cancelled}' AND c.start_date <= %s
                    AND (c.end_date >= %s OR c.status = '{ContractStatus.ACTIVE.value}')
                GROUP BY c.account_id
            )"""
        start_masks, start_bits = _segment_masks("at_start", trailing)
        statements.append(
            (
                f"""WITH at_start AS ({at_start_sql}), {start_masks}, {acct},
            combos AS (
                SELECT masks.mask, COUNT(*) AS n, SUM(acct.arr_s) AS start_arr,
                    SUM(acct.arr_d) AS end_arr,
                    SUM(CASE WHEN acct.arr_d < acct.arr_s THEN acct.arr_d ELSE acct.arr_s END)
                        AS kept_arr,
                    SUM(CASE WHEN acct.arr_d = 0 THEN 1 ELSE 0 END) AS churned,
                    SUM(acct.renewed) AS renewed, SUM(acct.decided) AS decided
                FROM masks JOIN acct ON acct.account_id = masks.account_id
                WHERE acct.arr_s > 0
                GROUP BY masks.mask
            )
            SELECT 'win', b.segment_id, SUM(n), SUM(start_arr), SUM(end_arr), SUM(kept_arr),
                SUM(churned), SUM(renewed), SUM(decided), NULL, NULL
            FROM combos JOIN {start_bits} b ON (combos.mask & b.bit) <> 0
            GROUP BY b.segment_id""",
                [*at_start_params, d, d, s, s, s, d, s, d, d, s],
            )
        )
    if young:
        first_day_sql, first_day_params = connection.ops.datetime_cast_date_sql(
            "MIN(e.at)", (), timezone.get_current_timezone_name()
        )
        base = f"""base AS (
                SELECT e.segment_id, e.account_id, {first_day_sql} AS start_date
                FROM (
                    SELECT e.segment_id, e.account_id, e.at FROM {_q(MembershipEvent)} e
                    WHERE e.segment_id IN ({_in(young)}) AND e.kind = %s AND e.at < %s
                    ORDER BY e.segment_id, e.account_id
                ) e
                GROUP BY e.segment_id, e.account_id
            )"""
        base_params = [
            *first_day_params,
            *young,
            MembershipEventKind.ENTERED.value,
            _dt(end_of_day(as_of)),
        ]
        # Each member's contracts once: its ARR on its entry day and on D, and its contracts
        # decided after that day; a contract can only do any of it if it starts by D.
        young_select = f"""WITH {base}
            SELECT 'win', w.segment_id, {win_sums}, NULL, NULL
            FROM (
                SELECT base.segment_id, base.account_id,
                    SUM(CASE WHEN {_counts_on("c", "base.start_date")}
                        THEN c.arr ELSE 0 END) AS start_arr,
                    SUM(CASE WHEN {_counts_on("c", "%s")} THEN c.arr ELSE 0 END) AS end_arr,
                    SUM(CASE WHEN {renewed} AND c.end_date > base.start_date
                        AND c.end_date <= %s THEN 1 ELSE 0 END) AS renewed,
                    SUM(CASE WHEN {decided} AND c.end_date > base.start_date
                        AND c.end_date <= %s THEN 1 ELSE 0 END) AS decided
                FROM base JOIN {contract} c ON c.account_id = base.account_id
                WHERE c.status <> '{cancelled}' AND c.start_date <= %s
                GROUP BY base.segment_id, base.account_id
            ) w
            WHERE w.start_arr > 0
            GROUP BY w.segment_id"""
        statements.append((young_select, [*base_params, d, d, d, d, d]))
    return statements


def _metric_rows(rows: list[tuple]) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]]:
    """The rows of ``_metrics_statements`` as (population as of D, window population P) sums per
    segment."""
    current: dict[int, dict[str, Any]] = {}
    window: dict[int, dict[str, Any]] = {}
    for kind, pk, *v in rows:
        if kind in ("mask", "total"):
            continue
        if kind == "cur":
            current[pk] = {
                "accounts": int(v[0]),
                "arr": _dec(v[1]),
                "cost_sum": _dec(v[2]),
                "cost_arr": _dec(v[3]),
                "cac_count": int(v[4] or 0),
                "cac_sum": _dec(v[5]),
                "cac_arr": _dec(v[6]),
                "health_count": int(v[7] or 0),
                "health_sum": _dec(v[8]),
            }
        else:
            window[pk] = {
                "size": int(v[0]),
                "start_arr": _dec(v[1]),
                "end_arr": _dec(v[2]),
                "kept_arr": _dec(v[3]),
                "churned": int(v[4] or 0),
                "renewed": int(v[5] or 0),
                "decided": int(v[6] or 0),
            }
    return current, window


# --- growth -----------------------------------------------------------------------------------


def segment_growth(
    *, segment_ids: Sequence[int], as_of: date, days: int = DEFAULT_GROWTH_DAYS
) -> dict[int, list[GrowthPoint]]:
    """Per segment, one point per day that has snapshots in ``(as_of - days, as_of]``: the
    day's last snapshot (a recompute runs every few minutes; a chart needs one a day)."""
    ids = list(dict.fromkeys(segment_ids))
    day = TruncDate("computed_at")
    rows = (
        SegmentSnapshot.objects.filter(
            segment_id__in=ids,
            computed_at__gte=end_of_day(as_of - timedelta(days=days)),
            computed_at__lt=end_of_day(as_of),
        )
        .annotate(
            day=day,
            rn=Window(
                RowNumber(),
                partition_by=[F("segment_id"), day],
                order_by=[F("computed_at").desc(), F("id").desc()],
            ),
        )
        .filter(rn=1)
        .order_by("segment_id", "day")
        .values_list("segment_id", "day", "member_count", "arr")
    )
    growth: dict[int, list[GrowthPoint]] = {pk: [] for pk in ids}
    for segment_id, snapshot_day, count, arr in rows:
        growth[segment_id].append(GrowthPoint(day=snapshot_day, member_count=count, arr=_dec(arr)))
    return growth


# --- overlap ----------------------------------------------------------------------------------


def _existing_on_sql(as_of: date) -> tuple[str, list[Any]]:
    """SQL predicate on account ``a``: the account existed on ``as_of`` (the product knew it
    by the end of that day, or it was a customer by then)."""
    if as_of >= clock.today():
        return "1 = 1", []
    return "(a.created_at < %s OR a.customer_since <= %s)", [
        _dt(end_of_day(as_of)),
        _d(as_of),
    ]


def segment_overlap(*, segment_ids: Sequence[int], as_of: date) -> Overlap:
    """How many accounts each pair of segments shares as of ``as_of``, and how many existing
    accounts are in none of them, in one statement: each member account gets a bit mask of
    its segments, the masks are counted (a few thousand distinct ones at most), and each
    pair sums the counts of the masks holding both bits (no self-join, whose size grows with
    the square of the segments per account)."""
    ids = list(dict.fromkeys(segment_ids))
    pop_sql, pop_params = members_sql(ids or [0], as_of)
    masks, _bits = _segment_masks("pop", ids or [0])
    rows_sql, rows_params = _overlap_rows_sql(as_of, columns=3)
    sql = f"""
        WITH pop AS ({pop_sql}), {masks},
        combos AS (SELECT mask, COUNT(*) AS n FROM masks GROUP BY mask)
        {rows_sql}
    """
    rows = _fetch(sql, [*pop_params, *rows_params], sorted_groups=True)
    return _overlap_from_rows(ids, as_of, rows)


def _overlap_rows_sql(as_of: date, *, columns: int) -> tuple[str, list[Any]]:
    """Rows ``('mask', mask, accounts)`` of a ``combos`` CTE (mask, n) and one row ``('total',
    accounts existing on as_of, those of them in no mask)`` over a ``masks`` CTE, padded with
    NULLs to ``columns``."""
    exists_sql, exists_params = _existing_on_sql(as_of)
    account = _q(Account)
    pad = ", NULL" * (columns - 3)
    sql = (
        f"SELECT 'mask', mask, n{pad} FROM combos"
        f" UNION ALL SELECT 'total', (SELECT COUNT(*) FROM {account} a WHERE {exists_sql}),"
        f" (SELECT COUNT(*) FROM {account} a WHERE {exists_sql}"
        f" AND NOT EXISTS (SELECT 1 FROM masks m WHERE m.account_id = a.id)){pad}"
    )
    return sql, [*exists_params, *exists_params]


def _overlap_from_rows(ids: list[int], as_of: date, rows: Iterable[tuple]) -> Overlap:
    """The Overlap of ``ids`` (segment ``ids[i]`` is bit i of a mask) from the rows of
    ``_overlap_rows_sql``: each mask's count goes to every pair of its bits."""
    matrix = [[0] * len(ids) for _ in ids]
    in_any = accounts_total = in_none = 0
    for kind, first, second, *_ in rows:
        if kind == "total":
            accounts_total, in_none = int(first or 0), int(second or 0)
        elif kind == "mask":
            mask, n = int(first), int(second)
            in_any += n
            bits = [i for i in range(len(ids)) if mask >> i & 1]
            for x, i in enumerate(bits):
                for j in bits[x:]:
                    matrix[i][j] += n
    for i in range(len(ids)):
        for j in range(i):
            matrix[i][j] = matrix[j][i]
    return Overlap(
        as_of=as_of,
        segment_ids=ids,
        matrix=matrix,
        in_any=in_any,
        accounts_total=accounts_total,
        in_none=in_none,
    )


# --- cohorts ----------------------------------------------------------------------------------


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    """The first day of the month ``months`` after ``day``'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def cohort_retention(
    *,
    as_of: date,
    months: int = DEFAULT_COHORT_MONTHS,
    segment_id: int | None = None,
    plan: str | None = None,
) -> CohortTable:
    """Logo and revenue retention of the signup-month cohorts of the last ``months`` months
    up to ``as_of``, optionally only the members of ``segment_id`` as of ``as_of`` and only
    accounts on ``plan``. Month k is measured at its last day, or at ``as_of`` for the
    month that contains it (month to date)."""
    months = max(1, min(months, MAX_COHORT_MONTHS))
    last = month_start(as_of)
    first = add_months(last, -(months - 1))
    cells: list[tuple[date, date, int, date]] = []
    for c in range(months):
        cohort = add_months(first, c)
        for k in range(months - c):
            cells.append(
                (cohort, month_end(cohort), k, min(month_end(add_months(cohort, k)), as_of))
            )
    values = ", ".join(["(%s, %s, %s, %s)"] * len(cells))
    cell_params = [p for cohort, end, k, on in cells for p in (_d(cohort), _d(end), k, _d(on))]

    filters = ["a.customer_since >= %s", "a.customer_since <= %s"]
    filter_params: list[Any] = [_d(first), _d(as_of)]
    ctes = ""
    cte_params: list[Any] = []
    if plan:
        filters.append("a.plan = %s")
        filter_params.append(plan)
    if segment_id is not None:
        pop_sql, cte_params = members_sql([segment_id], as_of)
        ctes = f"pop AS ({pop_sql}),"
        filters.append("a.id IN (SELECT account_id FROM pop)")
    # Each account is placed in its cohort by a range join with the months (one index range
    # scan per month); the cells then join the cohort accounts on equality (a hash join).
    sql = f"""
        WITH {ctes}
        cells (cohort_start, cohort_end, k, measured_on) AS (VALUES {values}),
        cohort_accounts AS (
            SELECT a.id AS account_id, cells.cohort_start FROM {_q(Account)} a
            JOIN cells ON cells.k = 0 AND a.customer_since >= cells.cohort_start
                AND a.customer_since <= cells.cohort_end
            WHERE {" AND ".join(filters)}
        ),
        sizes AS (
            SELECT cohort_start, COUNT(*) AS accounts FROM cohort_accounts GROUP BY cohort_start
        ),
        counted AS (
            SELECT cells.cohort_start, cells.k, c.account_id, c.arr
            FROM cohort_accounts ca
            JOIN cells ON cells.cohort_start = ca.cohort_start
            JOIN {_q(Contract)} c
                ON c.account_id = ca.account_id AND {_counts_on("c", "cells.measured_on")}
        ),
        per_cell AS (
            SELECT cohort_start, k, SUM(arr) AS arr,
                COUNT(DISTINCT CASE WHEN arr > 0 THEN account_id END) AS retained
            FROM counted GROUP BY cohort_start, k
        )
        SELECT cells.cohort_start, cells.k, sizes.accounts, COALESCE(per_cell.retained, 0),
            COALESCE(per_cell.arr, 0)
        FROM cells
        JOIN sizes ON sizes.cohort_start = cells.cohort_start
        LEFT JOIN per_cell ON per_cell.cohort_start = cells.cohort_start AND per_cell.k = cells.k
        ORDER BY cells.cohort_start, cells.k
    """
    # The VALUES list hides how many accounts each cell joins; with nested loops allowed, the
    # contracts were probed by index once per (cell, account): 218k probes at 100k accounts,
    # about 40 % of the statement's time (bench/analytics.py).
    rows = _fetch(sql, [*cte_params, *cell_params, *filter_params], hash_joins=True)
    by_cohort: dict[date, list[tuple[int, int, int, Decimal]]] = {}
    for cohort_start, k, count, retained, arr in rows:
        key = cohort_start if isinstance(cohort_start, date) else date.fromisoformat(cohort_start)
        by_cohort.setdefault(key, []).append((int(k), int(count), int(retained or 0), _dec(arr)))
    measured = {(cohort, k): on for cohort, _end, k, on in cells}
    cohorts = []
    for c in range(months):
        cohort_month = add_months(first, c)
        found = sorted(by_cohort.get(cohort_month, []))
        if not found:
            cohorts.append(Cohort(month=cohort_month, accounts=0, start_arr=ZERO))
            continue
        size = found[0][1]
        start_arr = found[0][3] if found[0][0] == 0 else ZERO
        cohort_cells = [
            CohortCell(
                months_since=k,
                measured_on=measured[(cohort_month, k)],
                accounts_retained=retained,
                arr=arr.quantize(CENT),
                logo_retention=_ratio(Decimal(retained), Decimal(size)),
                revenue_retention=_ratio(arr, start_arr),
            )
            for k, _count, retained, arr in found
        ]
        cohorts.append(
            Cohort(
                month=cohort_month,
                accounts=size,
                start_arr=start_arr.quantize(CENT),
                cells=cohort_cells,
            )
        )
    return CohortTable(
        as_of=as_of, months=months, segment_id=segment_id, plan=plan or None, cohorts=cohorts
    )


# --- caching for the analytics page ---------------------------------------------------------

DEFAULT_CACHE_SECONDS = 300


def _data_stamp() -> str:
    """Changes whenever membership history or a snapshot is written, or a segment is
    created or deleted (two index lookups and a count). Contract and account edits are not
    in it: the time limit bounds those."""
    row = _fetch(
        f"SELECT (SELECT MAX(id) FROM {_q(MembershipEvent)}),"
        f" (SELECT MAX(id) FROM {_q(SegmentSnapshot)}), (SELECT COUNT(*) FROM {_q(Segment)})",
        [],
    )[0]
    return ":".join(str(v) for v in row)


def cached(selector: Callable[..., T], **kwargs: Any) -> T:
    """``selector(**kwargs)``, kept in Django's cache for ``CS_ANALYTICS_CACHE_SECONDS``
    (default 300; 0 turns it off) and until membership or snapshots change. The analytics
    page uses it, so a manager paging through sections does not recompute every figure;
    the API and the segment page compute live."""
    seconds = int(getattr(settings, "CS_ANALYTICS_CACHE_SECONDS", DEFAULT_CACHE_SECONDS))
    if seconds <= 0:
        return selector(**kwargs)
    identity = repr((selector.__module__, selector.__qualname__, sorted(kwargs.items())))
    digest = hashlib.sha256(f"{identity}|{_data_stamp()}".encode()).hexdigest()
    key = f"cs:analytics:{digest}"
    value = cache.get(key)
    if value is None:
        value = selector(**kwargs)
        cache.set(key, value, seconds)
    return value


def existing_segment_ids(ids: Iterable[int]) -> set[int]:
    return set(Segment.objects.filter(pk__in=list(ids)).values_list("pk", flat=True))


def default_segments() -> list[Segment]:
    """The segments the analytics page shows when none are picked: the active ones, by name,
    at most ``MAX_SEGMENTS``."""
    return list(Segment.objects.filter(is_active=True).order_by("name", "id")[:MAX_SEGMENTS])


def page_defaults_warm() -> None:
    """Compute the figures the analytics page shows as it opens (no query: the default
    segments as of today, the default cohorts) into the shared cache, under the keys the
    page's sections ask for. The scheduled job runs it every few minutes: after a recompute
    the computing happens in a worker, and a manager opening the page gets the figures from
    the cache."""
    ids = [s.pk for s in default_segments()]
    today = clock.today()
    run_concurrently(
        {
            "figures": lambda: cached(segment_figures, segment_ids=ids, as_of=today),
            "growth": lambda: cached(segment_growth, segment_ids=ids, as_of=today),
            "cohorts": lambda: cached(
                cohort_retention,
                as_of=today,
                months=DEFAULT_COHORT_MONTHS,
                segment_id=None,
                plan=None,
            ),
        }
    )
