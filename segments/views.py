"""HTML pages for segments: the list, a segment's members, versions and their diff, the
growth chart, a draft's preview, explain for one account, and (managers) new versions,
publish and "recompute now" with a live status line.

Reads go through segments.selectors, writes through segments.services (the same ones the
admin and the API use); this module only shapes their results for the templates.
"""

import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cs_platform import clock, json_limits
from cs_platform.htmx import is_htmx, started_param
from cs_platform.roles import is_manager
from customers import selectors as customer_selectors
from customers.models import Account
from rules.text import operator_text, version_diff

from . import charts, selectors, services
from .analytics import segment_growth
from .models import Segment, SegmentVersion

MEMBERS_PER_PAGE = 50
GROWTH_DAYS = 90
EVENTS_SHOWN = 20


def _require_manager(request: HttpRequest, what: str) -> None:
    if not is_manager(request.user):
        raise PermissionDenied(f"Only managers can {what}.")


def _segment_or_404(segment_id: int) -> Segment:
    try:
        return selectors.segment_get(segment_id=segment_id)
    except Segment.DoesNotExist:
        raise Http404("No such segment.") from None


def _version_or_404(segment: Segment, number: int) -> SegmentVersion:
    try:
        return selectors.segment_version_get(segment=segment, number=number)
    except SegmentVersion.DoesNotExist:
        raise Http404("No such version.") from None


def _actual_text(value: Any) -> str:
    if isinstance(value, list):  # a set field's elements ("none" for the empty set)
        return ", ".join(_actual_text(v) for v in value) or "none"
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def rule_tree(node: dict) -> dict:
    """A rule (or explain) node shaped for templates: ``kind`` (all/any/not/leaf), the
    children, and for leaves readable operator and values. ``matched``/``actual`` are kept
    when the node came from explain."""
    shaped: dict[str, Any] = {"matched": node.get("matched")}
    for kind in ("all", "any"):
        if kind in node:
            shaped.update(kind=kind, children=[rule_tree(child) for child in node[kind]])
            return shaped
    if "not" in node:
        shaped.update(kind="not", children=[rule_tree(node["not"])])
        return shaped
    op, value = operator_text(node.get("op", ""), node.get("value"))
    shaped.update(
        kind="leaf",
        field=node.get("field", ""),
        op=op,
        value=value if "value" in node else "",
        has_actual="actual" in node,
        actual=_actual_text(node.get("actual")),
    )
    return shaped


LEAF_KEY_ORDER = {"field": 0, "op": 1, "value": 2}


def _readable_order(node: Any) -> Any:
    """The rule with each leaf's keys as people write them (field, op, value): JSONB
    storage reorders keys, which would make diffs noisy."""
    if isinstance(node, dict):
        keys = sorted(node, key=lambda key: (LEAF_KEY_ORDER.get(key, 3), key))
        return {key: _readable_order(node[key]) for key in keys}
    if isinstance(node, list):
        return [_readable_order(item) for item in node]
    return node


def rule_json(rule: Any) -> str:
    return json.dumps(_readable_order(rule), indent=2, ensure_ascii=False)


def _growth(segment: Segment) -> dict[str, Any]:
    points = _growth_points(segment)
    members = charts.LineSeries("Members", [(p.day, p.member_count) for p in points])
    arr = charts.LineSeries("ARR", [(p.day, p.arr) for p in points])
    return {
        "points": points,
        "members_svg": mark_safe(  # noqa: S308 (charts escapes every text it writes)
            charts.line_chart(
                [members], title=f"{segment.name}: members", y_label="Members", height=240
            )
        ),
        "arr_svg": mark_safe(  # noqa: S308
            charts.line_chart(
                [arr],
                title=f"{segment.name}: ARR",
                value_format=charts.format_money,
                y_label="ARR",
                height=240,
            )
        ),
    }


def _growth_points(segment: Segment) -> list:
    """One point a day (the day's last snapshot) over the last GROWTH_DAYS days."""
    return segment_growth(segment_ids=[segment.id], as_of=clock.today(), days=GROWTH_DAYS)[
        segment.id
    ]


def _computed_since(segment: Segment, started: datetime) -> bool:
    """The segment was recomputed at or after ``started`` (a queued recompute has run)."""
    return segment.last_computed_at is not None and segment.last_computed_at >= started


def _detail_watching_recompute(segment: Segment, started: datetime) -> HttpResponse:
    """Redirect to the segment page, which polls the recompute queued at ``started``."""
    return redirect(
        reverse("segment-detail", args=[segment.id])
        + "?"
        + urlencode({"recompute": started.isoformat()})
    )


# --- pages ---------------------------------------------------------------------------------


