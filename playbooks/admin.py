"""Admin for managers: renewal windows, the renewal queue (read-only, "rebuild now"),
tasks (status changes through the services, with their history), playbooks with ordered
steps ("dry run", validated step configs), and runs with their step outcomes (read-only)."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from cs_platform.json_forms import BoundedJSONAdminMixin
from cs_platform.read_only_admin import ReadOnlyMixin
from cs_platform.roles import is_manager

from . import selectors, services, steps
from .models import (
    Playbook,
    PlaybookRun,
    PlaybookStep,
    PlaybookStepRun,
    RenewalQueueBuild,
    RenewalQueueEntry,
    RenewalWindow,
    Task,
    TaskStatus,
    TaskStatusChange,
)
from .tasks import renewal_rebuild_request

# --- Renewals ---------------------------------------------------------------------------------


@admin.register(RenewalWindow)
class RenewalWindowAdmin(admin.ModelAdmin):
    list_display = ["__str__", "days", "is_active", "created_at"]
    list_editable = ["is_active"]
    ordering = ["-days"]

    def save_model(self, request: HttpRequest, obj: RenewalWindow, form: Any, change: bool) -> None:
        if not obj.name:
            obj.name = f"T-{obj.days}"
        super().save_model(request, obj, form, change)
        if not change or {"days", "is_active"} & set(form.changed_data):
            self._rebuild_queue(request)

    def delete_model(self, request: HttpRequest, obj: RenewalWindow) -> None:
        super().delete_model(request, obj)
        self._rebuild_queue(request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        super().delete_queryset(request, queryset)
        self._rebuild_queue(request)

    def _rebuild_queue(self, request: HttpRequest) -> None:
        """The windows changed: rebuild the queue after commit (the build sees the new
        windows and diffs in full), once per request, rather than at the next daily run."""
        if getattr(request, "_renewal_rebuild_queued", False):
            return
        request._renewal_rebuild_queued = True
        renewal_rebuild_request()
        self.message_user(
            request,
            "The renewal queue is being rebuilt for the changed windows; refresh it in a moment.",
            messages.INFO,
        )


@admin.register(RenewalQueueEntry)
class RenewalQueueEntryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    change_list_template = "admin/playbooks/renewalqueueentry/change_list.html"
    list_display = ["account", "contract", "window", "renewal_date", "days_left", "arr", "csm"]
    list_filter = ["window", "overdue", ("csm", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["account__name", "account__external_id"]
    list_select_related = ["account", "contract", "contract__account", "window", "csm"]
    date_hierarchy = "renewal_date"
    ordering = ["renewal_date", "contract_id"]

    def get_urls(self) -> list:
        return [
            path(
                "rebuild/",
                self.admin_site.admin_view(self.rebuild_view),
                name="playbooks_renewalqueueentry_rebuild",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> Any:
        extra_context = {
            **(extra_context or {}),
            "last_build": selectors.renewal_queue_last_build(),
            "can_rebuild": is_manager(request.user),
        }
        return super().changelist_view(request, extra_context)

    def rebuild_view(self, request: HttpRequest) -> HttpResponse:
        """Queue a rebuild ("rebuild now": a full diff) and go back to the list."""
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:playbooks_renewalqueueentry_changelist"))
        if not is_manager(request.user):
            raise PermissionDenied("Only managers can rebuild the renewal queue.")
        renewal_rebuild_request(full=True)
        self.message_user(
            request, "Renewal queue rebuild queued; refresh in a moment.", messages.SUCCESS
        )
        return HttpResponseRedirect(reverse("admin:playbooks_renewalqueueentry_changelist"))


@admin.register(RenewalQueueBuild)
class RenewalQueueBuildAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "built_for",
        "full",
        "windows",
        "started_at",
        "finished_at",
        "inserted",
        "updated",
        "deleted",
        "tasks_created",
        "tasks_reassigned",
    ]
    list_filter = ["full"]


# --- Tasks ------------------------------------------------------------------------------------


class TaskStatusChangeInline(ReadOnlyMixin, admin.TabularInline):
    model = TaskStatusChange
    fields = ["at", "from_status", "to_status", "by", "note"]
    readonly_fields = fields
    extra = 0
    ordering = ["at", "id"]


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["title", "account", "assignee", "due_date", "status", "source", "window"]
    list_filter = ["status", "source", "window", ("assignee", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["title", "account__name", "dedupe_key"]
    list_select_related = ["account", "assignee", "window"]
    raw_id_fields = ["account", "contract", "playbook_run"]
    readonly_fields = [
        "status",
        "snoozed_until",
        "source",
        "contract",
        "window",
        "playbook_run",
        "dedupe_key",
        "created_by",
        "created_at",
        "completed_at",
    ]
    fields = ["account", "title", "description", "due_date", "assignee", *readonly_fields]
    inlines = [TaskStatusChangeInline]
    actions = ["mark_done", "mark_cancelled", "reopen"]

    def has_change_permission(self, request: HttpRequest, obj: Task | None = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or services.task_can_change(request.user, obj))

    def get_readonly_fields(self, request: HttpRequest, obj: Task | None = None) -> list[str]:
        if obj is None:  # a new (manual) task
            return ["status", "snoozed_until", "created_by", "created_at", "completed_at"]
        return [*self.readonly_fields, "account"]

    def get_fields(self, request: HttpRequest, obj: Task | None = None) -> list[str]:
        if obj is None:
            return ["account", "title", "description", "due_date", "assignee"]
        return self.fields

    def save_model(self, request: HttpRequest, obj: Task, form: Any, change: bool) -> None:
        """Through the services (permission checks; a CSM gets a 403 for another book)."""
        if change:
            data = {name: form.cleaned_data[name] for name in form.changed_data}
            services.task_update(task=obj, data=data, by=request.user)
        else:
            created = services.task_create(
                account=obj.account,
                title=obj.title,
                description=obj.description,
                due_date=obj.due_date,
                assignee=obj.assignee,
                by=request.user,
            )
            obj.pk = created.pk

    def _set_status(self, request: HttpRequest, queryset: QuerySet, status: str) -> None:
        changed, refused = 0, 0
        for task in queryset.select_related("account"):
            try:
                services.task_set_status(task=task, status=status, by=request.user)
                changed += 1
            except (ValidationError, PermissionDenied):
                refused += 1
        self.message_user(request, f"{changed} task(s) changed, {refused} refused.")

    @admin.action(description="Mark done", permissions=["change"])
    def mark_done(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_status(request, queryset, TaskStatus.DONE)

    @admin.action(description="Cancel", permissions=["change"])
    def mark_cancelled(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_status(request, queryset, TaskStatus.CANCELLED)

    @admin.action(description="Reopen", permissions=["change"])
    def reopen(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_status(request, queryset, TaskStatus.OPEN)


# --- Playbooks --------------------------------------------------------------------------------


class PlaybookStepForm(forms.ModelForm):
    class Meta:
        model = PlaybookStep
        fields = ["order", "kind", "config"]
        help_texts = {"config": "JSON; see the options of each kind below the steps."}

    def clean(self) -> dict:
        cleaned = super().clean()
        kind, config = cleaned.get("kind"), cleaned.get("config")
        if kind and not self.cleaned_data.get("DELETE"):
            try:
                cleaned["config"] = steps.step_config_validate(kind, config or {})
            except ValidationError as error:
                self.add_error("config", error)
        return cleaned


class PlaybookStepInline(BoundedJSONAdminMixin, admin.TabularInline):
    model = PlaybookStep
    form = PlaybookStepForm
    extra = 0
    ordering = ["order"]


class PlaybookForm(forms.ModelForm):
    class Meta:
        model = Playbook
        fields = [
            "name",
            "description",
            "segment",
            "trigger",
            "is_active",
            "on_activation",
            "stable_days",
            "reentry_cooldown_days",
            "fallback_assignee",
        ]

    def clean(self) -> dict:
        cleaned = super().clean()
        if (
            cleaned.get("trigger") == "on_exit"
            and cleaned.get("on_activation") == "run_for_current_members"
        ):
            self.add_error(
                "on_activation", "An on_exit playbook cannot run for the current members."
            )
        return cleaned


@admin.register(Playbook)
class PlaybookAdmin(admin.ModelAdmin):
    form = PlaybookForm
    list_display = ["name", "segment", "trigger", "is_active", "activated_at", "stable_days"]
    list_filter = ["is_active", "trigger", "segment"]
    search_fields = ["name", "segment__name"]
    list_select_related = ["segment"]
    readonly_fields = ["activated_at", "created_by", "created_at", "updated_at"]
    inlines = [PlaybookStepInline]
    actions = ["dry_run", "process_now"]

    def save_model(self, request: HttpRequest, obj: Playbook, form: Any, change: bool) -> None:
        """Keep the service's activation rule: switching on sets activated_at."""
        was_active = change and Playbook.objects.filter(pk=obj.pk, is_active=True).exists()
        if obj.is_active and not was_active:
            obj.activated_at = timezone.now()
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if form.instance.is_active:
            services.playbooks_request_processing(segment_id=form.instance.segment_id)

    @admin.action(description="Dry run: what would it do to the current members?")
    def dry_run(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse:
        plans = [services.playbook_dry_run(playbook=p) for p in queryset.select_related("segment")]
        context = {
            **self.admin_site.each_context(request),
            "title": "Dry run",
            "plans": plans,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/playbooks/playbook/dry_run.html", context)

    @admin.action(description="Process membership events now")
    def process_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        for segment_id in set(queryset.values_list("segment_id", flat=True)):
            services.playbooks_request_processing(segment_id=segment_id)
        self.message_user(request, "Processing queued.")


class PlaybookStepRunInline(ReadOnlyMixin, admin.TabularInline):
    model = PlaybookStepRun
    fields = ["order", "kind", "outcome", "attempts", "detail", "started_at", "finished_at"]
    readonly_fields = fields
    extra = 0
    ordering = ["order"]


@admin.register(PlaybookRun)
class PlaybookRunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["playbook", "account", "status", "triggered_at", "created_at", "finished_at"]
    list_filter = ["status", "playbook"]
    search_fields = ["account__name", "playbook__name"]
    list_select_related = ["playbook", "account"]
    readonly_fields = [
        "playbook",
        "account",
        "membership_event",
        "activation_at",
        "triggered_at",
        "status",
        "detail",
        "created_at",
        "started_at",
        "finished_at",
    ]
    fields = readonly_fields
    inlines = [PlaybookStepRunInline]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Viewing (read-only) still needs the view permission, which CSMs and managers have.
        return False


from . import admin_renewals  # noqa: E402,F401 (registers the churn reasons and renewals)
