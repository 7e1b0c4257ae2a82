"""The CRM import endpoints (DESIGN section 10): GET, POST /api/import-profiles/;
POST /api/imports/ (multipart) -> 202 {id}; GET /api/imports/{id}/; and
GET /api/imports/{id}/rejected.csv. Thin: the services in customers.import_profiles and
customers.import_services do the work."""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse, Http404, HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from cs_platform.api.permissions import IsManager, IsManagerOrReadOnly
from customers.import_jobs import import_job_progress
from customers.import_models import ImportJob, ImportProfile
from customers.import_profiles import import_profile_create, import_profile_get
from customers.import_services import import_job_create

_BOOLEAN_TEXT = {"true": True, "false": False}


class ColumnMappingSerializer(serializers.Serializer):
    column = serializers.CharField(max_length=200)
    target = serializers.CharField(
        max_length=100, help_text="An account field, traits.KEY, contract.FIELD or owner."
    )
    values = serializers.DictField(child=serializers.CharField(), required=False)
    keep_if_blank = serializers.BooleanField(required=False, default=True)


class ImportProfileSerializer(serializers.ModelSerializer):
    columns = ColumnMappingSerializer(many=True)

    class Meta:
        model = ImportProfile
        fields = ["id", "name", "label", "description", "date_format", "columns", "builtin"]
        read_only_fields = ["builtin"]


class ImportProfileViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Import profiles: how a CRM export's columns map onto accounts."""

    queryset = ImportProfile.objects.all()
    serializer_class = ImportProfileSerializer
    permission_classes = [IsManagerOrReadOnly]
    pagination_class = None

    def perform_create(self, serializer: ImportProfileSerializer) -> None:
        data = dict(serializer.validated_data)
        # The raw mappings: the service checks them (and names the column at fault).
        data["columns"] = self.request.data.get("columns")
        try:
            serializer.instance = import_profile_create(**data)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None


class ImportCreateSerializer(serializers.Serializer):
    file = serializers.FileField()
    profile = serializers.CharField(max_length=100, help_text="A profile's name or id.")
    dry_run = serializers.CharField(required=False, default="false", help_text="true or false")
    skip_invalid = serializers.CharField(required=False, default="false", help_text="true or false")

    def _boolean(self, value: str) -> bool:
        if value.strip().lower() not in _BOOLEAN_TEXT:
            raise serializers.ValidationError("Expected true or false.")
        return _BOOLEAN_TEXT[value.strip().lower()]

    def validate_dry_run(self, value: str) -> bool:
        return self._boolean(value)

    def validate_skip_invalid(self, value: str) -> bool:
        return self._boolean(value)


class ImportErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    column = serializers.CharField()
    message = serializers.CharField()


class ImportJobSerializer(serializers.ModelSerializer):
    profile = serializers.SlugRelatedField(slug_field="name", read_only=True)
    errors = ImportErrorSerializer(many=True, read_only=True)
    rejected_csv = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "status",
            "phase",
            "profile",
            "original_name",
            "dry_run",
            "skip_invalid",
            "encoding",
            "rows_total",
            "rows_done",
            "created",
            "updated",
            "unchanged",
            "rejected",
            "written",
            "message",
            "errors",
            "changes",
            "rejected_csv",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_rejected_csv(self, job: ImportJob) -> str | None:
        if not job.rejected_file:
            return None
        return f"/api/imports/{job.pk}/rejected.csv"


class ImportJobViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Imports as background jobs: upload, then poll the job."""

    queryset = ImportJob.objects.select_related("profile")
    serializer_class = ImportJobSerializer
    permission_classes = [IsManager]
    parser_classes = [MultiPartParser, FormParser]

    def get_object(self) -> ImportJob:
        return import_job_progress(super().get_object())

    @extend_schema(
        request={"multipart/form-data": ImportCreateSerializer},
        responses={
            202: OpenApiResponse(description="{id}: the queued job."),
            400: OpenApiResponse(description="{field: [messages]}; nothing was stored."),
        },
        summary="Import a CRM export in the background (managers)",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = ImportCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            profile = import_profile_get(reference=data["profile"])
            job = import_job_create(
                profile=profile,
                upload=data["file"],
                dry_run=data["dry_run"],
                skip_invalid=data["skip_invalid"],
                user=request.user,
            )
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        return Response({"id": job.pk}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={(200, "text/csv"): OpenApiResponse(description="Rejected rows.")})
    def rejected(self, request: Request, pk: str | None = None) -> HttpResponse:
        """The rejected rows as the file had them (formula cells escaped) plus ``error``."""
        job = self.get_object()
        if not job.rejected_file:
            raise Http404("This import rejected no rows.")
        response = FileResponse(
            job.rejected_file.open("rb"),
            as_attachment=True,
            filename=f"rejected-{job.pk}.csv",
            content_type="text/csv; charset=utf-8",
        )
        return response
