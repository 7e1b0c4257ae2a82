"""The accounts behind a figure of the analytics pages (every figure links here), and the
same list as CSV."""

from collections.abc import Iterable
from datetime import date
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render

from cs_platform import clock
from cs_platform.spreadsheet import csv_writer

from . import analytics
from .analytics.drilldown import Figure, FigureQuery, figure_accounts, figure_accounts_all
from .models import Segment

PER_PAGE = 50


class FigureForm(forms.Form):
    figure = forms.ChoiceField(choices=[(f.value, f.label) for f in Figure])
    segment = forms.ModelChoiceField(queryset=Segment.objects.all(), required=False)
    other = forms.ModelChoiceField(queryset=Segment.objects.all(), required=False)
    as_of = forms.DateField(required=False)
    month = forms.DateField(required=False, input_formats=["%Y-%m"])
    plan = forms.CharField(required=False, max_length=100)
    page = forms.IntegerField(required=False, min_value=1, max_value=100_000)

    def clean_as_of(self) -> date:
        value = self.cleaned_data.get("as_of") or clock.today()
        if value > clock.today():
            raise forms.ValidationError("Pick today or an earlier date.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        figure = data.get("figure")
        if figure and figure != Figure.COHORT and not data.get("segment"):
            self.add_error("segment", "Pick the segment whose figure to explain.")
        if figure == Figure.OVERLAP and not data.get("other"):
            self.add_error("other", "Pick the second segment of the overlap.")
        if figure == Figure.COHORT and not data.get("month"):
            self.add_error("month", "Give the cohort's signup month (YYYY-MM).")
        return data

    def query(self) -> FigureQuery:
        data = self.cleaned_data
        return FigureQuery(
            figure=Figure(data["figure"]),
            as_of=data["as_of"],
            segment_id=data["segment"].pk if data.get("segment") else None,
            other_id=data["other"].pk if data.get("other") else None,
            month=data.get("month"),
            plan=data.get("plan") or None,
        )


def analytics_accounts(request: HttpRequest) -> HttpResponse:
    form = FigureForm(request.GET)
    if not form.is_valid():
        return render(
            request, "analytics/accounts.html", {"nav": "analytics", "form": form}, status=400
        )
    query = form.query()
    page = form.cleaned_data.get("page") or 1
    result = analytics.cached(
        figure_accounts, query=query, limit=PER_PAGE, offset=(page - 1) * PER_PAGE
    )
    pages = max(1, -(-result.totals.accounts // PER_PAGE))
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "analytics/accounts.html",
        {
            "nav": "analytics",
            "form": form,
            "result": result,
            "figure": query.figure,
            "segment": form.cleaned_data.get("segment"),
            "other": form.cleaned_data.get("other"),
            "query": params.urlencode(),
            "page": page,
            "pages": pages,
            "first_index": (page - 1) * PER_PAGE,
        },
    )


def analytics_accounts_csv(request: HttpRequest) -> HttpResponse:
    form = FigureForm(request.GET)
    if not form.is_valid():
        return HttpResponse(
            "\n".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    query = form.query()
    writer = csv_writer()

    def lines() -> Iterable[str]:
        yield writer.writerow(
            [
                "account_id",
                "account",
                "external_id",
                "owner",
                "arr_start",
                "arr_end",
                "change",
                "renewed_contracts",
                "decided_contracts",
            ]
        )
        for row in figure_accounts_all(query):
            owner = row.account.owner.username if row.account.owner else ""
            yield writer.writerow(
                [
                    row.account.pk,
                    row.account.name,
                    row.account.external_id,
                    owner,
                    row.arr_start,
                    row.arr_end,
                    row.change,
                    row.renewed,
                    row.decided,
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    name = f"{query.figure.value}-{query.as_of.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="accounts-{name}"'
    return response
