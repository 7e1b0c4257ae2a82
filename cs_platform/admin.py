"""The outbox in the admin (Platform -> Outbox messages): what waits, runs, failed or was
given up, read-only, with "Run again" for failed rows."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import outbox
from .json_forms import BoundedJSONAdminMixin
from .models import OutboxMessage
from .read_only_admin import ReadOnlyMixin


@admin.register(OutboxMessage)
class OutboxMessageAdmin(BoundedJSONAdminMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "task",
        "queue",
        "state",
        "due_at",
        "attempts",
        "failures",
        "dispatches",
        "worker",
        "done_at",
    ]
    list_filter = ["state", "queue", "task"]
    search_fields = ["task", "dedupe_key", "error"]
    ordering = ["-id"]
    actions = ["run_again"]

    @admin.action(description="Run the selected failed messages again")
    def run_again(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = outbox.requeue_failed(ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} failed message(s) queued again.", messages.SUCCESS)

    def has_run_again_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser
