"""The health API (DESIGN 12, docs/api.md): scorecards (nested measures) and their drafts,
an account's health (as of a date), its history, what moved it between two dates, manual
scores, and "recompute now". Views parse and delegate to services / selectors."""

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cs_platform.api.permissions import IsManager, IsManagerOrReadOnly
from customers.models import Account

from .. import selectors, services
from ..backtest import draft_preview
from ..models import Scorecard
from .serializers import (
    AsOfQuerySerializer,
    ChangesQuerySerializer,
    DraftSerializer,
    HistoryPointSerializer,
    ManualEntryInputSerializer,
    ManualEntrySerializer,
    ScorecardSerializer,
    SinceQuerySerializer,
)


class ScorecardViewSet(viewsets.ModelViewSet):
    """GET, POST /api/scorecards/; GET, PUT, PATCH, DELETE /api/scorecards/{id}/. Bad
    input is a 400 naming the field (``measures[1].weight``), nothing stored."""

    queryset = Scorecard.objects.select_related("segment").prefetch_related("measures")
    serializer_class = ScorecardSerializer
    permission_classes = [IsManagerOrReadOnly]

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        scorecard = services.scorecard_create(data=request.data)
        return Response(self._show(scorecard), status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        partial = kwargs.pop("partial", False)
        scorecard = services.scorecard_update(
            scorecard=self.get_object(), data=request.data, partial=partial
        )
        return Response(self._show(scorecard))

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.scorecard_delete(scorecard=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _show(self, scorecard: Scorecard) -> dict[str, Any]:
        return ScorecardSerializer(self.get_queryset().get(pk=scorecard.pk)).data

    @extend_schema(request=ScorecardSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get", "put", "patch", "delete"], url_path="draft")
    def draft(self, request: Request, pk: str | None = None) -> Response:
        """The draft: GET it, PUT / PATCH it (validated, nothing rescored), DELETE it."""
        scorecard = self.get_object()
        if request.method in ("PUT", "PATCH"):
            scorecard = services.scorecard_draft_save(
                scorecard=scorecard, data=request.data, partial=request.method == "PATCH"
            )
        elif request.method == "DELETE":
            services.scorecard_draft_discard(scorecard=scorecard)
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(DraftSerializer(scorecard).data)

    @extend_schema(request=None, responses=ScorecardSerializer)
    @action(detail=True, methods=["post"], url_path="draft/publish")
    def draft_publish(self, request: Request, pk: str | None = None) -> Response:
        scorecard = services.scorecard_draft_publish(scorecard=self.get_object())
        return Response(self._show(scorecard))

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"], url_path="draft/preview")
    def draft_preview(self, request: Request, pk: str | None = None) -> Response:
        """Counts and ARR per status today, and the 12-month churn backtest (docs/health.md)."""
        return Response(draft_preview(scorecard=self.get_object()))


def _account(account_id: int) -> Account:
    return get_object_or_404(Account.objects.only("id", "owner_id", "name"), pk=account_id)


def _query(serializer_class: type, request: Request) -> dict[str, Any]:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data


class AccountHealthView(APIView):
    """GET /api/accounts/{id}/health/?as_of=YYYY-MM-DD"""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[OpenApiParameter("as_of", OpenApiTypes.DATE)], responses=OpenApiTypes.OBJECT
    )
    def get(self, request: Request, account_id: int) -> Response:
        as_of = _query(AsOfQuerySerializer, request).get("as_of")
        account = get_object_or_404(Account, pk=account_id)
        return Response(selectors.account_health(account, as_of))


class AccountHealthHistoryView(APIView):
    """GET /api/accounts/{id}/health/history/?since=YYYY-MM-DD → [{day, score, status,
    scorecard, version}]"""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[OpenApiParameter("since", OpenApiTypes.DATE)],
        responses=HistoryPointSerializer(many=True),
    )
    def get(self, request: Request, account_id: int) -> Response:
        since = _query(SinceQuerySerializer, request).get("since")
        account = _account(account_id)
        return Response(selectors.account_health_history(account.pk, since))


class AccountHealthChangesView(APIView):
    """GET /api/accounts/{id}/health/changes/?from=YYYY-MM-DD&to=YYYY-MM-DD: what moved
    the score between the two dates, largest change first."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, required=True),
            OpenApiParameter("to", OpenApiTypes.DATE, required=True),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request, account_id: int) -> Response:
        params = {"start": request.query_params.get("from"), "end": request.query_params.get("to")}
        query = ChangesQuerySerializer(data={k: v for k, v in params.items() if v is not None})
        if not query.is_valid():
            names = {"start": "from", "end": "to"}
            raise ValidationError({names.get(k, k): v for k, v in query.errors.items()})
        start, end = query.validated_data["from"], query.validated_data["to"]
        if start > end:
            raise ValidationError({"to": ["must be on or after from"]})
        account = get_object_or_404(Account, pk=account_id)
        return Response(selectors.account_health_changes(account, start, end))


def _measure_reference(text: str) -> str | int:
    """A key (keys start with a letter) or, all digits, a measure id."""
    return int(text) if text.isdigit() else text


class ManualEntryView(APIView):
    """POST /api/accounts/{id}/health/manual/ {measure, score, comment}: a CSM's score for
    one of their own accounts (managers: any). 201 with the entry; the account is
    rescored by the changed-accounts sweep within seconds."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=ManualEntryInputSerializer, responses={201: ManualEntrySerializer})
    def post(self, request: Request, account_id: int) -> Response:
        data = ManualEntryInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = _account(account_id)
        entry = services.manual_entry_create(
            account=account,
            measure=_measure_reference(data.validated_data["measure"]),
            score=data.validated_data["score"],
            comment=data.validated_data.get("comment", ""),
            by=request.user,
        )
        return Response(ManualEntrySerializer(entry).data, status=status.HTTP_201_CREATED)


class RecomputeView(APIView):
    """POST /api/health/recompute/ → 202: every account's health is recomputed."""

    permission_classes = [IsManager]

    @extend_schema(request=None, responses={202: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        services.health_recompute_request()
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)
