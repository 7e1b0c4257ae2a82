"""Analytics endpoints (DESIGN section 6; definitions in docs/metrics.md).

Mounted by cs_platform.api.urls under /api/ (``path("", include("segments.api.analytics"))``):

* GET ``segments/<id>/metrics/?as_of=YYYY-MM-DD[&group_by=product_family]`` →
  SegmentMetricsView
* GET ``analytics/overlap/?segments=1,2,3&as_of=`` → SegmentOverlapView
* GET ``analytics/cohorts/?segment=&plan=&months=&as_of=`` → CohortRetentionView

Read-only for every signed-in user. Rates and money are JSON numbers (rates as decimals to
4 places, e.g. 0.9312); a ratio over an empty population is null.
"""

from datetime import date
from typing import Any

from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cs_platform import clock
from customers.selectors import picklist_options
from segments import analytics
from segments.models import Segment


def _rate(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=12, decimal_places=4, coerce_to_string=False, allow_null=True, **kwargs
    )


def _money(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=18, decimal_places=2, coerce_to_string=False, **kwargs
    )


# --- query parameters ---------------------------------------------------------------------


class AsOfQuerySerializer(serializers.Serializer):
    as_of = serializers.DateField(
        required=False, help_text="YYYY-MM-DD, today or earlier (default: today)."
    )

    def validate_as_of(self, value: date) -> date:
        if value > clock.today():
            raise serializers.ValidationError("must be today or earlier.")
        return value


class MetricsQuerySerializer(AsOfQuerySerializer):
    group_by = serializers.ChoiceField(
        choices=["product_family"],
        required=False,
        help_text="product_family: add arr_by_product_family (the members' line-item ARR "
        "per product family).",
    )


class OverlapQuerySerializer(AsOfQuerySerializer):
    segments = serializers.CharField(
        help_text=f"Comma-separated segment ids, 1 to {analytics.MAX_SEGMENTS}."
    )

    def validate_segments(self, value: str) -> list[int]:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not parts:
            raise serializers.ValidationError("give at least one segment id.")
        bad = [p for p in parts if not p.isdigit()]
        if bad:
            raise serializers.ValidationError(f"not a segment id: {', '.join(bad[:5])}.")
        ids = list(dict.fromkeys(int(p) for p in parts))
        if len(ids) > analytics.MAX_SEGMENTS:
            raise serializers.ValidationError(
                f"at most {analytics.MAX_SEGMENTS} segments, got {len(ids)}."
            )
        unknown = sorted(set(ids) - analytics.existing_segment_ids(ids))
        if unknown:
            raise serializers.ValidationError(
                f"unknown segment ids: {', '.join(map(str, unknown))}."
            )
        return ids


class CohortQuerySerializer(AsOfQuerySerializer):
    segment = serializers.IntegerField(
        required=False, min_value=1, help_text="Only members of this segment as of as_of."
    )
    plan = serializers.CharField(
        required=False, max_length=100, help_text="A value of the plan picklist."
    )
    months = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=analytics.MAX_COHORT_MONTHS,
        default=analytics.DEFAULT_COHORT_MONTHS,
        help_text="How many signup months, up to the month of as_of.",
    )

    def validate_segment(self, value: int) -> int:
        if not Segment.objects.filter(pk=value).exists():
            raise serializers.ValidationError(f"unknown segment id: {value}.")
        return value

    def validate_plan(self, value: str) -> str:
        plans = [plan for plan, _label in picklist_options("plan")]
        if value not in plans:
            raise serializers.ValidationError(
                f"{value!r} is not a value of the plan picklist; allowed values: "
                f"{', '.join(plans)}."
            )
        return value


def _query(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    data = dict(query.validated_data)
    data.setdefault("as_of", clock.today())
    return data


# --- responses ----------------------------------------------------------------------------


class SegmentMetricsSerializer(serializers.Serializer):
    segment = serializers.IntegerField()
    as_of = serializers.DateField()
    window_start = serializers.DateField(
        help_text="S = as_of - 365 days (for since_created segments too)."
    )
    population = serializers.ChoiceField(
        choices=[kind.value for kind in analytics.PopulationKind],
        help_text="since_created: the segment is younger than the window, so the window "
        "population is every account that has been a member since it began, with ARR on S "
        "from contract history (not a true trailing-12-month figure: accounts that churned "
        "before the segment existed are not in it).",
    )
    population_since = serializers.DateField(
        allow_null=True, help_text="The day the segment began, for since_created; else null."
    )
    population_size = serializers.IntegerField(help_text="|P|: the window population.")
    accounts = serializers.IntegerField()
    arr = _money()
    avg_arr = _money(allow_null=True)
    nrr = _rate()
    grr = _rate()
    logo_churn_rate = _rate()
    renewal_rate = _rate()
    contracts_up_for_renewal = serializers.IntegerField(
        help_text="P's contracts ending in the window that were renewed or churned."
    )
    cost_to_serve_ratio = _rate()
    avg_cac = _money(allow_null=True)
    cac_payback_months = serializers.DecimalField(
        max_digits=14, decimal_places=2, coerce_to_string=False, allow_null=True
    )
    ltv = _money(allow_null=True, help_text="null when the churn rate is 0 (see ltv_no_churn).")
    ltv_no_churn = serializers.BooleanField(
        help_text='True when the logo churn rate is 0: LTV is shown as "no churn".'
    )
    avg_health = serializers.DecimalField(
        max_digits=5, decimal_places=2, coerce_to_string=False, allow_null=True
    )


class FamilyArrSerializer(serializers.Serializer):
    family = serializers.CharField()
    accounts = serializers.IntegerField()
    arr = _money()


class SegmentMetricsByFamilySerializer(SegmentMetricsSerializer):
    arr_by_product_family = FamilyArrSerializer(
        many=True, required=False, help_text="With group_by=product_family; largest ARR first."
    )


class OverlapSegmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    accounts = serializers.IntegerField()


class OverlapPairSerializer(serializers.Serializer):
    a = serializers.IntegerField()
    b = serializers.IntegerField()
    count = serializers.IntegerField(help_text="Accounts in both a and b.")


class SegmentOverlapSerializer(serializers.Serializer):
    as_of = serializers.DateField()
    segments = OverlapSegmentSerializer(many=True)
    pairs = OverlapPairSerializer(many=True)
    matrix = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="matrix[i][j]: accounts in segments[i] and segments[j]; the diagonal is "
        "each segment's size.",
    )
    accounts_total = serializers.IntegerField(help_text="Accounts that existed on as_of.")
    in_any = serializers.IntegerField(help_text="Accounts in at least one of the segments.")
    in_none = serializers.IntegerField(help_text="Accounts in none of the segments.")


