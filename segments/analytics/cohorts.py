"""How segments and customers grow over time: a segment's daily growth from its snapshots,
and the retention of signup-month cohorts."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import F, Window
from django.db.models.functions import RowNumber, TruncDate

from cs_platform.db import table_name
from customers.models import Account, Contract

from ..models import SegmentSnapshot
from .population import contract_counts_on, end_of_day, members_as_of_sql
from .statements import (
    CENT,
    ZERO,
    analytics_sql,
    date_param,
    ratio,
    run_analytic_statement,
    to_decimal,
)

DEFAULT_GROWTH_DAYS = 365
DEFAULT_COHORT_MONTHS = 12
# Cohorts x months-since cells grow as n*(n+1)/2 (666 cells for 36 months), each joined
# with the cohort's accounts and their contracts.
MAX_COHORT_MONTHS = 36


@dataclass(frozen=True)
class GrowthPoint:
    day: date
    member_count: int
    arr: Decimal


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
        growth[segment_id].append(
            GrowthPoint(day=snapshot_day, member_count=count, arr=to_decimal(arr))
        )
    return growth


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
    month that contains it (month to date). One statement
    (``segments/sql/analytics_cohort_retention.sql``)."""
    months = max(1, min(months, MAX_COHORT_MONTHS))
    first = add_months(month_start(as_of), -(months - 1))
    # (cohort start, cohort end, months since signup, the day that month is measured on)
    cells: list[tuple[date, date, int, date]] = []
    for cohort_index in range(months):
        cohort = add_months(first, cohort_index)
        for months_since in range(months - cohort_index):
            measured_on = min(month_end(add_months(cohort, months_since)), as_of)
            cells.append((cohort, month_end(cohort), months_since, measured_on))
    cell_params = [
        param
        for cohort, end, months_since, measured_on in cells
        for param in (date_param(cohort), date_param(end), months_since, date_param(measured_on))
    ]

    filters = ["a.customer_since >= %s", "a.customer_since <= %s"]
    filter_params: list[Any] = [date_param(first), date_param(as_of)]
    members_cte = ""
    members_params: list[Any] = []
    if plan:
        filters.append("a.plan = %s")
        filter_params.append(plan)
    if segment_id is not None:
        members_sql, members_params = members_as_of_sql([segment_id], as_of)
        members_cte = f"pop AS ({members_sql}),"
        filters.append("a.id IN (SELECT account_id FROM pop)")
    sql = analytics_sql(
        "cohort_retention",
        members_cte=members_cte,
        cells=", ".join(["(%s, %s, %s, %s)"] * len(cells)),
        account=table_name(Account),
        contract=table_name(Contract),
        filters=" AND ".join(filters),
        counts_on_measured=contract_counts_on("c", "cells.measured_on"),
    )
    # The VALUES list hides how many accounts each cell joins; with nested loops allowed, the
    # contracts were probed by index once per (cell, account): 218k probes at 100k accounts,
    # about 40 % of the statement's time (bench/analytics.py).
    rows = run_analytic_statement(
        sql, [*members_params, *cell_params, *filter_params], hash_joins=True
    )
    return CohortTable(
        as_of=as_of,
        months=months,
        segment_id=segment_id,
        plan=plan or None,
        cohorts=_cohorts_from_rows(rows, cells, first, months),
    )


def _cohorts_from_rows(
    rows: list[tuple], cells: list[tuple[date, date, int, date]], first: date, months: int
) -> list[Cohort]:
    """The cohorts of ``months`` months from ``first`` out of the statement's rows (cohort
    start, months since, size, retained, ARR); a cohort with no account has no cells."""
    by_cohort: dict[date, list[tuple[int, int, int, Decimal]]] = {}
    for cohort_start, months_since, size, retained, arr in rows:
        key = cohort_start if isinstance(cohort_start, date) else date.fromisoformat(cohort_start)
        by_cohort.setdefault(key, []).append(
            (int(months_since), int(size), int(retained or 0), to_decimal(arr))
        )
    measured = {(cohort, months_since): on for cohort, _end, months_since, on in cells}
    cohorts = []
    for cohort_index in range(months):
        cohort_month = add_months(first, cohort_index)
        found = sorted(by_cohort.get(cohort_month, []))
        if not found:
            cohorts.append(Cohort(month=cohort_month, accounts=0, start_arr=ZERO))
            continue
        size = found[0][1]
        start_arr = found[0][3] if found[0][0] == 0 else ZERO
        cohort_cells = [
            CohortCell(
                months_since=months_since,
                measured_on=measured[(cohort_month, months_since)],
                accounts_retained=retained,
                arr=arr.quantize(CENT),
                logo_retention=ratio(Decimal(retained), Decimal(size)),
                revenue_retention=ratio(arr, start_arr),
            )
            for months_since, _size, retained, arr in found
        ]
        cohorts.append(
            Cohort(
                month=cohort_month,
                accounts=size,
                start_arr=start_arr.quantize(CENT),
                cells=cohort_cells,
            )
        )
    return cohorts
