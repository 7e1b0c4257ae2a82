"""Plain admin registration of the health models (a manager's rich scorecard form with a
live preview comes with the screens). Scorecards are changed through the services, so a
change rescores every account."""

from django import forms
from django.contrib import admin

from . import services
from .definitions import measure_problems
from .models import (
    DEFAULT_VALID_DAYS,
    AccountHealth,
    HealthHistory,
    ManualEntry,
    Measure,
    Scorecard,
)

MEASURE_FIELDS = (
    "order",
    "key",
    "label",
    "weight",
    "source",
    "field",
    "bad",
    "good",
    "rule",
    "valid_days",
)


class MeasureForm(forms.ModelForm):
    """Checks a measure as the API does (a numeric field, bad ≠ good, a valid rule)."""

    class Meta:
        model = Measure
        fields = MEASURE_FIELDS

    def clean(self) -> dict:
        cleaned = super().clean()
        raw = {
            name: cleaned.get(name)
            for name in ("key", "label", "weight", "source", "field", "bad", "good", "rule")
            if cleaned.get(name) not in (None, "")
        }
        raw["valid_days"] = cleaned.get("valid_days") or DEFAULT_VALID_DAYS
        for name, messages in measure_problems(raw).items():
            for message in messages:
                self.add_error(name if name in self.fields else None, message)
        return cleaned


class MeasureInline(admin.TabularInline):
    model = Measure
    form = MeasureForm
    extra = 0
    fields = (
        "order",
        "key",
        "label",
        "weight",
        "source",
        "field",
        "bad",
        "good",
        "rule",
        "valid_days",
    )


@admin.register(Scorecard)
class ScorecardAdmin(admin.ModelAdmin):
    list_display = ("name", "segment", "priority", "red_below", "green_from", "has_draft")
    ordering = ("priority", "id")
    inlines = [MeasureInline]
    readonly_fields = ("draft", "draft_updated_at")
    actions = ["recompute_now"]

    @admin.display(boolean=True, description="Draft")
    def has_draft(self, obj: Scorecard) -> bool:
        return obj.draft is not None

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        services.health_recompute_request()

    def delete_model(self, request, obj: Scorecard) -> None:
        services.scorecard_delete(scorecard=obj)

    @admin.action(description="Recompute every account's health now")
    def recompute_now(self, request, queryset) -> None:
        services.health_recompute_request()
        self.message_user(request, "Recompute queued.")


@admin.register(ManualEntry)
class ManualEntryAdmin(admin.ModelAdmin):
    list_display = ("account", "measure", "score", "entered_by", "entered_on")
    list_select_related = ("account", "measure", "entered_by")
    raw_id_fields = ("account",)
    readonly_fields = ("entered_at", "entered_on", "entered_by")
    search_fields = ("account__name",)

    def has_add_permission(self, request) -> bool:
        return False  # entered through the API / account page (own book only)


@admin.register(AccountHealth)
class AccountHealthAdmin(admin.ModelAdmin):
    list_display = ("account", "scorecard", "score", "status", "day")
    list_filter = ("status", "scorecard")
    list_select_related = ("account", "scorecard")
    search_fields = ("account__name",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(HealthHistory)
class HealthHistoryAdmin(AccountHealthAdmin):
    list_display = ("account", "day", "scorecard", "score", "status")
    list_filter = ("status",)