class CohortCellSerializer(serializers.Serializer):
    months_since = serializers.IntegerField()
    measured_on = serializers.DateField(
        help_text="The last day of the month, or as_of for the month containing it."
    )
    accounts_retained = serializers.IntegerField()
    arr = _money()
    logo_retention = _rate()
    revenue_retention = _rate()


class CohortSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="The signup month, YYYY-MM.")
    accounts = serializers.IntegerField()
    start_arr = _money()
    cells = CohortCellSerializer(many=True)


class CohortTableSerializer(serializers.Serializer):
    as_of = serializers.DateField()
    months = serializers.IntegerField()
    segment = serializers.IntegerField(allow_null=True)
    plan = serializers.CharField(allow_null=True)
    cohorts = CohortSerializer(many=True)


def overlap_payload(overlap: analytics.Overlap) -> dict[str, Any]:
    names = dict(Segment.objects.filter(pk__in=overlap.segment_ids).values_list("pk", "name"))
    return {
        "as_of": overlap.as_of,
        "segments": [
            {"id": pk, "name": names.get(pk, ""), "accounts": overlap.matrix[i][i]}
            for i, pk in enumerate(overlap.segment_ids)
        ],
        "pairs": [{"a": a, "b": b, "count": n} for a, b, n in overlap.pairs()],
        "matrix": overlap.matrix,
        "accounts_total": overlap.accounts_total,
        "in_any": overlap.in_any,
        "in_none": overlap.in_none,
    }


def cohort_payload(table: analytics.CohortTable) -> dict[str, Any]:
    return {
        "as_of": table.as_of,
        "months": table.months,
        "segment": table.segment_id,
        "plan": table.plan,
        "cohorts": [
            {
                "month": cohort.month.strftime("%Y-%m"),
                "accounts": cohort.accounts,
                "start_arr": cohort.start_arr,
                "cells": [cell.__dict__ for cell in cohort.cells],
            }
            for cohort in table.cohorts
        ],
    }


# --- views --------------------------------------------------------------------------------


class SegmentMetricsView(APIView):
    @extend_schema(
        operation_id="segment_metrics",
        tags=["analytics"],
        parameters=[MetricsQuerySerializer],
        responses=SegmentMetricsByFamilySerializer,
        summary="A segment's metrics as of a date (docs/metrics.md).",
    )
    def get(self, request: Request, segment_id: int) -> Response:
        segment = get_object_or_404(Segment, pk=segment_id)
        query = _query(MetricsQuerySerializer, request)
        metrics = analytics.segment_metrics(segment_id=segment.pk, as_of=query["as_of"])
        payload = metrics.as_dict()
        if query.get("group_by") == "product_family":
            families = analytics.segment_arr_by_product_family(
                segment_id=segment.pk, as_of=query["as_of"]
            )
            payload["arr_by_product_family"] = [vars(row) for row in families]
        return Response(SegmentMetricsByFamilySerializer(payload).data)


class SegmentOverlapView(APIView):
    @extend_schema(
        operation_id="analytics_overlap",
        tags=["analytics"],
        parameters=[OverlapQuerySerializer],
        responses=SegmentOverlapSerializer,
        summary="Pairwise shared members of segments as of a date.",
    )
    def get(self, request: Request) -> Response:
        query = _query(OverlapQuerySerializer, request)
        overlap = analytics.segment_overlap(segment_ids=query["segments"], as_of=query["as_of"])
        return Response(SegmentOverlapSerializer(overlap_payload(overlap)).data)


class CohortRetentionView(APIView):
    @extend_schema(
        operation_id="analytics_cohorts",
        tags=["analytics"],
        parameters=[CohortQuerySerializer],
        responses=CohortTableSerializer,
        summary="Logo and revenue retention by signup month x months since.",
    )
    def get(self, request: Request) -> Response:
        query = _query(CohortQuerySerializer, request)
        table = analytics.cohort_retention(
            as_of=query["as_of"],
            months=query["months"],
            segment_id=query.get("segment"),
            plan=query.get("plan"),
        )
        return Response(CohortTableSerializer(cohort_payload(table)).data)


segment_metrics_view = SegmentMetricsView.as_view()
overlap_view = SegmentOverlapView.as_view()
cohorts_view = CohortRetentionView.as_view()

urlpatterns = [
    path("segments/<int:segment_id>/metrics/", segment_metrics_view, name="api-segment-metrics"),
    path("analytics/overlap/", overlap_view, name="api-analytics-overlap"),
    path("analytics/cohorts/", cohorts_view, name="api-analytics-cohorts"),
]
