from django.contrib import admin

from .models import UsageMetric


@admin.register(UsageMetric)
class UsageMetricAdmin(admin.ModelAdmin):
    list_display = ("key", "label", "unit", "kind", "created_at")
    list_filter = ("kind",)
    search_fields = ("key", "label")
    ordering = ("key",)
