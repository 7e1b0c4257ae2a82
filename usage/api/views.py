"""The usage API (DESIGN 11): metrics, daily values and events ingestion, an account's
daily series. Views parse and delegate to ``usage.ingest`` / ``usage.services``."""

from typing import Any

from django.shortcuts import get_object_or_404
from rest_framework import parsers, status
from rest_framework.generics import ListCreateAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cs_platform.api.parsers import BULK_MAX_BODY_BYTES, BulkJSONParser, body_too_large
from cs_platform.api.permissions import IsManager, IsManagerOrReadOnly
from customers.models import Account
from usage import ingest, selectors, services

from .serializers import UsageMetricSerializer, UsagePointSerializer, UsageSeriesQuerySerializer


class ParsedBody:
    """A parsed request body that the view takes once (``take``), leaving nothing behind.
    DRF keeps ``request.data`` in a reference cycle (the response's renderer context holds
    the request, and the response itself), which only Python's full garbage collection
    frees: a 100,000-row body (some 45 MB of objects) would otherwise stay in the worker
    for many requests, and its memory grew request after request."""

    def __init__(self, content: Any) -> None:
        self.content = content

    def take(self) -> Any:
        content, self.content = self.content, None
        return content


class IngestJSONParser(BulkJSONParser):
    """``BulkJSONParser``'s rows, handed to the view in a ``ParsedBody``."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return ParsedBody(super().parse(stream, media_type, parser_context))


class CSVTextParser(parsers.BaseParser):
    """A CSV body (text/csv) handed to the view as its text (in a ``ParsedBody``)."""

    media_type = "text/csv"
    max_bytes = BULK_MAX_BODY_BYTES

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        raw = stream.read(self.max_bytes + 1) if stream is not None else b""
        if len(raw) > self.max_bytes:
            raise body_too_large(self.max_bytes)
        return ParsedBody(ingest.CSVBody(raw.decode("utf-8-sig")))


def _rows(request: Request, columns: tuple[str, ...]) -> Any:
    data = request.data
    if isinstance(data, ParsedBody):
        data = data.take()
    if isinstance(data, ingest.CSVBody):
        return ingest.rows_from_csv(data.text, columns)
    return data


class MetricListCreateView(ListCreateAPIView):
    serializer_class = UsageMetricSerializer
    permission_classes = [IsManagerOrReadOnly]
    pagination_class = None

    def get_queryset(self):
        return selectors.metrics_list()

    def perform_create(self, serializer: UsageMetricSerializer) -> None:
        serializer.instance = services.usage_metric_create(**serializer.validated_data)


class DailyIngestView(APIView):
    permission_classes = [IsManager]
    parser_classes = [IngestJSONParser, CSVTextParser]

    def post(self, request: Request) -> Response:
        rows = _rows(request, ingest.DAILY_COLUMNS)
        result = ingest.usage_daily_ingest(rows=rows)
        return Response({"written": result.rows}, status=status.HTTP_200_OK)


class EventsIngestView(APIView):
    permission_classes = [IsManager]
    parser_classes = [IngestJSONParser, CSVTextParser]

    def post(self, request: Request) -> Response:
        rows = _rows(request, ingest.EVENT_COLUMNS)
        key = request.headers.get("Idempotency-Key") or None
        result = ingest.usage_events_ingest(rows=rows, idempotency_key=key)
        if result.duplicate_batch:
            return Response({"accepted": 0, "duplicate_batch": True})
        return Response({"accepted": result.rows})


class AccountUsageView(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request: Request, account_id: int) -> Response:
        account = get_object_or_404(Account.objects.only("id"), pk=account_id)
        query = UsageSeriesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.account_usage_series(
            account_id=account.pk,
            metric_key=query.validated_data.get("metric") or None,
            since=query.validated_data.get("since"),
            until=query.validated_data.get("until"),
        )
        return Response(UsagePointSerializer(rows, many=True).data)
