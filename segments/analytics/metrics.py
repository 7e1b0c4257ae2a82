"""Per-segment metrics as of a date (docs/metrics.md): ARR, NRR, GRR, churn, renewals,
cost to serve, CAC payback, LTV and health, for any number of segments in a few statements.

The SQL is hand-written (CTEs, CASE sums) because it joins populations at two dates with the
contracts that count on those dates; it uses only constructs that PostgreSQL and SQLite
share, and Django's own backend operations for the one time-zone-dependent expression (the
local date of a membership event)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from cs_platform import clock
from cs_platform.db import table_name
from customers.models import Account, Contract, ContractStatus

from ..models import MembershipEvent, Segment
from .overlap import (
    Overlap,
    overlap_from_rows,
    overlap_rows_sql,
    segment_masks_sql,
    segment_overlap,
)
from .population import (
    contract_counts_on,
    members_as_of_sql,
    members_since_began_sql,
    window_start,
)
from .statements import (
    CENT,
    ZERO,
    analytics_sql,
    date_param,
    ratio,
    run_analytic_statement,
    run_concurrently,
    to_decimal,
)


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
        overlap=overlap_from_rows([pk for pk in ids if pk in metrics], as_of, rows),
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
            str(n): functools.partial(run_analytic_statement, sql, params, sorted_groups=True)
            for n, (sql, params) in enumerate(statements)
        }
    )
    rows = [row for rows in parts.values() for row in rows]
    current, window = _metric_rows(rows)

    result: dict[int, SegmentMetrics] = {}
    for pk in ids:
        current_sums = current.get(pk, {})
        window_sums = window.get(pk, {})
        accounts = current_sums.get("accounts", 0)
        arr = current_sums.get("arr", ZERO)
        avg_arr = ratio(arr, Decimal(accounts), CENT)
        size = window_sums.get("size", 0)
        start_arr = window_sums.get("start_arr", ZERO)
        churn = ratio(Decimal(window_sums.get("churned", 0)), Decimal(size))
        cac_count = current_sums.get("cac_count", 0)
        avg_cac = ratio(current_sums.get("cac_sum", ZERO), Decimal(cac_count), CENT)
        # avg CAC / avg MRR over the accounts whose CAC is known = 12 * sum CAC / sum ARR.
        payback = (
            ratio(12 * current_sums.get("cac_sum", ZERO), current_sums.get("cac_arr", ZERO), CENT)
            if cac_count
            else None
        )
        churned = window_sums.get("churned", 0)
        ltv = None
        if churned and accounts:
            # Unrounded: (Σ ARR / accounts) / (churned / |P|).
            ltv = ratio(arr * size, Decimal(accounts) * churned, CENT)
        is_young = pk in young
        result[pk] = SegmentMetrics(
            segment_id=pk,
            as_of=as_of,
            window_start=start,
            population=PopulationKind.SINCE_CREATED if is_young else PopulationKind.TRAILING,
            population_since=began[pk] if is_young else None,
            population_size=size,
            accounts=accounts,
            arr=arr.quantize(CENT),
            avg_arr=avg_arr,
            nrr=ratio(window_sums.get("end_arr", ZERO), start_arr),
            grr=ratio(window_sums.get("kept_arr", ZERO), start_arr),
            logo_churn_rate=churn,
            renewal_rate=ratio(
                Decimal(window_sums.get("renewed", 0)), Decimal(window_sums.get("decided", 0))
            ),
            contracts_up_for_renewal=window_sums.get("decided", 0),
            cost_to_serve_ratio=ratio(
                current_sums.get("cost_sum", ZERO), current_sums.get("cost_arr", ZERO)
            ),
            avg_cac=avg_cac,
            cac_payback_months=payback,
            ltv=ltv,
            ltv_no_churn=churn is not None and churn == 0,
            avg_health=ratio(
                current_sums.get("health_sum", ZERO),
                Decimal(current_sums.get("health_count", 0)),
                CENT,
            ),
        )
    return result, rows


def _metrics_statements(
    ids: list[int], trailing: list[int], young: list[int], as_of: date, *, overlap: bool = False
) -> list[tuple[str, list[Any]]]:
    """The statements behind every segment's metrics as of ``as_of``, each for all segments
    at once: rows ``("cur", segment, 9 sums)`` over each population as of D
    (``analytics_metrics_current.sql``), and ``("win", segment, 7 sums)`` over each window
    population P of the trailing segments (``analytics_metrics_window.sql``), then
    of the young ones (the same statement over a different population).

    The window takes ARR on S, ARR on D and the window's renewals per account from a single
    pass over the contracts (the ``acct`` CTE), joined with the window population before
    its ARR-on-S filter: the members at the end of S for a trailing segment, and for a
    segment younger than the window (DESIGN section 6) every account that has been a member
    since it began (``members_since_began_sql``), its ARR on S read from contract history
    all the same. The three statements are independent so that they run side by side
    (``run_concurrently``).

    With ``overlap``, the first statement also returns the overlap of the same population
    (``overlap_rows_sql``): its masks are already grouped there."""
    start = window_start(as_of)
    start_day, as_of_day = date_param(start), date_param(as_of)
    statuses = {
        "renewed": ContractStatus.RENEWED.value,
        "churned": ContractStatus.CHURNED.value,
        "cancelled": ContractStatus.CANCELLED.value,
    }
    contract = table_name(Contract)
    counts_on_day = contract_counts_on("c", "%s")
    members_sql, members_params = members_as_of_sql(ids, as_of)
    masks, bits = segment_masks_sql("pop", ids)
    overlap_sql, overlap_params = "", []
    if overlap:
        rows_sql, overlap_params = overlap_rows_sql(as_of, columns=11)
        overlap_sql = f" UNION ALL {rows_sql}"
    current = analytics_sql(
        "metrics_current",
        members=members_sql,
        masks=masks,
        bits=bits,
        contract=contract,
        account=table_name(Account),
        counts_on_day=counts_on_day,
        overlap_rows=overlap_sql,
        # Today's ARR is DESIGN section 1's (active contracts), as the segment's own totals.
        arr_d="COALESCE(a.arr, 0)" if as_of >= clock.today() else "COALESCE(acct.arr_d, 0)",
        acct_off="1 = 0 AND " if as_of >= clock.today() else "",
    )
    statements = [(current, [*members_params, as_of_day, as_of_day, *overlap_params])]
    window_populations = [
        members_as_of_sql(trailing, start) + (trailing,),
        members_since_began_sql(young, as_of) + (young,),
    ]
    for population_sql, population_params, population_ids in window_populations:
        if not population_ids:
            continue
        start_masks, start_bits = segment_masks_sql("at_start", population_ids)
        window = analytics_sql(
            "metrics_window",
            members_at_start=population_sql,
            masks=start_masks,
            bits=start_bits,
            contract=contract,
            counts_on_day=counts_on_day,
            counts_on_start=contract_counts_on("c", "%s"),
            active=ContractStatus.ACTIVE.value,
            **statuses,
        )
        statements.append(
            (
                window,
                [
                    *population_params,
                    *(as_of_day, as_of_day),  # ARR on D
                    *(start_day, start_day),  # ARR on S
                    *(start_day, as_of_day),  # renewed in (S, D]
                    *(start_day, as_of_day),  # decided in (S, D]
                    *(as_of_day, start_day),  # starts by D, ends after S
                ],
            )
        )
    return statements


def _metric_rows(rows: list[tuple]) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]]:
    """The rows of ``_metrics_statements`` as (population as of D, window population P) sums per
    segment."""
    current: dict[int, dict[str, Any]] = {}
    window: dict[int, dict[str, Any]] = {}
    for kind, pk, *sums in rows:
        if kind in ("mask", "total"):
            continue
        if kind == "cur":
            current[pk] = {
                "accounts": int(sums[0]),
                "arr": to_decimal(sums[1]),
                "cost_sum": to_decimal(sums[2]),
                "cost_arr": to_decimal(sums[3]),
                "cac_count": int(sums[4] or 0),
                "cac_sum": to_decimal(sums[5]),
                "cac_arr": to_decimal(sums[6]),
                "health_count": int(sums[7] or 0),
                "health_sum": to_decimal(sums[8]),
            }
        else:
            window[pk] = {
                "size": int(sums[0]),
                "start_arr": to_decimal(sums[1]),
                "end_arr": to_decimal(sums[2]),
                "kept_arr": to_decimal(sums[3]),
                "churned": int(sums[4] or 0),
                "renewed": int(sums[5] or 0),
                "decided": int(sums[6] or 0),
            }
    return current, window


def existing_segment_ids(ids: Iterable[int]) -> set[int]:
    return set(Segment.objects.filter(pk__in=list(ids)).values_list("pk", flat=True))
