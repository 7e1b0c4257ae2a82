"""Admin pages of the health records: manual scores (entered on the account page or through
the API, never added here), and each account's current health and history (read only:
the engine writes them)."""

from django.contrib import admin

from cs_platform.json_forms import BoundedJSONAdminMixin

from ..models import AccountHealth, HealthHistory, ManualEntry


@admin.register(ManualEntry)
class ManualEntryAdmin(BoundedJSONAdminMixin, admin.ModelAdmin):
    list_display = ("account", "measure", "score", "entered_by", "entered_on")
    list_select_related = ("account", "measure", "entered_by")
    raw_id_fields = ("account",)
    readonly_fields = ("entered_at", "entered_on", "entered_by")
    search_fields = ("account__name",)

    def has_add_permission(self, request) -> bool:
        return False  # entered through the API / account page (own book only)


@admin.register(AccountHealth)
class AccountHealthAdmin(BoundedJSONAdminMixin, admin.ModelAdmin):
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
