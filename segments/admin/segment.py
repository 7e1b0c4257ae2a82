"""Admin for segments: the list, the add form (with version 1's rule), the change form with
its read-only version history inline, and "recompute now". Every write goes through
segments.services."""

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from cs_platform.clock import today
from rules.text import ranking_text, rule_text

from .. import selectors, services
from ..models import Segment, SegmentVersion
from .forms import SegmentAddForm, SegmentChangeForm


class VersionColumns:
    """The ranking and status columns of a version, in the inline and the version admin."""

    @admin.display(description="ranking")
    def ranking(self, version: SegmentVersion) -> str:
        return ranking_text(version.rank_by, version.rank_limit) or "—"

    @admin.display(description="status")
    def status(self, version: SegmentVersion) -> str:
        return version_status(version)


class VersionInline(VersionColumns, admin.TabularInline):
    model = SegmentVersion
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("number", "readable_rule", "ranking", "status", "created_at", "note")
    readonly_fields = fields
    ordering = ("-number",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[SegmentVersion]:
        return super().get_queryset(request).select_related("segment")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="rule")
    def readable_rule(self, version: SegmentVersion) -> str:
        return rule_text(version.rule)


def version_status(version: SegmentVersion) -> str:
    if not version.is_published:
        return "draft"
    if version.segment.current_version_id == version.pk:
        return "current"
    return "published"


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "kind",
        "current_version_number",
        "member_count",
        "arr",
        "last_computed_at",
        "review_status",
        "exclusive_group",
        "priority",
        "is_active",
    )
    list_filter = ("kind", "is_active", "exclusive_group")
    search_fields = ("name", "slug", "description")
    readonly_fields = ("current_version_link", "member_count", "arr", "last_computed_at")
    inlines = (VersionInline,)
    actions = ("recompute_now", "mark_reviewed")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Segment]:
        return selectors.segment_list()

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        kwargs["form"] = SegmentChangeForm if obj else SegmentAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        if obj is None:
            return [
                (None, {"fields": ("name", "slug", "description", "kind", "owner", "is_active")}),
                (
                    "Rule (version 1)",
                    {"fields": ("rule", "rank_by", "rank_limit", "note", "publish")},
                ),
                (
                    "Review and exclusivity",
                    {"fields": ("review_every_days", "exclusive_group", "priority")},
                ),
            ]
        return [
            (None, {"fields": ("name", "slug", "description", "owner", "is_active")}),
            (
                "Membership",
                {"fields": ("current_version_link", "member_count", "arr", "last_computed_at")},
            ),
            (
                "Review and exclusivity",
                {
                    "fields": (
                        "review_every_days",
                        "last_reviewed_at",
                        "exclusive_group",
                        "priority",
                    )
                },
            ),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple:
        return self.readonly_fields if obj else ()

    def get_inlines(self, request: HttpRequest, obj: Any) -> tuple:
        return self.inlines if obj else ()

    def save_model(
        self, request: HttpRequest, obj: Segment, form: forms.ModelForm, change: bool
    ) -> None:
        data = form.cleaned_data
        if change:
            services.segment_update(
                segment=Segment.objects.get(pk=obj.pk),
                data={name: data[name] for name in form.changed_data if name in data},
            )
            return
        created = services.segment_create(
            name=data["name"],
            slug=data.get("slug") or "",
            description=data.get("description", ""),
            kind=data["kind"],
            owner=data.get("owner"),
            is_active=data.get("is_active", True),
            review_every_days=data.get("review_every_days"),
            exclusive_group=data.get("exclusive_group"),
            priority=data.get("priority"),
            rule=data["rule"],
            rank_by=data.get("rank_by") or "",
            rank_limit=data.get("rank_limit"),
            note=data.get("note", ""),
            publish=data.get("publish", False),
            created_by=request.user,
        )
        obj.__dict__.update({k: v for k, v in created.__dict__.items() if k != "_state"})
        obj._state.adding = False

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool
    ) -> None:
        # The versions inline is read-only; nothing else is related.
        return None

    def delete_model(self, request: HttpRequest, obj: Segment) -> None:
        raise PermissionDenied("Deactivate a segment instead of deleting it.")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="version", ordering="current_version__number")
    def current_version_number(self, segment: Segment) -> str:
        return f"v{segment.current_version.number}" if segment.current_version else "—"

    @admin.display(description="current version")
    def current_version_link(self, segment: Segment) -> str:
        version = segment.current_version
        if version is None:
            return "none published"
        url = reverse("admin:segments_segmentversion_change", args=[version.pk])
        text = rule_text(version.rule)
        ranking = ranking_text(version.rank_by, version.rank_limit)
        return format_html(
            '<a href="{}">v{}</a>: {}{}',
            url,
            version.number,
            text,
            f" — {ranking}" if ranking else "",
        )

    @admin.display(description="review")
    def review_status(self, segment: Segment) -> str:
        due = selectors.segment_review_due_on(segment)
        if due < today():
            return format_html('<strong style="color:#ba2121">overdue since {}</strong>', due)
        return f"due {due}"

    @admin.action(description="Recompute now")
    def recompute_now(self, request: HttpRequest, queryset: QuerySet[Segment]) -> None:
        for segment in queryset:
            services.segment_request_recompute(segment=segment)
        self.message_user(request, f"Recompute queued for {len(queryset)} segment(s).")

    @admin.action(description="Mark as reviewed today")
    def mark_reviewed(self, request: HttpRequest, queryset: QuerySet[Segment]) -> None:
        for segment in queryset:
            services.segment_mark_reviewed(segment=segment)
        self.message_user(request, f"{len(queryset)} segment(s) marked as reviewed.")

    def get_urls(self) -> list:
        return [
            path(
                "<int:segment_id>/recompute/",
                self.admin_site.admin_view(self.recompute_view),
                name="segments_segment_recompute",
            ),
            *super().get_urls(),
        ]

    def recompute_view(self, request: HttpRequest, segment_id: int) -> HttpResponse:
        segment = get_object_or_404(Segment, pk=segment_id)
        if request.method != "POST" or not self.has_change_permission(request, segment):
            raise PermissionDenied
        services.segment_request_recompute(segment=segment)
        self.message_user(request, f"Recompute of {segment} queued.")
        return HttpResponseRedirect(reverse("admin:segments_segment_change", args=[segment.pk]))
