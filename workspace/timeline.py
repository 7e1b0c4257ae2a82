"""The account's timeline: notes, segment events, playbook runs, tasks and owner changes,
newest first, a page at a time."""

import heapq
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.urls import reverse

from customers.models import Account, Note
from playbooks import selectors as playbook_selectors
from playbooks.models import Task, TaskStatus, TaskStatusChange
from segments import selectors as segment_selectors

# Timeline entries per page; each source reads at most this many rows per page.
TIMELINE_PAGE = 40


@dataclass(order=True)
class TimelineItem:
    at: datetime
    kind: str = field(compare=False)
    title: str = field(compare=False)
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

    notes = upto(Note.objects.filter(account=account), "happened_at").select_related("author")
    events = upto(segment_selectors.account_events(account=account), "at")
    runs = upto(playbook_selectors.playbook_run_list(account=account), "created_at")
    created = upto(Task.objects.filter(account=account), "created_at").select_related(
        "assignee", "created_by"
    )
    changes = upto(
        TaskStatusChange.objects.filter(task__account=account).exclude(from_status=""), "at"
    ).select_related("task", "by")
    owners = upto(account.assignments.all(), "started_at").select_related("user")

    def name(user: Any) -> str:
        return (user.get_full_name() or user.username) if user else "system"

    sources = [
        [
            TimelineItem(
                at=n.happened_at,
                kind=n.kind,
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
                title=f"{e.get_kind_display()} segment {e.segment.name}"
                + (f" (v{e.version.number})" if e.version else ""),
                link=reverse("segment-detail", args=[e.segment_id]),
                tone="ok" if e.kind == "entered" else "warn",
            )
            for e in events.order_by("-at", "-id")[:limit]
        ],
        [
            TimelineItem(
                at=r.created_at,
                kind="playbook",
                title=f"Playbook {r.playbook.name}: {r.get_status_display().lower()}",
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
                title=f"Task created: {t.title}",
                actor=name(t.created_by) if t.created_by_id else t.get_source_display(),
                body=f"For {name(t.assignee)}" + (f", due {t.due_date}" if t.due_date else ""),
            )
            for t in created.order_by("-created_at", "-id")[:limit]
        ],
        [
            TimelineItem(
                at=c.at,
                kind="task",
                title=f"Task {c.get_to_status_display().lower()}: {c.task.title}",
                actor=name(c.by),
                body=c.note,
                tone="ok" if c.to_status == TaskStatus.DONE else "",
            )
            for c in changes.order_by("-at", "-id")[:limit]
        ],
        [
            TimelineItem(
                at=a.started_at,
                kind="owner",
                title=f"{name(a.user)} became {a.get_role_display().lower()}",
            )
            for a in owners.order_by("-started_at", "-id")[:limit]
        ],
    ]
    return sources


def account_timeline(
    *, account: Account, before: datetime | None = None
) -> tuple[list[TimelineItem], bool]:
    """The account's timeline page (newest first) and whether older entries exist. Each
    source is read with its own bounded query and the lists are merged by time."""
    merged = list(heapq.merge(*_timeline_sources(account, before), reverse=True))
    return merged[:TIMELINE_PAGE], len(merged) > TIMELINE_PAGE
