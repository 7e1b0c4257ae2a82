"""Admin of the churn reasons managers keep, and a read-only view of renewals' forecasts
and outcomes. Imported by ``playbooks.admin``."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from cs_platform.read_only_admin import ReadOnlyMixin

from .models import ChurnReason, Renewal, RenewalChange
from .services import forecasts


@admin.register(ChurnReason)
class ChurnReasonAdmin(admin.ModelAdmin):
    list_display = ("name", "order", "is_active")
    list_editable = ("order", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name",)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Closed renewals keep their reason: switch a reason off instead.
        return False

    def save_model(self, request: HttpRequest, obj: ChurnReason, form: Any, change: bool) -> None:
        data = {name: form.cleaned_data[name] for name in form.changed_data}
        if change:
            forecasts.churn_reason_update(reason=obj, data=data, by=request.user)
        else:
            saved = forecasts.churn_reason_create(
                name=obj.name, order=obj.order, is_active=obj.is_active, by=request.user
            )
            obj.pk = saved.pk


class RenewalChangeInline(ReadOnlyMixin, admin.TabularInline):
    model = RenewalChange
    extra = 0
    fields = ("at", "kind", "forecast", "outcome", "arr", "note", "by")


@admin.register(Renewal)
class RenewalAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("contract", "forecast", "expected_arr", "outcome", "outcome_arr", "closed_at")
    list_filter = ("forecast", "outcome", "churn_reason")
    list_select_related = ("contract", "contract__account")
    search_fields = ("contract__account__name",)
    raw_id_fields = ("contract", "new_contract")
    inlines = [RenewalChangeInline]
