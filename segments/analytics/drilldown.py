"""The accounts behind a figure of the analytics pages: a segment's members, its window
population P (and the churned or renewing part of it), the accounts two segments share,
or a signup-month cohort, each with its ARR at the start and the end of the figure's
window, so that the list adds up to the figure (docs/metrics.md)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from cs_platform.db import table_name
from customers.models import Account, Contract, ContractStatus

from .cohorts import month_end
from .metrics import segments_began_on
from .population import (
    contract_counts_on,
    members_as_of_sql,
    members_since_began_sql,
    window_start,
)
from .statements import analytics_sql, date_param, run_analytic_statement, to_decimal

EXPORT_BATCH = 5000


class Figure(StrEnum):
    MEMBERS = "members"  # the population as of D: accounts, ARR, averages, costs, health
    WINDOW = "window"  # P: NRR, GRR
    CHURNED = "churned"  # P with ARR on D = 0: logo churn
    RENEWALS = "renewals"  # P's accounts with a contract decided in the window
    OVERLAP = "overlap"  # in both segments as of D
    COHORT = "cohort"  # the signup month's accounts, measured on D

    @property
    def label(self) -> str:
        return FIGURE_LABELS[self]


FIGURE_LABELS = {
    Figure.MEMBERS: "Members",
    Figure.WINDOW: "Window population (NRR, GRR)",
    Figure.CHURNED: "Churned in the window (logo churn)",
    Figure.RENEWALS: "Contracts up for renewal in the window (renewal rate)",
    Figure.OVERLAP: "In both segments",
    Figure.COHORT: "Signup-month cohort",
}
FILTERS = {
    Figure.MEMBERS: "1 = 1",
    Figure.WINDOW: "f.arr_s > 0",
    Figure.CHURNED: "f.arr_s > 0 AND f.arr_d = 0",
    Figure.RENEWALS: "f.arr_s > 0 AND f.decided > 0",
    Figure.OVERLAP: "1 = 1",
    Figure.COHORT: "1 = 1",
}


@dataclass(frozen=True)
class FigureQuery:
    """Which accounts: ``figure`` of ``segment_id`` (or, for a cohort, of every account)
    as of ``as_of``; ``other_id`` is the second segment of an overlap; ``month``, ``plan``
    the cohort's signup month and plan."""

    figure: Figure
    as_of: date
    segment_id: int | None = None
    other_id: int | None = None
    month: date | None = None
    plan: str | None = None


@dataclass(frozen=True)
class FigureRow:
    account: Account
    arr_start: Decimal
    arr_end: Decimal
    renewed: int
    decided: int

    @property
    def change(self) -> Decimal:
        return self.arr_end - self.arr_start


@dataclass(frozen=True)
class FigureTotals:
    accounts: int
    arr_start: Decimal
    arr_end: Decimal
    renewed: int
    decided: int


@dataclass(frozen=True)
class FigureAccounts:
    query: FigureQuery
    start: date  # the day ARR "at the start" is read on
    end: date  # the day ARR "at the end" is read on
    totals: FigureTotals
    rows: list[FigureRow]


def figure_window(query: FigureQuery) -> tuple[date, date]:
    """The two days a figure's ARR is read on: S and D, or for a cohort the end of its
    signup month and D."""
    if query.figure is Figure.COHORT and query.month:
        return month_end(query.month), query.as_of
    return window_start(query.as_of), query.as_of