@require_GET
def segment_list_view(request: HttpRequest) -> HttpResponse:
    today = clock.today()
    show = request.GET.get("show", "active")
    segments = selectors.segment_list().order_by("name", "id")
    if show == "active":
        segments = segments.filter(is_active=True)
    rows = []
    for segment in segments:
        due = selectors.segment_review_due_on(segment)
        rows.append({"segment": segment, "review_due": due, "review_overdue": due < today})
    return render(
        request,
        "segments/segment_list.html",
        {"nav": "segments", "rows": rows, "show": show, "today": today},
    )


@require_GET
def segment_detail_view(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = _segment_or_404(segment_id)
    versions = list(selectors.segment_versions(segment=segment).order_by("-number"))
    members = Paginator(selectors.segment_members(segment=segment), MEMBERS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    diff = None
    by_number = {v.number: v for v in versions}
    old_n, new_n = request.GET.get("from", ""), request.GET.get("to", "")
    if old_n.isdigit() and new_n.isdigit():
        old, new = by_number.get(int(old_n)), by_number.get(int(new_n))
        if old and new:
            diff = {"old": old, "new": new, "lines": version_diff(old, new).lines}
    elif len(versions) >= 2:
        diff = {
            "old": versions[1],
            "new": versions[0],
            "lines": version_diff(versions[1], versions[0]).lines,
        }
    current = segment.current_version
    context = {
        "nav": "segments",
        "segment": segment,
        "current": current,
        "current_rule": rule_tree(current.rule) if current else None,
        "versions": versions,
        "drafts": [v for v in versions if not v.is_published],
        "members": members,
        "member_rows": list(members.object_list),
        "events": list(selectors.segment_events(segment=segment)[:EVENTS_SHOWN]),
        "diff": diff,
        "growth": _growth(segment),
        "review_due": selectors.segment_review_due_on(segment),
        "today": clock.today(),
    }
    if started := started_param(request, "recompute"):
        context["recompute_started"] = started.isoformat()
        context["recompute_done"] = _computed_since(segment, started)
    context["analytics_partial"] = "segments/_analytics.html"
    if is_htmx(request) and request.GET.get("part") == "members":
        return render(request, "segments/_members.html", context)
    return render(request, "segments/segment_detail.html", context)


@require_GET
def version_detail_view(request: HttpRequest, segment_id: int, number: int) -> HttpResponse:
    """One version: its rule, and for a draft the preview against the current version."""
    segment = _segment_or_404(segment_id)
    version = _version_or_404(segment, number)
    preview = None if version.is_published else selectors.version_preview(version=version)
    current = segment.current_version
    context = {
        "nav": "segments",
        "segment": segment,
        "version": version,
        "rule": rule_tree(version.rule),
        "rule_json": rule_json(version.rule),
        "preview": preview,
        "diff": (
            version_diff(current, version).lines if current and current.pk != version.pk else None
        ),
        "current": current,
    }
    return render(request, "segments/version_detail.html", context)


VERSION_FORM_FIELDS = ("rule", "rank_by", "rank_limit", "note")


def definition_parse(data: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The posted rule JSON and ranking as values for the services, or the problems with
    their syntax (the rule's meaning is validated by the service)."""
    errors: list[dict[str, str]] = []
    parsed: dict[str, Any] = {"rule": None, "rank_by": data["rank_by"], "rank_limit": None}
    try:
        parsed["rule"] = json_limits.loads(data["rule"] or "null")
    except json_limits.JSONTooDeep as error:
        errors.append({"path": "rule", "message": f"not valid JSON: {error}"})
    except json.JSONDecodeError as error:
        message = f"not valid JSON (line {error.lineno}, column {error.colno}): {error.msg}"
        errors.append({"path": "rule", "message": message})
    if data["rank_limit"]:
        if data["rank_limit"].isdigit():
            parsed["rank_limit"] = int(data["rank_limit"])
        else:
            errors.append({"path": "rank_limit", "message": "expected a whole number"})
    return parsed, errors


@require_http_methods(["GET", "POST"])
def version_create_view(request: HttpRequest, segment_id: int) -> HttpResponse:
    """Managers: a new draft version from a rule JSON; errors name the rule path."""
    _require_manager(request, "create segment versions")
    segment = _segment_or_404(segment_id)
    current = segment.current_version
    data = {
        "rule": rule_json(current.rule) if current else '{"all": []}',
        "rank_by": current.rank_by if current else "",
        "rank_limit": current.rank_limit if current and current.rank_limit else "",
        "note": "",
    }
    errors: list[dict[str, str]] = []
    status = 200
    if request.method == "POST":
        data = {key: request.POST.get(key, "").strip() for key in VERSION_FORM_FIELDS}
        parsed, errors = definition_parse(data)
        if not errors:
            try:
                version = services.version_create_draft(
                    segment=segment, note=data["note"], created_by=request.user, **parsed
                )
            except ValidationError as error:
                errors.extend(validation_errors_shaped(error))
            else:
                if request.POST.get("action") == "publish":
                    return version_publish_view(request, segment.id, version.number)
                messages.success(request, f"Draft v{version.number} saved. Review its preview.")
                return redirect("segment-version", segment.id, version.number)
        status = 400
    context = {"nav": "segments", "segment": segment, "data": data, "errors": errors}
    return render(request, "segments/version_form.html", context, status=status)


@require_POST
def version_validate_view(request: HttpRequest, segment_id: int) -> HttpResponse:
    """Managers: check a rule while it is typed (htmx); stores nothing."""
    _require_manager(request, "create segment versions")
    segment = _segment_or_404(segment_id)
    data = {key: request.POST.get(key, "").strip() for key in VERSION_FORM_FIELDS}
    parsed, errors = definition_parse(data)
    if not errors:
        try:
            services.definition_validate(**parsed)
        except ValidationError as error:
            errors.extend(validation_errors_shaped(error))
    context = {"segment": segment, "errors": errors, "checked": True}
    if not errors:
        context["tree"] = rule_tree(parsed["rule"])
    return render(request, "segments/_rule_check.html", context)


RULE_PATH = re.compile(r"^(?P<path>[A-Za-z_][\w.]*(?:\[\d+\][\w.]*)*): (?P<message>.+)$", re.S)


def validation_errors_shaped(error: ValidationError) -> list[dict[str, str]]:
    """``[{"path", "message"}]`` from the service's errors; rule errors arrive as
    ``"all[2].value: expected a number, got \"abc\""`` and keep their rule path."""
    if not hasattr(error, "message_dict"):
        return [{"path": "", "message": message} for message in error.messages]
    shaped = []
    for field, field_messages in error.message_dict.items():
        for message in field_messages:
            match = RULE_PATH.match(message) if field == "rule" else None
            if match:
                shaped.append({"path": match["path"], "message": match["message"]})
            else:
                shaped.append({"path": "" if field == "__all__" else field, "message": message})
    return shaped


@require_POST
def version_publish_view(request: HttpRequest, segment_id: int, number: int) -> HttpResponse:
    """Managers: publish a draft (the service makes it current and queues the recompute)."""
    _require_manager(request, "publish segment versions")
    segment = _segment_or_404(segment_id)
    version = _version_or_404(segment, number)
    started = timezone.now()
    try:
        services.version_publish(version=version)
    except ValidationError as error:
        messages.error(request, f"Could not publish v{number}: {'; '.join(error.messages)}")
        return redirect("segment-version", segment.id, number)
    messages.success(request, f"v{number} is now the current version; recomputing members.")
    return _detail_watching_recompute(segment, started)


@require_POST
def segment_recompute_view(request: HttpRequest, segment_id: int) -> HttpResponse:
    """Managers: "recompute now"; answers with a status line that polls until done."""
    _require_manager(request, "recompute segments")
    segment = _segment_or_404(segment_id)
    started = timezone.now()
    services.segment_request_recompute(segment=segment)
    context = {"segment": segment, "started": started.isoformat(), "done": False}
    if is_htmx(request):
        return render(request, "segments/_recompute_status.html", context)
    messages.info(request, "Recompute queued.")
    return _detail_watching_recompute(segment, started)


@require_GET
def segment_recompute_status_view(request: HttpRequest, segment_id: int) -> HttpResponse:
    """Whether the segment was computed after ``?started=`` (polled by the status line)."""
    segment = _segment_or_404(segment_id)
    started = started_param(request)
    if started is None:
        return JsonResponse({"error": "started: expected an ISO date-time."}, status=400)
    context = {
        "segment": segment,
        "started": started.isoformat(),
        "done": _computed_since(segment, started),
    }
    response = render(request, "segments/_recompute_status.html", context)
    if context["done"]:  # the page re-reads its figures, members and analytics (htmx)
        response["HX-Trigger"] = "figuresChanged"
    return response


@require_GET
def segment_explain_view(request: HttpRequest, segment_id: int, account_id: int) -> HttpResponse:
    """Why an account is (or is not) in the segment: each clause ✓/✗ with the actual
    value, for the current version (``?version=N`` for another)."""
    segment = _segment_or_404(segment_id)
    try:
        account = customer_selectors.account_get(account_id=account_id)
    except Account.DoesNotExist:
        raise Http404("No such account.") from None
    number = request.GET.get("version", "")
    version = _version_or_404(segment, int(number)) if number.isdigit() else None
    version = version or segment.current_version
    explain = None
    if version is not None:
        explain = selectors.account_explain(account=account, version=version)
    context = {
        "nav": "segments",
        "segment": segment,
        "account": account,
        "version": version,
        "explain": explain,
        "tree": rule_tree(explain["explanation"]) if explain else None,
    }
    template = "segments/_explain.html" if is_htmx(request) else "segments/explain.html"
    return render(request, template, context)
