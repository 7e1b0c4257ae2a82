"""Admin for segment versions: drafts are edited with the rule editor, published versions are
read-only; preview (with who would enter and exit), publish and the version diff."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from rules.text import ranking_text, rule_text, version_diff

from .. import selectors, services
from ..models import Segment, SegmentVersion
from .forms import VersionForm
from .segment import VersionColumns, version_status


@admin.register(SegmentVersion)
class SegmentVersionAdmin(VersionColumns, admin.ModelAdmin):
    form = VersionForm
    list_display = (
        "__str__",
        "segment",
        "number",
        "readable_rule",
        "ranking",
        "status",
        "created_at",
        "published_at",
    )
    list_filter = ("segment",)
    list_select_related = ("segment", "created_by")
    actions = None
    draft_fields = (
        "segment",
        "number",
        "readable_rule",
        "rule",
        "rank_by",
        "rank_limit",
        "note",
        "created_by",
        "created_at",
    )
    published_readonly = (*draft_fields, "published_at")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple:
        if obj is None:
            return ("segment", "rule", "rank_by", "rank_limit", "note")
        if obj.is_published:
            return self.published_readonly
        return self.draft_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple:
        if obj is None:
            return ()
        if obj.is_published:
            return self.published_readonly
        return ("segment", "number", "readable_rule", "created_by", "created_at")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Published versions are immutable: their page is read-only.
        if obj is not None and obj.is_published:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        initial = super().get_changeform_initial_data(request)
        segment_id = request.GET.get("segment")
        if segment_id and segment_id.isdigit():
            segment = (
                Segment.objects.select_related("current_version").filter(pk=segment_id).first()
            )
            if segment is not None:
                base = segment.current_version or segment.versions.order_by("-number").first()
                if base is not None:
                    initial.update(rule=base.rule, rank_by=base.rank_by, rank_limit=base.rank_limit)
        return initial

    def save_model(
        self, request: HttpRequest, obj: SegmentVersion, form: forms.ModelForm, change: bool
    ) -> None:
        data = form.cleaned_data
        definition = {
            "rule": data["rule"],
            "rank_by": data.get("rank_by") or "",
            "rank_limit": data.get("rank_limit"),
            "note": data.get("note", ""),
        }
        if change:
            version = services.version_update_draft(
                version=SegmentVersion.objects.get(pk=obj.pk), data=definition
            )
        else:
            version = services.version_create_draft(
                segment=data["segment"], created_by=request.user, **definition
            )
        obj.__dict__.update({k: v for k, v in version.__dict__.items() if k != "_state"})
        obj._state.adding = False

    @admin.display(description="rule (readable)")
    def readable_rule(self, version: SegmentVersion) -> str:
        return rule_text(version.rule)

    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path(
                "<int:version_id>/preview/",
                view(self.preview_view),
                name="segments_segmentversion_preview",
            ),
            path(
                "<int:version_id>/publish/",
                view(self.publish_view),
                name="segments_segmentversion_publish",
            ),
            path(
                "<int:version_id>/diff/", view(self.diff_view), name="segments_segmentversion_diff"
            ),
            *super().get_urls(),
        ]

    def _version(self, request: HttpRequest, version_id: int) -> SegmentVersion:
        version = get_object_or_404(
            SegmentVersion.objects.select_related("segment__current_version"), pk=version_id
        )
        if not self.has_view_permission(request, version):
            raise PermissionDenied
        return version

    def preview_view(self, request: HttpRequest, version_id: int) -> HttpResponse:
        version = self._version(request, version_id)
        preview = selectors.version_preview(version=version)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Preview of {version}",
            "version": version,
            "preview": preview,
            "rule_text": rule_text(version.rule),
            "ranking_text": ranking_text(version.rank_by, version.rank_limit),
            "lists": [
                ("Sample", preview.sample, ""),
                (f"Would enter ({preview.entering_count})", preview.entering, "rule-diff-added"),
                (f"Would exit ({preview.exiting_count})", preview.exiting, "rule-diff-removed"),
            ],
        }
        return TemplateResponse(request, "admin/segments/preview.html", context)

    def publish_view(self, request: HttpRequest, version_id: int) -> HttpResponse:
        version = self._version(request, version_id)
        if request.method != "POST" or not super().has_change_permission(request, version):
            raise PermissionDenied
        try:
            services.version_publish(version=version)
        except ValidationError as exc:
            for message in exc.messages:
                self.message_user(request, message, messages.ERROR)
            return HttpResponseRedirect(
                reverse("admin:segments_segmentversion_change", args=[version.pk])
            )
        self.message_user(request, f"{version} published; recompute queued.")
        return HttpResponseRedirect(
            reverse("admin:segments_segment_change", args=[version.segment_id])
        )

    def diff_view(self, request: HttpRequest, version_id: int) -> HttpResponse:
        version = self._version(request, version_id)
        segment = version.segment
        versions = list(selectors.segment_versions(segment=segment).order_by("number"))
        by_number = {v.number: v for v in versions}
        for v in versions:
            v.readable = rule_text(v.rule)

        def pick(name: str, default: SegmentVersion) -> SegmentVersion:
            raw = request.GET.get(name, "")
            return by_number.get(int(raw), default) if raw.isdigit() else default

        right = pick("b", by_number[version.number])
        previous = [v for v in versions if v.number < right.number]
        left = pick("a", previous[-1] if previous else right)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Versions of {segment}",
            "segment": segment,
            "versions": versions,
            "left": left,
            "right": right,
            "left_status": version_status(left),
            "right_status": version_status(right),
            "left_text": rule_text(left.rule),
            "right_text": rule_text(right.rule),
            "diff": version_diff(left, right),
        }
        return TemplateResponse(request, "admin/segments/version_diff.html", context)