def _population(query: FigureQuery) -> tuple[str, list[Any]]:
    figure, as_of = query.figure, query.as_of
    if figure is Figure.COHORT:
        account = table_name(Account)
        conditions = ["a.customer_since >= %s", "a.customer_since <= %s"]
        first = query.month or as_of.replace(day=1)
        params: list[Any] = [date_param(first), date_param(min(month_end(first), as_of))]
        if query.plan:
            conditions.append("a.plan = %s")
            params.append(query.plan)
        if query.segment_id is not None:
            members, members_params = members_as_of_sql([query.segment_id], as_of)
            conditions.append(f"a.id IN (SELECT m.account_id FROM ({members}) m)")
            params += members_params
        return f"SELECT 0 AS segment_id, a.id AS account_id FROM {account} a WHERE " + (
            " AND ".join(conditions)
        ), params
    if query.segment_id is None:
        raise ValueError("segment: required for this figure")
    if figure in (Figure.MEMBERS, Figure.OVERLAP):
        members, params = members_as_of_sql([query.segment_id], as_of)
        if figure is Figure.OVERLAP and query.other_id is not None:
            other, other_params = members_as_of_sql([query.other_id], as_of)
            members = (
                f"SELECT m.segment_id, m.account_id FROM ({members}) m"
                f" WHERE m.account_id IN (SELECT o.account_id FROM ({other}) o)"
            )
            params = [*params, *other_params]
        return members, params
    start = window_start(as_of)
    began = segments_began_on([query.segment_id]).get(query.segment_id)
    if began is not None and began > start:
        return members_since_began_sql([query.segment_id], as_of)
    return members_as_of_sql([query.segment_id], start)


def _statement(query: FigureQuery, *, page: tuple[int, int] | None) -> tuple[str, list[Any]]:
    population, params = _population(query)
    start, end = figure_window(query)
    sql = analytics_sql(
        "figure_accounts",
        population=population,
        contract=table_name(Contract),
        counts_on_day=contract_counts_on("c", "%s"),
        counts_on_start=contract_counts_on("c", "%s"),
        renewed=ContractStatus.RENEWED.value,
        churned=ContractStatus.CHURNED.value,
        cancelled=ContractStatus.CANCELLED.value,
        filter=FILTERS[query.figure],
        page=" LIMIT %s OFFSET %s" if page else "",
    )
    s, d = date_param(start), date_param(end)
    # The CASE sums read S then D in SELECT order: counts_on_start, counts_on_day, renewed,
    # decided.
    params = [*params, s, s, d, d, s, d, s, d]
    if page:
        params += list(page)
    return sql, params


def _rows(raw: list[tuple]) -> list[FigureRow]:
    accounts = Account.objects.select_related("owner").in_bulk([row[0] for row in raw])
    return [
        FigureRow(
            account=accounts[account_id],
            arr_start=to_decimal(arr_s).quantize(Decimal("0.01")),
            arr_end=to_decimal(arr_d).quantize(Decimal("0.01")),
            renewed=int(renewed or 0),
            decided=int(decided or 0),
        )
        for account_id, arr_s, arr_d, renewed, decided in raw
        if account_id in accounts
    ]


def figure_accounts(query: FigureQuery, *, limit: int = 50, offset: int = 0) -> FigureAccounts:
    """One page of the accounts behind ``query``'s figure (largest ARR at the end first)
    and the totals over all of them: two statements, whatever the population's size."""
    sql, params = _statement(query, page=None)
    totals_row = run_analytic_statement(
        f"SELECT COUNT(*), SUM(t.arr_s), SUM(t.arr_d), SUM(t.renewed), SUM(t.decided)"
        f" FROM ({sql}) t",
        params,
    )[0]
    page_sql, page_params = _statement(query, page=(limit, offset))
    start, end = figure_window(query)
    return FigureAccounts(
        query=query,
        start=start,
        end=end,
        totals=FigureTotals(
            accounts=int(totals_row[0] or 0),
            arr_start=to_decimal(totals_row[1]).quantize(Decimal("0.01")),
            arr_end=to_decimal(totals_row[2]).quantize(Decimal("0.01")),
            renewed=int(totals_row[3] or 0),
            decided=int(totals_row[4] or 0),
        ),
        rows=_rows(run_analytic_statement(page_sql, page_params)),
    )


def figure_accounts_all(query: FigureQuery) -> Iterator[FigureRow]:
    """Every account behind ``query``'s figure, in pages of ``EXPORT_BATCH`` (bounded
    memory, for the CSV export)."""
    offset = 0
    while True:
        sql, params = _statement(query, page=(EXPORT_BATCH, offset))
        raw = run_analytic_statement(sql, params)
        yield from _rows(raw)
        if len(raw) < EXPORT_BATCH:
            return
        offset += EXPORT_BATCH
