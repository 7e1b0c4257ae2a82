"""The rows of the task tables and of the renewal queue, in Python:
``{% load work_rows %}{% task_row task can_change %}`` and ``{% renewal_row entry %}``.

My book shows up to 30 task rows and the queue 50 renewal rows; as included templates
(an ``{% if %}`` chain and a dozen tags per row) they were most of those pages' render
time (bench/web.py). These build the same markup with one ``format_html`` per cell."""

from datetime import date
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from cs_platform.links import link
from customers.templatetags.cs_format import NOTHING, day, money
from health.templatetags.health_badges import health_badge

from ..models import RenewalForecast, TaskStatus

register = template.Library()

MUTED_NOTHING = mark_safe(f'<span class="muted">{NOTHING}</span>')
STATUS_TONES = {TaskStatus.DONE: "ok", TaskStatus.SNOOZED: "warn", TaskStatus.OPEN: "info"}
SNOOZE_CHOICES = mark_safe(
    '<option value="1">1 day</option><option value="3">3 days</option>'
    '<option value="7" selected>1 week</option><option value="14">2 weeks</option>'
)
READ_ONLY = mark_safe(
    '<span class="muted" title="Only the owner CSM or a manager can change this task">'
    "read-only</span>"
)


def _name(user: Any) -> str:
    return (user.get_full_name() or user.username) if user else ""


def _csrf_input(context: template.Context) -> SafeString:
    """The form's CSRF field, built once per rendered template (every row has a form)."""
    remembered = context.render_context.get("work_rows_csrf")
    if remembered is None:
        token = context.get("csrf_token")
        if not token or str(token) == "NOTPROVIDED":
            remembered = mark_safe("")
        else:
            remembered = format_html(
                '<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token
            )
        context.render_context["work_rows_csrf"] = remembered
    return remembered


@register.simple_tag(takes_context=True)
def task_row(context: template.Context, task: Any, can_change: bool) -> SafeString:
    """A task's row (``tr#task-ID``); the context gives ``selectable``, ``show_account``,
    ``show_assignee``, ``flash``, ``error``, ``today`` and the request (``next``)."""
    workable = bool(can_change and task.is_open)
    cells = []
    if context.get("selectable"):
        box = (
            format_html(
                '<input type="checkbox" name="ids" value="{}" form="tasks-bulk" '
                'aria-label="Select {}">',
                task.id,
                task.title,
            )
            if workable
            else ""
        )
        cells.append(format_html('<td class="select">{}</td>', box))
    title = [format_html('<span class="title">{}</span>', task.title)]
    if task.window_id:
        title.append(format_html(' <span class="badge">{}</span>', task.window))
    if context.get("show_account"):
        title.append(
            format_html(
                '<br><a href="{}">{}</a>',
                link("account-detail", task.account_id),
                task.account.name,
            )
        )
    if flash := context.get("flash"):
        title.append(format_html('<div class="ok" role="status">{}</div>', flash))
    if error := context.get("error"):
        title.append(format_html('<div class="error" role="alert">{}</div>', error))
    cells.append(format_html("<td>{}</td>", mark_safe("".join(title))))
    if context.get("show_assignee"):
        assignee = (
            format_html("{}", _name(task.assignee))
            if task.assignee
            else mark_safe('<span class="muted">Unassigned</span>')
        )
        cells.append(format_html("<td>{}</td>", assignee))
    cells.append(format_html('<td class="nowrap">{}</td>', _due(task, context.get("today"))))
    status = format_html(
        '<span class="badge {}">{}</span>',
        STATUS_TONES.get(task.status, ""),
        task.get_status_display(),
    )
    if task.status == TaskStatus.SNOOZED and task.snoozed_until:
        status = format_html(
            '{}<br><span class="muted">until {}</span>', status, day(task.snoozed_until)
        )
    cells.append(format_html("<td>{}</td>", status))
    if workable:
        actions = _task_actions(context, task)
    else:
        actions = READ_ONLY if not can_change else mark_safe("")
    cells.append(format_html('<td class="nowrap">{}</td>', actions))
    return format_html(
        '<tr id="task-{}"{}>{}</tr>',
        task.id,
        "" if task.is_open else mark_safe(' class="task-done"'),
        mark_safe("".join(cells)),
    )


