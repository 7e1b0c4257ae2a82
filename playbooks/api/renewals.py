"""REST endpoints of a renewal's forecast and outcome, the forecast totals, the closed
renewals and the churn reasons (DESIGN 4). Thin: serializers validate the shape, the
services in ``playbooks.services.forecasts`` decide the rest."""

from typing import Any

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cs_platform.api.permissions import IsManagerOrReadOnly
from customers.models import Contract
from playbooks import selectors
from playbooks.models import ChurnReason, Renewal, RenewalForecast, RenewalOutcome
from playbooks.services import forecasts

MAX_MONEY = 10**12


class ChurnReasonSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChurnReason
        fields = ["id", "name", "order", "is_active"]


class RenewalSerializer(serializers.ModelSerializer):
    """A renewal's forecast and, once closed, its outcome (each null until set)."""

    forecast = serializers.SerializerMethodField()
    outcome = serializers.SerializerMethodField()

    account = serializers.IntegerField(source="contract.account_id", read_only=True)
    csm = serializers.CharField(
        source="contract.account.owner.username", read_only=True, allow_null=True, default=None
    )
    churn_reason = serializers.CharField(
        source="churn_reason.name", read_only=True, allow_null=True, default=None
    )
    forecast_by = serializers.CharField(
        source="forecast_by.username", read_only=True, allow_null=True, default=None
    )
    closed_by = serializers.CharField(
        source="closed_by.username", read_only=True, allow_null=True, default=None
    )

    @extend_schema_field(serializers.ChoiceField(choices=RenewalForecast.choices, allow_null=True))
    def get_forecast(self, renewal: Renewal) -> str | None:
        return renewal.forecast or None

    @extend_schema_field(serializers.ChoiceField(choices=RenewalOutcome.choices, allow_null=True))
    def get_outcome(self, renewal: Renewal) -> str | None:
        return renewal.outcome or None

    class Meta:
        model = Renewal
        fields = [
            "contract",
            "account",
            "csm",
            "forecast",
            "expected_arr",
            "forecast_note",
            "forecast_by",
            "forecast_at",
            "outcome",
            "outcome_arr",
            "churn_reason",
            "new_contract",
            "outcome_note",
            "closed_by",
            "closed_at",
        ]
        read_only_fields = fields


class ForecastInputSerializer(serializers.Serializer):
    forecast = serializers.ChoiceField(choices=RenewalForecast.choices)
    expected_arr = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=0,
        max_value=MAX_MONEY - 1,
        required=False,
        allow_null=True,
        help_text="Defaults to the contract's ARR (0 for churn).",
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class OutcomeInputSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=RenewalOutcome.choices)
    churn_reason = serializers.PrimaryKeyRelatedField(
        queryset=ChurnReason.objects.all(),
        required=False,
        allow_null=True,
        help_text="Churned: the reason's id (GET /api/churn-reasons/).",
    )
    new_contract = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2**63 - 1,
        help_text="Renewed or downgraded: an existing active contract of the account.",
    )
    new_arr = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=0,
        max_value=MAX_MONEY - 1,
        required=False,
        allow_null=True,
        help_text="Renewed or downgraded without new_contract: the new contract's ARR.",
    )
    new_end_date = serializers.DateField(
        required=False, allow_null=True, help_text="The new contract's end (default: a year on)."
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


def _contract(contract_id: int) -> Contract:
    return get_object_or_404(Contract.objects.select_related("account"), pk=contract_id)


class RenewalForecastView(APIView):
    """Set the forecast of a contract's open renewal (the account's owner CSM or a
    manager)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=ForecastInputSerializer, responses={200: RenewalSerializer})
    def post(self, request: Request, contract_id: int) -> Response:
        data = ForecastInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        renewal = forecasts.renewal_forecast_set(
            contract=_contract(contract_id),
            forecast=data.validated_data["forecast"],
            expected_arr=data.validated_data.get("expected_arr"),
            note=data.validated_data.get("note", ""),
            by=request.user,
        )
        return Response(
            RenewalSerializer(selectors.renewal_get(contract_id=renewal.contract_id)).data
        )


class RenewalOutcomeView(APIView):
    """Close a contract's renewal with its outcome (the account's owner CSM or a manager):
    ``renewed`` / ``downgraded`` with ``new_contract`` or ``new_arr`` (and
    ``new_end_date``), ``churned`` with ``churn_reason``."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=OutcomeInputSerializer, responses={200: RenewalSerializer})
    def post(self, request: Request, contract_id: int) -> Response:
        data = OutcomeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        contract = _contract(contract_id)
        new_contract = None
        if values.get("new_contract"):
            new_contract = Contract.objects.filter(pk=values["new_contract"]).first()
            if new_contract is None:
                raise serializers.ValidationError({"new_contract": ["No such contract."]})
        renewal = forecasts.renewal_close(
            contract=contract,
            outcome=values["outcome"],
            churn_reason=values.get("churn_reason"),
            new_contract=new_contract,
            new_arr=values.get("new_arr"),
            new_end_date=values.get("new_end_date"),
            note=values.get("note", ""),
            by=request.user,
        )
        return Response(
            RenewalSerializer(selectors.renewal_get(contract_id=renewal.contract_id)).data
        )


