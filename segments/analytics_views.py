"""The analytics page (compare, overlap, cohorts) and its CSV downloads.

Read-only for every signed-in user (login is required by the middleware). The numbers come
from segments.analytics; the SVG from segments.charts; these views only parse the forms
and shape rows for the templates and the CSV files.
"""

from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Any

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import SafeString

from cs_platform import clock
from cs_platform.spreadsheet import csv_writer
from customers.selectors import picklist_options

from . import analytics, charts
from .models import Segment

# Metrics in the compare table and CSV: (key, label, kind) where kind picks the format.
COMPARE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("accounts", "Accounts", "int"),
    ("arr", "ARR", "money"),
    ("avg_arr", "Avg ARR", "money"),
    ("nrr", "NRR", "rate"),
    ("grr", "GRR", "rate"),
    ("logo_churn_rate", "Logo churn", "rate"),
    ("renewal_rate", "Renewal rate", "rate"),
    ("cost_to_serve_ratio", "Cost to serve / ARR", "rate"),
    ("avg_cac", "Avg CAC", "money"),
    ("cac_payback_months", "CAC payback (months)", "number"),
    ("ltv", "LTV", "money"),
    ("avg_health", "Avg health", "number"),
)


class DateInput(forms.DateInput):
    input_type = "date"


def _validate_past(value: date | None) -> None:
    if value and value > clock.today():
        raise forms.ValidationError("Pick today or an earlier date.")


class CompareForm(forms.Form):
    segments = forms.ModelMultipleChoiceField(
        queryset=Segment.objects.order_by("name", "id"),
        required=False,
        help_text=f"Up to {analytics.MAX_SEGMENTS}; none picked means every active segment.",
    )
    as_of = forms.DateField(required=False, widget=DateInput, validators=[_validate_past])

    def clean_segments(self) -> list[Segment]:
        chosen = list(self.cleaned_data["segments"])
        if len(chosen) > analytics.MAX_SEGMENTS:
            raise forms.ValidationError(f"Pick at most {analytics.MAX_SEGMENTS} segments.")
        return chosen


class OverlapForm(CompareForm):
    prefix = "overlap"


class CohortForm(forms.Form):
    prefix = "cohort"
    segment = forms.ModelChoiceField(
        queryset=Segment.objects.order_by("name", "id"), required=False, empty_label="All"
    )
    plan = forms.ChoiceField(
        choices=lambda: [("", "All"), *picklist_options("plan")], required=False
    )
    months = forms.IntegerField(
        min_value=1,
        max_value=analytics.MAX_COHORT_MONTHS,
        required=False,
        initial=analytics.DEFAULT_COHORT_MONTHS,
    )
    as_of = forms.DateField(required=False, widget=DateInput, validators=[_validate_past])


def _cleaned(form: forms.Form) -> dict[str, Any]:
    """The form's valid values (an invalid field falls back to its default)."""
    form.is_valid()
    return {k: v for k, v in getattr(form, "cleaned_data", {}).items() if k not in form.errors}


def _segments_or_default(chosen: Sequence[Segment] | None) -> list[Segment]:
    return list(chosen) if chosen else analytics.default_segments()


def _carry(request: HttpRequest, own_prefix: str | None, own_names: Iterable[str]) -> list[tuple]:
    """The other sections' parameters, so submitting one section keeps the others."""
    own = {f"{own_prefix}-{n}" if own_prefix else n for n in own_names}
    return [(k, v) for k in request.GET for v in request.GET.getlist(k) if k not in own]


# --- the sections -----------------------------------------------------------------------------


