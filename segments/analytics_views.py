"""The analytics page (compare, overlap, cohorts) and its CSV downloads.

Read-only for every signed-in user (login is required by the middleware). The numbers come
from segments.analytics; the SVG from segments.charts; these views only parse the forms
and shape rows for the templates and the CSV files.
"""

from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import SafeString

from cs_platform import clock
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
# Which accounts each compare column is computed over (segments.analytics.drilldown):
# the population as of D unless named here.
COLUMN_FIGURES = {
    "nrr": "window",
    "grr": "window",
    "logo_churn_rate": "churned",
    "renewal_rate": "renewals",
}
# The columns measured over the window population P: a "since created" segment's are
# marked beside the figure.
WINDOW_COLUMNS = frozenset(COLUMN_FIGURES)


def figure_url(figure: str, as_of: date, **params: Any) -> str:
    """The page listing the accounts behind a figure (segments.analytics_accounts)."""
    query = {"figure": figure, "as_of": as_of.isoformat()}
    query.update({k: v for k, v in params.items() if v not in (None, "")})
    return f"{reverse('analytics-accounts')}?{urlencode(query)}"


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

    def url(segment: Segment, key: str = "accounts") -> str:
        return figure_url(COLUMN_FIGURES.get(key, "members"), as_of, segment=segment.pk)

    rows = [
        {
            "segment": s,
            "metrics": metrics[s.pk],
            "cells": [
                {
                    "text": "no churn"
                    if key == "ltv" and metrics[s.pk].ltv_no_churn
                    else charts.format_value(getattr(metrics[s.pk], key), kind),
                    "href": url(s, key),
                    "since_created": key in WINDOW_COLUMNS
                    and metrics[s.pk].population == analytics.PopulationKind.SINCE_CREATED,
                }
                for key, _l, kind in COMPARE_COLUMNS
            ],
        }
        for s in segments
    ]

    def bar_chart(
        title: str,
        value_format: charts.Formatter,
        axis_label: str,
        figure_key: str,
        *keys_and_labels: tuple[str, str],
    ) -> SafeString:
        """A bar chart of the segments' metrics named in ``keys_and_labels``, one series each;
        each segment's bars link to the accounts behind ``figure_key``'s figure."""
        series = [
            charts.BarSeries(label, [getattr(metrics[s.pk], key) for s in segments])
            for key, label in keys_and_labels
        ]
        return charts.safe_svg(
            charts.bar_chart(
                names,
                series,
                title=title,
                value_format=value_format,
                axis_label=axis_label,
                links=[url(s, figure_key) for s in segments],
            )
        )

    return {
        "as_of": as_of,
        "columns": [label for _k, label, _kind in COMPARE_COLUMNS],
        "rows": rows,
        "since_created": [r for r in rows if r["metrics"].population == "since_created"],
        "arr_chart": bar_chart(
            "ARR by segment", charts.format_money, f"ARR on {as_of}", "arr", ("arr", "ARR")
        ),
        "retention_chart": bar_chart(
            "Net and gross revenue retention",
            charts.format_percent,
            "Share of the window's starting ARR",
            "nrr",
            ("nrr", "NRR"),
            ("grr", "GRR"),
        ),
        "churn_chart": bar_chart(
            "Logo churn and renewal rate",
            charts.format_percent,
            "Share of accounts (churn) or of decided contracts (renewals)",
            "logo_churn_rate",
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
                y_label="Members",
                width=1180,
                height=360,
            )
        ),
        "growth_points": sum(len(points) for points in growth.values()),
        "growth_table": growth_monthly_table(segments, growth),
    }


def growth_monthly_table(
    segments: list[Segment], growth: dict[int, list[analytics.GrowthPoint]]
) -> dict[str, Any]:
    """The growth chart's numbers, one column per month (its last point): a table a person
    can read; the CSV has every day."""
    months: dict[str, dict[int, analytics.GrowthPoint]] = {}
    for s in segments:
        for point in growth[s.pk]:
            months.setdefault(point.day.strftime("%Y-%m"), {})[s.pk] = point
    ordered = sorted(months)

    def cell(segment: Segment, month: str) -> dict[str, Any] | None:
        point = months[month].get(segment.pk)
        if point is None:
            return None
        return {
            "value": point.member_count,
            "day": point.day,
            "href": figure_url("members", point.day, segment=segment.pk),
        }

    return {
        "months": ordered,
        "rows": [{"segment": s, "values": [cell(s, m) for m in ordered]} for s in segments],
    }


def overlap_context(segments: list[Segment], overlap: analytics.Overlap) -> dict[str, Any]:
    as_of = overlap.as_of
    names = [s.name for s in segments]

    def url(row: Segment, column: Segment) -> str:
        if row.pk == column.pk:
            return figure_url("members", as_of, segment=row.pk)
        return figure_url("overlap", as_of, segment=row.pk, other=column.pk)

    links = [[url(row, column) for column in segments] for row in segments]
    return {
        "as_of": as_of,
        "overlap": overlap,
        "rows": [
            {
                "segment": s,
                "values": [
                    {"value": value, "href": links[i][j]}
                    for j, value in enumerate(overlap.matrix[i])
                ],
            }
            for i, s in enumerate(segments)
        ],
        "segments": segments,
        "chart": charts.safe_svg(
            charts.heatmap(
                names,
                names,
                overlap.matrix,
                title="Accounts in both segments",
                cell_width=56,
                links=links,
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

    def url(cohort: analytics.Cohort, on: date) -> str:
        return figure_url(
            "cohort",
            on,
            month=cohort.month.strftime("%Y-%m"),
            segment=segment.pk if segment else None,
            plan=plan,
        )

    links = [[url(c, cell.measured_on) for cell in c.cells] for c in table.cohorts]
    return {
        "table": table,
        "columns": columns,
        "rows": [
            {
                "cohort": c,
                "label": labels[i],
                "href": url(c, as_of),
                "cells": [
                    {
                        "logo": charts.format_value(logo[i][k], "rate"),
                        "revenue": charts.format_value(revenue[i][k], "rate"),
                        "href": links[i][k],
                    }
                    for k in range(len(c.cells))
                ],
            }
            for i, c in enumerate(table.cohorts)
        ],
        "logo_chart": charts.safe_svg(
            charts.heatmap(
                labels,
                [str(k) for k in columns],
                logo,
                title="Logo retention by signup month",
                value_format=charts.format_percent,
                max_value=1,
                cell_width=60,
                links=links,
                x_label="Months since signup",
            )
        ),
        "revenue_chart": charts.safe_svg(
            charts.heatmap(
                labels,
                [str(k) for k in columns],
                revenue,
                title="Revenue retention by signup month",
                value_format=charts.format_percent,
                cell_width=60,
                links=links,
                x_label="Months since signup",
            )
        ),
    }


def page_choices(request: HttpRequest) -> dict[str, Any]:
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


def compare_metrics(choices: dict[str, Any]) -> dict[int, analytics.SegmentMetrics]:
    ids, as_of = [segment.pk for segment in choices["compare_segments"]], choices["compare_as_of"]
    if _shared_figures(choices):
        return analytics.cached(analytics.segment_figures, segment_ids=ids, as_of=as_of).metrics
    return analytics.cached(analytics.segment_metrics_many, segment_ids=ids, as_of=as_of)


def overlap_figures(choices: dict[str, Any]) -> analytics.Overlap:
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
            choices["compare_segments"], choices["compare_as_of"], compare_metrics(choices)
        )
        sections["overlap"] = lambda: overlap_context(
            choices["overlap_segments"], overlap_figures(choices)
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
    choices = page_choices(request)
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