class ForecastRowSerializer(serializers.Serializer):
    csm = serializers.CharField(allow_null=True, required=False)
    window = serializers.CharField(required=False, help_text='"T-90", or "Overdue".')
    contracts = serializers.IntegerField()
    current_arr = serializers.DecimalField(max_digits=16, decimal_places=2)
    expected_arr = serializers.DecimalField(max_digits=16, decimal_places=2)
    by_forecast = serializers.DictField(
        help_text="Per forecast (commit, likely, at_risk, churn, none): "
        "{contracts, current_arr, expected_arr}."
    )


class ForecastTotalsSerializer(serializers.Serializer):
    total = ForecastRowSerializer()
    by_csm = ForecastRowSerializer(many=True)
    by_window = ForecastRowSerializer(many=True)
    rows = ForecastRowSerializer(many=True)


def _forecast_row(row: dict[str, Any], columns: list[str], **label: Any) -> dict[str, Any]:
    return {
        **label,
        "contracts": row["contracts"],
        "current_arr": f"{row['current_arr']:.2f}",
        "expected_arr": f"{row['expected_arr']:.2f}",
        "by_forecast": {
            c: {
                "contracts": row[f"{c}_n"],
                "current_arr": f"{row[f'{c}_arr']:.2f}",
                "expected_arr": f"{row[f'{c}_expected']:.2f}",
            }
            for c in columns
        },
    }


class ForecastFilterSerializer(serializers.Serializer):
    csm = serializers.CharField(required=False, max_length=150)
    window = serializers.IntegerField(required=False, min_value=0, max_value=100_000)


class RenewalForecastTotalsView(APIView):
    """Open renewals (each contract once, under its tightest window) by CSM and by window:
    contracts, current ARR and expected ARR, per forecast; ``?csm=``, ``?window=``.
    Renewals without a forecast count at their current ARR in ``expected_arr``."""

    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[ForecastFilterSerializer], responses={200: ForecastTotalsSerializer})
    def get(self, request: Request) -> Response:
        params = ForecastFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        csm = None
        if username := params.validated_data.get("csm"):
            csm = get_object_or_404(get_user_model(), username=username)
        totals = selectors.renewal_forecast_totals(
            csm=csm, window_days=params.validated_data.get("window")
        )
        columns = totals["columns"]
        return Response(
            {
                "total": _forecast_row(totals["total"], columns),
                "by_csm": [_forecast_row(r, columns, csm=r["csm"]) for r in totals["by_csm"]],
                "by_window": [
                    _forecast_row(r, columns, window=r["window"]) for r in totals["by_window"]
                ],
                "rows": [
                    _forecast_row(r, columns, csm=r["csm__username"], window=r["window"])
                    for r in totals["rows"]
                ],
            }
        )


class OutcomeFilter(filters.FilterSet):
    outcome = filters.ChoiceFilter(choices=RenewalOutcome.choices)
    csm = filters.CharFilter(field_name="contract__account__owner__username", max_length=150)
    since = filters.DateFilter(field_name="closed_at__date", lookup_expr="gte")
    until = filters.DateFilter(field_name="closed_at__date", lookup_expr="lte")
    churn_reason = filters.NumberFilter(field_name="churn_reason_id")

    class Meta:
        model = Renewal
        fields: list[str] = []


class RenewalOutcomeListView(generics.ListAPIView):
    """Closed renewals, newest first; ``?outcome=``, ``?csm=``, ``?since=``, ``?until=``,
    ``?churn_reason=``."""

    queryset = Renewal.objects.all()
    serializer_class = RenewalSerializer
    permission_classes = [IsAuthenticated]
    filterset_class = OutcomeFilter

    def get_queryset(self) -> Any:
        return selectors.renewal_outcome_list()


class ChurnReasonViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """The churn reasons a churned renewal names; managers add, rename, reorder and switch
    them off (a reason in use is switched off, not deleted)."""

    queryset = ChurnReason.objects.all()
    serializer_class = ChurnReasonSerializer
    permission_classes = [IsManagerOrReadOnly]
    http_method_names = ["get", "post", "patch", "head", "options"]
    ordering = ["order", "name"]

    def get_queryset(self) -> Any:
        return selectors.churn_reason_list()

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = ChurnReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reason = forecasts.churn_reason_create(by=request.user, **data.validated_data)
        return Response(ChurnReasonSerializer(reason).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer: ChurnReasonSerializer) -> None:
        serializer.instance = forecasts.churn_reason_update(
            reason=serializer.instance, data=dict(serializer.validated_data), by=self.request.user
        )