def compare_context(
    segments: list[Segment], as_of: date, metrics: dict[int, analytics.SegmentMetrics]
) -> dict[str, Any]:
    growth = analytics.cached(
        analytics.segment_growth, segment_ids=[s.pk for s in segments], as_of=as_of
    )
    names = [s.name for s in segments]
    rows = [
        {
            "segment": s,
            "metrics": metrics[s.pk],
            "cells": [
                charts.format_value(getattr(metrics[s.pk], key), kind)
                for key, _l, kind in COMPARE_COLUMNS
            ],
        }
        for s in segments
    ]

    def bar_chart(
        title: str, value_format: charts.Formatter, *keys_and_labels: tuple[str, str]
    ) -> SafeString:
        """A bar chart of the segments' metrics named in ``keys_and_labels``, one series each."""
        series = [
            charts.BarSeries(label, [getattr(metrics[s.pk], key) for s in segments])
            for key, label in keys_and_labels
        ]
        return charts.safe_svg(
            charts.bar_chart(names, series, title=title, value_format=value_format)
        )

    return {
        "as_of": as_of,
        "columns": [label for _k, label, _kind in COMPARE_COLUMNS],
        "rows": rows,
        "since_created": [r for r in rows if r["metrics"].population == "since_created"],
        "arr_chart": bar_chart("ARR by segment", charts.format_money, ("arr", "ARR")),
        "retention_chart": bar_chart(
            "Net and gross revenue retention",
            charts.format_percent,
            ("nrr", "NRR"),
            ("grr", "GRR"),
        ),
        "churn_chart": bar_chart(
            "Logo churn and renewal rate",
            charts.format_percent,
            ("logo_churn_rate", "Logo churn"),
            ("renewal_rate", "Renewal rate"),
        ),
        "growth_chart": charts.safe_svg(
            charts.line_chart(
                [
                    charts.LineSeries(s.name, [(p.day, p.member_count) for p in growth[s.pk]])
                    for s in segments
                ],
                title="Members over time (last snapshot of each day)",
            )
        ),
        "growth_table": growth_monthly_table(segments, growth),
    }


def growth_monthly_table(
    segments: list[Segment], growth: dict[int, list[analytics.GrowthPoint]]
) -> dict[str, Any]:
    """The growth chart's numbers, one column per month (its last point): a table a person
    can read; the CSV has every day."""
    months: dict[str, dict[int, int]] = {}
    for s in segments:
        for point in growth[s.pk]:
            months.setdefault(point.day.strftime("%Y-%m"), {})[s.pk] = point.member_count
    ordered = sorted(months)
    return {
        "months": ordered,
        "rows": [
            {"segment": s, "values": [months[m].get(s.pk) for m in ordered]} for s in segments
        ],
    }


def overlap_context(segments: list[Segment], overlap: analytics.Overlap) -> dict[str, Any]:
    as_of = overlap.as_of
    names = [s.name for s in segments]
    return {
        "as_of": as_of,
        "overlap": overlap,
        "rows": [{"segment": s, "values": overlap.matrix[i]} for i, s in enumerate(segments)],
        "segments": segments,
        "chart": charts.safe_svg(
            charts.heatmap(
                names,
                [str(i + 1) for i in range(len(segments))],
                overlap.matrix,
                title="Accounts in both segments (columns numbered as the rows)",
                cell_width=52,
            )
        ),
    }


def cohort_context(
    *, as_of: date, months: int, segment: Segment | None, plan: str | None
) -> dict[str, Any]:
    table = analytics.cached(
        analytics.cohort_retention,
        as_of=as_of,
        months=months,
        segment_id=segment.pk if segment else None,
        plan=plan,
    )
    labels = [c.month.strftime("%Y-%m") for c in table.cohorts]
    columns = list(range(table.months))

    def grid(attr: str) -> list[list[Any]]:
        return [
            [getattr(cell, attr) for cell in c.cells] + [None] * (table.months - len(c.cells))
            for c in table.cohorts
        ]

    logo, revenue = grid("logo_retention"), grid("revenue_retention")
    return {
        "table": table,
        "columns": columns,
        "rows": [
            {
                "cohort": c,
                "label": labels[i],
                "logo": [charts.format_value(v, "rate") if v is not None else "" for v in logo[i]],
                "revenue": [
                    charts.format_value(v, "rate") if v is not None else "" for v in revenue[i]
                ],
            }
            for i, c in enumerate(table.cohorts)
        ],
        "logo_chart": charts.safe_svg(
            charts.heatmap(
                labels,
                [str(k) for k in columns],
                logo,
                title="Logo retention by signup month (columns: months since)",
                value_format=charts.format_percent,
                max_value=1,
                cell_width=48,
            )
        ),
        "revenue_chart": charts.safe_svg(
            charts.heatmap(
                labels,
                [str(k) for k in columns],
                revenue,
                title="Revenue retention by signup month (columns: months since)",
                value_format=charts.format_percent,
                cell_width=48,
            )
        ),
    }


def _page_choices(request: HttpRequest) -> dict[str, Any]:
    """The page's forms and what they chose (defaults where nothing valid was asked)."""
    today = clock.today()
    compare_form = CompareForm(request.GET or None)
    overlap_form = OverlapForm(request.GET or None)
    cohort_form = CohortForm(request.GET or None)
    compare = _cleaned(compare_form) if request.GET else {}
    overlap = _cleaned(overlap_form) if request.GET else {}
    cohort = _cleaned(cohort_form) if request.GET else {}
    return {
        "compare_form": compare_form,
        "overlap_form": overlap_form,
        "cohort_form": cohort_form,
        "compare_segments": _segments_or_default(compare.get("segments")),
        "compare_as_of": compare.get("as_of") or today,
        "overlap_segments": _segments_or_default(overlap.get("segments")),
        "overlap_as_of": overlap.get("as_of") or today,
        "cohort_segment": cohort.get("segment"),
        "cohort_plan": cohort.get("plan") or None,
        "cohort_months": cohort.get("months") or analytics.DEFAULT_COHORT_MONTHS,
        "cohort_as_of": cohort.get("as_of") or today,
    }


