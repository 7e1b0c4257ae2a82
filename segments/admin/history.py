"""Admin for exclusive groups and the engine's history rows (membership events, snapshots),
which are read-only: only the segment engine writes them."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from cs_platform.read_only_admin import ReadOnlyMixin

from ..models import ExclusiveGroup, MembershipEvent, SegmentSnapshot


@admin.register(ExclusiveGroup)
class ExclusiveGroupAdmin(admin.ModelAdmin):
    list_display = ("name", "segment_names")
    search_fields = ("name",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ExclusiveGroup]:
        return super().get_queryset(request).prefetch_related("segments")

    @admin.display(description="segments (by priority)")
    def segment_names(self, group: ExclusiveGroup) -> str:
        ordered = sorted(group.segments.all(), key=lambda s: (s.priority, s.pk))
        return ", ".join(f"{s.priority}. {s.name}" for s in ordered)


@admin.register(MembershipEvent)
class MembershipEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("at", "segment", "account", "kind", "version")
    list_filter = ("kind", "segment")
    list_select_related = ("segment", "account", "version")
    search_fields = ("account__name",)
    date_hierarchy = "at"
    show_full_result_count = False


@admin.register(SegmentSnapshot)
class SegmentSnapshotAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("computed_at", "segment", "member_count", "arr", "version")
    list_filter = ("segment",)
    list_select_related = ("segment", "version")