def _due(task: Any, today: date | None) -> SafeString:
    if not task.due_date:
        return MUTED_NOTHING
    badge = ""
    if today is not None and task.status == TaskStatus.OPEN and task.due_date < today:
        badge = mark_safe(' <span class="badge bad">overdue</span>')
    elif task.due_date == today:
        badge = mark_safe(' <span class="badge warn">today</span>')
    return format_html("{}{}", day(task.due_date), badge)


def _task_actions(context: template.Context, task: Any) -> SafeString:
    request = context.get("request")
    complete_url = link("task-complete", task.id)
    snooze_url = link("task-snooze", task.id)
    cancel_url = link("task-cancel", task.id)
    return format_html(
        '<form method="post" action="{snooze}" class="inline" hx-target="#task-{id}" '
        'hx-swap="outerHTML">{csrf}<input type="hidden" name="next" value="{next}">'
        '<input type="hidden" name="show_account" value="{show_account}">'
        '<input type="hidden" name="show_assignee" value="{show_assignee}">'
        '<button type="submit" class="small primary" formaction="{complete}" '
        'hx-post="{complete}" aria-label="Mark done: {title}">Done</button>'
        '<label class="sr-only" for="snooze-{id}">Snooze {title} for</label>'
        '<select name="days" id="snooze-{id}" class="small">{choices}</select>'
        '<button type="submit" class="small" formaction="{snooze}" hx-post="{snooze}" '
        'aria-label="Snooze: {title}">Snooze</button>'
        '<button type="submit" class="small" formaction="{cancel}" hx-post="{cancel}" '
        'hx-confirm="Cancel this task?" aria-label="Cancel task: {title}">Cancel</button>'
        "</form>",
        id=task.id,
        title=task.title,
        csrf=_csrf_input(context),
        next=request.get_full_path() if request is not None else "",
        show_account="1" if context.get("show_account") else "0",
        show_assignee="1" if context.get("show_assignee") else "0",
        complete=complete_url,
        snooze=snooze_url,
        cancel=cancel_url,
        choices=SNOOZE_CHOICES,
    )


FORECAST_TONES = {RenewalForecast.COMMIT: "ok", RenewalForecast.LIKELY: "info"}
FORECAST_LABELS = dict(RenewalForecast.choices)
TASK_STATUS_LABELS = dict(TaskStatus.choices)
TASK_STATUS_TONES = {TaskStatus.DONE: "ok", TaskStatus.OPEN: "info"}


@register.simple_tag
def renewal_row(entry: Any) -> SafeString:
    """A row of the renewal queue: an entry of ``selectors.renewal_queue_rows`` with the
    queue page's annotations (days left, health, forecast, renewal task)."""
    if entry.overdue:
        window = mark_safe('<span class="badge bad">Overdue</span>')
    else:
        window = format_html('<span class="badge info">{}</span>', entry.window)
    days_left = entry.days_left
    if days_left < 0:
        days = format_html('<td class="num bad">{} overdue</td>', -days_left)
    else:
        days = format_html(
            '<td class="num {}">{}</td>', "warn" if days_left <= 30 else "", days_left
        )
    if entry.forecast:
        forecast = format_html(
            '<span class="badge {}">{}</span> <span class="muted">{}</span>',
            FORECAST_TONES.get(entry.forecast, "bad"),
            FORECAST_LABELS.get(entry.forecast, entry.forecast),
            money(entry.expected_arr),
        )
    else:
        forecast = MUTED_NOTHING
    if entry.task_id:
        task = format_html(
            '<span class="badge {}">{}</span>',
            TASK_STATUS_TONES.get(entry.task_status, ""),
            TASK_STATUS_LABELS.get(entry.task_status, entry.task_status),
        )
    else:
        task = MUTED_NOTHING
    return format_html(
        '<tr><td><a href="{}">{}</a></td><td>{}</td><td class="nowrap">{}</td>{}'
        '<td class="num">{}</td><td class="num">{}</td><td>{}</td><td>{}</td><td>{}</td>'
        '<td><a class="button small" href="{}">Forecast / close</a></td></tr>',
        link("account-detail", entry.account_id),
        entry.account.name,
        window,
        day(entry.renewal_date),
        days,
        money(entry.arr),
        health_badge(entry.health_score, entry.health_status),
        forecast,
        _name(entry.csm) or NOTHING,
        task,
        link("renewal-detail", entry.contract_id),
    )