def _shared_figures(choices: dict[str, Any]) -> bool:
    """Whether the compare and overlap sections show the same segments on the same date (as
    the page opens): then one ``segment_figures`` computes both."""
    same_segments = [segment.pk for segment in choices["compare_segments"]] == [
        segment.pk for segment in choices["overlap_segments"]
    ]
    return same_segments and choices["compare_as_of"] == choices["overlap_as_of"]


def _compare_metrics(choices: dict[str, Any]) -> dict[int, analytics.SegmentMetrics]:
    ids, as_of = [segment.pk for segment in choices["compare_segments"]], choices["compare_as_of"]
    if _shared_figures(choices):
        return analytics.cached(analytics.segment_figures, segment_ids=ids, as_of=as_of).metrics
    return analytics.cached(analytics.segment_metrics_many, segment_ids=ids, as_of=as_of)


def _overlap(choices: dict[str, Any]) -> analytics.Overlap:
    ids, as_of = [segment.pk for segment in choices["overlap_segments"]], choices["overlap_as_of"]
    if _shared_figures(choices):
        return analytics.cached(analytics.segment_figures, segment_ids=ids, as_of=as_of).overlap
    return analytics.cached(analytics.segment_overlap, segment_ids=ids, as_of=as_of)


def _page_sections(choices: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    """The page's three sections for the parsed query ``choices``, as independent calls (two when
    compare and overlap share their figures)."""
    sections: dict[str, Callable[[], Any]] = {}
    if _shared_figures(choices):

        def compare_and_overlap() -> dict[str, Any]:
            figures = analytics.cached(
                analytics.segment_figures,
                segment_ids=[segment.pk for segment in choices["compare_segments"]],
                as_of=choices["compare_as_of"],
            )
            return {
                "compare": compare_context(
                    choices["compare_segments"], choices["compare_as_of"], figures.metrics
                ),
                "overlap": overlap_context(choices["overlap_segments"], figures.overlap),
            }

        sections["compare_and_overlap"] = compare_and_overlap
    else:
        sections["compare"] = lambda: compare_context(
            choices["compare_segments"], choices["compare_as_of"], _compare_metrics(choices)
        )
        sections["overlap"] = lambda: overlap_context(
            choices["overlap_segments"], _overlap(choices)
        )
    return {
        **sections,
        "cohorts": lambda: cohort_context(
            as_of=choices["cohort_as_of"],
            months=choices["cohort_months"],
            segment=choices["cohort_segment"],
            plan=choices["cohort_plan"],
        ),
    }


def analytics_page(request: HttpRequest) -> HttpResponse:
    choices = _page_choices(request)
    query = request.GET.urlencode()
    return render(
        request,
        "analytics/index.html",
        {
            "nav": "analytics",
            "query": query,
            "compare_form": choices["compare_form"],
            "overlap_form": choices["overlap_form"],
            "cohort_form": choices["cohort_form"],
            "compare_carry": _carry(request, None, ("segments", "as_of")),
            "overlap_carry": _carry(request, "overlap", ("segments", "as_of")),
            "cohort_carry": _carry(request, "cohort", ("segment", "plan", "months", "as_of")),
            **_page_context(choices),
        },
    )


def _page_context(choices: dict[str, Any]) -> dict[str, Any]:
    context = analytics.run_concurrently(_page_sections(choices))
    return {**context.pop("compare_and_overlap", {}), **context}


# --- CSV ----------------------------------------------------------------------------------


def _csv_response(filename: str, header: list[str], rows: Iterable[list[Any]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv_writer(response)  # escapes formula cells, the header's segment names too
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
    return response


def analytics_csv(request: HttpRequest, kind: str) -> HttpResponse:
    choices = _page_choices(request)
    if kind == "compare":
        segments, as_of = choices["compare_segments"], choices["compare_as_of"]
        metrics = _compare_metrics(choices)
        keys = [key for key, _l, _k in COMPARE_COLUMNS]
        extra = ["population", "population_since", "population_size", "ltv_no_churn"]
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
        overlap = _overlap(choices)
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
