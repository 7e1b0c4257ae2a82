"""The managers' scorecard page: the scorecard with its measures inline (forms.py), a live
preview of what the definition on the screen would give today (the red / yellow / green
counts and ARR next to the live ones, and on request the 12-month churn backtest, from
``health.backtest.definition_preview``), and "recompute now".

Saving goes through the services (``scorecard_create`` / ``scorecard_update``), the same
as the API: the measures are matched by key, and every account is rescored after commit.
"""

from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.views.decorators.http import require_POST

from .. import services
from ..backtest import definition_preview
from ..definitions import definition_validate
from ..models import HealthStatus, Measure, Scorecard
from .forms import SOURCE_INPUTS, MeasureForm, MeasureFormSet, ScorecardForm, condition_schema

PREVIEW_TEMPLATE = "admin/health/scorecard/_preview.html"
BANDS = (*HealthStatus.values, "unscored")


class MeasureInline(admin.StackedInline):
    model = Measure
    form = MeasureForm
    formset = MeasureFormSet
    extra = 0
    min_num = 1
    fields = (("key", "label", "weight", "source"), ("field", "bad", "good"), "rule", "valid_days")
    classes = ("health-measures",)


@admin.register(Scorecard)
class ScorecardAdmin(admin.ModelAdmin):
    form = ScorecardForm
    inlines = [MeasureInline]
    list_display = ("name", "segment", "priority", "red_below", "green_from", "has_draft")
    list_select_related = ("segment",)
    ordering = ("priority", "id")
    actions = ["recompute_now"]
    change_form_template = "admin/health/scorecard/change_form.html"

    @admin.display(boolean=True, description="Draft (API)")
    def has_draft(self, obj: Scorecard) -> bool:
        return obj.draft is not None

    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path("preview/", view(self.preview_view), name="health_scorecard_preview_add"),
            path(
                "<int:object_id>/preview/",
                view(self.preview_view),
                name="health_scorecard_preview",
            ),
            *super().get_urls(),
        ]

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        context = {
            **(extra_context or {}),
            "rule_schema": condition_schema(),
            "source_inputs": {source: list(inputs) for source, inputs in SOURCE_INPUTS.items()},
        }
        return super().changeform_view(request, object_id, form_url, context)

    def save_model(self, request: HttpRequest, obj: Scorecard, form: Any, change: bool) -> None:
        """Nothing yet: the scorecard and its measures are written together by the
        service in ``save_related``, once the measures are known."""

    def save_related(self, request: HttpRequest, form: Any, formsets: list, change: bool) -> None:
        (measures,) = formsets
        payload = form.payload(measures.payload)
        if change:
            saved = services.scorecard_update(scorecard=form.instance, data=payload)
        else:
            saved = services.scorecard_create(data=payload)
        form.instance.pk = saved.pk
        # The admin's change message reads what formsets saved; the service saved them.
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def delete_model(self, request: HttpRequest, obj: Scorecard) -> None:
        services.scorecard_delete(scorecard=obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for scorecard in queryset:
            services.scorecard_delete(scorecard=scorecard)

    @admin.action(description="Recompute every account's health now")
    def recompute_now(self, request: HttpRequest, queryset: Any) -> None:
        services.health_recompute_request()
        self.message_user(request, "Recompute queued.")

    # --- the live preview ----------------------------------------------------------------

    def preview_view(self, request: HttpRequest, object_id: int | None = None) -> HttpResponse:
        """POST the change form's fields: the preview of that definition (nothing saved), or
        the errors that keep it from being previewed, naming the field."""
        return require_POST(self._preview)(request, object_id)

    def _preview(self, request: HttpRequest, object_id: int | None) -> HttpResponse:
        obj = self.get_object(request, str(object_id)) if object_id is not None else None
        allowed = (
            self.has_change_permission(request, obj) if obj else self.has_add_permission(request)
        )
        if not allowed or (object_id is not None and obj is None):
            raise PermissionDenied
        form = self.get_form(request, obj, change=obj is not None)(request.POST, instance=obj)
        form_valid = form.is_valid()  # fills form.instance, which the measures are checked with
        (inline,) = self.get_inline_instances(request, obj)
        measures = inline.get_formset(request, obj)(request.POST, instance=form.instance)
        context: dict[str, Any] = {"bands": BANDS, "errors": []}
        if form_valid and measures.is_valid():
            try:
                spec = definition_validate(form.payload(measures.payload), scorecard=obj)
            except ValidationError as error:  # changed since the forms checked it
                context["errors"] = _error_lines(error.message_dict)
            else:
                preview = definition_preview(
                    spec=spec, backtest=request.POST.get("backtest") == "1"
                )
                context.update(_preview_rows(preview), preview=preview)
        else:
            context["errors"] = _form_errors(form, measures)
        return TemplateResponse(request, PREVIEW_TEMPLATE, context)


def _preview_rows(preview: dict[str, Any]) -> dict[str, list[tuple]]:
    """The preview's figures as table rows, band by band (red, yellow, green, unscored)."""
    today = preview["today"]
    rows = {"today_rows": [(band, today["draft"][band], today["live"][band]) for band in BANDS]}
    if backtest := preview.get("backtest"):
        rows["backtest_rows"] = [
            (band, backtest["bands"][band], _percent(backtest["bands"][band]["churn_rate"]))
            for band in BANDS
        ]
    return rows


def _percent(rate: str | None) -> str:
    return "—" if rate is None else f"{Decimal(rate) * 100:.1f}%"


def _error_lines(errors: dict[str, list[str]]) -> list[str]:
    return [f"{name}: {message}" for name, messages in errors.items() for message in messages]


def _form_errors(form: Any, measures: Any) -> list[str]:
    """Every error of the scorecard form and its measures, each named (``measure 2 (key)
    weight: …``), for the preview panel."""
    lines = _error_lines({name: list(errors) for name, errors in form.errors.items()})
    lines = [line.replace("__all__: ", "") for line in lines]
    lines += [str(error) for error in measures.non_form_errors()]
    for number, measure in enumerate(measures.forms, start=1):
        key = measure.data.get(measure.add_prefix("key")) or "new"
        for name, errors in measure.errors.items():
            where = f"measure {number} ({key})" + ("" if name == "__all__" else f" {name}")
            lines += [f"{where}: {error}" for error in errors]
    return lines
