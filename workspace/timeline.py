"""The account's timeline: notes, segment events, playbook runs, tasks and owner changes,
newest first, a page at a time."""

import contextlib
import heapq
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db.models import QuerySet

from cs_platform.links import link
from customers.models import Account, Note
from playbooks import selectors as playbook_selectors
from playbooks.models import RenewalChange, Task, TaskSource, TaskStatus, TaskStatusChange
from segments import selectors as segment_selectors

# Timeline entries per page; each source reads at most this many rows per page.
TIMELINE_PAGE = 40


# How a playbook run's status reads after "Playbook NAME".
RUN_WORDS = {
    "pending": "is waiting to run",
    "running": "is running",
    "done": "ran",
    "failed": "failed",
    "skipped": "was skipped",
}
RENEWAL_TONES = {
    "commit": "ok",
    "renewed": "ok",
    "at_risk": "bad",
    "churn": "bad",
    "churned": "bad",
}


@dataclass(order=True)
class TimelineItem:
    at: datetime
    kind: str = field(compare=False)
    title: str = field(compare=False)
    label: str = field(default="", compare=False)
    body: str = field(default="", compare=False)
    actor: str = field(default="", compare=False)
    link: str = field(default="", compare=False)
    steps: list = field(default_factory=list, compare=False)
    tone: str = field(default="", compare=False)


def _timeline_sources(account: Account, before: datetime | None) -> list[list[TimelineItem]]:
    """The newest TIMELINE_PAGE entries of each source (one or two queries each), each
    list sorted newest first."""
    limit = TIMELINE_PAGE + 1

    def upto(queryset: QuerySet, column: str) -> QuerySet:
        return queryset.filter(**{f"{column}__lt": before}) if before else queryset

    # Each source reads only the columns its entries show (a wide row costs the page
    # twice: in the SQL Django compiles and in the model instances it builds).
    notes = (
        upto(Note.objects.filter(account=account), "happened_at")
        .select_related("author")
        .only("happened_at", "kind", "body", *_people("author"))
    )
    events = (
        upto(segment_selectors.account_events(account=account), "at")
        .select_related(None)
        .select_related("segment")
        .only("at", "kind", "segment", "segment__name")
    )
    runs = (
        upto(playbook_selectors.playbook_run_list(account=account), "created_at")
        .select_related(None)
        .select_related("playbook")
        .only("created_at", "status", "detail", "playbook", "playbook__name")
    )
    task_fields = ("source", "window_id", "contract_id", "title")
    created = (
        upto(Task.objects.filter(account=account), "created_at")
        .select_related("assignee", "created_by")
        .only("created_at", "due_date", *task_fields, *_people("assignee", "created_by"))
    )
    changes = (
        upto(TaskStatusChange.objects.filter(task__account=account).exclude(from_status=""), "at")
        .select_related("task", "by")
        .only(
            "at", "to_status", "note", "task", *(f"task__{f}" for f in task_fields), *_people("by")
        )
    )
    owners = (
        upto(account.assignments.all(), "started_at")
        .select_related("user")
        .only("account", "started_at", "role", *_people("user"))
    )

    def name(user: Any) -> str:
        return (user.get_full_name() or user.username) if user else ""

    renewals = (
        upto(RenewalChange.objects.filter(renewal__contract__account=account), "at")
        .select_related("renewal", "by")
        .only(
            "at",
            "kind",
            "forecast",
            "outcome",
            "arr",
            "note",
            "renewal__contract_id",
            *_people("by"),
        )
    )
    sources = [
        [
            TimelineItem(
                at=n.happened_at,
                kind=n.kind,
                label=n.get_kind_display(),
                title=n.get_kind_display(),
                body=n.body,
                actor=name(n.author),
            )
            for n in notes.order_by("-happened_at", "-id")[:limit]
        ],
        [
            TimelineItem(
                at=e.at,
                kind="segment",
                label="Segment",
                title=f"{'Entered' if e.kind == 'entered' else 'Left'} the segment "
                f"{e.segment.name}",
                link=link("segment-detail", e.segment_id),
                tone="ok" if e.kind == "entered" else "warn",
            )
            for e in events.order_by("-at", "-id")[:limit]
        ],
        [
            TimelineItem(
                at=r.created_at,
                kind="playbook",
                label="Playbook",
                title=f"Playbook {r.playbook.name} {RUN_WORDS.get(r.status, r.status)}",
                link=link("playbook-detail", r.playbook_id),
                body=r.detail,
                steps=list(r.step_runs.all()),
                tone="bad" if r.status == "failed" else "",
            )
            for r in runs.order_by("-created_at", "-id")[:limit]
        ],
        [
            TimelineItem(
                at=t.created_at,
                kind="task",
                label="Task",
                title=f"{_task_kind(t)} created for {name(t.assignee) or 'nobody yet'}"
                + (f", due {_day(t.due_date)}" if t.due_date else ""),
                link=_task_link(t),
                actor=name(t.created_by),
                body=t.title,
            )
            for t in created.order_by("-created_at", "-id")[:limit]
        ],
        [
            TimelineItem(
                at=c.at,
                kind="task",
                label="Task",
                title=_status_change_title(c, name(c.by)),
                link=_task_link(c.task),
                body=f"{c.task.title}" + (f" — {c.note}" if _note_worth_showing(c) else ""),
                tone="ok" if c.to_status == TaskStatus.DONE else "",
            )
            for c in changes.order_by("-at", "-id")[:limit]
        ],
        [
            TimelineItem(
                at=a.started_at,
                kind="owner",
                label="Owner",
                title=f"{name(a.user)} became the {a.get_role_display().lower()}",
            )
            for a in owners.order_by("-started_at", "-id")[:limit]
        ],
        [
            TimelineItem(
                at=r.at,
                kind="renewal",
                label="Renewal",
                title=_renewal_change_title(r),
                link=link("renewal-detail", r.renewal.contract_id),
                actor=name(r.by),
                body=r.note,
                tone=RENEWAL_TONES.get(r.forecast or r.outcome, ""),
            )
            for r in renewals.order_by("-at", "-id")[:limit]
        ],
    ]
    return sources


