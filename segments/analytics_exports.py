"""The analytics page's tables as CSV files: the compare table, the growth series (every
day), the overlap matrix and the cohort table, for the same choices as the page (its
query string). Text cells are made formula-safe (cs_platform.spreadsheet)."""

from collections.abc import Iterable
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse

from cs_platform.spreadsheet import csv_writer

from . import analytics
from .analytics_views import COMPARE_COLUMNS, compare_metrics, overlap_figures, page_choices


def _csv_response(filename: str, header: list[str], rows: Iterable[list[Any]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv_writer(response)
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
    return response


def analytics_csv(request: HttpRequest, kind: str) -> HttpResponse:
    choices = page_choices(request)
    if kind == "compare":
        segments, as_of = choices["compare_segments"], choices["compare_as_of"]
        metrics = compare_metrics(choices)
        keys = [key for key, _l, _k in COMPARE_COLUMNS]
        extra = [
            "window_start",
            "population",
            "population_since",
            "population_size",
            "ltv_no_churn",
        ]
        return _csv_response(
            f"segments-{as_of}.csv",
            ["segment_id", "segment", "as_of", *keys, *extra],
            (
                [x.pk, x.name, as_of]
                + [metrics[x.pk].as_dict()[k] for k in keys]
                + [metrics[x.pk].as_dict()[k] for k in extra]
                for x in segments
            ),
        )
    if kind == "growth":
        segments, as_of = choices["compare_segments"], choices["compare_as_of"]
        growth = analytics.cached(
            analytics.segment_growth, segment_ids=[x.pk for x in segments], as_of=as_of
        )
        return _csv_response(
            f"segment-growth-{as_of}.csv",
            ["segment_id", "segment", "day", "members", "arr"],
            ([x.pk, x.name, p.day, p.member_count, p.arr] for x in segments for p in growth[x.pk]),
        )
    if kind == "overlap":
        segments, as_of = choices["overlap_segments"], choices["overlap_as_of"]
        overlap = overlap_figures(choices)
        rows = [[x.name, *overlap.matrix[i]] for i, x in enumerate(segments)]
        rows.append(["(in none of these)", overlap.in_none])
        rows.append(["(accounts on that date)", overlap.accounts_total])
        return _csv_response(
            f"segment-overlap-{as_of}.csv", ["segment", *[x.name for x in segments]], rows
        )
    if kind == "cohorts":
        table = analytics.cached(
            analytics.cohort_retention,
            as_of=choices["cohort_as_of"],
            months=choices["cohort_months"],
            segment_id=choices["cohort_segment"].pk if choices["cohort_segment"] else None,
            plan=choices["cohort_plan"],
        )
        return _csv_response(
            f"cohorts-{table.as_of}.csv",
            [
                "cohort",
                "accounts",
                "start_arr",
                "months_since",
                "measured_on",
                "accounts_retained",
                "logo_retention",
                "arr",
                "revenue_retention",
            ],
            (
                [
                    c.month.strftime("%Y-%m"),
                    c.accounts,
                    c.start_arr,
                    cell.months_since,
                    cell.measured_on,
                    cell.accounts_retained,
                    cell.logo_retention,
                    cell.arr,
                    cell.revenue_retention,
                ]
                for c in table.cohorts
                for cell in c.cells
            ),
        )
    raise Http404("Unknown export.")
