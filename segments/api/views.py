"""REST endpoints of segments (DESIGN section 8). Views are thin: permissions,
serializers, then segments.selectors / segments.services."""

import json
from collections.abc import Iterator
from typing import Any

from django.http import Http404, StreamingHttpResponse
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from cs_platform.api.params import path_int, query_date, query_datetime, query_int
from cs_platform.api.permissions import IsManager, IsManagerOrReadOnly
from cs_platform.api.serializers import QueuedSerializer
from cs_platform.spreadsheet import csv_writer
from customers.models import Account
from segments import selectors, services
from segments.models import Segment, SegmentKind, SegmentVersion

from .serializers import (
    AccountSegmentSerializer,
    EventSerializer,
    ExplainSerializer,
    MemberSerializer,
    PreviewSerializer,
    SegmentCreateSerializer,
    SegmentSerializer,
    SegmentVersionSerializer,
)

# Rows per database round trip while streaming a members CSV.
CSV_CHUNK_SIZE = 2_000


class MembersCSVRenderer(BaseRenderer):
    """Selected by ``?format=csv`` on the members endpoint, which then streams every
    member (unpaginated) itself; this class only lets content negotiation accept it."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context=None):
        return data if isinstance(data, bytes | str) else b""


def members_csv_rows(members: Any) -> Iterator[str]:
    """The header, then one line per member, read in chunks (no whole table in memory)."""
    fields = MemberSerializer.Meta.fields
    writer = csv_writer()
    yield writer.writerow(fields)
    for account in members.iterator(chunk_size=CSV_CHUNK_SIZE):
        row = MemberSerializer(account).data
        yield writer.writerow(_csv_cell(row[name]) for name in fields)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


class SegmentFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains", max_length=200)
    kind = filters.ChoiceFilter(choices=SegmentKind.choices)
    is_active = filters.BooleanFilter()

    class Meta:
        model = Segment
        fields: list[str] = []


AT_PARAM = OpenApiParameter(
    "at", OpenApiTypes.DATE, description="Members at the end of this date (from the events)."
)
FORMAT_PARAM = OpenApiParameter(
    "format",
    str,
    enum=["json", "csv"],
    description="csv: every member as a CSV download (not paginated).",
)
SINCE_PARAM = OpenApiParameter(
    "since", OpenApiTypes.DATE, description="Only events at or after this date (or datetime)."
)


class SegmentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Segments, their versions, members and events. Reads for every signed-in user;
    writes for managers."""

    queryset = Segment.objects.all()
    serializer_class = SegmentSerializer
    permission_classes = [IsManagerOrReadOnly]
    filterset_class = SegmentFilter
    ordering_fields = ["id", "name", "member_count", "arr", "last_computed_at", "created_at"]
    ordering = ["name", "id"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> Any:
        return selectors.segment_list()

    def _version(self, segment: Segment, number: str) -> SegmentVersion:
        parsed = path_int(number)
        if parsed is None:
            raise Http404("No such version.")
        try:
            return selectors.segment_version_get(segment=segment, number=parsed)
        except SegmentVersion.DoesNotExist:
            raise Http404("No such version.") from None

    @extend_schema(request=SegmentCreateSerializer, responses={201: SegmentSerializer})
    def create(self, request: Request) -> Response:
        """Create a segment with version 1 (published and recomputed with ``publish``)."""
        serializer = SegmentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        segment = services.segment_create(
            **serializer.validated_data, owner=request.user, created_by=request.user
        )
        segment = selectors.segment_get(segment_id=segment.pk)
        return Response(SegmentSerializer(segment).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer: SegmentSerializer) -> None:
        segment = services.segment_update(
            segment=serializer.instance, data=dict(serializer.validated_data)
        )
        serializer.instance = selectors.segment_get(segment_id=segment.pk)

    @extend_schema(
        methods=["GET"],
        responses={200: SegmentVersionSerializer(many=True)},
        summary="List the segment's versions, newest first",
    )
    @extend_schema(
        methods=["POST"],
        request=SegmentVersionSerializer,
        responses={201: SegmentVersionSerializer},
        summary="Create a draft version (managers)",
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[])
    def versions(self, request: Request, pk: str | None = None) -> Response:
        segment = self.get_object()
        if request.method == "POST":
            serializer = SegmentVersionSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data
            version = services.version_create_draft(
                segment=segment,
                rule=data["rule"],
                rank_by=data.get("rank_by") or "",
                rank_limit=data.get("rank_limit"),
                note=data.get("note", ""),
                created_by=request.user,
            )
            return Response(SegmentVersionSerializer(version).data, status=status.HTTP_201_CREATED)
        versions = selectors.segment_versions(segment=segment).order_by("-number")
        page = self.paginate_queryset(versions)
        return self.get_paginated_response(SegmentVersionSerializer(page, many=True).data)

    @extend_schema(
        request=None,
        responses={200: SegmentVersionSerializer},
        parameters=[OpenApiParameter("number", int, OpenApiParameter.PATH)],
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"versions/(?P<number>[^/.]+)/publish",
        filter_backends=[],
    )
    def publish(self, request: Request, pk: str | None = None, number: str = "") -> Response:
        """Publish a draft: it becomes current and the segment is recomputed (managers)."""
        version = services.version_publish(version=self._version(self.get_object(), number))
        return Response(SegmentVersionSerializer(version).data)

    @extend_schema(
        responses={200: PreviewSerializer},
        parameters=[OpenApiParameter("number", int, OpenApiParameter.PATH)],
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"versions/(?P<number>[^/.]+)/preview",
        filter_backends=[],
        pagination_class=None,
    )
    def preview(self, request: Request, pk: str | None = None, number: str = "") -> Response:
        """What the version would hold now versus the current membership (lists of at
        most 100 accounts)."""
        preview = selectors.version_preview(version=self._version(self.get_object(), number))
        return Response(PreviewSerializer(preview.as_dict()).data)

    @extend_schema(request=None, responses={202: QueuedSerializer})
    @action(detail=True, methods=["post"], permission_classes=[IsManager], filter_backends=[])
    def recompute(self, request: Request, pk: str | None = None) -> Response:
        """Queue a recompute of the segment's current version (managers)."""
        services.segment_request_recompute(segment=self.get_object())
        return Response({"status": "queued"}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        responses={
            200: MemberSerializer(many=True),
            400: OpenApiResponse(description="A bad ?at= date."),
        },
        parameters=[AT_PARAM, FORMAT_PARAM],
    )
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[],
        renderer_classes=[JSONRenderer, BrowsableAPIRenderer, MembersCSVRenderer],
    )
    def members(self, request: Request, pk: str | None = None) -> Any:
        """Current members (or at the end of ``?at=``), each an account plus
        ``entered_at``; ``?format=csv`` downloads them all as CSV."""
        segment = self.get_object()
        day = query_date(request, "at")
        if day is None:
            members = selectors.segment_members(segment=segment)
        else:
            members = selectors.segment_members_at(segment=segment, day=day)
        if request.accepted_renderer.format == "csv":
            response = StreamingHttpResponse(
                members_csv_rows(members), content_type="text/csv; charset=utf-8"
            )
            suffix = f"-{day.isoformat()}" if day else ""
            response["Content-Disposition"] = (
                f'attachment; filename="{segment.slug}-members{suffix}.csv"'
            )
            return response
        page = self.paginate_queryset(members)
        return self.get_paginated_response(MemberSerializer(page, many=True).data)

    @extend_schema(
        responses={200: EventSerializer(many=True)},
        parameters=[SINCE_PARAM],
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def events(self, request: Request, pk: str | None = None) -> Response:
        """Membership events, newest first; ``?since=`` an ISO date or datetime."""
        segment = self.get_object()
        since = query_datetime(request, "since")
        page = self.paginate_queryset(selectors.segment_events(segment=segment, since=since))
        return self.get_paginated_response(EventSerializer(page, many=True).data)


class AccountSegmentsViewSet(viewsets.GenericViewSet):
    """``/api/accounts/{id}/segments/`` and ``/api/accounts/{id}/explain/`` (registered on
    the accounts prefix; the segments app owns them, as customers never imports
    segments)."""

    queryset = Account.objects.all()
    serializer_class = AccountSegmentSerializer
    filter_backends: list = []

    @extend_schema(responses={200: AccountSegmentSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def segments(self, request: Request, pk: str | None = None) -> Response:
        """The segments the account is a member of now, with ``entered_at``."""
        segments = selectors.account_segments(account=self.get_object()).order_by("name", "id")
        page = self.paginate_queryset(segments)
        return self.get_paginated_response(AccountSegmentSerializer(page, many=True).data)

    @extend_schema(
        responses={200: ExplainSerializer},
        parameters=[
            OpenApiParameter("segment", int, required=True, description="The segment's id."),
            OpenApiParameter(
                "version", int, description="A version number (default: the current one)."
            ),
        ],
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def explain(self, request: Request, pk: str | None = None) -> Response:
        """Why the account is (not) in the segment: the rule tree with each node's result
        and, on the leaves, the account's actual value."""
        account = self.get_object()
        segment_id = query_int(request, "segment", required=True)
        number = query_int(request, "version")
        try:
            segment = selectors.segment_get(segment_id=segment_id)
        except Segment.DoesNotExist:
            raise Http404("No such segment.") from None
        if number is None:
            version = segment.current_version
            if version is None:
                raise Http404("The segment has no published version; pass ?version=N.")
        else:
            try:
                version = selectors.segment_version_get(segment=segment, number=number)
            except SegmentVersion.DoesNotExist:
                raise Http404("No such version.") from None
        return Response(selectors.account_explain(account=account, version=version))
