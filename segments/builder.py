"""The segment builder in the app: a new segment (its settings, the rule built with the
shared builder, ranking, exclusive group) saved as a draft or published, and the live
count and ARR of a definition while it is edited. Writes go through segments.services,
the same services as the admin and the API; the builder's schema comes from
``selectors.rule_editor_schema``."""

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from customers.templatetags.cs_format import money

from . import charts, selectors, services
from .models import ExclusiveGroup, SegmentKind
from .views import (
    VERSION_FORM_FIELDS,
    _require_manager,
    _segment_or_404,
    definition_parse,
    validation_errors_shaped,
)


class SegmentSettingsForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    kind = forms.ChoiceField(choices=SegmentKind.choices, initial=SegmentKind.DYNAMIC)
    exclusive_group = forms.ModelChoiceField(
        queryset=ExclusiveGroup.objects.order_by("name"),
        required=False,
        empty_label="None",
        help_text="Within a group an account is in one segment only: the lowest priority "
        "number that matches.",
    )
    priority = forms.IntegerField(min_value=0, required=False, initial=100)
    review_every_days = forms.IntegerField(min_value=1, max_value=3650, initial=90)


def _definition(request: HttpRequest) -> tuple[dict[str, str], dict[str, Any], list[dict]]:
    data = {key: request.POST.get(key, "").strip() for key in VERSION_FORM_FIELDS}
    parsed, errors = definition_parse(data)
    return data, parsed, errors


@require_http_methods(["GET", "POST"])
def segment_new_view(request: HttpRequest) -> HttpResponse:
    """Managers: a new segment, saved with version 1 as a draft (then previewed) or
    published at once."""
    _require_manager(request, "create segments")
    form = SegmentSettingsForm(request.POST or None)
    data = {"rule": '{\n  "all": []\n}', "rank_by": "", "rank_limit": "", "note": ""}
    errors: list[dict[str, str]] = []
    status = 200
    if request.method == "POST":
        data, parsed, errors = _definition(request)
        if form.is_valid() and not errors:
            publish = request.POST.get("action") == "publish"
            settings = form.cleaned_data
            started = timezone.now().isoformat()
            try:
                segment = services.segment_create(
                    name=settings["name"],
                    description=settings["description"],
                    kind=settings["kind"],
                    exclusive_group=settings["exclusive_group"],
                    priority=settings["priority"],
                    review_every_days=settings["review_every_days"],
                    owner=request.user,
                    created_by=request.user,
                    note=data["note"],
                    publish=publish,
                    **parsed,
                )
            except ValidationError as error:
                errors.extend(validation_errors_shaped(error))
            else:
                if publish:
                    messages.success(request, f"{segment.name} is published; computing members.")
                    return redirect(
                        f"{reverse('segment-detail', args=[segment.pk])}?recompute={started}"
                    )
                messages.success(request, f"{segment.name} saved as a draft: review its preview.")
                return redirect("segment-version", segment.pk, 1)
        status = 400
    context = {"nav": "segments", "form": form, "data": data, "errors": errors}
    return render(request, "segments/segment_form.html", context, status=status)


@require_POST
def definition_count_view(request: HttpRequest, segment_id: int | None = None) -> JsonResponse:
    """Managers: what the definition being edited would hold now (the builder asks after
    each change): ``{count, arr, entering, exiting}`` with the largest entering and exiting
    accounts (``entering_accounts``, ``exiting_accounts``), or 400 ``{errors: [{path,
    message}]}`` naming the rule path at fault. Stores nothing."""
    _require_manager(request, "build segments")
    segment = _segment_or_404(segment_id) if segment_id is not None else None
    _data, parsed, errors = _definition(request)
    if not errors:
        try:
            services.definition_validate(**parsed)
        except ValidationError as error:
            errors = validation_errors_shaped(error)
    group_id, priority = None, None
    if segment is None:
        group_id = _int(request.POST.get("exclusive_group"))
        priority = _int(request.POST.get("priority"))
    if errors:
        return JsonResponse({"errors": errors}, status=400)
    totals = selectors.definition_totals(
        rule=parsed["rule"],
        rank_by=parsed["rank_by"],
        rank_limit=parsed["rank_limit"],
        segment=segment,
        exclusive_group_id=group_id,
        priority=priority,
    )
    return JsonResponse(
        {
            "count": totals.count,
            "count_text": f"{totals.count:,}",
            "arr": str(totals.arr),
            "arr_text": charts.format_money(totals.arr),
            "entering": totals.entering_count,
            "exiting": totals.exiting_count,
            "entering_accounts": _accounts_listed(totals.entering),
            "exiting_accounts": _accounts_listed(totals.exiting),
        }
    )


def _accounts_listed(rows: list[dict]) -> list[dict]:
    """The preview's accounts as the builder lists them: name, ARR text and a link."""
    return [
        {
            "id": row["id"],
            "name": row["name"],
            "arr_text": money(row["arr"] or Decimal(0)),
            "url": reverse("account-detail", args=[row["id"]]),
        }
        for row in rows
    ]


def _int(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() else None
