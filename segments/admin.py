"""Admin for managers: segments and their versions, with a rule editor that shows the
validator's path messages inline, preview with diff, publish, recompute now and version
history. Every write goes through segments.services; published versions are read-only."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, json_script

from . import selectors, services
from .models import (
    ExclusiveGroup,
    MembershipEvent,
    Segment,
    SegmentKind,
    SegmentSnapshot,
    SegmentVersion,
)
from .rule_text import ranking_text, rule_diff, rule_text
from .rules import CHOICES, FIELD_TYPES, OPERATORS_BY_TYPE, RANKABLE_FIELDS


def _rule_schema() -> dict[str, Any]:
    """What the rule editor offers: fields with their types (traits included), the
    operators of each type, and the allowed choices."""
    attributes = selectors.attribute_specs()
    fields = dict(FIELD_TYPES)
    choices = {name: list(values) for name, values in CHOICES.items()}
    for key, spec in attributes.items():
        fields[f"traits.{key}"] = spec.type
        if spec.choices:
            choices[f"traits.{key}"] = list(spec.choices)
    return {
        "fields": fields,
        "operators": {kind: list(ops) for kind, ops in OPERATORS_BY_TYPE.items()},
        "choices": choices,
    }


class RuleEditorWidget(forms.Textarea):
    """A JSON textarea enhanced by a small query builder (static/admin/segments): the
    editor's schema (fields, operators, choices) is rendered next to it as JSON."""

    class Media:
        js = ("admin/segments/rule_editor.js",)
        css = {"all": ("admin/segments/rule_editor.css",)}

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs={"rows": 12, "cols": 90, **(attrs or {})})

    def render(self, name: str, value: Any, attrs: dict | None = None, renderer: Any = None) -> str:
        schema_id = f"rule-schema-{name}"
        textarea = super().render(
            name, value, {**(attrs or {}), "data-rule-editor": schema_id}, renderer
        )
        return textarea + json_script(_rule_schema(), schema_id)


def _rank_choices() -> list[tuple[str, str]]:
    traits = [
        (f"traits.{key}", f"traits.{key}")
        for key, spec in selectors.attribute_specs().items()
        if spec.type in ("integer", "number", "money", "date")
    ]
    return [("", "— no ranking —"), *((name, name) for name in RANKABLE_FIELDS), *traits]


class DefinitionFormMixin(forms.Form):
    """Rule, ranking and note, validated by the service's validator with the error paths
    shown under the fields."""

    rule = forms.JSONField(widget=RuleEditorWidget, initial={"all": []})
    rank_by = forms.ChoiceField(required=False, choices=_rank_choices)
    rank_limit = forms.IntegerField(required=False, min_value=1)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean(self) -> dict:
        cleaned = super().clean()
        if "rule" in cleaned:
            try:
                services.definition_validate(
                    rule=cleaned["rule"],
                    rank_by=cleaned.get("rank_by") or "",
                    rank_limit=cleaned.get("rank_limit"),
                )
            except ValidationError as exc:
                for name, problems in exc.message_dict.items():
                    self.add_error(name if name in self.fields else None, problems)
        return cleaned


class SegmentAddForm(DefinitionFormMixin, forms.ModelForm):
    publish = forms.BooleanField(
        required=False, initial=False, help_text="Publish version 1 now (then recompute)."
    )

    class Meta:
        model = Segment
        fields = (
            "name",
            "slug",
            "description",
            "kind",
            "owner",
            "is_active",
            "review_every_days",
            "exclusive_group",
            "priority",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields["slug"].help_text = "Leave empty to derive it from the name."


class SegmentChangeForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = (
            "name",
            "slug",
            "description",
            "owner",
            "is_active",
            "review_every_days",
            "last_reviewed_at",
            "exclusive_group",
            "priority",
        )


class VersionInline(admin.TabularInline):
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

    @admin.display(description="ranking")
    def ranking(self, version: SegmentVersion) -> str:
        return ranking_text(version.rank_by, version.rank_limit) or "—"

    @admin.display(description="status")
    def status(self, version: SegmentVersion) -> str:
        return _version_status(version)


def _version_status(version: SegmentVersion) -> str:
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
        from cs_platform.clock import today

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


class VersionForm(DefinitionFormMixin, forms.ModelForm):
    class Meta:
        model = SegmentVersion
        fields = ("segment", "rule", "rank_by", "rank_limit", "note")


@admin.register(SegmentVersion)
class SegmentVersionAdmin(admin.ModelAdmin):
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

    @admin.display(description="ranking")
    def ranking(self, version: SegmentVersion) -> str:
        return ranking_text(version.rank_by, version.rank_limit) or "—"

    @admin.display(description="status")
    def status(self, version: SegmentVersion) -> str:
        return _version_status(version)

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
            "left_status": _version_status(left),
            "right_status": _version_status(right),
            "left_text": rule_text(left.rule),
            "right_text": rule_text(right.rule),
            "diff": rule_diff(
                left.rule,
                right.rule,
                ranking_before=ranking_text(left.rank_by, left.rank_limit),
                ranking_after=ranking_text(right.rank_by, right.rank_limit),
            ),
        }
        return TemplateResponse(request, "admin/segments/version_diff.html", context)


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


class ReadOnlyAdmin(admin.ModelAdmin):
    """History rows are written by the engine only."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(MembershipEvent)
class MembershipEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "segment", "account", "kind", "version")
    list_filter = ("kind", "segment")
    list_select_related = ("segment", "account", "version")
    search_fields = ("account__name",)
    date_hierarchy = "at"
    show_full_result_count = False


@admin.register(SegmentSnapshot)
class SegmentSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("computed_at", "segment", "member_count", "arr", "version")
    list_filter = ("segment",)
    list_select_related = ("segment", "version")


__all__ = ["SegmentAdmin", "SegmentKind", "SegmentVersionAdmin"]
