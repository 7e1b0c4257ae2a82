"""REST endpoints of renewals, tasks and playbooks (DESIGN section 8). Views are thin:
permissions, serializers, then playbooks.selectors / playbooks.services."""

from typing import Any

from django.db import transaction
from django.db.models import Q
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from cs_platform.api.permissions import IsManager, IsManagerOrReadOnly
from cs_platform.api.serializers import QueuedSerializer
from cs_platform.roles import is_manager
from customers.api.filters import IntegerFilter
from playbooks import selectors, services
from playbooks.models import (
    Playbook,
    RenewalForecast,
    RenewalQueueEntry,
    Task,
    TaskSource,
    TaskStatus,
)
from playbooks.tasks import renewal_rebuild_request

from .serializers import (
    DryRunSerializer,
    PlaybookRunSerializer,
    PlaybookSerializer,
    RenewalEntrySerializer,
    TaskSerializer,
)

# --- Renewals ---------------------------------------------------------------------------------


class RenewalFilter(filters.FilterSet):
    window = IntegerFilter(
        field_name="window__days", min_value=0, max_value=100_000, help_text="T-N days."
    )
    csm = filters.CharFilter(field_name="csm__username", max_length=150)
    overdue = filters.BooleanFilter()
    # Through the contracts, which are indexed by account (the entries' copy is not).
    account = IntegerFilter(field_name="contract__account_id", min_value=1, max_value=2**63 - 1)
    forecast = filters.ChoiceFilter(
        choices=[*RenewalForecast.choices, ("none", "No forecast")],
        method="filter_forecast",
        help_text="The renewal's forecast, or none.",
    )
    tightest = filters.BooleanFilter(
        method="filter_tightest",
        help_text="true: each contract once, under its tightest window (and overdue ones).",
    )

    class Meta:
        model = RenewalQueueEntry
        fields: list[str] = []

    def filter_forecast(self, queryset: Any, name: str, value: str) -> Any:
        if value == "none":
            return queryset.filter(forecast__isnull=True)
        return queryset.filter(forecast=value)

    def filter_tightest(self, queryset: Any, name: str, value: bool | None) -> Any:
        if not value:
            return queryset
        return queryset.filter(pk__in=selectors.renewal_queue_list(tightest_only=True).values("pk"))


class RenewalViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The renewal queue: one entry per active contract per window it is inside, plus
    overdue contracts (``window`` null); ``?tightest=true`` lists each contract once, under
    its tightest window. ``days_left`` is counted from today; ``forecast`` and
    ``expected_arr`` are the owner's forecast (POST ``/api/renewals/{contract}/forecast/``),
    null when none is set."""

    queryset = RenewalQueueEntry.objects.all()
    serializer_class = RenewalEntrySerializer
    permission_classes = [IsAuthenticated]
    filterset_class = RenewalFilter
    ordering_fields = ["renewal_date", "arr", "days_left", "contract"]

    def get_queryset(self) -> Any:
        return selectors.renewal_queue_list()

    @extend_schema(request=None, responses={202: QueuedSerializer})
    @action(detail=False, methods=["post"], permission_classes=[IsManager])
    def rebuild(self, request: Request) -> Response:
        """Queue a rebuild of the renewal queue and its tasks (managers)."""
        renewal_rebuild_request()
        return Response({"status": "queued"}, status=status.HTTP_202_ACCEPTED)


# --- Tasks ------------------------------------------------------------------------------------


class TaskFilter(filters.FilterSet):
    assignee = filters.CharFilter(field_name="assignee__username", max_length=150)
    status = filters.MultipleChoiceFilter(choices=TaskStatus.choices)
    source = filters.MultipleChoiceFilter(choices=TaskSource.choices)
    account = IntegerFilter(field_name="account_id", min_value=1, max_value=2**63 - 1)
    due_before = filters.DateFilter(field_name="due_date", lookup_expr="lte")
    due_after = filters.DateFilter(field_name="due_date", lookup_expr="gte")

    class Meta:
        model = Task
        fields: list[str] = []


class CanChangeTask(BasePermission):
    """Reads for everyone signed in; a change only where ``task_can_change`` allows it
    (managers: any task; CSMs: tasks of accounts they own or assigned to them)."""

    message = "You may only change tasks of your own accounts or your own tasks."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated)

    def has_object_permission(self, request: Request, view: Any, obj: Task) -> bool:
        return request.method in SAFE_METHODS or services.task_can_change(request.user, obj)


class TaskViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Tasks. For a CSM the list defaults to their own work (tasks assigned to them or on
    accounts they own); ``?assignee=USERNAME`` lists anyone's tasks (CSMs read everything).
    Managers see every task. ``PATCH`` changes status (with ``snoozed_until`` and a
    ``note`` kept in the history), title, description, due date or assignee."""

    queryset = Task.objects.all()
    serializer_class = TaskSerializer
    permission_classes = [CanChangeTask]
    filterset_class = TaskFilter
    ordering_fields = ["due_date", "created_at", "id", "status"]
    ordering = ["due_date", "id"]
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self) -> Any:
        tasks = selectors.task_list()
        user = self.request.user
        if (
            self.action == "list"
            and not is_manager(user)
            and not self.request.query_params.get("assignee")
        ):
            tasks = tasks.filter(Q(assignee=user) | Q(account__owner=user))
        return tasks

    def perform_update(self, serializer: TaskSerializer) -> None:
        data = dict(serializer.validated_data)
        task, user = serializer.instance, self.request.user
        status_fields = {
            name: data.pop(name) for name in ("status", "snoozed_until", "note") if name in data
        }
        with transaction.atomic():
            if data:
                task = services.task_update(task=task, data=data, by=user)
            if "status" in status_fields or "snoozed_until" in status_fields:
                snoozed_until = status_fields.get("snoozed_until")
                default = TaskStatus.SNOOZED if snoozed_until else task.status
                task = services.task_set_status(
                    task=task,
                    status=status_fields.get("status", default),
                    snoozed_until=snoozed_until,
                    note=status_fields.get("note", ""),
                    by=user,
                )
        serializer.instance = task


# --- Playbooks --------------------------------------------------------------------------------


class PlaybookFilter(filters.FilterSet):
    segment = IntegerFilter(field_name="segment_id", min_value=1, max_value=2**63 - 1)
    is_active = filters.BooleanFilter()

    class Meta:
        model = Playbook
        fields: list[str] = []


class PlaybookViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Playbooks with their ordered steps; runs and a dry run per playbook."""

    queryset = Playbook.objects.all()
    serializer_class = PlaybookSerializer
    permission_classes = [IsManagerOrReadOnly]
    filterset_class = PlaybookFilter
    ordering_fields = ["name", "id", "created_at"]
    ordering = ["name", "id"]

    def get_queryset(self) -> Any:
        return selectors.playbook_list()

    def perform_create(self, serializer: PlaybookSerializer) -> None:
        data = dict(serializer.validated_data)
        steps = [dict(step) for step in data.pop("steps", [])]
        serializer.instance = services.playbook_create(steps=steps, by=self.request.user, **data)

    @extend_schema(responses={200: PlaybookRunSerializer(many=True)})
    @action(detail=True, methods=["get"], filter_backends=[])
    def runs(self, request: Request, pk: str | None = None) -> Response:
        """The playbook's runs with their step outcomes, newest first."""
        playbook = self.get_object()
        page = self.paginate_queryset(selectors.playbook_run_list(playbook=playbook))
        return self.get_paginated_response(PlaybookRunSerializer(page, many=True).data)

    @extend_schema(
        request=None,
        responses={200: DryRunSerializer, 404: OpenApiResponse(description="No such playbook.")},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="dry-run",
        permission_classes=[IsAuthenticated],
        filter_backends=[],
    )
    def dry_run(self, request: Request, pk: str | None = None) -> Response:
        """What the playbook would do now to the segment's current members (changes
        nothing; any signed-in user)."""
        return Response(services.playbook_dry_run(playbook=self.get_object()))