def _people(*relations: str) -> tuple[str, ...]:
    """The user columns a timeline entry names someone by, through each of ``relations``."""
    names = ("username", "first_name", "last_name")
    return (*relations, *(f"{r}__{f}" for r in relations for f in names))


def account_timeline(
    *, account: Account, before: datetime | None = None
) -> tuple[list[TimelineItem], bool]:
    """The account's timeline page (newest first) and whether older entries exist. Each
    source is read with its own bounded query and the lists are merged by time."""
    merged = list(heapq.merge(*_timeline_sources(account, before), reverse=True))
    return merged[:TIMELINE_PAGE], len(merged) > TIMELINE_PAGE


def _day(value: date | None) -> str:
    return f"{value.day} {value:%b %Y}" if value else ""


def _task_kind(task: Task) -> str:
    """What kind of task it is, as a person names it."""
    if task.source == TaskSource.RENEWAL:
        if task.window_id is None and task.contract_id is not None:
            return "Overdue renewal task"
        return "Renewal prep task"
    return {
        TaskSource.PLAYBOOK: "Playbook task",
        TaskSource.REVIEW: "Segment review task",
    }.get(task.source, "Task")


def _task_link(task: Task) -> str:
    if task.source == TaskSource.RENEWAL and task.contract_id:
        return link("renewal-detail", task.contract_id)
    return ""


def _status_change_title(change: TaskStatusChange, who: str) -> str:
    kind = _task_kind(change.task).lower()
    if change.to_status == TaskStatus.DONE:
        verb = "completed"
    elif change.to_status == TaskStatus.SNOOZED:
        verb = "snoozed"
        with contextlib.suppress(ValueError):
            verb += f" until {_day(date.fromisoformat(change.note.removeprefix('until ')))}"
    elif change.to_status == TaskStatus.CANCELLED:
        verb = "closed" if not who else "cancelled"
    else:
        verb = "reopened"
    if who:
        return f"{who} {verb} the {kind}"
    return f"{kind[:1].upper()}{kind[1:]} {verb}"


def _note_worth_showing(change: TaskStatusChange) -> bool:
    return bool(change.note) and not change.note.startswith("until ")


def _renewal_change_title(change: RenewalChange) -> str:
    money = f"${change.arr:,.0f}" if change.arr is not None else ""
    if change.kind == "forecast":
        return f"Renewal forecast set to {change.get_forecast_display()} ({money} expected)"
    after = f" ({money} ARR)" if change.outcome != "churned" else ""
    return f"Renewal closed: {change.get_outcome_display().lower()}{after}"
